//! The library's recorded deployments ([`Deployer`]) against a real
//! Kubernetes API server (tests/testenv): install, upgrade from the recorded
//! source, locked to the recorded digest (and refused when the tag moved),
//! rollback, uninstall, the drift check, a refused approval, and an action
//! that succeeds but whose record cannot be written.

mod support;
use support::{ReadOnlyDir, hello_dir, namespace, testenv};

use std::path::Path;
use std::sync::{Arc, Mutex};

use chainctl_core::state::{Action, DriftField, Outcome, StateStoreOptions};
use chainctl_core::{
    Approval, ChartCache, ChartSource, CheckOptions, Client, Deployer, Error, ErrorKind,
    HelmStatus, LazyStateStore, Notice, PlanSource, RegistryOptions, ReleaseOptions, ReleaseRef,
    RollbackOptions, SourceChoice, SourceOrigin, StateStore, Storage, Target, UninstallOptions,
};
use testenv::Cluster;

/// A client of the test cluster, with a registry config and chart cache
/// under `dir`.
fn client(cluster: &Cluster, dir: &Path) -> Client {
    let mut builder = Client::builder()
        .storage(Storage::Secret)
        .kubeconfig(&cluster.kubeconfig)
        .registry(RegistryOptions {
            plain_http: true,
            config_file: Some(dir.join("registry.json")),
            ..Default::default()
        })
        .chart_cache(ChartCache::open(dir.join("charts")).unwrap());
    if let Some(context) = &cluster.context {
        builder = builder.kube_context(context);
    }
    builder.build().unwrap()
}

fn opts(release: &str, ns: &str, greeting: &str) -> ReleaseOptions {
    ReleaseOptions::builder(release, ns)
        .create_namespace(true)
        .set(format!("greeting={greeting}"))
        .build()
        .unwrap()
}

/// The ConfigMap's greeting as the API server has it (None: no ConfigMap).
fn greeting(cluster: &Cluster, ns: &str, name: &str) -> Option<String> {
    let (status, body) = cluster.get(&format!("/api/v1/namespaces/{ns}/configmaps/{name}"));
    match status {
        200 => Some(
            body["data"]["greeting"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        404 => None,
        other => panic!("GET configmap {ns}/{name}: {other} {body}"),
    }
}

#[test]
fn install_upgrade_from_the_record_check_rollback_uninstall() {
    let cluster = Cluster::shared();
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state/state.json");
    let ns = namespace("deployer-life");
    let release = ReleaseRef::new("web", &ns).unwrap();
    let mut deployer = Deployer::new(
        client(cluster, work.path()),
        LazyStateStore::at(&state_path),
    );

    // Install, shown the plan.
    let mut shown = None;
    let installed = deployer
        .install(
            SourceChoice::Given(ChartSource::bundle(hello_dir()).unwrap()),
            &opts("web", &ns, "one"),
            Approval::ask(|plan| {
                shown = Some(plan.clone());
                true
            }),
        )
        .unwrap();
    let plan = shown.expect("the plan was shown");
    assert_eq!(plan.action, Action::Install);
    assert_eq!(plan.from.to_string(), "not installed");
    assert!(matches!(&plan.to, Target::Chart(c) if c.name == "hello"));
    assert!(matches!(plan.source, Some(PlanSource::Bundle { .. })));
    assert_eq!(installed.report.release.revision, 1);
    assert_eq!(installed.record.outcome, Outcome::Succeeded);
    assert_eq!(installed.state_path.as_deref(), Some(state_path.as_path()));
    let cluster_id = installed
        .record
        .cluster
        .clone()
        .expect("the record names the cluster");
    assert!(!cluster_id.is_rehearsal());
    assert_eq!(greeting(cluster, &ns, "web-hello").as_deref(), Some("one"));

    // Upgrade with the recorded source, approved in advance.
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let mut deployer = deployer.on_notice(move |notice| {
        let line = match notice {
            Notice::Source(source) => format!("source {:?}", source.origin),
            Notice::Saving(record) => format!("saving {}", record.action),
            Notice::Saved => "saved".to_string(),
            other => format!("{other:?}"),
        };
        seen.lock().unwrap().push(line);
    });
    let upgraded = deployer
        .upgrade(
            SourceChoice::Recorded,
            &opts("web", &ns, "two"),
            Approval::Given,
        )
        .unwrap();
    assert_eq!(upgraded.report.release.revision, 2);
    assert_eq!(upgraded.record.action, Action::Upgrade);
    assert_eq!(
        *notices.lock().unwrap(),
        ["source Recorded", "Acting", "saving upgrade", "saved"]
    );
    assert_eq!(greeting(cluster, &ns, "web-hello").as_deref(), Some("two"));

    // The cluster matches the record; then someone upgrades behind its back.
    let check = deployer.check(&release, &CheckOptions::default()).unwrap();
    assert!(check.matches(), "{:?}", check.differences);
    assert_eq!(check.record.helm_revision, Some(2));
    deployer
        .client()
        .upgrade(
            &ChartSource::bundle(hello_dir()).unwrap(),
            &opts("web", &ns, "outside"),
        )
        .unwrap();
    let check = deployer.check(&release, &CheckOptions::default()).unwrap();
    let fields: Vec<_> = check.differences.iter().map(|d| d.field).collect();
    assert!(fields.contains(&DriftField::Revision), "{fields:?}");
    assert!(check.interrupted.is_none());

    // Roll back to revision 1, shown the plan.
    let mut to = String::new();
    let rolled = deployer
        .rollback(
            &release,
            &RollbackOptions {
                revision: Some(1),
                ..Default::default()
            },
            Approval::ask(|plan| {
                to = plan.to.to_string();
                true
            }),
        )
        .unwrap();
    assert_eq!(to, "hello 0.1.0 (revision 1)");
    assert_eq!(rolled.report.revision, 4);
    assert_eq!(rolled.record.action, Action::Rollback);
    assert_eq!(rolled.record.helm_revision, Some(4));
    assert_eq!(greeting(cluster, &ns, "web-hello").as_deref(), Some("one"));
    assert!(
        deployer
            .check(&release, &CheckOptions::default())
            .unwrap()
            .matches()
    );

    // Uninstall: the record is no longer current; the check finds it gone.
    let removed = deployer
        .uninstall(&release, &UninstallOptions::default(), Approval::Given)
        .unwrap();
    assert_eq!(removed.record.helm_status, Some(HelmStatus::Uninstalled));
    assert_eq!(greeting(cluster, &ns, "web-hello"), None);
    let state = StateStore::load(&state_path).unwrap();
    let recorded = state
        .release_in(Some(&cluster_id.id), "web", &ns)
        .expect("filed under the cluster");
    assert!(recorded.current.is_none());
    let actions: Vec<_> = recorded.history.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            Action::Install,
            Action::Upgrade,
            Action::Rollback,
            Action::Uninstall
        ]
    );
    // With no current record after an uninstall, the check compares the
    // uninstall: the cluster, without the release, matches it.
    let check = deployer.check(&release, &CheckOptions::default()).unwrap();
    assert!(check.cluster.is_none());
    assert_eq!(check.record.action, Action::Uninstall);
    assert!(check.differences.is_empty(), "{:?}", check.differences);
    assert!(check.matches());
}

