//! The records and the file format: plain data, no I/O.

use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::time::Timestamp;
use crate::error::{Error, ErrorKind};
/// The one [`ChartInfo`](crate::ChartInfo), named here too since records
/// hold it.
pub use crate::report::ChartInfo;
use crate::report::{HelmStatus, PhaseTimes};
use crate::source::ChartSource;
pub use crate::source::{BundleSource, OciSource};

/// The `schemaVersion` this build writes. It reads every version from
/// [`OLDEST_SCHEMA_VERSION`] up to this one; a file with a higher one is
/// refused, never rewritten.
///
/// * 1: the first format.
/// * 2: records may hold `manifestDigest` (see
///   [`ExecutionStateRecord::manifest_digest`]).
/// * 3: records name their cluster and storage driver
///   ([`ExecutionStateRecord::cluster`], [`ExecutionStateRecord::driver`]),
///   and releases are keyed `<cluster>/<namespace>/<release>`.
///
/// An older file is a newer one without what came later: it is read as it
/// is (its records keep their `<namespace>/<release>` keys, of no known
/// cluster), and the first record written rewrites it in this version (the
/// `.bak` beside it keeps the older file, for an older chainctl).
///
/// ```
/// assert_eq!(chainctl_core::state::SCHEMA_VERSION, 4);
/// ```
pub const SCHEMA_VERSION: u32 = 4;

/// The oldest `schemaVersion` this build reads.
///
/// ```
/// use chainctl_core::state::{OLDEST_SCHEMA_VERSION, SCHEMA_VERSION};
/// assert!(OLDEST_SCHEMA_VERSION == 1 && OLDEST_SCHEMA_VERSION <= SCHEMA_VERSION);
/// ```
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// The `schemaVersion` that introduced `manifestDigest` in records.
const MANIFEST_DIGEST_SINCE: u32 = 2;
/// The `schemaVersion` that introduced `cluster` and `driver` in records,
/// and cluster-qualified keys.
const CLUSTER_SINCE: u32 = 3;
/// The `schemaVersion` that introduced keyed digests (`hmac-sha256:`), so
/// that an older chainctl says "newer file" instead of "bad digest".
const KEYED_DIGEST_SINCE: u32 = 4;

/// Helm's rule for release names (`helm install` refuses others).
pub(crate) const RELEASE_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A Kubernetes namespace: an RFC 1123 label.
pub(crate) const NAMESPACE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// `[<cluster>/]<namespace>/<release>`, the key of [`StateFile::releases`].
const RELEASE_KEY_PATTERN: &str = r"^(([0-9a-f]{16}|rehearsal)/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A [`RecordCluster::id`].
const CLUSTER_ID_PATTERN: &str = r"^([0-9a-f]{16}|rehearsal)$";
/// A values or manifest digest: keyed, `hmac-sha256:`; `sha256:` in
/// records written before digests were keyed.
const RECORD_DIGEST_PATTERN: &str = r"^(hmac-sha256|sha256):[0-9a-f]{64}$";

/// The whole state file: what `state.json` holds. [`StateStore`] writes it
/// pretty-printed down to the records and each record on one line, so that
/// `grep`, `diff` and `git` work on it record by record:
///
/// ```text
/// {
///   "schemaVersion": 4,
///   "releases": {
///     "5f0c2a9d1e7b3c44/demo/hello": {
///       "current": {"action":"install","outcome":"succeeded","release":"hello",...},
///       "history": [
///         {"action":"install","outcome":"succeeded","release":"hello",...},
///         {"action":"upgrade","outcome":"failed","release":"hello",...}
///       ]
///     }
///   }
/// }
/// ```
///
/// [`StateStore`]: super::StateStore
///
/// ```
/// use chainctl_core::state::{StateFile, SCHEMA_VERSION};
///
/// let empty = StateFile::default();
/// assert_eq!(empty.schema_version, SCHEMA_VERSION);
/// assert_eq!(
///     serde_json::to_string(&empty).unwrap(),
///     r#"{"schemaVersion":4,"releases":{}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    title = "chainctl state file",
    description = "What chainctl deployed: per release the current record and a bounded history of every action, failures included. Written by chainctl-core; see schemas/state.schema.json in its repository."
)]
pub struct StateFile {
    /// Version of this format: 1; 2 since records may hold
    /// `manifestDigest`; 3 since records name their cluster and driver; 4
    /// since digests are keyed (`hmac-sha256:`).
    /// chainctl reads older versions and writes the newest it knows; one
    /// that knows only older versions refuses the file rather than rewrite
    /// it. A file read keeps its version here until it is written.
    #[schemars(range(min = OLDEST_SCHEMA_VERSION, max = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// Per release and cluster, keyed `<cluster id>/<namespace>/<release>`
    /// (`rehearsal/…` for rehearsals on Helm's memory driver; records
    /// written before version 3 keep `<namespace>/<release>`).
    #[schemars(extend("propertyNames" = { "pattern": RELEASE_KEY_PATTERN }))]
    #[serde(deserialize_with = "unique_keys")]
    pub releases: BTreeMap<String, ReleaseState>,
}

