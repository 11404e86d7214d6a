//! What Helm actions report back: releases, hooks, phase timings.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The chart's metadata from its `Chart.yaml`.
///
/// One type for every place a chart is named: a release Helm returns
/// ([`ReleaseInfo::chart`]), a pulled chart ([`PullReport`](crate::PullReport)),
/// the chart cache's index and the state file's records
/// ([`ExecutionStateRecord::chart`](crate::state::ExecutionStateRecord::chart)).
///
/// ```
/// use chainctl_core::ChartInfo;
/// let c = ChartInfo { name: "hello".into(), version: "0.1.0".into(), app_version: Some("1.0".into()) };
/// assert_eq!(serde_json::to_value(&c).unwrap()["appVersion"], "1.0");
/// assert_eq!(c.to_string(), "hello-0.1.0");
/// // Fields the state file does not know are refused, as its schema says.
/// assert!(serde_json::from_str::<ChartInfo>(r#"{"name":"a","version":"1","icon":"x"}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(description = "The chart's metadata from its `Chart.yaml`.")]
pub struct ChartInfo {
    /// `name`
    #[schemars(length(min = 1))]
    pub name: String,
    /// `version`
    #[schemars(length(min = 1))]
    pub version: String,
    /// `appVersion`, when the chart has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
}

impl fmt::Display for ChartInfo {
    /// `name-version`, as Helm names a chart (and its `.tgz`); a width
    /// pads it, as for a string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("{}-{}", self.name, self.version))
    }
}

/// Helm's status of a release revision (`helm status`, `helm history`).
///
/// It reads and writes as Helm's own strings (`deployed`,
/// `pending-upgrade`, ...), on the shim's wire and in the state file. A
/// string this build does not know (one a later Helm adds) is kept as
/// [`Other`](Self::Other), text and all, rather than refused or folded into
/// [`Unknown`](Self::Unknown): decoding a release or a state file never
/// fails on it, a record rewritten keeps it byte for byte, and `unknown`
/// keeps meaning what Helm means by it.
///
/// ```
/// use chainctl_core::HelmStatus;
///
/// let status: HelmStatus = "pending-upgrade".parse().unwrap();
/// assert_eq!(status, HelmStatus::PendingUpgrade);
/// assert!(status.is_pending());
/// assert_eq!(status.to_string(), "pending-upgrade");
/// assert_eq!(format!("[{:<10}]", HelmStatus::Failed), "[failed    ]");
/// assert_eq!(serde_json::to_string(&HelmStatus::Deployed).unwrap(), r#""deployed""#);
///
/// let later: HelmStatus = serde_json::from_str(r#""pending-frobnicate""#).unwrap();
/// assert_eq!(later, HelmStatus::Other("pending-frobnicate".into()));
/// assert_eq!(later.as_str(), "pending-frobnicate");
/// assert!(!later.is_pending(), "only Helm's known pending states are pending");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HelmStatus {
    /// `unknown`: Helm could not tell.
    Unknown,
    /// `deployed`: the revision in service.
    Deployed,
    /// `uninstalled`: removed, its history kept (`--keep-history`).
    Uninstalled,
    /// `superseded`: an older revision, replaced by a newer one.
    Superseded,
    /// `failed`: the action on this revision failed.
    Failed,
    /// `uninstalling`: an uninstall is under way.
    Uninstalling,
    /// `pending-install`: an install is under way (or was interrupted).
    PendingInstall,
    /// `pending-upgrade`: an upgrade is under way (or was interrupted).
    PendingUpgrade,
    /// `pending-rollback`: a rollback is under way (or was interrupted).
    PendingRollback,
    /// A status this build does not know, as Helm wrote it.
    Other(String),
}

impl HelmStatus {
    /// Every status Helm v3 defines, in Helm's order.
    const KNOWN: [HelmStatus; 9] = [
        HelmStatus::Unknown,
        HelmStatus::Deployed,
        HelmStatus::Uninstalled,
        HelmStatus::Superseded,
        HelmStatus::Failed,
        HelmStatus::Uninstalling,
        HelmStatus::PendingInstall,
        HelmStatus::PendingUpgrade,
        HelmStatus::PendingRollback,
    ];

