//! Finds the chainctl example binary, up to date, and runs it in a sandbox
//! of its own.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The chainctl example binary of this build (the Helm 4 one when the
/// tests are built with the `helm-v4` feature). `cargo test` builds it
/// along with the tests, but a filtered run (`cargo test --test cli`)
/// neither builds nor rebuilds it, so ask cargo once per test process (a
/// no-op when current).
pub fn chainctl() -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("tests run from target/<profile>/deps");
        let features: &[&str] = if cfg!(feature = "helm-v4") {
            &["--features", "helm-v4"]
        } else {
            &[]
        };
        build_example(profile_dir, features)
    });
    sandboxed(binary)
}

/// The chainctl example of the default build (Helm 3), built in target/
/// (the default build's directory) when the tests are another build's: for
/// tests that move a release from one Helm major to the other.
#[allow(dead_code)]
pub fn chainctl_helm3() -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
        build_example(&target.join("debug"), &[])
    });
    sandboxed(binary)
}

/// Builds (or finds current) the chainctl example of the debug profile
/// whose directory is `profile_dir` (target/debug) with `features`, and
/// returns its path.
fn build_example(profile_dir: &std::path::Path, features: &[&str]) -> PathBuf {
    let target_dir = profile_dir
        .parent()
        .expect("a profile dir is in a target dir");
    let binary = profile_dir.join("examples").join("chainctl");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--example", "chainctl"])
        .args(features)
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "`cargo build --example chainctl {}` (target dir {}) failed",
        features.join(" "),
        target_dir.display()
    );
    assert!(
        binary.is_file(),
        "{} is missing after building it",
        binary.display()
    );
    binary
}

fn sandboxed(binary: &PathBuf) -> Command {
    let mut cmd = Command::new(binary);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.env_remove("KUBECONFIG");
    // helm's variables, which chainctl reads as helm does.
    for (var, _) in std::env::vars_os() {
        if var.to_str().is_some_and(|v| v.starts_with("HELM_")) {
            cmd.env_remove(var);
        }
    }
    cmd
}

/// A temporary state file (not created until an action writes it) and chart
/// cache, so that nothing a test runs touches the user's.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The state file, in a directory chainctl creates with its first record.
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state").join("state.json")
    }

    /// chainctl with `args`, the sandbox's `--state-path` and chart cache.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = chainctl();
        cmd.args(args)
            .arg("--state-path")
            .arg(self.state_path())
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `state show` of one release, as JSON.
    pub fn show(&self, release: &str, ns: &str) -> serde_json::Value {
        let out = self.run(&[
            "state",
            "show",
            "--release",
            release,
            "-n",
            ns,
            "-o",
            "json",
        ]);
        assert!(
            out.status.success(),
            "state show: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}
