//! The chainctl example binary, run as a user runs it.

use std::path::PathBuf;

// The example's own unit tests (flag parsing) run here, in this test binary,
// while `cargo test` builds the example itself as the binary used below.
#[allow(dead_code)]
#[path = "../examples/chainctl.rs"]
mod chainctl_main;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The chainctl example binary. `cargo test` builds it along with the
/// tests; a filtered run (`cargo test --test cli`) does not, so build it then.
fn chainctl() -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("tests run from target/<profile>/deps");
        let binary = profile_dir.join("examples").join("chainctl");
        if !binary.is_file() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--example", "chainctl"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "`cargo build --example chainctl` failed");
        }
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

fn run(args: &[&str]) -> Output {
    chainctl().args(args).output().expect("chainctl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const DRY_RUN: &[&str] = &[
    "app",
    "install",
    "--bundle",
    "examples/charts/hello",
    "--release",
    "hello",
    "--namespace",
    "demo",
    "--dry-run",
];

#[test]
fn dry_run_json_holds_the_charts_configmap() {
    let out = run(&[DRY_RUN, &["-o", "json"]].concat());
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(body["action"], "install");
    assert_eq!(body["dryRun"], "client");
    assert_eq!(body["release"]["name"], "hello");
    assert_eq!(body["release"]["namespace"], "demo");
    let manifest = body["release"]["manifest"]
        .as_str()
        .expect("a manifest string");
    assert!(manifest.contains("kind: ConfigMap"), "{manifest}");
    assert!(
        manifest.contains("greeting: \"hello from chainctl\""),
        "{manifest}"
    );
}

#[test]
fn dry_run_text_prints_the_manifest_like_helm_template() {
    let out = run(&[DRY_RUN, &["--set", "greeting=hi there"]].concat());
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("---\n# Source: hello/templates/"),
        "{stdout}"
    );
    assert!(stdout.contains("greeting: \"hi there\""), "{stdout}");
    assert!(stdout.contains("kind: Deployment"), "{stdout}");
}

#[test]
fn bundle_and_chart_together_fail_naming_both_flags() {
    let out = run(&[DRY_RUN, &["--chart", "oci://example.com/charts/hello"]].concat());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--bundle") && stderr.contains("--chart"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("chainctl:").count(),
        1,
        "the error prints once: {stderr}"
    );
}

#[test]
fn an_invalid_release_name_fails_naming_the_rule() {
    let out = run(&[
        "app",
        "install",
        "--bundle",
        "examples/charts/hello",
        "--release",
        "Hello_World",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Hello_World") && stderr.contains("RFC 1123"),
        "{stderr}"
    );
    let long = "a".repeat(54);
    let out = run(&[
        "app",
        "install",
        "--bundle",
        "examples/charts/hello",
        "--release",
        &long,
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("53"), "{}", text(&out.stderr));
}

#[test]
fn json_errors_go_to_stdout_as_json_too() {
    let out = run(&[DRY_RUN, &["--set", "replicaCount=-1", "-o", "json"]].concat());
    assert_eq!(out.status.code(), Some(2));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(body["error"]["kind"], "invalid_input");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("replicaCount")
    );
}

#[test]
fn no_go_stack_trace_reaches_the_user() {
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("Chart.yaml"),
        "apiVersion: v2\nname: bad\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::create_dir(bad.path().join("templates")).unwrap();
    std::fs::write(bad.path().join("templates/x.yaml"), "{{ fail \"boom\" }}\n").unwrap();
    let out = run(&[
        "app",
        "install",
        "--bundle",
        bad.path().to_str().unwrap(),
        "--release",
        "bad",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("boom"), "{stderr}");
    assert!(
        !stderr.contains("goroutine") && !stderr.contains(".go:"),
        "{stderr}"
    );
}

#[test]
fn mutating_without_a_terminal_or_confirm_refuses_and_changes_nothing() {
    let out = chainctl()
        .args([
            "app",
            "install",
            "--bundle",
            "examples/charts/hello",
            "--release",
            "hello",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--confirm"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_kubeconfig_is_named() {
    let missing = PathBuf::from("/nonexistent/kubeconfig");
    let out = run(&[
        "app",
        "status",
        "--release",
        "hello",
        "--kubeconfig",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/kubeconfig"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn version_names_chainctl_and_helm() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("chainctl 0.1.0 (helm v3.22.0, go1."),
        "{stdout}"
    );
}