    /// Helm's string for the status.
    ///
    /// ```
    /// use chainctl_core::HelmStatus;
    /// assert_eq!(HelmStatus::PendingRollback.as_str(), "pending-rollback");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            HelmStatus::Unknown => "unknown",
            HelmStatus::Deployed => "deployed",
            HelmStatus::Uninstalled => "uninstalled",
            HelmStatus::Superseded => "superseded",
            HelmStatus::Failed => "failed",
            HelmStatus::Uninstalling => "uninstalling",
            HelmStatus::PendingInstall => "pending-install",
            HelmStatus::PendingUpgrade => "pending-upgrade",
            HelmStatus::PendingRollback => "pending-rollback",
            HelmStatus::Other(other) => other,
        }
    }

    /// Whether an install, upgrade or rollback holds the release (Helm's
    /// `IsPending`): Helm refuses another action until it finishes or the
    /// release is rolled back.
    ///
    /// ```
    /// use chainctl_core::HelmStatus;
    /// assert!(HelmStatus::PendingInstall.is_pending());
    /// assert!(!HelmStatus::Deployed.is_pending() && !HelmStatus::Uninstalling.is_pending());
    /// ```
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            HelmStatus::PendingInstall | HelmStatus::PendingUpgrade | HelmStatus::PendingRollback
        )
    }

    /// Whether this revision is one that served: `deployed` or
    /// `superseded`, what a rollback of a pending release can return to.
    ///
    /// ```
    /// use chainctl_core::HelmStatus;
    /// assert!(HelmStatus::Superseded.has_served());
    /// assert!(!HelmStatus::Failed.has_served());
    /// ```
    pub fn has_served(&self) -> bool {
        matches!(self, HelmStatus::Deployed | HelmStatus::Superseded)
    }
}

impl fmt::Display for HelmStatus {
    /// Helm's string; a width pads it, as for a string (`{:<12}` in a
    /// history table).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for HelmStatus {
    type Err = std::convert::Infallible;

    /// Never fails: a string that is not one of Helm's is
    /// [`Other`](HelmStatus::Other).
    fn from_str(s: &str) -> Result<HelmStatus, Self::Err> {
        Ok(HelmStatus::from(s))
    }
}

impl From<&str> for HelmStatus {
    fn from(s: &str) -> HelmStatus {
        (HelmStatus::KNOWN.into_iter())
            .find(|known| known.as_str() == s)
            .unwrap_or_else(|| HelmStatus::Other(s.to_string()))
    }
}

impl From<String> for HelmStatus {
    fn from(s: String) -> HelmStatus {
        match HelmStatus::from(s.as_str()) {
            HelmStatus::Other(_) => HelmStatus::Other(s),
            known => known,
        }
    }
}

impl PartialEq<str> for HelmStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for HelmStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for HelmStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HelmStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<HelmStatus, D::Error> {
        String::deserialize(deserializer).map(HelmStatus::from)
    }
}

impl JsonSchema for HelmStatus {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "HelmStatus".into()
    }

    /// A string: the state file keeps statuses a later Helm may add.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
}

/// A Helm hook rendered with a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    /// The hooked resource's name.
    pub name: String,
    /// Its Kubernetes kind.
    pub kind: String,
    /// The template it came from.
    pub path: String,
    /// When it runs (`pre-install`, `post-upgrade`, ...).
    pub events: Vec<String>,
    /// The rendered manifest.
    pub manifest: String,
}

/// One revision of a Helm release, as Helm stores it.
///
/// ```
/// use chainctl_core::ReleaseInfo;
/// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"hello","namespace":"demo",
///     "revision":2,"status":"deployed","chart":{"name":"hello","version":"0.1.0"}}"#).unwrap();
/// assert_eq!(rel.revision, 2);
/// assert!(rel.manifest.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseInfo {
    /// The release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Helm's revision number, 1 for the first install.
    pub revision: u32,
    /// Helm's status: `deployed`, `superseded`, `failed`, `uninstalled`,
    /// `pending-install`, ...
    pub status: HelmStatus,
    /// Helm's description of the revision ("Install complete").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The chart deployed in this revision.
    pub chart: ChartInfo,
    /// When the release was first deployed (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_deployed: Option<String>,
    /// When this revision was deployed (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deployed: Option<String>,
    /// When the release was uninstalled, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
    /// The chart's rendered NOTES.txt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// The rendered manifest (empty in history listings).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// The rendered hooks (empty in history listings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    /// The key of [`manifest_digest`](Self::manifest_digest): the values
    /// key of the client that returned this release.
    #[serde(skip)]
    digest_key: Option<crate::state::ValuesKey>,
}

