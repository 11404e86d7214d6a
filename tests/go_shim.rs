//! Runs the Go shim's own tests (`go vet` and `go test` in go-shim/), so that
//! `cargo test` is the one command for the whole suite.

use std::path::Path;
use std::process::Command;

fn go(args: &[&str]) {
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("go-shim");
    let go = std::env::var_os("GO").unwrap_or_else(|| "go".into());
    let out = Command::new(&go)
        .args(args)
        .current_dir(&shim)
        .env("CGO_ENABLED", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {go:?} (Go is needed to build and test the shim): {e}")
        });
    assert!(
        out.status.success(),
        "`go {}` in {} failed:\n{}{}",
        args.join(" "),
        shim.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn go_vet_is_clean() {
    go(&["vet", "./..."]);
}

#[test]
fn go_tests_pass() {
    go(&["test", "-count=1", "./..."]);
}
