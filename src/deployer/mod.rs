//! Deploy and record in one call: a [`Deployer`] resolves the chart's
//! source (given, recorded, or locked to the recorded digest), shows a
//! [`Plan`] to an [`Approval`], deploys exactly what the plan showed, records
//! every outcome in a [`StateBackend`] and returns the report with the
//! record.
//!
//! ```
//! use chainctl_core::{
//!     Approval, ChartSource, Client, Deployer, LazyStateStore, ReleaseOptions, SourceChoice,
//!     Storage,
//! };
//! use chainctl_core::state::Outcome;
//!
//! # fn main() -> chainctl_core::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let client = Client::builder().storage(Storage::Memory).build()?;
//! let mut deployer = Deployer::new(client, LazyStateStore::at(dir.path().join("state.json")));
//!
//! let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello"))?;
//! let opts = ReleaseOptions::builder("hello", "demo").set("greeting=hi").build()?;
//! let installed = deployer.install(
//!     SourceChoice::Given(chart),
//!     &opts,
//!     Approval::ask(|plan| {
//!         // Show it, ask, answer.
//!         assert!(plan.to_string().contains("not installed -> hello 0.1.0"));
//!         true
//!     }),
//! )?;
//! assert_eq!(installed.report.release.revision, 1);
//! assert_eq!(installed.record.outcome, Outcome::Succeeded);
//!
//! // The upgrade reuses the recorded source; approved in advance, it plans nothing.
//! let upgraded = deployer.upgrade(SourceChoice::Recorded, &opts, Approval::Given)?;
//! assert_eq!(upgraded.record.helm_revision, Some(2));
//! let state = chainctl_core::StateStore::load(dir.path().join("state.json"))?;
//! assert_eq!(state.record_count(), 2);
//! # Ok(())
//! # }
//! ```

mod backend;
mod plan;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use backend::{LazyStateStore, StateBackend};
pub use plan::{Approval, Current, Plan, PlanChart, PlanSource, RevisionChart, Target};

use crate::state::{
    Action, Drift, DriftField, ExecutionStateRecord, Outcome, RecordCluster, RecordSource,
    ReleaseState, StateFile,
};
use crate::{
    ActionReport, CancelToken, ChartSource, Client, DryRun, Error, ErrorKind, HelmStatus,
    OciReference, ReleaseInfo, ReleaseOptions, ReleaseRef, ResolvedKube, Result, RollbackOptions,
    UninstallOptions, UninstallReport, version_to_tag,
};

/// How long a cancelled action waits for Helm to mark the revision it made
/// failed (Helm takes milliseconds), and how long for a revision to appear
/// at all when none is there yet.
pub const SETTLE_PENDING: Duration = Duration::from_secs(5);
const SETTLE_ABSENT: Duration = Duration::from_secs(1);

/// Where the chart of an install or upgrade comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SourceChoice {
    /// This chart.
    Given(ChartSource),
    /// The source recorded for the release's current deployment in this
    /// cluster.
    Recorded,
    /// The recorded OCI chart pinned to the recorded manifest digest,
    /// provided the recorded tag still points at it.
    Locked,
}

/// The source a [`SourceChoice`] resolved to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolvedSource {
    /// The chart to deploy.
    pub chart: ChartSource,
    /// How it was chosen.
    pub origin: SourceOrigin,
    /// The record it came from predates the recording of clusters, so it
    /// may be of another cluster ([`LEGACY_RECORD_NOTE`]).
    pub legacy_record: bool,
}

/// What [`ResolvedSource::legacy_record`] means, in words.
pub const LEGACY_RECORD_NOTE: &str =
    "the record predates chainctl's recording of clusters, so it may be of another cluster";