impl ReleaseInfo {
    /// The manifest as `helm template` prints it: the release's resources,
    /// then each hook headed by its source template.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"a","namespace":"b","revision":1,
    ///     "status":"deployed","chart":{"name":"c","version":"1.0.0"},
    ///     "manifest":"---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\n"}"#).unwrap();
    /// assert!(rel.full_manifest().ends_with("kind: ConfigMap\n"));
    /// ```
    pub fn full_manifest(&self) -> String {
        self.template_output(true)
    }

    /// What `helm template` prints: [`full_manifest`](Self::full_manifest),
    /// or without the hooks for a render with `--no-hooks`.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"a","namespace":"b","revision":1,
    ///     "status":"deployed","chart":{"name":"c","version":"1.0.0"},"manifest":"kind: A\n",
    ///     "hooks":[{"name":"h","kind":"Job","path":"c/templates/h.yaml","events":["post-install"],"manifest":"kind: Job"}]}"#).unwrap();
    /// assert!(rel.template_output(true).contains("kind: Job"));
    /// assert_eq!(rel.template_output(false), "kind: A\n");
    /// ```
    pub fn template_output(&self, with_hooks: bool) -> String {
        // As helm template: the trimmed manifest and a newline, even when
        // the chart renders nothing.
        let mut out = format!("{}\n", self.manifest.trim());
        if !with_hooks {
            return out;
        }
        for hook in &self.hooks {
            out.push_str(&format!(
                "---\n# Source: {}\n{}\n",
                hook.path, hook.manifest
            ));
        }
        out
    }

    /// The digest of [`manifest`](Self::manifest) exactly as Helm stored
    /// it (hooks are not part of it), or `None` when the manifest is empty
    /// (a history listing, or a chart with no resources). The state file
    /// records it (`manifestDigest`), and `chainctl app status --check`
    /// compares it with the cluster's to see whether the resources changed
    /// outside chainctl.
    ///
    /// For a release a [`Client`](crate::Client) returned it is
    /// `hmac-sha256:<hex>`, keyed like the values digest with the client's
    /// [`ValuesKey`](crate::state::ValuesKey): the manifest holds the
    /// values rendered (a Secret's data among them), so an unkeyed digest
    /// would confirm a guess of them as well. For a release read from
    /// JSON, as below, it is the plain `sha256:<hex>` of the text.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// let mut rel: ReleaseInfo = serde_json::from_str(r#"{"name":"a","namespace":"b","revision":1,
    ///     "status":"deployed","chart":{"name":"c","version":"1.0.0"}}"#).unwrap();
    /// assert_eq!(rel.manifest_digest(), None);
    /// rel.manifest = "kind: ConfigMap\n".into();
    /// let digest = rel.manifest_digest().unwrap();
    /// assert!(digest.starts_with("sha256:") && digest.len() == 7 + 64);
    /// rel.manifest.push(' ');
    /// assert_ne!(rel.manifest_digest().unwrap(), digest, "any change to the text counts");
    /// ```
    pub fn manifest_digest(&self) -> Option<String> {
        let unkeyed = self.unkeyed_manifest_digest()?;
        Some(match &self.digest_key {
            Some(key) => key.seal(&unkeyed),
            None => unkeyed,
        })
    }

    /// `sha256:<hex>` of the manifest, for records written before manifest
    /// digests were keyed.
    pub(crate) fn unkeyed_manifest_digest(&self) -> Option<String> {
        if self.manifest.is_empty() {
            return None;
        }
        Some(format!(
            "sha256:{:x}",
            Sha256::digest(self.manifest.as_bytes())
        ))
    }

