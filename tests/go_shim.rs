//! Runs the Go shim's own tests (`go vet` and `go test` in go-shim/), so that
//! `cargo test` is the one command for the whole suite. With the `helm-v4`
//! feature they run twice: over the Helm 3 build of the shim (go.mod, no
//! tag) and over its Helm 4 build (`-tags helmv4 -modfile=go.helm4.mod`, as
//! build.rs builds it), so that neither backend's Go code goes untested.

use std::path::Path;
use std::process::Command;

/// The Go flags of each build of the shim this test run covers.
fn builds() -> Vec<&'static [&'static str]> {
    let mut builds: Vec<&'static [&'static str]> = vec![&[]];
    if cfg!(feature = "helm-v4") {
        builds.push(&["-tags=helmv4", "-modfile=go.helm4.mod"]);
    }
    builds
}

fn go(command: &str, build: &[&str], args: &[&str]) {
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("go-shim");
    let go = std::env::var_os("GO").unwrap_or_else(|| "go".into());
    let all: Vec<&str> = [command].iter().chain(build).chain(args).copied().collect();
    let out = Command::new(&go)
        .args(&all)
        .current_dir(&shim)
        .env("CGO_ENABLED", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {go:?} (Go is needed to build and test the shim): {e}")
        });
    assert!(
        out.status.success(),
        "`go {}` in {} failed:\n{}{}",
        all.join(" "),
        shim.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn go_vet_is_clean() {
    for build in builds() {
        go("vet", build, &["./..."]);
    }
}

#[test]
fn go_tests_pass() {
    for build in builds() {
        go("test", build, &["-count=1", "./..."]);
    }
}
