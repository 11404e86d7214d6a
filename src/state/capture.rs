//! Filling records from what the client did: the source and values before an
//! action, Helm's answer (or the error) after it.

use std::sync::OnceLock;

use super::record::{
    Action, BundleSource as RecordBundle, ExecutionStateRecord, OciSource as RecordOci,
    RecordSource, ToolVersions,
};
use super::time::Timestamp;
use crate::client::{ActionFailure, Client};
use crate::error::{Error, Result};
use crate::registry::PullReport;
use crate::release::{ReleaseOptions, ReleaseRef};
use crate::report::{ActionReport, ReleaseInfo};
use crate::source::ChartSource;

/// chainctl, Helm and Go versions, asked of the shim once per process.
fn tool_versions() -> ToolVersions {
    static VERSIONS: OnceLock<ToolVersions> = OnceLock::new();
    VERSIONS
        .get_or_init(|| {
            let shim = Client::shim_version().ok();
            ToolVersions {
                helm: shim.as_ref().map(|v| v.helm.clone()),
                go: shim.map(|v| v.go),
                ..ToolVersions::default()
            }
        })
        .clone()
}

impl RecordSource {
    /// What a record says about `source` before the action: the bundle's
    /// path and content digest (computed now), or the OCI reference and
    /// requested version, with nothing resolved yet.
    ///
    /// ```
    /// use chainctl_core::ChartSource;
    /// use chainctl_core::state::RecordSource;
    /// let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello")).unwrap();
    /// let RecordSource::Bundle(b) = RecordSource::from_chart_source(&chart).unwrap() else { panic!() };
    /// assert!(b.content_digest.unwrap().starts_with("sha256:"));
    /// ```
    pub fn from_chart_source(source: &ChartSource) -> Result<RecordSource> {
        Ok(match source {
            ChartSource::Bundle(bundle) => RecordSource::Bundle(RecordBundle {
                path: bundle.path.clone(),
                content_digest: Some(bundle.content_digest()?),
            }),
            // What it resolves to is this action's to find out
            // (`finish_with_report`), not a copy of an earlier one.
            ChartSource::Oci(oci) => RecordSource::Oci(RecordOci {
                reference: oci.reference.clone(),
                requested_version: oci.requested_version.clone(),
                resolved_version: None,
                manifest_digest: None,
                chart_digest: None,
            }),
        })
    }

    /// The chart source to deploy again: how `chainctl app upgrade` with no
    /// source flag reuses what the state file recorded. Checked again as
    /// [`ChartSource::bundle`] and [`ChartSource::oci`] check a new one; the
    /// recorded facts are dropped (the action finds its own).
    ///
    /// ```
    /// use chainctl_core::ChartSource;
    /// use chainctl_core::state::RecordSource;
    /// let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello")).unwrap();
    /// let recorded = RecordSource::from_chart_source(&chart).unwrap();
    /// assert_eq!(recorded.to_chart_source().unwrap(), chart);
    /// ```
    pub fn to_chart_source(&self) -> Result<ChartSource> {
        match self {
            RecordSource::Bundle(b) => ChartSource::bundle(&b.path).map_err(|e| {
                Error::invalid_in(
                    crate::Input::ChartSource,
                    format!(
                        "the recorded bundle {} cannot be used any more ({e}): give the chart source anew",
                        b.path
                    ),
                )
            }),
            RecordSource::Oci(o) => ChartSource::oci(&o.reference, o.requested_version.as_deref()),
        }
    }
}

impl ExecutionStateRecord {
    /// A record of installing or upgrading `source` with `opts`, started now:
    /// source and tool versions filled in. The values digest (never the
    /// values) comes from Helm's merge, with the report
    /// ([`finish_with_report`](Self::finish_with_report)).
    ///
    /// ```
    /// use chainctl_core::{ChartSource, ReleaseOptions};
    /// use chainctl_core::state::{Action, ExecutionStateRecord};
    /// let chart = ChartSource::bundle(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello")).unwrap();
    /// let opts = ReleaseOptions::builder("hello", "demo").set("password=hunter2").build().unwrap();
    /// let rec = ExecutionStateRecord::for_chart(Action::Install, &chart, &opts).unwrap();
    /// assert!(rec.source.is_some() && rec.values_digest.is_none());
    /// ```
    pub fn for_chart(
        action: Action,
        source: &ChartSource,
        opts: &ReleaseOptions,
    ) -> Result<ExecutionStateRecord> {
        let mut record = ExecutionStateRecord::new(action, opts.name(), opts.namespace());
        record.source = Some(RecordSource::from_chart_source(source)?);
        record.tool_versions = tool_versions();
        Ok(record)
    }