    /// Keys [`manifest_digest`](Self::manifest_digest) with `key`.
    pub(crate) fn set_digest_key(&mut self, key: &crate::state::ValuesKey) {
        self.digest_key = Some(key.clone());
    }

    /// This release for showing without its secrets: in the manifest and
    /// the hooks, the value of every key of a Secret's `data` and
    /// `stringData` becomes `[redacted]` (each such Secret is written again
    /// with its keys sorted, under its `# Source:` line; every other
    /// document is kept as it was). What `chainctl app install -o json`
    /// prints unless `--show-secrets`. The manifest digest is of the real
    /// manifest: take it from the release itself, not from this copy.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"a","namespace":"b","revision":1,
    ///     "status":"deployed","chart":{"name":"c","version":"1.0.0"},
    ///     "manifest":"---\n# Source: c/templates/s.yaml\nkind: Secret\ndata:\n  password: aHVudGVyMg==\n"}"#).unwrap();
    /// let shown = rel.with_secret_data_redacted()?;
    /// assert!(!shown.manifest.contains("aHVudGVyMg==") && shown.manifest.contains("password: '[redacted]'"));
    /// assert!(shown.manifest.contains("# Source: c/templates/s.yaml"));
    /// # Ok::<(), chainctl_core::Error>(())
    /// ```
    pub fn with_secret_data_redacted(&self) -> crate::Result<ReleaseInfo> {
        let request = crate::wire::Manifests {
            manifests: std::iter::once(&self.manifest)
                .chain(self.hooks.iter().map(|h| &h.manifest))
                .cloned()
                .collect(),
        };
        let reply = crate::bridge::call::<crate::wire::SecretsRedact>(
            &request,
            &crate::bridge::CallOptions::default(),
        )?;
        if reply.manifests.len() != request.manifests.len() {
            return Err(crate::Error::internal(
                "secrets.redact returned another number of manifests than it was given",
            ));
        }
        let mut shown = self.clone();
        let mut manifests = reply.manifests.into_iter();
        shown.manifest = manifests.next().unwrap_or_default();
        for (hook, manifest) in shown.hooks.iter_mut().zip(manifests) {
            hook.manifest = manifest;
        }
        Ok(shown)
    }
}

/// Milliseconds spent in each phase of an action; a phase that did not run
/// is absent.
///
/// One type for an action's report ([`ActionReport::phases`]) and its record
/// ([`ExecutionStateRecord::phases_ms`](crate::state::ExecutionStateRecord::phases_ms)),
/// which writes it as it is. The shim measures loading the chart (counted
/// as `resolve`), rendering and applying (which includes Helm's wait, so
/// `wait` stays unset); pulling is the pull's.
///
/// ```
/// use chainctl_core::PhaseTimes;
/// let p = PhaseTimes { pull: Some(120), apply: Some(900), ..Default::default() };
/// assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"pull":120,"apply":900}"#);
/// assert!(PhaseTimes::default().is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    rename = "PhaseDurations",
    description = "Milliseconds spent in each phase of an action; a phase that did not run is absent."
)]
pub struct PhaseTimes {
    /// Parsing the reference and resolving a tag or constraint to a digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve: Option<u64>,
    /// Downloading the chart (absent or near zero when it was cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<u64>,
    /// Loading the chart and rendering its templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render: Option<u64>,
    /// Sending the objects to the API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<u64>,
    /// Waiting for the objects to become ready (`--wait`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
}

impl PhaseTimes {
    /// True when no phase has a time.
    ///
    /// ```
    /// use chainctl_core::PhaseTimes;
    /// assert!(!PhaseTimes { wait: Some(0), ..Default::default() }.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        *self == PhaseTimes::default()
    }
}

/// [`ActionReport::phases`] as the shim's reply holds it: `loadMs` (the
/// record's `resolve`), `renderMs` and `applyMs` (which includes Helm's
/// wait). Reading and writing agree, so an [`ActionReport`] is the reply
/// it was read from; `pull` and `wait`, which the shim does not time, are
/// not written.
mod shim_phases {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::PhaseTimes;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shim {
        load_ms: u64,
        render_ms: u64,
        apply_ms: u64,
    }