impl Default for StateFile {
    fn default() -> StateFile {
        StateFile {
            schema_version: SCHEMA_VERSION,
            releases: BTreeMap::new(),
        }
    }
}

impl StateFile {
    /// The key of a release of `cluster` (a [`RecordCluster::id`]; `None`
    /// for records of no known cluster, written before version 3) in
    /// [`StateFile::releases`].
    ///
    /// ```
    /// use chainctl_core::state::StateFile;
    /// assert_eq!(StateFile::key(Some("rehearsal"), "hello", "demo"), "rehearsal/demo/hello");
    /// assert_eq!(StateFile::key(None, "hello", "demo"), "demo/hello");
    /// ```
    pub fn key(cluster: Option<&str>, release: &str, namespace: &str) -> String {
        crate::release::release_key(cluster, namespace, release)
    }

    /// The key a record is filed under.
    pub fn record_key(record: &ExecutionStateRecord) -> String {
        let cluster = record.cluster.as_ref().map(|c| c.id.as_str());
        StateFile::key(cluster, &record.release, &record.namespace)
    }

    /// What is recorded for one release of one cluster (`None`: of no known
    /// cluster), if anything.
    ///
    /// ```
    /// use chainctl_core::state::StateFile;
    /// assert!(StateFile::default().release_in(Some("rehearsal"), "hello", "demo").is_none());
    /// ```
    pub fn release_in(
        &self,
        cluster: Option<&str>,
        release: &str,
        namespace: &str,
    ) -> Option<&ReleaseState> {
        self.releases
            .get(&StateFile::key(cluster, release, namespace))
    }

    /// Every cluster's record of a release: the cluster id (`None`: of no
    /// known cluster) and what is recorded there.
    ///
    /// ```
    /// use chainctl_core::state::StateFile;
    /// assert_eq!(StateFile::default().find("hello", "demo").count(), 0);
    /// ```
    pub fn find<'a>(
        &'a self,
        release: &str,
        namespace: &str,
    ) -> impl Iterator<Item = (Option<&'a str>, &'a ReleaseState)> + use<'a> {
        let suffix = StateFile::key(None, release, namespace);
        (self.releases.iter())
            .filter_map(move |(key, state)| Some((cluster_in(key, &suffix)?, state)))
    }

    /// What is recorded for a release when only one cluster has it (or
    /// only records of no known cluster do); `None` when nothing is, or
    /// several clusters are (ask [`release_in`](Self::release_in) then).
    ///
    /// ```
    /// use chainctl_core::state::StateFile;
    /// assert!(StateFile::default().release("hello", "demo").is_none());
    /// ```
    pub fn release(&self, release: &str, namespace: &str) -> Option<&ReleaseState> {
        let mut found = self.find(release, namespace);
        match (found.next(), found.next()) {
            (Some((_, state)), None) => Some(state),
            _ => None,
        }
    }

    /// How many records the file holds: every history entry, plus each
    /// `current` that is no longer in its history.
    ///
    /// ```
    /// use chainctl_core::state::StateFile;
    /// assert_eq!(StateFile::default().record_count(), 0);
    /// ```
    pub fn record_count(&self) -> usize {
        self.releases
            .values()
            .map(|r| {
                let current_separate = (r.current.as_ref()).is_some_and(|c| !r.history.contains(c));
                r.history.len() + usize::from(current_separate)
            })
            .sum()
    }

    /// Adds `record` to its release (see [`ReleaseState::apply`]).
    #[cfg(test)]
    pub(crate) fn apply(&mut self, record: ExecutionStateRecord, history_limit: usize) {
        (self.releases.entry(StateFile::record_key(&record)))
            .or_default()
            .apply(record, history_limit);
    }

    /// The rule of [`SCHEMA_VERSION`]s that the schema does not express: a
    /// version 1 file holds no field that version 2 added, so that any
    /// chainctl that reads version 1 reads it. Returns the JSON path and the
    /// problem.
    pub(crate) fn check_version_fields(&self) -> Result<(), (String, String)> {
        (self.releases.iter()).try_for_each(|(key, release)| {
            release_version_fields(self.schema_version, key, release)
        })
    }
}

