//! What the integration tests share, as `mod support;` in each tests/*.rs
//! (a directory module, so Cargo does not build it as a test of its own):
//!
//! - [`chainctl`]: the chainctl example binary, run in a sandbox;
//! - [`testenv`]: the OCI registries and the Kubernetes API server the
//!   tests talk to;
//! - [`helm`]: the helm CLI the shim's Helm version is compared with;
//! - [`pty`]: running chainctl on a pseudo-terminal;
//! - [`faultproxy`]: a TCP proxy that injects network faults;
//! - and the helpers several tests use: [`hello_dir`], [`namespace`],
//!   [`client`], [`client_for`], [`wait_for_status`], [`ReadOnlyDir`].

// Each test binary uses a part of this module, and a part unused by one
// binary is dead code there: the lint would flag a different subset in
// each, so it is off for the whole module rather than item by item.
#![allow(dead_code)]

pub mod chainctl;
pub mod faultproxy;
pub mod helm;
pub mod pty;
pub mod testenv;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chainctl_core::{Client, ReleaseRef, Storage};

use testenv::Cluster;

/// The example chart, examples/charts/hello.
pub fn hello_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/charts/hello")
}

/// A namespace of this test's own: unique per run, so an external cluster
/// (`CHAINCTL_TEST_KUBECONFIG`) can be reused without clashes.
pub fn namespace(name: &str) -> String {
    use std::hash::BuildHasher;
    let salt = std::collections::hash_map::RandomState::new().hash_one(name) as u16;
    format!("{name}-{salt:04x}")
}

/// A library client for the test cluster, as its kubeconfig's context.
pub fn client(cluster: &Cluster) -> Client {
    client_for(cluster, cluster.context.as_deref())
}

/// A library client for the test cluster as `context` (e.g. the
/// unprivileged user's, [`Cluster::nobody`]).
pub fn client_for(cluster: &Cluster, context: Option<&str>) -> Client {
    let mut b = Client::builder()
        .storage(Storage::Secret)
        .kubeconfig(&cluster.kubeconfig);
    if let Some(context) = context {
        b = b.kube_context(context);
    }
    b.build().unwrap()
}

/// Waits (at most a minute) until Helm reports `status` for the release;
/// panics with the last answer otherwise.
pub fn wait_for_status(c: &Client, rel: &ReleaseRef, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match c.status(rel) {
            Ok(info) if info.status == status => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "{rel} never reached {status}: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The arguments of a chainctl install of `chart` as release `cut` in `ns`
/// that waits (up to 5 minutes) for resources the test API server never
/// makes ready: what [`kill_while_pending`] runs.
pub fn waiting_install<'a>(chart: &'a str, ns: &'a str) -> [&'a str; 13] {
    [
        "app",
        "install",
        "--bundle",
        chart,
        "--release",
        "cut",
        "-n",
        ns,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        "--confirm",
    ]
}

/// Runs `install` (a chainctl install with `--wait` of a chart that never
/// becomes ready on the test API server), waits until Helm has stored its
/// revision as pending-install, and kills it there: the release is left
/// pending-install, as a killed helm leaves it.
pub fn kill_while_pending(mut install: std::process::Command, c: &Client, rel: &ReleaseRef) {
    use std::process::Stdio;
    let mut child = install
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_status(c, rel, "pending-install");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Makes a directory unwritable, even for root (chattr +i), until dropped.
pub struct ReadOnlyDir(PathBuf);

impl ReadOnlyDir {
    pub fn new(dir: PathBuf) -> ReadOnlyDir {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        let probe = dir.join(".probe");
        if std::fs::write(&probe, b"").is_ok() {
            // Root ignores permission bits: make the directory immutable.
            let _ = std::fs::remove_file(&probe);
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok && std::fs::write(&probe, b"").is_err(),
                "cannot make {} read-only: running as root, this test needs `chattr +i` \
                 (e2fsprogs) on a filesystem that supports it",
                dir.display()
            );
        }
        ReadOnlyDir(dir)
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
    }
}
