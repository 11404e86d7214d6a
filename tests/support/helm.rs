//! The helm CLI of the version the shim links (go-shim/go.mod pins Helm 3;
//! with the `helm-v4` feature, go-shim/go.helm4.mod pins Helm 4),
//! built from the Go module proxy by `testenv build-helm` and cached by
//! version beside kube-apiserver and etcd, for tests that compare chainctl
//! with helm.
//!
//! Built by the test environment's binary ([`super::testenv`]): use
//! `support::helm` after `mod support;`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::testenv;

/// What `testenv build-helm` printed.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmBinary {
    pub helm: PathBuf,
    /// "v3.22.0": the version of helm.sh/helm/v3 in go-shim/go.mod (or of
    /// helm.sh/helm/v4 in go-shim/go.helm4.mod).
    pub version: String,
    /// "v1.37.0": .Capabilities.KubeVersion of `helm template`, stamped from
    /// go-shim's client-go as the shim assumes it (go-shim/capabilities.go).
    pub kube_version: String,
}

/// The Helm major this build of the shim links.
pub const HELM_MAJOR: u32 = if cfg!(feature = "helm-v4") { 4 } else { 3 };

/// The module file that pins the Helm version this build links:
/// go-shim/go.mod (Helm 3) or go-shim/go.helm4.mod (Helm 4).
pub fn shim_go_mod() -> PathBuf {
    let name = if HELM_MAJOR == 4 {
        "go.helm4.mod"
    } else {
        "go.mod"
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("go-shim")
        .join(name)
}

/// The helm binary, built on first use (minutes, announced on stderr) and
/// found in the cache afterwards; once per test process.
pub fn binary() -> &'static HelmBinary {
    static HELM: OnceLock<HelmBinary> = OnceLock::new();
    HELM.get_or_init(|| {
        let testenv = testenv::binary();
        // stderr inherited, not captured: the harness shows nothing of a
        // test's output until it ends, and a first build takes minutes.
        let out = Command::new(&testenv)
            .arg("build-helm")
            .arg("-major")
            .arg(HELM_MAJOR.to_string())
            .arg("-go-mod")
            .arg(shim_go_mod())
            .arg("-bin-cache")
            .arg(testenv::bin_cache())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", testenv.display()));
        assert!(
            out.status.success(),
            "building helm from the Go module proxy failed (see the messages above); \
             `go -C tests/testenv run . build-helm` repeats it"
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "testenv build-helm printed {:?}: {e}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    })
}

/// helm in an environment of its own: its cache, config and data homes in
/// a directory under target/ (nothing of the user's repositories, registry
/// logins or plugins), no KUBECONFIG, no other HELM_* variable.
pub fn helm() -> Command {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    let home = HOME.get_or_init(|| {
        let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
        for dir in ["cache", "config", "data"] {
            std::fs::create_dir_all(home.join(dir))
                .unwrap_or_else(|e| panic!("create {}: {e}", home.join(dir).display()));
        }
        home
    });
    let mut cmd = Command::new(&binary().helm);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HELM_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("KUBECONFIG")
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    cmd
}