    pub(super) fn serialize<S: Serializer>(p: &PhaseTimes, s: S) -> Result<S::Ok, S::Error> {
        Shim {
            load_ms: p.resolve.unwrap_or_default(),
            render_ms: p.render.unwrap_or_default(),
            apply_ms: p.apply.unwrap_or_default(),
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PhaseTimes, D::Error> {
        let shim = Shim::deserialize(d)?;
        Ok(PhaseTimes {
            resolve: Some(shim.load_ms),
            render: Some(shim.render_ms),
            apply: Some(shim.apply_ms),
            ..PhaseTimes::default()
        })
    }
}

/// What an install, upgrade or render did.
///
/// ```
/// use chainctl_core::{ChartSource, Client, HelmStatus, ReleaseOptions};
///
/// let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello"))?;
/// let opts = ReleaseOptions::builder("hello", "demo").build()?;
/// let report = Client::builder().build()?.render(&chart, &opts)?;
/// assert_eq!(report.release.chart.to_string(), "hello-0.1.0");
/// assert_eq!(report.release.status, HelmStatus::PendingInstall, "a render installs nothing");
/// // The shim timed loading, rendering and applying; nothing was pulled.
/// let phases = report.phases;
/// assert!(phases.resolve.is_some() && phases.render.is_some() && phases.apply.is_some());
/// assert_eq!((phases.pull, phases.wait), (None, None));
/// # Ok::<(), chainctl_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionReport {
    /// The release as Helm recorded (or, for a dry run, would record) it.
    pub release: ReleaseInfo,
    /// True when the release was installed rather than upgraded (an upgrade
    /// with install-if-missing of a release that did not exist).
    pub installed: bool,
    /// Where the time went. In the report's JSON, the shim's reply, it is
    /// `{"loadMs", "renderMs", "applyMs"}` (loading the chart is `resolve`);
    /// [`PhaseTimes`] on its own serializes as records write it.
    #[serde(with = "shim_phases")]
    pub phases: PhaseTimes,
    /// `hmac-sha256:` digest of the values Helm merged for the action,
    /// keyed with the client's [`ValuesKey`](crate::state::ValuesKey) (the
    /// state file's when given with
    /// [`Client::with_values_key`](crate::Client::with_values_key), else
    /// one of this process): equal values, equal digest, under one key.
    /// Never the values, nor an unkeyed digest of them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub values_digest: String,
    /// For a chart from an OCI registry: what was pulled (or found cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulled: Option<crate::registry::PullReport>,
}

/// What an uninstall did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UninstallReport {
    /// The release that was removed, as it was last recorded.
    pub release: ReleaseInfo,
    /// Helm's message about resources it kept (resource policy "keep").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub info: String,
}

/// Versions of what runs inside the shim.
///
/// `helm` is the Helm SDK linked in, which the build chose: Helm 3
/// (`helm.sh/helm/v3`, e.g. `v3.22.0`) by default, Helm 4
/// (`helm.sh/helm/v4`, e.g. `v4.3.2`) with the `helm-v4` cargo feature;
/// [`helm_major`](Self::helm_major) says which.
///
/// ```
/// let v = chainctl_core::Client::shim_version().unwrap();
/// let major = if cfg!(feature = "helm-v4") { 4 } else { 3 };
/// assert_eq!(v.helm_major(), Some(major));
/// assert!(v.helm.starts_with(&format!("v{major}.")), "{}", v.helm);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimVersion {
    /// The C ABI version.
    pub abi: i32,
    /// The Helm SDK version linked in: `v3.22.0`, or with the `helm-v4`
    /// feature `v4.3.2` (the versions go-shim/go.mod and
    /// go-shim/go.helm4.mod pin).
    pub helm: String,
    /// The Go version the shim was built with.
    pub go: String,
}