/// [`StateFile::check_version_fields`] of the release under `key` in a file
/// of `version`.
pub(crate) fn release_version_fields(
    version: u32,
    key: &str,
    release: &ReleaseState,
) -> Result<(), (String, String)> {
    let needs = |field: &str, since: u32| {
        format!(
            "{field} needs schemaVersion {since}, but the file says schemaVersion {version}: \
             set it to {since}, or remove the field"
        )
    };
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    if version < CLUSTER_SINCE && key.matches('/').count() > 1 {
        return Err((
            format!("$.releases[{}]", json_string(key)),
            needs("a key with a cluster", CLUSTER_SINCE),
        ));
    }
    for (record, at) in release.records_with_paths() {
        let at = || format!("$.releases[{}].{}", json_string(key), at());
        if version < CLUSTER_SINCE && record.cluster.is_some() {
            return Err((format!("{}.cluster", at()), needs("cluster", CLUSTER_SINCE)));
        }
        if version < CLUSTER_SINCE && record.driver.is_some() {
            return Err((format!("{}.driver", at()), needs("driver", CLUSTER_SINCE)));
        }
        let keyed = |d: &Option<String>| (d.as_deref()).is_some_and(|d| d.starts_with("hmac-"));
        if version < KEYED_DIGEST_SINCE && keyed(&record.values_digest) {
            return Err((
                format!("{}.valuesDigest", at()),
                needs("a keyed (hmac-sha256:) valuesDigest", KEYED_DIGEST_SINCE),
            ));
        }
        if version < KEYED_DIGEST_SINCE && keyed(&record.manifest_digest) {
            return Err((
                format!("{}.manifestDigest", at()),
                needs("a keyed (hmac-sha256:) manifestDigest", KEYED_DIGEST_SINCE),
            ));
        }
        if version < MANIFEST_DIGEST_SINCE && record.manifest_digest.is_some() {
            return Err((
                format!("{}.manifestDigest", at()),
                needs("manifestDigest", MANIFEST_DIGEST_SINCE),
            ));
        }
    }
    Ok(())
}

impl ReleaseState {
    /// Adds `record`: appended to the history, which is then trimmed to the
    /// newest `history_limit` entries, and made `current` by the rules of
    /// [`ReleaseState::current`].
    pub(crate) fn apply(&mut self, record: ExecutionStateRecord, history_limit: usize) {
        match (record.outcome, record.action) {
            (Outcome::Failed, _) => {}
            (Outcome::Succeeded, Action::Uninstall) => self.current = None,
            (Outcome::Succeeded, _) => self.current = Some(record.clone()),
        }
        self.history.push(record);
        let excess = self.history.len().saturating_sub(history_limit.max(1));
        self.history.drain(..excess);
    }
}

impl ReleaseState {
    /// Each record with its JSON path below the release: `current`, then
    /// `history[i]`.
    /// The path is made only when asked for: it names a problem.
    fn records_with_paths(
        &self,
    ) -> impl Iterator<Item = (&ExecutionStateRecord, impl Fn() -> String)> {
        let current = (self.current.iter()).map(|r| (r, RecordAt::Current));
        let history = (self.history.iter().enumerate()).map(|(i, r)| (r, RecordAt::History(i)));
        current
            .chain(history)
            .map(|(r, at)| (r, move || at.to_string()))
    }

    /// The rule the schema cannot express: each record sits under its own
    /// `[<cluster>/]<namespace>/<release>` key. Returns the JSON path and the
    /// problem.
    pub(crate) fn check_key(&self, key: &str) -> Result<(), (String, String)> {
        for (record, at) in self.records_with_paths() {
            if !is_filed_under(record, key) {
                let own = StateFile::record_key(record);
                return Err((
                    format!("$.releases[{}].{}", json_string(key), at()),
                    format!("a record of release {own} is filed under {key}"),
                ));
            }
        }
        Ok(())
    }
}

/// The cluster of `key` when it is a key of the release whose key of no
/// cluster is `suffix` (`Some(None)`: it is that key).
pub(crate) fn cluster_in<'k>(key: &'k str, suffix: &str) -> Option<Option<&'k str>> {
    if key == suffix {
        return Some(None);
    }
    let cluster = key.strip_suffix(suffix)?.strip_suffix('/')?;
    (!cluster.contains('/')).then_some(Some(cluster))
}

/// Where a record sits in its release.
#[derive(Clone, Copy)]
enum RecordAt {
    Current,
    History(usize),
}