    /// A record of an action on an existing release (rollback, uninstall).
    ///
    /// ```
    /// use chainctl_core::ReleaseRef;
    /// use chainctl_core::state::{Action, ExecutionStateRecord};
    /// let rec = ExecutionStateRecord::for_release(Action::Rollback, &ReleaseRef::new("hello", "demo").unwrap());
    /// assert_eq!(rec.release, "hello");
    /// ```
    pub fn for_release(action: Action, release: &ReleaseRef) -> ExecutionStateRecord {
        let mut record = ExecutionStateRecord::new(action, release.name(), release.namespace());
        record.tool_versions = tool_versions();
        record
    }

    /// Fills in Helm's view of the release (chart, revision, status and the
    /// digest of its manifest, when it has one) and finishes the record.
    ///
    /// ```
    /// use chainctl_core::{ReleaseInfo, ReleaseRef};
    /// use chainctl_core::state::{Action, ExecutionStateRecord};
    /// let rel: ReleaseInfo = serde_json::from_str(r#"{"name":"hello","namespace":"demo",
    ///     "revision":3,"status":"deployed","chart":{"name":"hello","version":"0.1.0"},
    ///     "manifest":"kind: ConfigMap\n"}"#).unwrap();
    /// let mut rec = ExecutionStateRecord::for_release(Action::Rollback, &ReleaseRef::new("hello", "demo").unwrap());
    /// rec.finish_with_release(&rel);
    /// assert_eq!(rec.helm_revision, Some(3));
    /// assert_eq!(rec.manifest_digest, rel.manifest_digest());
    /// assert!(rec.drift(&rel).is_empty());
    /// ```
    pub fn finish_with_release(&mut self, release: &ReleaseInfo) {
        self.set_release(release);
        self.finish_ok();
    }

    fn set_release(&mut self, release: &ReleaseInfo) {
        self.chart = Some(release.chart.clone()).filter(|c| !c.name.is_empty());
        self.helm_revision = Some(release.revision).filter(|r| *r > 0);
        self.helm_status = Some(release.status.clone()).filter(|s| !s.as_str().is_empty());
        self.manifest_digest = release.manifest_digest();
    }

    fn set_pulled(&mut self, pulled: Option<&PullReport>) {
        if let (Some(pulled), Some(RecordSource::Oci(oci))) = (pulled, &mut self.source) {
            oci.resolved_version = Some(pulled.version.clone());
            oci.manifest_digest = Some(pulled.manifest_digest.clone());
            oci.chart_digest = Some(pulled.chart_digest.clone());
        }
    }

    /// Finishes the record with the outcome of an install or upgrade.
    pub fn finish_with_report(&mut self, result: &Result<ActionReport>) {
        match result {
            Ok(report) => self.finish_with_success(report),
            Err(err) => self.finish_err(err),
        }
    }

    /// Finishes the record with the outcome of
    /// [`Client::install_detailed`](crate::Client::install_detailed) or
    /// [`upgrade_detailed`](crate::Client::upgrade_detailed): a failure
    /// keeps what Helm knew (the revision it recorded, its status, the
    /// chart, the pull and the values digest).
    pub fn finish_with_outcome(&mut self, result: &Result<ActionReport, ActionFailure>) {
        match result {
            Ok(report) => self.finish_with_success(report),
            Err(failure) => {
                if failure.installed {
                    self.action = Action::Install;
                }
                self.set_pulled(failure.pulled.as_deref());
                if let Some(release) = &failure.release {
                    self.set_release(release);
                }
                self.values_digest = failure.values_digest.clone();
                self.finish_err(&failure.error);
            }
        }
    }