/// How a [`ResolvedSource`] was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceOrigin {
    /// The caller gave it.
    Given,
    /// Reused from the record of the release's current deployment.
    Recorded,
    /// The recorded digest, which `tagged` still points at.
    Locked {
        /// The recorded tag.
        tagged: OciReference,
        /// The recorded manifest digest.
        digest: String,
    },
}
/// What happens along the way that a caller may show, or must keep: see
/// [`Deployer::on_notice`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Notice<'a> {
    /// The source was resolved (recorded or locked: say which).
    Source(&'a ResolvedSource),
    /// The state file opened with something worth fixing.
    StateWarning(&'a str),
    /// The action is approved and the state file ready: the cluster
    /// changes from here until the deployer returns (a caller that cancels
    /// on a signal may cancel rather than exit from now on). Not sent for
    /// dry runs.
    Acting,
    /// The record is about to be written: keep a copy until
    /// [`Saved`](Notice::Saved), to print if the process must end before.
    Saving(&'a ExecutionStateRecord),
    /// The write of the record ended (written or not).
    Saved,
    /// The record could not be written to `path`: show it, so it is not
    /// lost. A successful action then ends with [`Error::NotRecorded`].
    NotSaved {
        /// The record.
        record: &'a ExecutionStateRecord,
        /// Where it was to go.
        path: &'a Path,
        /// Why it was not written.
        error: &'a Error,
    },
    /// A cancelled action left `release` pending: Helm had not marked it
    /// within `waited`.
    LeftPending {
        /// The revision as Helm left it.
        release: &'a ReleaseInfo,
        /// How long the deployer waited.
        waited: Duration,
    },
}

/// The report of a recorded action: what Helm returned, the record, and
/// the state file it was written to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Deployment<T> {
    /// What the action returned.
    pub report: T,
    /// The record written, or for a dry run the record that would be.
    pub record: ExecutionStateRecord,
    /// Where the record was written; `None` for a dry run.
    pub state_path: Option<PathBuf>,
}

/// Options of [`Deployer::check`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckOptions {
    /// Read the release from the storage driver the record names, rather
    /// than the client's.
    pub recorded_driver: bool,
}

impl CheckOptions {
    /// With [`recorded_driver`](Self::recorded_driver) set to `on`.
    ///
    /// ```
    /// let options = chainctl_core::CheckOptions::default().recorded_driver(true);
    /// assert!(options.recorded_driver);
    /// ```
    pub fn recorded_driver(mut self, on: bool) -> CheckOptions {
        self.recorded_driver = on;
        self
    }
}

/// The cluster compared with the state file: see [`Deployer::check`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Check {
    /// The state file read.
    pub state_path: PathBuf,
    /// The record compared: the current one, or after a failure with none
    /// (a failed first install) the failed one, with the revision Helm
    /// recorded for it; after an uninstall, the uninstall's.
    pub record: ExecutionStateRecord,
    /// The record predates the recording of clusters
    /// ([`LEGACY_RECORD_NOTE`]).
    pub legacy_record: bool,
    /// The release in the cluster; `None` when it is not there.
    pub cluster: Option<ReleaseInfo>,
    /// Each difference; empty when the cluster matches.
    pub differences: Vec<Drift>,
    /// The newest record, when it was cancelled: the differences are that
    /// action's doing.
    pub interrupted: Option<ExecutionStateRecord>,
}

impl Check {
    /// Whether the cluster matches the record.
    pub fn matches(&self) -> bool {
        self.differences.is_empty()
    }

    /// Whether only the manifest digest differs and it is keyed: the same
    /// manifest keyed with another values key also differs like that.
    pub fn may_be_another_key(&self) -> bool {
        !self.differences.is_empty()
            && (self.differences.iter()).all(|d| d.field == DriftField::ManifestDigest)
            && (self.record.manifest_digest.as_deref())
                .is_some_and(|d| d.starts_with("hmac-sha256:"))
    }
}