impl fmt::Display for RecordAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordAt::Current => f.write_str("current"),
            RecordAt::History(i) => write!(f, "history[{i}]"),
        }
    }
}

/// Whether `key` is [`StateFile::record_key`] of `record`, without making it.
fn is_filed_under(record: &ExecutionStateRecord, key: &str) -> bool {
    let rest = match &record.cluster {
        Some(cluster) => key
            .strip_prefix(cluster.id.as_str())
            .and_then(|rest| rest.strip_prefix('/')),
        None => Some(key),
    };
    rest.and_then(|rest| rest.strip_prefix(record.namespace.as_str()))
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| rest == record.release)
}

/// What is recorded for one release.
///
/// ```
/// use chainctl_core::state::ReleaseState;
/// let r = ReleaseState::default();
/// assert!(r.current.is_none() && r.history.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseState {
    /// What is deployed, as far as chainctl knows: the record of the last
    /// install, upgrade or rollback that succeeded; `null` after a successful
    /// uninstall or when nothing has succeeded yet. Failed actions do not
    /// replace it (they are in `history`), and it survives history trimming.
    pub current: Option<ExecutionStateRecord>,
    /// Every action on the release, failures included, oldest first,
    /// trimmed to the newest N (100 unless configured).
    pub history: Vec<ExecutionStateRecord>,
}

/// One action chainctl ran on a release, successful or not.
///
/// Values are never stored, only their digest (`valuesDigest`); nor are
/// credentials.
///
/// ```
/// use chainctl_core::state::{Action, BundleSource, ExecutionStateRecord, Outcome, RecordSource};
///
/// let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
/// rec.source = Some(RecordSource::Bundle(BundleSource {
///     path: "./charts/hello".into(),
///     content_digest: None,
/// }));
/// rec.helm_revision = Some(1);
/// rec.helm_status = Some("deployed".into());
/// rec.finish_ok();
/// assert_eq!(rec.outcome, Outcome::Succeeded);
/// let json = serde_json::to_value(&rec).unwrap();
/// assert_eq!(json["source"]["type"], "bundle");
/// assert_eq!(json["helmRevision"], 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionStateRecord {
    /// What was run.
    pub action: Action,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// Helm release name.
    #[schemars(length(min = 1, max = 53), pattern(RELEASE_NAME_PATTERN))]
    pub release: String,
    /// Kubernetes namespace of the release.
    #[schemars(length(min = 1, max = 63), pattern(NAMESPACE_PATTERN))]
    pub namespace: String,
    /// The kubeconfig context used (before version 3: only when given by
    /// flag; absent then means the kubeconfig's current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<String>,
    /// The cluster acted on, which with `namespace` and `release` keys the
    /// record (absent in records written before version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<RecordCluster>,
    /// Where Helm keeps the release's revisions; `memory` marks a
    /// rehearsal, which reached no cluster (absent before version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<StorageDriver>,
    /// Where the chart came from (absent for actions that take no chart,
    /// such as rollback and uninstall).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RecordSource>,
    /// The chart's own metadata (Chart.yaml), when a chart was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartInfo>,
    /// The Helm release revision the action produced or acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub helm_revision: Option<u32>,
    /// Helm's status of the release afterwards (`deployed`, `failed`,
    /// `uninstalled`, `pending-upgrade`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub helm_status: Option<HelmStatus>,
    /// `hmac-sha256:<hex>`, the keyed digest of the values Helm merged and
    /// rendered the chart with (see [`ValuesKey`](super::ValuesKey)): equal
    /// for equal values under the key of this state file, and no use to
    /// anyone guessing them without it; never the values themselves.
    /// Records written before digests were keyed hold `sha256:<hex>`
    /// (unkeyed), which never equals a keyed one: the values read as
    /// changed once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(RECORD_DIGEST_PATTERN))]
    pub values_digest: Option<String>,
    /// `hmac-sha256:<hex>`, the digest of the release's rendered manifest
    /// as Helm stored it, keyed as `valuesDigest` is (see
    /// [`ReleaseInfo::manifest_digest`](crate::ReleaseInfo::manifest_digest)):
    /// the manifest holds the values rendered. Absent when the manifest was
    /// empty or unknown. `chainctl app status --check` compares it with the
    /// cluster's, under the same key. New in schemaVersion 2: records
    /// written before do not have it; records written before digests were
    /// keyed hold `sha256:<hex>`, compared as such.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(RECORD_DIGEST_PATTERN))]
    pub manifest_digest: Option<String>,
    /// When the action started.
    pub started_at: Timestamp,
    /// When it finished.
    pub finished_at: Timestamp,
    /// How long it took overall, in milliseconds.
    pub duration_ms: u64,
    /// Where the time went, per phase, in milliseconds.
    #[serde(default, skip_serializing_if = "PhaseTimes::is_empty")]
    pub phases_ms: PhaseTimes,
    /// Why it failed (present exactly when `outcome` is `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
    /// Who ran it: `$USER` (`$USERNAME`), else `uid:<uid>`.
    #[schemars(length(min = 1))]
    pub operator: String,
    /// The versions of the tools that ran it.
    pub tool_versions: ToolVersions,
}

