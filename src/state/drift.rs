//! Drift: how a release in the cluster differs from what the state file
//! records for it. Plain data, no I/O: the caller fetches the release.

use std::fmt;

use serde::Serialize;

use super::record::ExecutionStateRecord;
use crate::report::{HelmStatus, ReleaseInfo};

/// What differs between the state file and the cluster.
///
/// ```
/// use chainctl_core::state::DriftField;
/// assert_eq!(DriftField::ChartVersion.to_string(), "chart version");
/// assert_eq!(serde_json::to_value(DriftField::ManifestDigest).unwrap(), "manifestDigest");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum DriftField {
    /// The release itself: recorded, but not in the cluster.
    Release,
    /// Helm's revision number: someone upgraded or rolled back since.
    Revision,
    /// The chart's name.
    ChartName,
    /// The chart's version.
    ChartVersion,
    /// The digest of the rendered manifest: the resources differ.
    ManifestDigest,
    /// Helm's status, when the cluster's is not `deployed` (a failed or
    /// pending action since).
    Status,
}

impl DriftField {
    /// The field's name in the output of `chainctl app status --check`.
    ///
    /// ```
    /// use chainctl_core::state::DriftField;
    /// assert_eq!(DriftField::Revision.as_str(), "revision");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DriftField::Release => "release",
            DriftField::Revision => "revision",
            DriftField::ChartName => "chart name",
            DriftField::ChartVersion => "chart version",
            DriftField::ManifestDigest => "manifest digest",
            DriftField::Status => "status",
        }
    }
}

impl fmt::Display for DriftField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between a release's record in the state file and the
/// release in the cluster: the field, the recorded value and the cluster's
/// (`None`: the cluster has none, such as an empty manifest or no release
/// at all). Serializes as `{"field":"revision","recorded":"3","cluster":"4"}`;
/// displays as one line.
///
/// ```
/// use chainctl_core::state::{Drift, DriftField};
/// let d = Drift { field: DriftField::Revision, recorded: "3".into(), cluster: Some("4".into()) };
/// assert_eq!(d.to_string(), "revision: recorded 3, cluster 4");
/// assert_eq!(
///     serde_json::to_string(&d).unwrap(),
///     r#"{"field":"revision","recorded":"3","cluster":"4"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// What differs.
    pub field: DriftField,
    /// What the state file records.
    pub recorded: String,
    /// What the cluster has, if anything.
    pub cluster: Option<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: recorded {}, ", self.field, self.recorded)?;
        match &self.cluster {
            Some(cluster) => write!(f, "cluster {cluster}"),
            None => f.write_str("none in the cluster"),
        }
    }
}

impl Drift {
    /// The drift when the release `record` describes is not in the cluster
    /// at all (uninstalled, or never there, outside chainctl).
    ///
    /// ```
    /// use chainctl_core::state::{Action, Drift, DriftField, ExecutionStateRecord};
    /// let mut rec = ExecutionStateRecord::new(Action::Install, "hello", "demo");
    /// rec.helm_revision = Some(3);
    /// let d = Drift::release_missing(&rec);
    /// assert_eq!(d.field, DriftField::Release);
    /// assert_eq!(d.to_string(), "release: recorded demo/hello revision 3, none in the cluster");
    /// ```
    pub fn release_missing(record: &ExecutionStateRecord) -> Drift {
        let mut recorded = crate::release_key(None, &record.namespace, &record.release);
        if let Some(revision) = record.helm_revision {
            recorded.push_str(&format!(" revision {revision}"));
        }
        Drift {
            field: DriftField::Release,
            recorded,
            cluster: None,
        }
    }
    /// The drift when the release that `record` (its uninstall) removed is
    /// in the cluster again, installed outside chainctl.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// use chainctl_core::state::{Action, Drift, DriftField, ExecutionStateRecord};
    /// let mut rec = ExecutionStateRecord::new(Action::Uninstall, "hello", "demo");
    /// rec.helm_revision = Some(3);
    /// let cluster: ReleaseInfo = serde_json::from_str(r#"{"name":"hello","namespace":"demo",
    ///     "revision":1,"status":"deployed","chart":{"name":"hello","version":"0.1.0"}}"#).unwrap();
    /// let d = Drift::release_present(&rec, &cluster);
    /// assert_eq!(d.field, DriftField::Release);
    /// assert_eq!(d.to_string(), "release: recorded demo/hello uninstalled (revision 3), cluster revision 1 deployed");
    /// ```
    pub fn release_present(record: &ExecutionStateRecord, cluster: &ReleaseInfo) -> Drift {
        let mut recorded = crate::release_key(None, &record.namespace, &record.release);
        recorded.push_str(" uninstalled");
        if let Some(revision) = record.helm_revision {
            recorded.push_str(&format!(" (revision {revision})"));
        }
        Drift {
            field: DriftField::Release,
            recorded,
            cluster: Some(format!("revision {} {}", cluster.revision, cluster.status)),
        }
    }
}