impl ShimVersion {
    /// The major version of the Helm SDK linked in (3 or 4), read from
    /// [`helm`](Self::helm); `None` when that is not a `vN.…` version.
    ///
    /// ```
    /// use chainctl_core::ShimVersion;
    /// let v = ShimVersion { abi: 1, helm: "v4.3.2".into(), go: "go1.26.0".into() };
    /// assert_eq!(v.helm_major(), Some(4));
    /// let unknown = ShimVersion { helm: "unknown".into(), ..v };
    /// assert_eq!(unknown.helm_major(), None);
    /// ```
    pub fn helm_major(&self) -> Option<u32> {
        let rest = self.helm.strip_prefix('v')?;
        let major = rest.split('.').next()?;
        major.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_helm_status_reads_and_writes_as_helm_spells_it() {
        // Helm v3's pkg/release/status.go, in its order.
        let helm = [
            "unknown",
            "deployed",
            "uninstalled",
            "superseded",
            "failed",
            "uninstalling",
            "pending-install",
            "pending-upgrade",
            "pending-rollback",
        ];
        for (text, status) in helm.iter().zip(HelmStatus::KNOWN) {
            assert_eq!(status.as_str(), *text);
            assert_eq!(text.parse::<HelmStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<HelmStatus>(&json).unwrap(), status);
            assert!(!matches!(status, HelmStatus::Other(_)), "{text}");
            assert_eq!(status.is_pending(), text.starts_with("pending-"), "{text}");
        }
        let later = HelmStatus::from("paused".to_string());
        assert_eq!(later, HelmStatus::Other("paused".into()));
        assert_eq!(serde_json::to_string(&later).unwrap(), r#""paused""#);
        assert!(!later.is_pending() && !later.has_served());
    }

    #[test]
    fn a_release_with_a_status_helm_may_add_later_still_decodes() {
        let rel: ReleaseInfo = serde_json::from_str(
            r#"{"name":"a","namespace":"b","revision":1,"status":"pending-pause",
                "chart":{"name":"c","version":"1.0.0"}}"#,
        )
        .unwrap();
        assert_eq!(rel.status, HelmStatus::Other("pending-pause".into()));
        assert!(
            serde_json::to_string(&rel)
                .unwrap()
                .contains(r#""status":"pending-pause""#)
        );
    }

    #[test]
    fn an_action_report_reads_the_shims_phases_as_phase_times() {
        let report: ActionReport = serde_json::from_value(serde_json::json!({
            "release": {"name": "a", "namespace": "b", "revision": 1, "status": "deployed",
                        "chart": {"name": "c", "version": "1.0.0"}},
            "installed": true,
            "phases": {"loadMs": 3, "renderMs": 5, "applyMs": 8},
        }))
        .unwrap();
        let want = PhaseTimes {
            resolve: Some(3),
            render: Some(5),
            apply: Some(8),
            ..PhaseTimes::default()
        };
        assert_eq!(report.phases, want);
        // The report writes the reply it was read from; the phases alone
        // are written as a record writes them.
        let written = serde_json::to_value(&report).unwrap();
        let shim = serde_json::json!({"loadMs": 3, "renderMs": 5, "applyMs": 8});
        assert_eq!(written["phases"], shim);
        assert_eq!(
            serde_json::from_value::<ActionReport>(written).unwrap(),
            report
        );
        let alone = serde_json::to_value(report.phases).unwrap();
        assert_eq!(
            alone,
            serde_json::json!({"resolve": 3, "render": 5, "apply": 8})
        );
    }

    #[test]
    fn manifest_digest_is_the_sha256_of_the_manifest_text() {
        let mut rel: ReleaseInfo = serde_json::from_value(serde_json::json!({
            "name": "a", "namespace": "b", "revision": 1, "status": "deployed",
            "chart": {"name": "c", "version": "1.0.0"}, "manifest": "abc",
            "hooks": [{"name": "t", "kind": "Pod", "path": "c/templates/t.yaml",
                       "events": ["test"], "manifest": "kind: Pod\n"}]
        }))
        .unwrap();
        // sha256("abc"), FIPS 180-2 appendix B.1; hooks are not part of it.
        let abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(rel.manifest_digest().as_deref(), Some(abc));
        rel.hooks.clear();
        assert_eq!(rel.manifest_digest().as_deref(), Some(abc));
        rel.manifest.clear();
        assert_eq!(rel.manifest_digest(), None);
    }
}