impl ExecutionStateRecord {
    /// A record of `action` on `release` in `namespace` that starts now, run
    /// by [`current_operator`] with this crate's version; the caller fills
    /// in the rest and calls [`finish_ok`](Self::finish_ok) or
    /// [`finish_err`](Self::finish_err).
    ///
    /// ```
    /// use chainctl_core::state::{Action, ExecutionStateRecord};
    /// let rec = ExecutionStateRecord::new(Action::Upgrade, "hello", "demo");
    /// assert_eq!(rec.tool_versions.chainctl, env!("CARGO_PKG_VERSION"));
    /// assert_eq!(rec.started_at, rec.finished_at);
    /// ```
    pub fn new(
        action: Action,
        release: impl Into<String>,
        namespace: impl Into<String>,
    ) -> ExecutionStateRecord {
        let now = Timestamp::now();
        ExecutionStateRecord {
            action,
            outcome: Outcome::Succeeded,
            release: release.into(),
            namespace: namespace.into(),
            kube_context: None,
            cluster: None,
            driver: None,
            source: None,
            chart: None,
            helm_revision: None,
            helm_status: None,
            values_digest: None,
            manifest_digest: None,
            started_at: now,
            finished_at: now,
            duration_ms: 0,
            phases_ms: PhaseTimes::default(),
            error: None,
            operator: current_operator(),
            tool_versions: ToolVersions::default(),
        }
    }

    /// Marks the action succeeded, finishing now.
    ///
    /// ```
    /// use chainctl_core::state::{Action, ExecutionStateRecord, Outcome};
    /// let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
    /// rec.finish_ok();
    /// assert_eq!(rec.outcome, Outcome::Succeeded);
    /// assert!(rec.error.is_none());
    /// ```
    pub fn finish_ok(&mut self) {
        self.finish(Outcome::Succeeded, None);
    }

    /// Marks the action failed with `err`, finishing now.
    ///
    /// ```
    /// use chainctl_core::{Error, ErrorKind};
    /// use chainctl_core::state::{Action, ExecutionStateRecord, Outcome};
    /// let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
    /// rec.finish_err(&Error::from_kind(ErrorKind::Timeout, "waiting for pods".into()));
    /// assert_eq!(rec.outcome, Outcome::Failed);
    /// assert_eq!(rec.error.unwrap().kind, ErrorKind::Timeout);
    /// ```
    pub fn finish_err(&mut self, err: &Error) {
        let error = RecordError {
            kind: err.kind(),
            message: err.message().to_string(),
        };
        self.finish(Outcome::Failed, Some(error));
    }

    fn finish(&mut self, outcome: Outcome, error: Option<RecordError>) {
        self.outcome = outcome;
        self.error = error;
        self.finished_at = Timestamp::now();
        self.duration_ms = self.finished_at.millis_since(self.started_at);
    }

    /// Whether the action was cancelled before it finished (by a signal to
    /// `chainctl`, or through a [`CancelToken`](crate::CancelToken)): it
    /// failed with an error of kind
    /// [`cancelled`](crate::ErrorKind::Cancelled).
    ///
    /// ```
    /// use chainctl_core::{Error, ErrorKind};
    /// use chainctl_core::state::{Action, ExecutionStateRecord};
    /// let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
    /// assert!(!rec.is_cancelled());
    /// rec.finish_err(&Error::from_kind(ErrorKind::Cancelled, "by SIGTERM".into()));
    /// assert!(rec.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.outcome == Outcome::Failed
            && (self.error.as_ref()).is_some_and(|e| e.kind == ErrorKind::Cancelled)
    }

    /// Rules the schema does not state: `error` is present exactly when the
    /// outcome is `failed`, and the action does not finish before it starts.
    pub(crate) fn check_consistency(&self) -> Result<(), String> {
        match (self.outcome, &self.error) {
            (Outcome::Failed, None) => Err("outcome is failed but there is no error".into()),
            (Outcome::Succeeded, Some(e)) => Err(format!(
                "outcome is succeeded but there is an error ({}: {})",
                e.kind, e.message
            )),
            _ if self.finished_at < self.started_at => Err(format!(
                "finishedAt {} is before startedAt {}",
                self.finished_at, self.started_at
            )),
            _ => Ok(()),
        }
    }
}

