//! The state file a release of chainctl-core wrote is the file this one
//! writes: `tests/fixtures/state-compat/before.json` was written through
//! `StateStore::record` by the loader that validated every release as a
//! JSON value and rendered it again (commit 0ff006a), and `after.json` is
//! what that build made of it after recording one more, unrelated release.
//! The fast loader, which keeps the text of the releases it did not touch,
//! must give the same bytes.
//!
//! To write the fixtures again (with the build that is to be the
//! reference): `CHAINCTL_WRITE_STATE_COMPAT=1 cargo test --test state_compat`.

use std::fs;
use std::path::PathBuf;

use chainctl_core::ErrorKind;
use chainctl_core::state::{
    Action, BundleSource, ChartInfo, ExecutionStateRecord, OciSource, Outcome, RecordCluster,
    RecordError, RecordSource, StateStore, StateStoreOptions, StorageDriver, Timestamp,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state-compat")
}

/// A record with every kind of field, at a fixed time and by a fixed
/// operator, so that any build writes the same text.
fn record(i: i64, release: &str, namespace: &str, failed: bool) -> ExecutionStateRecord {
    let mut rec = ExecutionStateRecord::new(
        if i == 0 {
            Action::Install
        } else {
            Action::Upgrade
        },
        release,
        namespace,
    );
    rec.started_at = Timestamp::from_unix_millis(1_776_161_472_345 + i * 60_000);
    rec.finished_at = Timestamp::from_unix_millis(1_776_161_473_345 + i * 60_000 + i);
    rec.duration_ms = 1000 + i as u64;
    rec.operator = "alice@ci-runner-7".into();
    rec.tool_versions.chainctl = "0.1.0".into();
    rec.tool_versions.helm = Some("v3.22.0".into());
    rec.tool_versions.go = Some("go1.25.4".into());
    rec.kube_context = Some("kind-kind".into());
    rec.helm_revision = Some(i as u32 + 1);
    rec.helm_status = Some(if failed { "failed" } else { "deployed" }.into());
    rec.values_digest = Some(format!("hmac-sha256:{}", "0f".repeat(32)));
    rec.manifest_digest = Some(format!("sha256:{}", "a1".repeat(32)));
    rec.phases_ms.resolve = Some(3);
    rec.phases_ms.render = Some(17 + i as u64);
    rec.phases_ms.apply = Some(240);
    rec.chart = Some(ChartInfo {
        name: "web".into(),
        version: format!("1.{i}.0"),
        app_version: Some("2.0 \"stable\"".into()),
    });
    if namespace == "local" {
        rec.driver = Some(StorageDriver::Memory);
        rec.cluster = Some(RecordCluster::rehearsal());
        rec.source = Some(RecordSource::Bundle(BundleSource {
            path: "/srv/charts/web café/ünïcode ✓".into(),
            content_digest: Some(format!("sha256:{}", "c3".repeat(32))),
        }));
    } else {
        rec.driver = Some(StorageDriver::Secret);
        rec.cluster = Some(RecordCluster::new(
            "https://10.0.0.1:6443",
            Some("sha256:00ff00ff"),
        ));
        rec.source = Some(RecordSource::Oci(OciSource {
            reference: "oci://registry.example.com/charts/web".into(),
            requested_version: Some("^1".into()),
            resolved_version: Some(format!("1.{i}.0")),
            manifest_digest: Some(format!("sha256:{}", "d4".repeat(32))),
            chart_digest: Some(format!("sha256:{}", "e5".repeat(32))),
        }));
    }
    if failed {
        rec.outcome = Outcome::Failed;
        rec.error = Some(RecordError {
            kind: ErrorKind::Kube,
            message: "quote \" backslash \\ tab \t newline \n nul \u{0} line sep \u{2028} é 🚀"
                .into(),
        });
    }
    rec
}

fn before(path: &std::path::Path) {
    let mut store = StateStore::open(path, StateStoreOptions::default()).unwrap();
    for (release, namespace) in [("web", "prod"), ("api.v2", "staging"), ("web", "local")] {
        for i in 0..4 {
            store.record(record(i, release, namespace, i == 2)).unwrap();
        }
    }
}

fn unrelated() -> ExecutionStateRecord {
    record(0, "worker", "prod", false)
}

#[test]
fn a_file_written_by_the_full_loader_round_trips_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    if std::env::var_os("CHAINCTL_WRITE_STATE_COMPAT").is_some() {
        before(&path);
        fs::copy(&path, fixtures().join("before.json")).unwrap();
        let mut store = StateStore::open(&path, StateStoreOptions::default()).unwrap();
        store.record(unrelated()).unwrap();
        fs::copy(&path, fixtures().join("after.json")).unwrap();
        return;
    }
    let old = fs::read(fixtures().join("before.json")).unwrap();
    let expected = fs::read(fixtures().join("after.json")).unwrap();

    // This build writes the same file from the same records...
    before(&path);
    assert!(
        fs::read(&path).unwrap() == old,
        "the same records give the same file"
    );

    // ...and from the old build's file, recording an unrelated release
    // changes nothing but adding it.
    fs::write(&path, &old).unwrap();
    let mut store = StateStore::open(&path, StateStoreOptions::default()).unwrap();
    store.record(unrelated()).unwrap();
    let written = fs::read(&path).unwrap();
    assert!(
        written == expected,
        "after recording an unrelated release:\n{}",
        String::from_utf8_lossy(&written)
    );

    // Read back by a fresh store and by the full check, it is the same state.
    let loaded = StateStore::load(&path).unwrap();
    assert_eq!(&loaded, store.state());
    assert_eq!(loaded.releases.len(), 4);
    let worker = loaded.releases.values().flat_map(|r| &r.history);
    assert_eq!(worker.filter(|r| r.release == "worker").count(), 1);
}