    fn finish_with_success(&mut self, report: &ActionReport) {
        if report.installed {
            self.action = Action::Install;
        }
        self.set_pulled(report.pulled.as_ref());
        self.phases_ms = report.phases;
        self.values_digest = Some(report.values_digest.clone()).filter(|d| !d.is_empty());
        self.finish_with_release(&report.release);
    }
}

impl ExecutionStateRecord {
    /// Whether `release` is a revision this record's action made, rather
    /// than one from before it: Helm runs in this process and stamps a new
    /// revision's `lastDeployed` with this clock (to the second) when it
    /// creates it, after the record started.
    ///
    /// ```
    /// use chainctl_core::{ReleaseInfo, ReleaseRef};
    /// use chainctl_core::state::{Action, ExecutionStateRecord};
    /// let mut rec = ExecutionStateRecord::for_release(Action::Upgrade, &ReleaseRef::new("hello", "demo").unwrap());
    /// rec.started_at = "2026-04-14T10:11:12.345Z".parse().unwrap();
    /// let at = |t: &str| -> ReleaseInfo {
    ///     serde_json::from_value(serde_json::json!({"name": "hello", "namespace": "demo",
    ///         "revision": 2, "status": "failed", "chart": {"name": "hello", "version": "0.1.0"},
    ///         "lastDeployed": t})).unwrap()
    /// };
    /// assert!(rec.made_revision(&at("2026-04-14T10:11:12Z")));
    /// assert!(!rec.made_revision(&at("2026-04-14T10:11:11Z")));
    /// ```
    pub fn made_revision(&self, release: &ReleaseInfo) -> bool {
        let Some(deployed) = release.last_deployed.as_deref() else {
            return false;
        };
        let Ok(deployed) = deployed.parse::<Timestamp>() else {
            return false;
        };
        let started_second = self.started_at.unix_millis().div_euclid(1000) * 1000;
        deployed.unix_millis() >= started_second
    }

    /// Finishes the record of an action that `cause` cancelled (a signal,
    /// `SIGINT`, or whatever stopped it): failed, with an error of kind
    /// [`cancelled`](crate::ErrorKind::Cancelled) that names the cause, and
    /// the revision and status Helm left when `release` is the revision the
    /// action made ([`made_revision`](Self::made_revision); an older one is
    /// not recorded as this action's).
    ///
    /// ```
    /// use chainctl_core::{ErrorKind, HelmStatus, ReleaseInfo, ReleaseRef};
    /// use chainctl_core::state::{Action, ExecutionStateRecord, Outcome};
    /// let mut rec = ExecutionStateRecord::for_release(Action::Upgrade, &ReleaseRef::new("hello", "demo").unwrap());
    /// let left: ReleaseInfo = serde_json::from_value(serde_json::json!({"name": "hello",
    ///     "namespace": "demo", "revision": 2, "status": "failed",
    ///     "chart": {"name": "hello", "version": "0.1.0"}, "lastDeployed": "2999-01-01T00:00:00Z"})).unwrap();
    /// rec.finish_cancelled("SIGINT", Some(&left));
    /// assert_eq!(rec.outcome, Outcome::Failed);
    /// assert!(rec.is_cancelled());
    /// assert_eq!((rec.helm_revision, rec.helm_status), (Some(2), Some(HelmStatus::Failed)));
    /// assert_eq!(
    ///     rec.error.unwrap().message,
    ///     "cancelled by SIGINT: chainctl stopped the upgrade; Helm left revision 2 failed"
    /// );
    /// ```
    pub fn finish_cancelled(&mut self, cause: &str, release: Option<&ReleaseInfo>) {
        let release = release.filter(|r| self.made_revision(r));
        let left = match release {
            Some(r) => format!("Helm left revision {} {}", r.revision, r.status),
            None => "Helm had recorded no revision of it".to_string(),
        };
        if let Some(release) = release {
            self.set_release(release);
        }
        let message = format!(
            "cancelled by {cause}: chainctl stopped the {}; {left}",
            self.action
        );
        self.finish_err(&Error::Cancelled { message });
    }
}