/// The cluster a record is of: what identifies it without any right beyond
/// what Helm needs (the API server's URL and the CA it is verified with).
///
/// ```
/// use chainctl_core::state::RecordCluster;
/// let a = RecordCluster::new("https://10.0.0.1:6443", Some("sha256:00"));
/// assert_eq!(a.id.len(), 16);
/// assert_eq!(a, RecordCluster::new("https://10.0.0.1:6443", Some("sha256:00")));
/// assert_ne!(a.id, RecordCluster::new("https://10.0.0.1:6443", Some("sha256:01")).id);
/// assert!(RecordCluster::rehearsal().is_rehearsal());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordCluster {
    /// `rehearsal` for Helm's memory driver; otherwise the first 16 hex
    /// digits of the sha256 of the server URL, a newline and the CA
    /// fingerprint.
    #[schemars(pattern(CLUSTER_ID_PATTERN))]
    pub id: String,
    /// The API server's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `sha256:` of the CA certificates (DER) the server is verified with;
    /// absent when the kubeconfig names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_fingerprint: Option<String>,
}

/// The [`RecordCluster::id`] of rehearsals.
const REHEARSAL: &str = "rehearsal";

impl RecordCluster {
    /// The cluster at `server`, verified with the CA of `ca_fingerprint`.
    pub fn new(server: &str, ca_fingerprint: Option<&str>) -> RecordCluster {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(server.as_bytes());
        hasher.update(b"\n");
        hasher.update(ca_fingerprint.unwrap_or_default().as_bytes());
        let id = format!("{:x}", hasher.finalize());
        RecordCluster {
            id: id[..16].to_string(),
            server: Some(server.to_string()),
            ca_fingerprint: ca_fingerprint.map(str::to_string),
        }
    }

    /// The pseudo-cluster of rehearsals on Helm's memory driver.
    pub fn rehearsal() -> RecordCluster {
        RecordCluster {
            id: REHEARSAL.to_string(),
            server: None,
            ca_fingerprint: None,
        }
    }

    /// The rule the schema cannot express: the id is the one
    /// [`new`](Self::new) derives from the server and CA fingerprint (a
    /// rehearsal has neither), so a record cannot be filed under another
    /// cluster's key. Returns the problem.
    ///
    /// ```
    /// use chainctl_core::state::RecordCluster;
    /// let mut c = RecordCluster::new("https://10.0.0.1:6443", None);
    /// assert!(c.check_identity().is_ok());
    /// assert!(RecordCluster::rehearsal().check_identity().is_ok());
    /// c.id = "0123456789abcdef".into();
    /// assert!(c.check_identity().unwrap_err().contains("not the id of https://10.0.0.1:6443"));
    /// ```
    pub fn check_identity(&self) -> Result<(), String> {
        match (&self.server, self.is_rehearsal()) {
            (None, true) if self.ca_fingerprint.is_none() => Ok(()),
            (_, true) => Err("the rehearsal pseudo-cluster names no server or CA".into()),
            (None, false) => Err(format!("cluster {} names no server", self.id)),
            (Some(server), false) => {
                let derived = RecordCluster::new(server, self.ca_fingerprint.as_deref());
                match derived.id == self.id {
                    true => Ok(()),
                    false => Err(format!(
                        "cluster id {} is not the id of {server} with {} ({}): the record was \
                         changed by hand or is of another cluster",
                        self.id,
                        match &self.ca_fingerprint {
                            Some(fp) => format!("CA {fp}"),
                            None => "no CA".into(),
                        },
                        derived.id
                    )),
                }
            }
        }
    }

    /// Whether this is [`rehearsal`](Self::rehearsal).
    pub fn is_rehearsal(&self) -> bool {
        self.id == REHEARSAL
    }
}

/// Helm's release storage driver.
///
/// ```
/// use chainctl_core::state::StorageDriver;
/// assert_eq!(serde_json::to_string(&StorageDriver::ConfigMap).unwrap(), r#""configmap""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageDriver {
    /// Kubernetes Secrets (Helm's default).
    Secret,
    /// Kubernetes ConfigMaps.
    ConfigMap,
    /// Helm's in-memory store: a rehearsal, nothing reached a cluster.
    Memory,
}