impl ExecutionStateRecord {
    /// How the release in the cluster differs from this record, in the
    /// order revision, chart name, chart version, manifest digest, status;
    /// empty when it matches. `cluster` is the release as
    /// [`Client::status`](crate::Client::status) returns it.
    ///
    /// Only what the record holds is compared: a record without
    /// `manifestDigest` (one written by schemaVersion 1, or of an empty
    /// manifest) skips that comparison, and one without a chart or revision
    /// skips those. The status differs when the cluster's is anything but
    /// `deployed`, the status every recorded action leaves a release in.
    ///
    /// ```
    /// use chainctl_core::ReleaseInfo;
    /// use chainctl_core::state::{Action, DriftField, ExecutionStateRecord};
    ///
    /// let mut cluster: ReleaseInfo = serde_json::from_str(r#"{"name":"hello","namespace":"demo",
    ///     "revision":3,"status":"deployed","chart":{"name":"hello","version":"0.1.0"},
    ///     "manifest":"kind: ConfigMap\n"}"#).unwrap();
    /// let mut rec = ExecutionStateRecord::new(Action::Upgrade, "hello", "demo");
    /// rec.finish_with_release(&cluster);
    /// assert!(rec.drift(&cluster).is_empty());
    ///
    /// // Someone ran `helm upgrade` with other values.
    /// cluster.revision = 4;
    /// cluster.manifest = "kind: ConfigMap\ndata: {}\n".into();
    /// let drift = rec.drift(&cluster);
    /// let fields: Vec<_> = drift.iter().map(|d| d.field).collect();
    /// assert_eq!(fields, [DriftField::Revision, DriftField::ManifestDigest]);
    /// assert_eq!(drift[0].to_string(), "revision: recorded 3, cluster 4");
    /// ```
    pub fn drift(&self, cluster: &ReleaseInfo) -> Vec<Drift> {
        let mut drift = Vec::new();
        let mut compare = |field, recorded: Option<String>, cluster: Option<String>| {
            if let Some(recorded) = recorded
                && Some(&recorded) != cluster.as_ref()
            {
                drift.push(Drift {
                    field,
                    recorded,
                    cluster,
                });
            }
        };
        compare(
            DriftField::Revision,
            self.helm_revision.map(|r| r.to_string()),
            Some(cluster.revision.to_string()),
        );
        let chart = self.chart.as_ref();
        compare(
            DriftField::ChartName,
            chart.map(|c| c.name.clone()),
            Some(cluster.chart.name.clone()),
        );
        compare(
            DriftField::ChartVersion,
            chart.map(|c| c.version.clone()),
            Some(cluster.chart.version.clone()),
        );
        // A record from before manifest digests were keyed holds the plain
        // sha256 of the text.
        let cluster_digest = match &self.manifest_digest {
            Some(recorded) if recorded.starts_with("sha256:") => cluster.unkeyed_manifest_digest(),
            _ => cluster.manifest_digest(),
        };
        compare(
            DriftField::ManifestDigest,
            self.manifest_digest.clone(),
            cluster_digest,
        );
        // Deployed is the status every action chainctl records as current
        // leaves a release in.
        if cluster.status != HelmStatus::Deployed {
            drift.push(Drift {
                field: DriftField::Status,
                recorded: (self.helm_status.as_ref())
                    .map_or_else(|| "(not recorded)".into(), HelmStatus::to_string),
                cluster: Some(cluster.status.to_string()),
            });
        }
        drift
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Action, ChartInfo};

    fn cluster() -> ReleaseInfo {
        serde_json::from_value(serde_json::json!({
            "name": "hello", "namespace": "demo", "revision": 3, "status": "deployed",
            "chart": {"name": "hello", "version": "0.1.0", "appVersion": "1.0"},
            "manifest": "---\n# Source: hello/templates/cm.yaml\nkind: ConfigMap\n",
            "hooks": [{"name": "t", "kind": "Pod", "path": "hello/templates/t.yaml",
                       "events": ["test"], "manifest": "kind: Pod\n"}]
        }))
        .unwrap()
    }

    fn recorded() -> ExecutionStateRecord {
        let mut rec = ExecutionStateRecord::new(Action::Upgrade, "hello", "demo");
        rec.finish_with_release(&cluster());
        rec
    }

    fn fields(drift: &[Drift]) -> Vec<DriftField> {
        drift.iter().map(|d| d.field).collect()
    }

