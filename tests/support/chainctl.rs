//! Finds the chainctl example binary, up to date.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The chainctl example binary. `cargo test` builds it along with the
/// tests, but a filtered run (`cargo test --test cli`) neither builds nor
/// rebuilds it, so ask cargo once per test process (a no-op when current).
pub fn chainctl() -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("tests run from target/<profile>/deps");
        let binary = profile_dir.join("examples").join("chainctl");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--example", "chainctl"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "`cargo build --example chainctl` failed");
        assert!(
            binary.is_file(),
            "{} is missing after building it",
            binary.display()
        );
        binary
    });
    let mut cmd = Command::new(binary);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.env_remove("KUBECONFIG");
    cmd
}