/// The Helm action a record describes.
///
/// ```
/// use chainctl_core::state::Action;
/// assert_eq!(Action::Rollback.to_string(), "rollback");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// `helm install`
    Install,
    /// `helm upgrade` (also with install-if-missing)
    Upgrade,
    /// `helm rollback`
    Rollback,
    /// `helm uninstall`
    Uninstall,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Install => "install",
            Action::Upgrade => "upgrade",
            Action::Rollback => "rollback",
            Action::Uninstall => "uninstall",
        })
    }
}

/// Whether the action succeeded.
///
/// ```
/// use chainctl_core::state::Outcome;
/// assert_eq!(serde_json::to_string(&Outcome::Failed).unwrap(), r#""failed""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The Helm action returned without error.
    Succeeded,
    /// It returned an error (the record's `error` says which).
    Failed,
}

/// Where the chart came from: the one [`ChartSource`], which holds what a
/// record keeps of it (digests, the resolved version), under the name
/// records have given it (and the state file's schema still does).
///
/// ```
/// use chainctl_core::state::{OciSource, RecordSource};
/// let src = RecordSource::Oci(OciSource {
///     reference: "oci://registry.example/charts/hello".into(),
///     requested_version: Some("^1.2".into()),
///     resolved_version: Some("1.2.3".into()),
///     manifest_digest: None,
///     chart_digest: None,
/// });
/// let json = serde_json::to_value(&src).unwrap();
/// assert_eq!(json["type"], "oci");
/// assert_eq!(json["requestedVersion"], "^1.2");
/// ```
pub type RecordSource = ChartSource;

/// Why an action failed: the error's kind and message.
///
/// ```
/// use chainctl_core::ErrorKind;
/// use chainctl_core::state::RecordError;
/// let e = RecordError { kind: ErrorKind::Kube, message: "forbidden".into() };
/// assert_eq!(serde_json::to_value(&e).unwrap()["kind"], "kube");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordError {
    /// The error's kind ([`ErrorKind`] in snake_case).
    #[schemars(schema_with = "error_kind_schema")]
    pub kind: ErrorKind,
    /// The message that was shown.
    pub message: String,
}

/// Versions of the tools that ran an action.
///
/// ```
/// use chainctl_core::state::ToolVersions;
/// let v = ToolVersions::default();
/// assert_eq!(v.chainctl, env!("CARGO_PKG_VERSION"));
/// assert!(v.helm.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolVersions {
    /// chainctl-core's version.
    #[schemars(length(min = 1))]
    pub chainctl: String,
    /// The Helm SDK version linked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<String>,
    /// The Go version the shim was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go: Option<String>,
}

impl Default for ToolVersions {
    /// This crate's version; Helm and Go unknown.
    fn default() -> ToolVersions {
        ToolVersions {
            chainctl: env!("CARGO_PKG_VERSION").to_string(),
            helm: None,
            go: None,
        }
    }
}

/// Every [`ErrorKind`], for the schema.
const ERROR_KINDS: [ErrorKind; 10] = [
    ErrorKind::InvalidInput,
    ErrorKind::ConflictingSources,
    ErrorKind::Registry,
    ErrorKind::Auth,
    ErrorKind::NotFound,
    ErrorKind::Kube,
    ErrorKind::Timeout,
    ErrorKind::Cancelled,
    ErrorKind::State,
    ErrorKind::Internal,
];

// A new ErrorKind fails to compile here until it is added to ERROR_KINDS.
const _: fn(ErrorKind) = |kind| match kind {
    ErrorKind::InvalidInput
    | ErrorKind::ConflictingSources
    | ErrorKind::Registry
    | ErrorKind::Auth
    | ErrorKind::NotFound
    | ErrorKind::Kube
    | ErrorKind::Timeout
    | ErrorKind::Cancelled
    | ErrorKind::State
    | ErrorKind::Internal => {}
};

fn error_kind_schema(_: &mut SchemaGenerator) -> Schema {
    let kinds: Vec<&str> = ERROR_KINDS.iter().map(|k| k.as_str()).collect();
    json_schema!({ "type": "string", "enum": kinds })
}

/// Who is running this process, for [`ExecutionStateRecord::operator`]:
/// `$USER`, else `$USERNAME`, else `uid:<uid>`.
///
/// ```
/// let who = chainctl_core::state::current_operator();
/// assert!(!who.is_empty());
/// ```
pub fn current_operator() -> String {
    ["USER", "USERNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.trim().is_empty())
        .unwrap_or_else(|| format!("uid:{}", rustix::process::getuid().as_raw()))
}

/// A JSON object as a map, refusing a key given twice: serde's maps keep
/// the last, which would drop a release's records without a word (two
/// copies of a file merged by hand, say).
pub(crate) fn unique_keys<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Unique<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of releases")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, V>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format_args!(
                        "duplicate release key {}",
                        json_string(&key)
                    )));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Unique(std::marker::PhantomData))
}