    #[test]
    fn keyed_manifest_digests_compare_under_the_key_and_old_ones_as_plain_sha256() {
        let key = |s: &str| crate::state::ValuesKey::from_secret(s).unwrap();
        let keyed = |k: &crate::state::ValuesKey| {
            let mut c = cluster();
            c.set_digest_key(k);
            c
        };
        let (a, b) = (
            key("the key of state file A"),
            key("the key of state file B"),
        );
        let mut rec = ExecutionStateRecord::new(Action::Upgrade, "hello", "demo");
        rec.finish_with_release(&keyed(&a));
        let digest = rec.manifest_digest.clone().unwrap();
        assert!(digest.starts_with("hmac-sha256:"), "{digest}");
        assert_eq!(rec.drift(&keyed(&a)), []);
        // Under another key the digests differ, as for a changed manifest.
        assert_eq!(fields(&rec.drift(&keyed(&b))), [DriftField::ManifestDigest]);
        // A record from before digests were keyed holds the plain sha256,
        // and matches the same manifest read under any key.
        let old = recorded();
        assert!(
            old.manifest_digest
                .as_deref()
                .unwrap()
                .starts_with("sha256:")
        );
        assert_eq!(old.drift(&keyed(&b)), []);
    }

    #[test]
    fn a_release_as_recorded_matches() {
        let rec = recorded();
        assert!(rec.manifest_digest.is_some());
        assert_eq!(rec.drift(&cluster()), []);
        // Neither the description, the notes nor the hooks are compared.
        let mut c = cluster();
        c.description = "Upgrade complete".into();
        c.hooks.clear();
        c.chart.app_version = None;
        assert_eq!(rec.drift(&c), []);
    }

    #[test]
    fn a_new_revision_is_drift() {
        let mut c = cluster();
        c.revision = 4;
        assert_eq!(
            recorded().drift(&c),
            [Drift {
                field: DriftField::Revision,
                recorded: "3".into(),
                cluster: Some("4".into()),
            }]
        );
    }

    #[test]
    fn another_chart_is_drift() {
        let mut c = cluster();
        c.chart.name = "goodbye".into();
        c.chart.version = "0.2.0".into();
        let drift = recorded().drift(&c);
        assert_eq!(
            fields(&drift),
            [DriftField::ChartName, DriftField::ChartVersion]
        );
        assert_eq!(
            drift[0].to_string(),
            "chart name: recorded hello, cluster goodbye"
        );
        assert_eq!(
            drift[1].to_string(),
            "chart version: recorded 0.1.0, cluster 0.2.0"
        );
    }

    #[test]
    fn a_changed_manifest_is_drift() {
        let rec = recorded();
        let mut c = cluster();
        c.manifest.push_str("data:\n  greeting: hi\n");
        let drift = rec.drift(&c);
        assert_eq!(fields(&drift), [DriftField::ManifestDigest]);
        assert_eq!(drift[0].recorded, rec.manifest_digest.clone().unwrap());
        assert_eq!(drift[0].cluster, c.manifest_digest());
        assert_ne!(drift[0].cluster.as_ref(), Some(&drift[0].recorded));

        c.manifest.clear();
        let drift = rec.drift(&c);
        assert_eq!(drift[0].cluster, None);
        assert!(
            drift[0].to_string().ends_with(", none in the cluster"),
            "{}",
            drift[0]
        );
    }

    #[test]
    fn a_status_other_than_deployed_is_drift() {
        let mut c = cluster();
        c.status = "pending-upgrade".into();
        let drift = recorded().drift(&c);
        assert_eq!(
            drift,
            [Drift {
                field: DriftField::Status,
                recorded: "deployed".into(),
                cluster: Some("pending-upgrade".into()),
            }]
        );
        assert_eq!(
            drift[0].to_string(),
            "status: recorded deployed, cluster pending-upgrade"
        );
    }

    #[test]
    fn what_the_record_lacks_is_not_compared() {
        // A record written by schemaVersion 1 has no manifest digest.
        let mut rec = recorded();
        rec.manifest_digest = None;
        let mut c = cluster();
        c.manifest = "kind: Secret\n".into();
        assert_eq!(rec.drift(&c), []);

        let mut bare = ExecutionStateRecord::new(Action::Rollback, "hello", "demo");
        bare.finish_ok();
        c.revision = 9;
        c.chart = crate::report::ChartInfo {
            name: "other".into(),
            version: "9.9.9".into(),
            app_version: None,
        };
        assert_eq!(bare.drift(&c), []);
        c.status = "failed".into();
        assert_eq!(fields(&bare.drift(&c)), [DriftField::Status]);
    }

    #[test]
    fn every_difference_is_listed_in_order() {
        let mut rec = recorded();
        rec.chart = Some(ChartInfo {
            name: "old".into(),
            version: "0.0.1".into(),
            app_version: None,
        });
        let mut c = cluster();
        c.revision = 7;
        c.manifest = "kind: Secret\n".into();
        c.status = "failed".into();
        assert_eq!(
            fields(&rec.drift(&c)),
            [
                DriftField::Revision,
                DriftField::ChartName,
                DriftField::ChartVersion,
                DriftField::ManifestDigest,
                DriftField::Status,
            ]
        );
    }

    #[test]
    fn a_missing_release_names_what_was_recorded() {
        let rec = recorded();
        let d = Drift::release_missing(&rec);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"field": "release", "recorded": "demo/hello revision 3", "cluster": null})
        );
        assert_eq!(
            d.to_string(),
            "release: recorded demo/hello revision 3, none in the cluster"
        );
    }
}