type NoticeHandler = Box<dyn Fn(&Notice<'_>) + Send + Sync>;

/// Installs, upgrades, rolls back and uninstalls releases through a
/// [`Client`], recording every outcome in a [`StateBackend`]: see the
/// [module](self) for an example.
pub struct Deployer<S = LazyStateStore> {
    client: Client,
    state: S,
    kube: OnceLock<ResolvedKube>,
    notices: Option<NoticeHandler>,
}

impl<S> fmt::Debug for Deployer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployer")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl<S: StateBackend> Deployer<S> {
    /// A deployer acting through `client`, recording into `state`.
    pub fn new(client: Client, state: S) -> Deployer<S> {
        Deployer {
            client,
            state,
            kube: OnceLock::new(),
            notices: None,
        }
    }

    /// The cluster the records are of, as already resolved with
    /// [`Client::resolve_kube`]; otherwise the deployer resolves it when
    /// first needed.
    pub fn with_kube(self, kube: ResolvedKube) -> Deployer<S> {
        let _ = self.kube.set(kube);
        self
    }

    /// Calls `handler` with each [`Notice`].
    pub fn on_notice(mut self, handler: impl Fn(&Notice<'_>) + Send + Sync + 'static) -> Self {
        self.notices = Some(Box::new(handler));
        self
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The state backend.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The state backend, to take back.
    pub fn into_state(self) -> S {
        self.state
    }

    fn notify(&self, notice: Notice<'_>) {
        if let Some(handler) = &self.notices {
            handler(&notice);
        }
    }

    fn kube(&self) -> Result<&ResolvedKube> {
        if let Some(kube) = self.kube.get() {
            return Ok(kube);
        }
        let resolved = self.client.resolve_kube(None)?;
        Ok(self.kube.get_or_init(|| resolved))
    }

    /// The cluster records are filed under: the rehearsal pseudo-cluster
    /// on the memory driver, else the kubeconfig's.
    fn record_cluster(&self) -> Result<Option<RecordCluster>> {
        match self.client.storage_driver() {
            crate::state::StorageDriver::Memory => Ok(Some(RecordCluster::rehearsal())),
            _ => Ok(self.kube()?.record_cluster()),
        }
    }

    /// Names the cluster, context and driver of a record.
    fn stamp(&self, record: &mut ExecutionStateRecord) -> Result<()> {
        record.cluster = self.record_cluster()?;
        record.driver = Some(self.client.storage_driver());
        record.kube_context = (self.kube().ok())
            .map(|k| k.context.clone())
            .filter(|c| !c.is_empty());
        Ok(())
    }

    /// What `state` records of `release` in this cluster; records of no
    /// known cluster stand in when there is none (`true`: legacy).
    fn release_state<'s>(
        &self,
        state: &'s StateFile,
        release: &ReleaseRef,
    ) -> Result<Option<(&'s ReleaseState, bool)>> {
        let cluster = self.record_cluster()?;
        let id = cluster.as_ref().map(|c| c.id.as_str());
        if let Some(found) = state.release_in(id, release.name(), release.namespace()) {
            return Ok(Some((found, false)));
        }
        Ok((state.release_in(None, release.name(), release.namespace())).map(|s| (s, true)))
    }

    /// The source recorded for `release`'s current deployment in this
    /// cluster, and whether that record predates the recording of clusters
    /// ([`LEGACY_RECORD_NOTE`]); `None` when nothing is recorded (what
    /// [`SourceChoice::Recorded`] and [`SourceChoice::Locked`] need).
    pub fn recorded_source(&self, release: &ReleaseRef) -> Result<Option<(RecordSource, bool)>> {
        let Some(state) = self.state.load()? else {
            return Ok(None);
        };
        let Some((found, legacy)) = self.release_state(&state, release)? else {
            return Ok(None);
        };
        let source = (found.current.as_ref()).and_then(|rec| rec.source.clone());
        Ok(source.map(|source| (source, legacy)))
    }

    fn recorded(&self, release: &ReleaseRef) -> Result<(RecordSource, bool)> {
        self.recorded_source(release)?.ok_or_else(|| {
            let path = self.state.path().unwrap_or_default();
            Error::invalid(format!(
                "no source given and no deployment of {release} recorded in {}: name the chart \
                 (a bundle path or an oci:// reference)",
                path.display()
            ))
        })
    }

    /// Resolves `choice` for `release`: for [`SourceChoice::Locked`], asks
    /// the registry where the recorded tag points now.
    pub fn resolve(&self, choice: SourceChoice, release: &ReleaseRef) -> Result<ResolvedSource> {
        match choice {
            SourceChoice::Given(chart) => Ok(ResolvedSource {
                chart,
                origin: SourceOrigin::Given,
                legacy_record: false,
            }),
            SourceChoice::Recorded => {
                let (source, legacy_record) = self.recorded(release)?;
                Ok(ResolvedSource {
                    chart: source.to_chart_source()?,
                    origin: SourceOrigin::Recorded,
                    legacy_record,
                })
            }
            SourceChoice::Locked => self.locked(release),
        }
    }

    fn locked(&self, release: &ReleaseRef) -> Result<ResolvedSource> {
        let (RecordSource::Oci(oci), legacy_record) = self.recorded(release)? else {
            return Err(Error::invalid(format!(
                "locking pins OCI charts by digest, but {release} was deployed from a local bundle"
            )));
        };
        let digest = oci.manifest_digest.clone().ok_or_else(|| {
            Error::invalid(format!(
                "no manifest digest is recorded for {release}: deploy it once without locking \
                 to record one"
            ))
        })?;
        let reference: OciReference = oci.reference.parse()?;
        let tag = match (reference.tag(), &oci.resolved_version) {
            (Some(tag), _) => tag.to_string(),
            (None, Some(version)) => version_to_tag(version),
            (None, None) => {
                return Err(Error::invalid(format!(
                    "no tag or version is recorded for {release}"
                )));
            }
        };
        let tagged: OciReference = format!(
            "oci://{}/{}:{tag}",
            reference.registry(),
            reference.repository()
        )
        .parse()?;
        let current = self.client.resolve_tag(&tagged)?;
        if current != digest {
            return Err(Error::invalid(format!(
                "locked: {tagged} now points to {current}, but the state file records {digest} \
                 for {release}; deploy without locking to take the new digest"
            )));
        }
        Ok(ResolvedSource {
            chart: ChartSource::oci(&format!("{tagged}@{digest}"), None)?,
            origin: SourceOrigin::Locked { tagged, digest },
            legacy_record,
        })
    }

    /// The plan of installing (`Action::Install`) or upgrading `source`
    /// with `opts`: for an OCI chart it pulls the chart (into the cache the
    /// action then reads) and pins the source to the digest it shows. Fails
    /// when the chart cannot be had; nothing has changed yet.
    pub fn plan(
        &self,
        action: Action,
        source: &ChartSource,
        opts: &ReleaseOptions,
    ) -> Result<Plan> {
        let current = self.client.status(opts.release());
        let action = match &current {
            Err(err) if err.kind() == ErrorKind::NotFound && opts.install_if_missing() => {
                Action::Install
            }
            _ => action,
        };
        let (to, plan_source) = match source {
            ChartSource::Oci(_) => {
                let pulled = self.client.pull_within(source, opts.timeout())?;
                let shown = pulled.reference.split('@').next().unwrap_or_default();
                let to = PlanChart {
                    name: pulled.chart.name.clone(),
                    version: pulled.version.clone(),
                };
                let plan_source = PlanSource::Oci {
                    reference: shown.to_string(),
                    manifest_digest: pulled.manifest_digest.clone(),
                    chart_digest: pulled.chart_digest.clone(),
                    pinned: ChartSource::oci(&pulled.reference, None)?,
                };
                (to, plan_source)
            }
            ChartSource::Bundle(bundle) => {
                let rendered = self.client.render(source, opts)?;
                let plan_source = PlanSource::Bundle {
                    path: bundle.path().to_path_buf(),
                    content_digest: bundle.content_digest()?,
                };
                (PlanChart::of(&rendered.release), plan_source)
            }
        };
        Ok(Plan {
            action,
            release: opts.release().clone(),
            from: Current::of(&current),
            to: Target::Chart(to),
            source: Some(plan_source),
        })
    }

    /// The plan of rolling `release` back to `revision` (`None`: the one
    /// before the current one, as Helm does).
    pub fn plan_rollback(&self, release: &ReleaseRef, revision: Option<u32>) -> Plan {
        let current = self.client.status(release);
        let target =
            revision.or_else(|| (current.as_ref().ok()).map(|rel| rel.revision.saturating_sub(1)));
        let history = match self.client.history(release) {
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            other => other,
        };
        let chart = match (history, target) {
            (Ok(revisions), Some(n)) => Some(match revisions.iter().find(|r| r.revision == n) {
                Some(rel) => RevisionChart::Found(PlanChart::of(rel)),
                None => RevisionChart::NotInHistory,
            }),
            (Ok(_), None) => None,
            (Err(err), _) => Some(RevisionChart::Unknown(err.to_string())),
        };
        Plan {
            action: Action::Rollback,
            release: release.clone(),
            from: Current::of(&current),
            to: Target::Revision {
                revision: target,
                chart,
            },
            source: None,
        }
    }

    /// The plan of uninstalling `release`.
    pub fn plan_uninstall(&self, release: &ReleaseRef, keep_history: bool) -> Plan {
        Plan {
            action: Action::Uninstall,
            release: release.clone(),
            from: Current::of(&self.client.status(release)),
            to: Target::Removed { keep_history },
            source: None,
        }
    }

    /// Asks `approval` (building the plan only when it asks), then opens
    /// the state backend; a plan approved is returned.
    fn approve(
        &mut self,
        approval: Approval<'_>,
        what: impl FnOnce() -> String,
        plan: impl FnOnce(&Self) -> Result<Plan>,
    ) -> Result<Option<Plan>> {
        let approved = match approval {
            Approval::Given => None,
            Approval::Ask(decide) => {
                let plan = plan(self)?;
                if !decide(&plan) {
                    return Err(Error::Refused {
                        message: format!("{} was not approved; nothing was changed", what()),
                    });
                }
                Some(plan)
            }
        };
        for warning in self.state.open()? {
            self.notify(Notice::StateWarning(&warning));
        }
        self.notify(Notice::Acting);
        Ok(approved)
    }

    /// Installs a release from `source`, recording the outcome.
    ///
    /// With a dry run in `opts` nothing is approved, pulled for a plan or
    /// recorded: the deployment holds the record that would be written.
    pub fn install(
        &mut self,
        source: SourceChoice,
        opts: &ReleaseOptions,
        approval: Approval<'_>,
    ) -> Result<Deployment<ActionReport>> {
        self.deploy(Action::Install, source, opts, approval)
    }

    /// Upgrades a release to `source` (with
    /// [`install_if_missing`](crate::ReleaseOptionsBuilder::install_if_missing),
    /// installing it when there is none), recording the outcome; see
    /// [`install`](Self::install).
    pub fn upgrade(
        &mut self,
        source: SourceChoice,
        opts: &ReleaseOptions,
        approval: Approval<'_>,
    ) -> Result<Deployment<ActionReport>> {
        self.deploy(Action::Upgrade, source, opts, approval)
    }

    fn deploy(
        &mut self,
        action: Action,
        choice: SourceChoice,
        opts: &ReleaseOptions,
        approval: Approval<'_>,
    ) -> Result<Deployment<ActionReport>> {
        let resolved = self.resolve(choice, opts.release())?;
        if resolved.origin != SourceOrigin::Given {
            self.notify(Notice::Source(&resolved));
        }
        let source = &resolved.chart;
        let dry_run = opts.dry_run() != DryRun::None;
        let mut pinned = None;
        if !dry_run {
            let plan = self.approve(
                approval,
                || format!("the {action} of {} from {source}", opts.release()),
                |this| this.plan(action, source, opts),
            )?;
            if let Some(Plan {
                source: Some(PlanSource::Oci { pinned: pin, .. }),
                ..
            }) = plan
            {
                pinned = Some(pin);
            }
        }
        // Digests keyed for this state file; a dry run creates no key, and
        // without one its digest compares only within this run.
        let client = match self.state.values_key(!dry_run)? {
            Some(key) => self.client.clone().with_values_key(key),
            None => self.client.clone(),
        };
        // The record names the source as given; the action deploys what
        // the plan showed.
        let mut record = ExecutionStateRecord::for_chart(action, source, opts)?;
        self.stamp(&mut record)?;
        let deployed = pinned.as_ref().unwrap_or(source);
        let result = match action {
            Action::Install => client.install_detailed(deployed, opts),
            _ => client.upgrade_detailed(deployed, opts),
        };
        record.finish_with_outcome(&result);
        if result.is_err() && !dry_run {
            self.note_cancelled(&mut record, &client, opts.release());
        }
        let result = result.map_err(Error::from);
        let state_path = match dry_run {
            true => None,
            false => self.save(&record, result.is_ok())?,
        };
        Ok(Deployment {
            report: result?,
            record,
            state_path,
        })
    }

    /// Rolls `release` back (to `opts.revision`, else the previous
    /// revision), recording the outcome. A dry run is not approved nor
    /// recorded.
    pub fn rollback(
        &mut self,
        release: &ReleaseRef,
        opts: &RollbackOptions,
        approval: Approval<'_>,
    ) -> Result<Deployment<ReleaseInfo>> {
        if !opts.dry_run {
            self.approve(
                approval,
                || format!("the rollback of {release}"),
                |this| Ok(this.plan_rollback(release, opts.revision)),
            )?;
        }
        // The rollback's manifest digest is keyed as the state file's are.
        let client = match self.state.values_key(!opts.dry_run)? {
            Some(key) => self.client.clone().with_values_key(key),
            None => self.client.clone(),
        };
        self.act_on_release(
            Action::Rollback,
            release,
            opts.dry_run,
            &client,
            |client| client.rollback(release, opts),
            |record, info| record.finish_with_release(info),
        )
    }

    /// Uninstalls `release`, recording the outcome. A dry run is not
    /// approved nor recorded.
    pub fn uninstall(
        &mut self,
        release: &ReleaseRef,
        opts: &UninstallOptions,
        approval: Approval<'_>,
    ) -> Result<Deployment<UninstallReport>> {
        if !opts.dry_run {
            self.approve(
                approval,
                || format!("the uninstall of {release}"),
                |this| Ok(this.plan_uninstall(release, opts.keep_history)),
            )?;
        }
        let client = self.client.clone();
        self.act_on_release(
            Action::Uninstall,
            release,
            opts.dry_run,
            &client,
            |client| client.uninstall(release, opts),
            |record, report| {
                record.finish_with_release(&report.release);
                record.helm_status = Some(HelmStatus::Uninstalled);
            },
        )
    }

    /// Runs `act` (a rollback or uninstall, approved) on `release` through
    /// `client` (keyed as the state file) and records its outcome, which
    /// `finish` writes into the record on success; a dry run records
    /// nothing and returns the record it would write.
    fn act_on_release<T>(
        &mut self,
        action: Action,
        release: &ReleaseRef,
        dry_run: bool,
        client: &Client,
        act: impl FnOnce(&Client) -> Result<T>,
        finish: impl FnOnce(&mut ExecutionStateRecord, &T),
    ) -> Result<Deployment<T>> {
        let mut record = ExecutionStateRecord::for_release(action, release);
        self.stamp(&mut record)?;
        let result = act(client);
        match &result {
            Ok(report) => finish(&mut record, report),
            Err(err) => record.finish_err(err),
        }
        let state_path = match dry_run {
            true => None,
            false => {
                if result.is_err() {
                    self.note_cancelled(&mut record, client, release);
                }
                self.save(&record, result.is_ok())?
            }
        };
        Ok(Deployment {
            report: result?,
            record,
            state_path,
        })
    }

    /// After an action failed: when it was cancelled, its record says so,
    /// naming the cause ([`CancelToken::cancel_with`]) and the revision and
    /// status Helm left once Helm has marked it (see [`settle`]).
    fn note_cancelled(
        &self,
        record: &mut ExecutionStateRecord,
        client: &Client,
        release: &ReleaseRef,
    ) {
        if !record.is_cancelled() {
            return;
        }
        let cause = (client.cancel_token())
            .and_then(CancelToken::reason)
            .unwrap_or_else(|| "its cancel token".to_string());
        let left = match record.action {
            // An uninstall makes no revision: nothing to wait for.
            Action::Uninstall => None,
            _ => settle(client, release, record),
        };
        if let Some(rel) = left.as_ref().filter(|r| r.status.is_pending()) {
            self.notify(Notice::LeftPending {
                release: rel,
                waited: SETTLE_PENDING,
            });
        }
        record.finish_cancelled(&cause, left.as_ref());
    }

    /// Writes the record: its path when written. When the write fails the
    /// record goes to [`Notice::NotSaved`], and a successful action ends
    /// with [`Error::NotRecorded`].
    fn save(&mut self, record: &ExecutionStateRecord, succeeded: bool) -> Result<Option<PathBuf>> {
        self.notify(Notice::Saving(record));
        let written = self.state.record(record.clone());
        self.notify(Notice::Saved);
        let path = self.state.path().unwrap_or_default();
        let Err(err) = written else {
            return Ok(Some(path));
        };
        self.notify(Notice::NotSaved {
            record,
            path: &path,
            error: &err,
        });
        match succeeded {
            false => Ok(None),
            true => Err(Error::NotRecorded {
                message: format!(
                    "the {} succeeded but its record was not written to {}",
                    record.action,
                    path.display()
                ),
                record: Box::new(record.clone()),
                source: Box::new(err),
            }),
        }
    }

    /// The release in the cluster against the state file's current record
    /// of it, which is read, never written or locked: the differences as
    /// data. [`Error::NotFound`] when there is nothing to compare with (no
    /// state file, no record of the release in this cluster).
    ///
    /// A release whose last recorded action is a chainctl uninstall matches
    /// a cluster without it (or with its history kept, `uninstalled`); it
    /// differs when the release is back, installed outside chainctl.
    pub fn check(&mut self, release: &ReleaseRef, options: &CheckOptions) -> Result<Check> {
        let state_path = self.state.path()?;
        let nothing_to_compare = |why: String, missing| {
            Error::not_found(
                format!(
                    "{why}, so there is nothing to compare the cluster with: the state file records \
                     what chainctl installs, upgrades and rolls back"
                ),
                missing,
            )
        };
        let no_record = || {
            nothing_to_compare(
                format!(
                    "{} records no deployment of {release} in this cluster",
                    state_path.display()
                ),
                crate::error::Missing::Other,
            )
        };
        let Some(state) = self.state.load()? else {
            return Err(nothing_to_compare(
                format!("there is no state file at {}", state_path.display()),
                crate::error::Missing::StateFile {
                    path: state_path.to_path_buf(),
                },
            ));
        };
        let (recorded, legacy_record) =
            self.release_state(&state, release)?.ok_or_else(no_record)?;
        // A release chainctl uninstalled last: the cluster matches it when
        // the release is gone (or kept as history, uninstalled).
        let uninstall = recorded.current.is_none().then(|| {
            (recorded.history.iter().rev())
                .find(|r| r.outcome == Outcome::Succeeded)
                .filter(|r| r.action == Action::Uninstall)
        });
        let uninstall = uninstall.flatten();
        let record = (recorded.current.as_ref())
            .or(uninstall)
            .or_else(|| {
                (recorded.history.iter().rev())
                    .find(|r| r.helm_revision.is_some() && r.action != Action::Uninstall)
            })
            .ok_or_else(no_record)?;
        let mut client = match (options.recorded_driver, record.driver) {
            (true, Some(driver)) if driver != self.client.storage_driver() => {
                self.client.with_storage_driver(driver)
            }
            _ => self.client.clone(),
        };
        // The digests of this state file's records are keyed with its key.
        if let Some(key) = self.state.values_key(false)? {
            client = client.with_values_key(key);
        }
        let (cluster, differences) = match client.status(release) {
            Ok(info) if uninstall.is_some() => {
                let differences = if info.status == HelmStatus::Uninstalled {
                    Vec::new()
                } else {
                    vec![Drift::release_present(record, &info)]
                };
                (Some(info), differences)
            }
            Ok(info) => {
                let differences = record.drift(&info);
                (Some(info), differences)
            }
            Err(err) if err.kind() == ErrorKind::NotFound && uninstall.is_some() => {
                (None, Vec::new())
            }
            Err(err) if err.kind() == ErrorKind::NotFound => {
                (None, vec![Drift::release_missing(record)])
            }
            Err(err) => return Err(err),
        };
        let interrupted = (recorded.history.last()).filter(|r| r.is_cancelled());
        Ok(Check {
            state_path,
            record: record.clone(),
            legacy_record,
            cluster,
            differences,
            interrupted: interrupted.cloned(),
        })
    }
}

/// The revision a cancelled action made, once Helm has marked it (no longer
/// `pending-*`, which Helm does within milliseconds of the cancel), waiting
/// at most [`SETTLE_PENDING`]; `None` when no revision of the action
/// appears within a second (it was cancelled before Helm stored one). Read
/// with a client whose calls the cancel does not reach.
fn settle(
    client: &Client,
    release: &ReleaseRef,
    record: &ExecutionStateRecord,
) -> Option<ReleaseInfo> {
    let reader = client.with_cancel_token(None);
    let start = Instant::now();
    loop {
        let ours = (reader.status(release).ok()).filter(|r| record.made_revision(r));
        let waited = start.elapsed();
        match &ours {
            Some(rel) if !rel.status.is_pending() => return ours,
            Some(_) if waited >= SETTLE_PENDING => return ours,
            None if waited >= SETTLE_ABSENT => return None,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StateStore, Storage};

    fn hello() -> ChartSource {
        ChartSource::bundle(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/charts/hello"
        ))
        .unwrap()
    }

    fn memory() -> Client {
        Client::builder().storage(Storage::Memory).build().unwrap()
    }

    #[test]
    fn a_refused_approval_changes_nothing_and_creates_no_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        let mut deployer = Deployer::new(memory(), LazyStateStore::at(&path));
        let opts = ReleaseOptions::builder("hello", "demo").build().unwrap();
        let mut shown = String::new();
        let err = deployer
            .install(
                SourceChoice::Given(hello()),
                &opts,
                Approval::ask(|plan| {
                    shown = plan.to_string();
                    false
                }),
            )
            .unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{err}");
        assert!(shown.starts_with("chainctl will install release hello in namespace demo\n"));
        assert!(
            shown.contains("  chart:    not installed -> hello 0.1.0\n"),
            "{shown}"
        );
        assert!(shown.contains(" (bundle content)\n"), "{shown}");
        assert!(!dir.path().join("sub").exists());
        let err = deployer.client().status(opts.release()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn a_dry_run_records_nothing_and_returns_the_record_it_would_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut deployer = Deployer::new(memory(), LazyStateStore::at(&path));
        let opts = ReleaseOptions::builder("hello", "demo")
            .dry_run(DryRun::Client)
            .build()
            .unwrap();
        let asked = std::cell::Cell::new(false);
        let done = deployer
            .install(
                SourceChoice::Given(hello()),
                &opts,
                Approval::ask(|_| {
                    asked.set(true);
                    false
                }),
            )
            .unwrap();
        assert!(!asked.get(), "a dry run asks nothing");
        assert_eq!(done.state_path, None);
        assert_eq!(done.record.outcome, crate::state::Outcome::Succeeded);
        assert!(done.record.source.is_some());
        assert!(!path.exists());
    }

    #[test]
    fn upgrade_from_the_record_with_nothing_recorded_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut deployer = Deployer::new(memory(), LazyStateStore::at(dir.path().join("s.json")));
        let release = ReleaseRef::new("hello", "demo").unwrap();
        let err = deployer
            .resolve(SourceChoice::Recorded, &release)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(
            err.to_string()
                .contains("no deployment of demo/hello recorded"),
            "{err}"
        );
        let err = deployer
            .check(&release, &CheckOptions::default())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("there is no state file"), "{err}");
    }

    #[test]
    fn a_cancelled_rollback_is_recorded_as_cancelled_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let token = CancelToken::new();
        let client = Client::builder()
            .storage(Storage::Memory)
            .cancel_token(token.clone())
            .build()
            .unwrap();
        let mut deployer = Deployer::new(client, LazyStateStore::at(&path));
        let opts = ReleaseOptions::builder("hello", "demo").build().unwrap();
        deployer
            .install(SourceChoice::Given(hello()), &opts, Approval::Given)
            .unwrap();
        token.cancel_with("SIGTERM");
        let release = opts.release().clone();
        let err = deployer
            .rollback(&release, &RollbackOptions::default(), Approval::Given)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        let state = StateStore::load(&path).unwrap();
        let last = state
            .release("hello", "demo")
            .unwrap()
            .history
            .last()
            .unwrap();
        assert!(last.is_cancelled());
        let message = &last.error.as_ref().unwrap().message;
        assert!(
            message.starts_with("cancelled by SIGTERM: chainctl stopped the rollback"),
            "{message}"
        );
    }
}