/// `s` as a JSON string literal, for JSON paths in messages.
pub(crate) fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(action: Action, outcome: Outcome, rev: u32) -> ExecutionStateRecord {
        let mut r = ExecutionStateRecord::new(action, "hello", "demo");
        r.helm_revision = Some(rev);
        r.outcome = outcome;
        r
    }

    #[test]
    fn current_follows_the_last_success_and_survives_trimming() {
        let mut state = StateFile::default();
        state.apply(rec(Action::Install, Outcome::Succeeded, 1), 3);
        state.apply(rec(Action::Upgrade, Outcome::Failed, 2), 3);
        let r = state.release("hello", "demo").unwrap();
        assert_eq!(r.current.as_ref().unwrap().helm_revision, Some(1));
        for rev in 3..8 {
            state.apply(rec(Action::Upgrade, Outcome::Failed, rev), 3);
        }
        let r = state.release("hello", "demo").unwrap();
        let revs: Vec<_> = r.history.iter().map(|h| h.helm_revision.unwrap()).collect();
        assert_eq!(revs, [5, 6, 7]);
        assert_eq!(r.current.as_ref().unwrap().helm_revision, Some(1));
        assert_eq!(state.record_count(), 4);
        state.apply(rec(Action::Uninstall, Outcome::Succeeded, 8), 3);
        assert!(state.release("hello", "demo").unwrap().current.is_none());
    }

    #[test]
    fn keys_must_match_records() {
        let mut state = StateFile::default();
        state.apply(rec(Action::Install, Outcome::Succeeded, 1), 10);
        let release = &state.releases["demo/hello"];
        assert!(release.check_key("demo/hello").is_ok());
        assert!(release.check_key("rehearsal/demo/hello").is_err());
        let (path, problem) = release.check_key("other/hello").unwrap_err();
        assert_eq!(path, r#"$.releases["other/hello"].current"#);
        assert!(problem.contains("demo/hello"), "{problem}");
    }

    #[test]
    fn records_are_keyed_by_cluster_and_found_in_every_cluster() {
        let mut state = StateFile::default();
        let on = |state: &mut StateFile, cluster: Option<RecordCluster>, revision| {
            let mut r = rec(Action::Install, Outcome::Succeeded, revision);
            r.cluster = cluster;
            state.apply(r, 10);
        };
        let a = RecordCluster::new("https://a.example", None);
        on(&mut state, Some(a.clone()), 1);
        assert_eq!(state.release("hello", "demo").unwrap().history.len(), 1);
        on(
            &mut state,
            Some(RecordCluster::new("https://b.example", None)),
            2,
        );
        on(&mut state, Some(RecordCluster::rehearsal()), 3);
        on(&mut state, None, 4);
        assert_eq!(state.find("hello", "demo").count(), 4);
        assert!(state.release("hello", "demo").is_none(), "ambiguous");
        let in_a = state.release_in(Some(&a.id), "hello", "demo").unwrap();
        assert_eq!(in_a.current.as_ref().unwrap().helm_revision, Some(1));
        assert!(state.releases.contains_key("rehearsal/demo/hello"));
        assert!(state.releases.contains_key("demo/hello"));
        assert_eq!(state.find("hello", "other").count(), 0);
        assert_eq!(state.find("ello", "demo").count(), 0, "no suffix matches");

        // A file older than version 3 holds no cluster.
        state.schema_version = 2;
        let (path, problem) = state.check_version_fields().unwrap_err();
        assert!(path.starts_with("$.releases[\""), "{path}");
        assert!(problem.contains("needs schemaVersion 3"), "{problem}");
    }

    #[test]
    fn finishing_sets_outcome_error_and_duration() {
        let mut r = ExecutionStateRecord::new(Action::Install, "hello", "demo");
        r.started_at = Timestamp::from_unix_millis(r.started_at.unix_millis() - 1500);
        r.finish_err(&Error::from_kind(ErrorKind::Kube, "forbidden".into()));
        assert!(r.duration_ms >= 1500);
        assert_eq!(r.check_consistency(), Ok(()));
        r.error = None;
        assert!(r.check_consistency().unwrap_err().contains("no error"));
        r.finish_ok();
        assert_eq!(r.check_consistency(), Ok(()));
    }
}