#[test]
fn a_refused_approval_changes_nothing() {
    let cluster = Cluster::shared();
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state/state.json");
    let ns = namespace("deployer-refused");
    let mut deployer = Deployer::new(
        client(cluster, work.path()),
        LazyStateStore::at(&state_path),
    );
    let err = deployer
        .install(
            SourceChoice::Given(ChartSource::bundle(hello_dir()).unwrap()),
            &opts("web", &ns, "one"),
            Approval::ask(|_| false),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert_eq!(
        cluster.get(&format!("/api/v1/namespaces/{ns}")).0,
        404,
        "the namespace was created"
    );
    assert!(
        !work.path().join("state").exists(),
        "the state directory was created"
    );
}

#[test]
fn an_upgrade_whose_record_cannot_be_written_is_not_recorded_and_carries_the_record() {
    let cluster = Cluster::shared();
    let work = tempfile::tempdir().unwrap();
    let state_dir = work.path().join("state");
    let ns = namespace("deployer-unrecorded");
    let mut store =
        StateStore::open(state_dir.join("state.json"), StateStoreOptions::default()).unwrap();
    let unsaved = Arc::new(Mutex::new(Vec::new()));
    let seen = unsaved.clone();
    let mut deployer =
        Deployer::new(client(cluster, work.path()), &mut store).on_notice(move |notice| {
            if let Notice::NotSaved { record, .. } = notice {
                seen.lock().unwrap().push((*record).clone());
            }
        });
    let chart = || SourceChoice::Given(ChartSource::bundle(hello_dir()).unwrap());
    deployer
        .install(chart(), &opts("web", &ns, "one"), Approval::Given)
        .unwrap();
    let before = std::fs::read(state_dir.join("state.json")).unwrap();

    let err = {
        let _read_only = ReadOnlyDir::new(state_dir.clone());
        deployer
            .upgrade(chart(), &opts("web", &ns, "two"), Approval::Given)
            .unwrap_err()
    };
    let Error::NotRecorded { record, source, .. } = &err else {
        panic!("not NotRecorded: {err}");
    };
    assert_eq!(err.kind(), ErrorKind::State);
    assert_eq!(record.outcome, Outcome::Succeeded);
    assert_eq!(record.helm_revision, Some(2));
    assert!(source.to_string().contains("state file"), "{source}");
    assert!(
        err.to_string()
            .contains("succeeded but its record was not written"),
        "{err}"
    );
    assert_eq!(*unsaved.lock().unwrap(), [(**record).clone()]);
    // The upgrade happened; the state file is as it was.
    assert_eq!(greeting(cluster, &ns, "web-hello").as_deref(), Some("two"));
    assert_eq!(std::fs::read(state_dir.join("state.json")).unwrap(), before);

    // The record kept puts back what happened.
    drop(deployer);
    store.import((**record).clone()).unwrap();
    assert_eq!(
        store.current("web", &ns).and_then(|r| r.helm_revision),
        Some(2)
    );
}

/// Copies examples/charts/hello with another greeting, as a chart that
/// differs under the same name and version.
fn changed_hello(dir: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            match entry.file_type().unwrap().is_dir() {
                true => copy(&entry.path(), &target),
                false => {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
    }
    copy(&hello_dir(), dir);
    let values = std::fs::read_to_string(dir.join("values.yaml")).unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        values.replace("hello from chainctl", "moved"),
    )
    .unwrap();
}

#[test]
fn locked_deploys_the_recorded_digest_and_refuses_a_moved_tag() {
    let cluster = Cluster::shared();
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state/state.json");
    let ns = namespace("deployer-locked");
    let repo = "deployer-locked";
    cluster
        .env
        .push_chart(false, repo, "hello", &hello_dir(), &["0.1.0"]);
    let reference = format!("oci://{}/{repo}/hello", cluster.env.plain);
    let mut deployer = Deployer::new(
        client(cluster, work.path()),
        LazyStateStore::at(&state_path),
    );
    let release = ReleaseRef::new("web", &ns).unwrap();

    // The plan pulls and shows the digest; the install records it.
    let mut planned = None;
    let installed = deployer
        .install(
            SourceChoice::Given(ChartSource::oci(&reference, Some("0.1.0")).unwrap()),
            &opts("web", &ns, "one"),
            Approval::ask(|plan| {
                planned = plan.source.clone();
                true
            }),
        )
        .unwrap();
    let Some(PlanSource::Oci {
        manifest_digest, ..
    }) = planned
    else {
        panic!("an OCI plan shows the pull: {planned:?}");
    };
    let recorded = match &installed.record.source {
        Some(chainctl_core::state::RecordSource::Oci(oci)) => oci.manifest_digest.clone(),
        other => panic!("an OCI source is recorded: {other:?}"),
    };
    assert_eq!(recorded.as_deref(), Some(manifest_digest.as_str()));

    // Locked: the recorded digest, which the tag still points at.
    let locked = deployer.resolve(SourceChoice::Locked, &release).unwrap();
    match &locked.origin {
        SourceOrigin::Locked { digest, tagged } => {
            assert_eq!(digest, &manifest_digest);
            assert_eq!(tagged.tag(), Some("0.1.0"));
        }
        other => panic!("not locked: {other:?}"),
    }
    assert!(locked.chart.to_string().contains(&manifest_digest));
    let upgraded = deployer
        .upgrade(
            SourceChoice::Locked,
            &opts("web", &ns, "two"),
            Approval::Given,
        )
        .unwrap();
    assert_eq!(upgraded.report.release.revision, 2);
    let pulled = upgraded
        .report
        .pulled
        .expect("an OCI upgrade reports the pull");
    assert_eq!(pulled.manifest_digest, manifest_digest);

    // Someone pushes other content under the same tag: locked refuses,
    // naming both digests, and changes nothing.
    let changed = tempfile::tempdir().unwrap();
    changed_hello(changed.path());
    cluster
        .env
        .push_chart(false, repo, "hello", changed.path(), &["0.1.0"]);
    let err = deployer
        .upgrade(
            SourceChoice::Locked,
            &opts("web", &ns, "three"),
            Approval::Given,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let message = err.to_string();
    assert!(message.contains(&manifest_digest), "{message}");
    let moved = message
        .split("now points to ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("");
    assert!(
        moved.starts_with("sha256:") && moved != manifest_digest,
        "{message}"
    );
    assert_eq!(greeting(cluster, &ns, "web-hello").as_deref(), Some("two"));
    let state = StateStore::load(&state_path).unwrap();
    assert_eq!(state.record_count(), 2, "the refusal was recorded");
}
