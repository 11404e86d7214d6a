//! The chainctl example binary, run as a user runs it.

use std::path::PathBuf;

mod support;
use std::process::Output;
use support::ReadOnlyDir;
use support::chainctl::{Sandbox as StateDir, chainctl};

fn run(args: &[&str]) -> Output {
    chainctl().args(args).output().expect("chainctl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The Helm SDK the build links: the version go-shim/go.mod pins, or with
/// the helm-v4 feature the one go-shim/go.helm4.mod pins.
const HELM: &str = if cfg!(feature = "helm-v4") {
    "v4.3.2"
} else {
    "v3.22.0"
};

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
fn a_reader_that_went_away_is_no_failure() {
    // The read end closes before chainctl writes: its write fails with
    // EPIPE (Rust ignores SIGPIPE), which must exit 0 and print nothing, as
    // `chainctl ... | head` expects.
    let mut child = chainctl()
        .args(DRY_RUN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chainctl starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("chainctl runs");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn output_is_one_flag_taken_before_or_after_the_command() {
    let after = run(&["state", "path", "--state-path", "/srv/x.json", "-o", "json"]);
    let before = run(&["-o", "json", "state", "path", "--state-path", "/srv/x.json"]);
    assert!(after.status.success(), "stderr: {}", text(&after.stderr));
    assert_eq!(before.stdout, after.stdout);
    let body: serde_json::Value = serde_json::from_slice(&after.stdout).expect("JSON");
    assert_eq!(body["path"], "/srv/x.json");
    let out = run(&["state", "path", "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("[possible values: text, json]"));
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
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state").join("state.json");
    let mutations: [&[&str]; 4] = [
        &["app", "install", "--bundle", "examples/charts/hello"],
        &["app", "upgrade", "--bundle", "examples/charts/hello"],
        &["app", "rollback"],
        &["app", "uninstall"],
    ];
    for args in mutations {
        // The default secret driver and no kubeconfig: a refusal that came
        // after any cluster call would fail differently.
        let out = chainctl()
            .args(args)
            .args(["--release", "hello", "--state-path"])
            .arg(&state_path)
            .stdin(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(10), "{args:?}: {stderr}");
        assert!(stderr.contains("pass --confirm"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("Proceed?"),
            "{args:?} asked with no terminal"
        );
        assert!(
            !dir.path().join("state").exists(),
            "{args:?} touched the state file"
        );
    }
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
        stdout.starts_with(&format!("chainctl 0.1.0 (helm {HELM}, go1.")),
        "{stdout}"
    );
}

// ---- the state file, through the CLI (Helm's memory driver: a fake cluster) ----

const MEMORY_INSTALL: &[&str] = &[
    "app",
    "install",
    "--bundle",
    "examples/charts/hello",
    "--release",
    "hello",
    "-n",
    "demo",
    "--driver",
    "memory",
    "--confirm",
];

/// An upgrade (installing if missing) with no source flag.
const MEMORY_UPGRADE: &[&str] = &[
    "app",
    "upgrade",
    "--release",
    "hello",
    "-n",
    "demo",
    "--driver",
    "memory",
    "--install",
    "--confirm",
];

#[test]
fn install_records_the_action_in_a_private_file_without_the_values() {
    use std::os::unix::fs::PermissionsExt;
    let state = StateDir::new();
    let out = state.run(&[MEMORY_INSTALL, &["--set", "greeting=hunter2-secret"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state.state_path()), 0o600);
    assert_eq!(mode(state.state_path().parent().unwrap()), 0o700);
    let bytes = std::fs::read_to_string(state.state_path()).unwrap();
    assert!(
        !bytes.contains("hunter2"),
        "values leaked into the state file"
    );

    let release = state.show("hello", "demo");
    let current = &release["current"];
    assert_eq!(current["action"], "install");
    assert_eq!(current["outcome"], "succeeded");
    assert_eq!(current["helmRevision"], 1);
    assert_eq!(current["helmStatus"], "deployed");
    assert_eq!(current["chart"]["version"], "0.1.0");
    assert_eq!(current["source"]["type"], "bundle");
    assert!(
        current["source"]["path"]
            .as_str()
            .unwrap()
            .ends_with("examples/charts/hello")
    );
    assert!(
        current["source"]["contentDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        current["valuesDigest"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert_eq!(current["toolVersions"]["helm"], HELM);

    let out = state.run(&["state", "validate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn dry_runs_write_nothing_and_show_the_record_they_would_write() {
    let state = StateDir::new();
    let out = state.run(&[DRY_RUN, &["-o", "json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !state.state_path().exists(),
        "a dry run wrote the state file"
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["wouldRecord"]["action"], "install");
    assert_eq!(body["wouldRecord"]["release"], "hello");
}

#[test]
fn failures_are_recorded_too() {
    let state = StateDir::new();
    let out = state.run(&[
        "app",
        "upgrade",
        "--bundle",
        "examples/charts/hello",
        "--release",
        "ghost",
        "-n",
        "demo",
        "--driver",
        "memory",
        "--confirm",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let release = state.show("ghost", "demo");
    assert!(release["current"].is_null());
    let last = &release["history"][0];
    assert_eq!(last["outcome"], "failed");
    assert_eq!(last["error"]["kind"], "not_found");
}

#[test]
fn upgrade_without_a_source_reuses_the_recorded_one_and_says_so() {
    let state = StateDir::new();
    let out = state.run(MEMORY_UPGRADE);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--bundle") && stderr.contains("--chart"),
        "{stderr}"
    );

    assert!(state.run(MEMORY_INSTALL).status.success());
    let out = state.run(MEMORY_UPGRADE);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("reusing the source recorded for demo/hello"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        state.show("hello", "demo")["history"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_corrupt_state_file_stops_actions_and_is_left_as_it_was() {
    let state = StateDir::new();
    std::fs::create_dir_all(state.state_path().parent().unwrap()).unwrap();
    let corrupt = b"{\"schemaVersion\":1,\"releases\":{\"demo/hel";
    std::fs::write(state.state_path(), corrupt).unwrap();
    let out = state.run(MEMORY_INSTALL);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(state.state_path().to_str().unwrap()),
        "{stderr}"
    );
    assert!(stderr.contains("chainctl state validate"), "{stderr}");
    assert_eq!(std::fs::read(state.state_path()).unwrap(), corrupt);
    assert_eq!(state.run(&["state", "validate"]).status.code(), Some(6));
}

#[test]
fn an_action_whose_record_cannot_be_written_exits_7_and_prints_the_record() {
    let state = StateDir::new();
    assert!(state.run(MEMORY_INSTALL).status.success());
    let before = std::fs::read(state.state_path()).unwrap();
    let out = {
        let _read_only = ReadOnlyDir::new(state.state_path().parent().unwrap().to_path_buf());
        state.run(&[MEMORY_UPGRADE, &["--bundle", "examples/charts/hello"]].concat())
    };
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let record_line = stderr
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("the record is printed as JSON");
    let record: serde_json::Value = serde_json::from_str(record_line).unwrap();
    assert_eq!(record["release"], "hello");
    assert_eq!(record["outcome"], "succeeded");
    assert_eq!(
        std::fs::read(state.state_path()).unwrap(),
        before,
        "the state file changed"
    );
}

#[test]
fn state_path_follows_flags_then_the_environment() {
    let out = chainctl()
        .args(["state", "path"])
        .env("CHAINCTL_STATE_PATH", "/srv/x/state.json")
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).starts_with("/srv/x/state.json (chosen by CHAINCTL_STATE_PATH)"),
        "{}",
        text(&out.stdout)
    );
    let out = chainctl()
        .args(["state", "path", "--state-path", "/srv/y.json"])
        .env("CHAINCTL_STATE_PATH", "/srv/x/state.json")
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).starts_with("/srv/y.json (chosen by --state-path)"),
        "{}",
        text(&out.stdout)
    );
    let out = chainctl()
        .args([
            "state",
            "path",
            "--state-path",
            "/a",
            "--state-file",
            "b.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = chainctl()
        .args(["state", "path", "--state-file", "../b.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

// ---- app status --check (the memory driver's cluster is empty in each new process) ----

#[test]
fn status_check_without_a_record_exits_3_naming_the_state_file() {
    let state = StateDir::new();
    let check = [
        "app",
        "status",
        "--release",
        "hello",
        "-n",
        "demo",
        "--driver",
        "memory",
        "--check",
    ];
    let out = state.run(&check);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(state.state_path().to_str().unwrap())
            && stderr.contains("nothing to compare"),
        "{stderr}"
    );

    // A file that records other releases only: the same.
    assert!(state.run(MEMORY_INSTALL).status.success());
    let other = check.map(|arg| if arg == "hello" { "other" } else { arg });
    let out = state.run(&other);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("records no deployment of demo/other"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn status_check_of_a_recorded_release_missing_from_the_cluster_is_drift() {
    let state = StateDir::new();
    assert!(state.run(MEMORY_INSTALL).status.success());
    let digest = state.show("hello", "demo")["current"]["manifestDigest"].clone();
    assert!(
        digest
            .as_str()
            .is_some_and(|d| d.starts_with("hmac-sha256:") && d.len() == 76),
        "the install records its manifest digest: {digest}"
    );
    let check = [
        "app",
        "status",
        "--release",
        "hello",
        "-n",
        "demo",
        "--driver",
        "memory",
        "--check",
    ];
    let before = std::fs::read(state.state_path()).unwrap();

    let out = state.run(&check);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("  release: recorded demo/hello revision 1, none in the cluster"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hint: the release was uninstalled outside chainctl"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("drift: demo/hello"),
        "{}",
        text(&out.stderr)
    );

    let out = state.run(&[&check[..], &["-o", "json"]].concat());
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    let body: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert!(body["release"].is_null(), "{body:#}");
    let check = &body["check"];
    assert_eq!(check["matches"], false);
    assert_eq!(check["stateFile"], state.state_path().to_str().unwrap());
    assert_eq!(check["differences"][0]["field"], "release");
    assert_eq!(check["differences"][0]["recorded"], "demo/hello revision 1");
    assert!(check["differences"][0]["cluster"].is_null());

    assert_eq!(
        std::fs::read(state.state_path()).unwrap(),
        before,
        "--check only reads the state file"
    );
}

#[test]
fn no_kubeconfig_anywhere_says_how_to_give_one() {
    let home = tempfile::tempdir().unwrap();
    let state = StateDir::new();
    let out = state
        .command(&["app", "status", "--release", "hello", "-n", "demo"])
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("missing:also-missing"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pass --kubeconfig PATH or set KUBECONFIG"),
        "{stderr}"
    );
}

#[test]
fn a_garbage_registry_config_is_invalid_input_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, "garbage{").unwrap();
    let out = chainctl()
        .args([
            "chart",
            "versions",
            "oci://127.0.0.1:1/charts/hello",
            "--registry-config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(config.to_str().unwrap()) && stderr.contains("--registry-config"),
        "{stderr}"
    );
}

#[test]
fn non_utf8_paths_are_refused_clearly_or_used_never_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir(&odd).unwrap();
    let kubeconfig = odd.join("kubeconfig");
    std::fs::write(&kubeconfig, "").unwrap();
    let refused = [
        chainctl()
            .args([
                "app",
                "install",
                "--release",
                "h",
                "-n",
                "d",
                "--dry-run",
                "--bundle",
            ])
            .arg(odd.join("hello"))
            .output()
            .unwrap(),
        chainctl()
            .args(["app", "status", "--release", "h", "-n", "d", "--kubeconfig"])
            .arg(&kubeconfig)
            .output()
            .unwrap(),
        chainctl()
            .args(["app", "status", "--release", "h", "-n", "d"])
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap(),
        chainctl()
            .args([
                "app",
                "install",
                "--release",
                "h",
                "-n",
                "d",
                "--dry-run",
                "--plain-http",
            ])
            .args(["--chart", "oci://127.0.0.1:1/charts/hello:1.0.0"])
            .env("XDG_CACHE_HOME", &odd)
            .output()
            .unwrap(),
    ];
    for out in &refused {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("not UTF-8") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
    // The state file is ours, not Go's: any name the OS takes will do.
    let out = memory_install_at(&odd.join("state.json"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(odd.join("state.json").is_file());
}

#[test]
fn a_state_file_error_names_the_os_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A symlink loop where the state directory should be.
    std::os::unix::fs::symlink(dir.path().join("b"), dir.path().join("a")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("b")).unwrap();
    let out = memory_install_at(&dir.path().join("a/state.json"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("(os error "), "the OS's reason: {stderr}");
}

/// A rehearsal install of the example chart recorded at `state`.
fn memory_install_at(state: &std::path::Path) -> Output {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/charts/hello");
    chainctl()
        .args([
            "app",
            "install",
            "--bundle",
            hello,
            "--release",
            "h",
            "-n",
            "d",
        ])
        .args(["--driver", "memory", "--confirm", "--state-path"])
        .arg(state)
        .output()
        .unwrap()
}

/// Runs an upgrade whose record cannot be written (exit 7) and returns
/// its stderr, the state file's bytes left as they were.
fn exit_7_upgrade(state: &StateDir) -> String {
    assert!(state.run(MEMORY_INSTALL).status.success());
    let before = std::fs::read(state.state_path()).unwrap();
    let out = {
        let _read_only = ReadOnlyDir::new(state.state_path().parent().unwrap().to_path_buf());
        state.run(&[MEMORY_UPGRADE, &["--bundle", "examples/charts/hello"]].concat())
    };
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(state.state_path()).unwrap(), before);
    text(&out.stderr)
}

/// `state import` of `input` on stdin.
fn import_stdin(state: &StateDir, input: &str, extra: &[&str]) -> Output {
    use std::io::Write;
    let mut child = state
        .command(&[&["state", "import", "-"][..], extra].concat())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn state_import_puts_back_the_record_printed_on_exit_7_once() {
    let state = StateDir::new();
    let stderr = exit_7_upgrade(&state);
    assert!(stderr.contains("chainctl state import FILE"), "{stderr}");
    let printed = stderr.lines().find(|l| l.starts_with('{')).unwrap();
    let record: serde_json::Value = serde_json::from_str(printed).unwrap();

    // The whole stderr, saved, is what import takes.
    let saved = state.dir.path().join("upgrade.err");
    std::fs::write(&saved, &stderr).unwrap();
    let out = state.run(&["state", "import", saved.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("imported the install record of demo/hello started at"),
        "{}",
        text(&out.stdout)
    );
    let shown = state.show("hello", "demo");
    assert_eq!(shown["history"][1], record, "the record as printed");
    assert_eq!(shown["current"], record, "a successful upgrade is current");

    // Again, from the line alone on stdin: nothing changes, and it says so.
    let after = std::fs::read(state.state_path()).unwrap();
    let out = import_stdin(&state, printed, &["-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records"][0]["imported"], false, "{v}");
    assert_eq!(v["records"][0]["key"], "rehearsal/demo/hello");
    assert_eq!(std::fs::read(state.state_path()).unwrap(), after);
    let out = state.run(&["state", "import", saved.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains("holds the install record of demo/hello started at"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("already: nothing changed"));
}

#[test]
fn state_import_refuses_what_the_loader_would_refuse_and_records_out_of_order() {
    let state = StateDir::new();
    let stderr = exit_7_upgrade(&state);
    let printed = stderr.lines().find(|l| l.starts_with('{')).unwrap();
    let before = std::fs::read(state.state_path()).unwrap();
    let refused = |input: &str, code: i32, says: &[&str]| {
        let out = import_stdin(&state, input, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{input}: {err}");
        for part in says {
            assert!(err.contains(part), "{part:?} missing from {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(std::fs::read(state.state_path()).unwrap(), before);
    };
    let mut record: serde_json::Value = serde_json::from_str(printed).unwrap();
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut r = record.clone();
        change(&mut r);
        r.to_string()
    };
    refused("", 2, &["standard input holds no record"]);
    refused("chainctl: hello\nnot json\n", 2, &["holds no record"]);
    refused("{\"action\": ", 2, &["not valid JSON"]);
    refused(
        &with(&|r| r["release"] = "Hello".into()),
        2,
        &["not a record chainctl can import", "at $.release"],
    );
    refused(
        &with(&|r| r["outcome"] = "failed".into()),
        2,
        &["outcome is failed but there is no error"],
    );
    refused(
        &with(&|r| r["values"] = serde_json::json!({"password": "hunter2"})),
        2,
        &["values"],
    );
    refused(
        &printed.replacen("{", "{\"release\":\"other\",", 1),
        2,
        &["each key may appear once"],
    );
    // A record filed under another cluster than its server's.
    refused(
        &with(&|r| {
            r["cluster"] =
                serde_json::json!({"id": "0123456789abcdef", "server": "https://k.example"});
            r["driver"] = "secret".into();
        }),
        2,
        &["at $.cluster", "is not the id of https://k.example"],
    );
    refused(
        &with(&|r| r["driver"] = "secret".into()),
        2,
        &["at $.driver", "only they, use the memory driver"],
    );
    let out = state.run(&["state", "import", "/nonexistent/record.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/record.json"));

    // Older than the newest record of its release: refused, exit 6.
    record["startedAt"] = "2020-01-01T00:00:00.000Z".into();
    record["finishedAt"] = "2020-01-01T00:00:01.000Z".into();
    refused(
        &record.to_string(),
        6,
        &[
            "cannot import the install record of rehearsal/demo/hello started at 2020-01-01",
            "already holds a newer one (install succeeded started at",
            "Nothing was changed",
            "chainctl state show --release hello -n demo",
        ],
    );
}

#[test]
fn state_import_waits_for_the_state_lock() {
    let state = StateDir::new();
    let stderr = exit_7_upgrade(&state);
    let saved = state.dir.path().join("upgrade.err");
    std::fs::write(&saved, &stderr).unwrap();
    let before = std::fs::read(state.state_path()).unwrap();

    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(state.state_path().with_file_name("state.json.lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut child = state
        .command(&["state", "import", saved.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "import waits while another process holds the lock"
    );
    assert_eq!(std::fs::read(state.state_path()).unwrap(), before);
    lock.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = stderr.lines().find(|l| l.starts_with('{')).unwrap();
    let record: serde_json::Value = serde_json::from_str(printed).unwrap();
    assert_eq!(state.show("hello", "demo")["history"][1], record);
}

/// The library and the shim say which input was wrong; chainctl adds the
/// flag that sets it (issue 11, item 2).
#[test]
fn invalid_input_is_followed_by_the_flag_that_sets_it() {
    let fails = |args: &[&str], says: &[&str]| {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for s in says {
            assert!(stderr.contains(s), "{args:?}: no {s:?} in {stderr}");
        }
    };
    // Checked by the shim.
    fails(
        &[
            "app", "list", "-n", "demo", "--driver", "memory", "--filter", "web(",
        ],
        &[
            "the list filter \"web(\"",
            "; --filter takes a regular expression",
        ],
    );
    // Checked by the library.
    fails(
        &[
            "app",
            "install",
            "--bundle",
            "/nonexistent/web.tgz",
            "--release",
            "web",
            "-n",
            "demo",
            "--driver",
            "memory",
        ],
        &["was not found", "; point --bundle at a chart directory"],
    );
    fails(
        &[
            "app",
            "install",
            "--bundle",
            "examples/charts/hello",
            "--version",
            "1.0.0",
            "--release",
            "web",
            "-n",
            "demo",
            "--driver",
            "memory",
        ],
        &[
            "a version cannot be requested of a bundle",
            "; --version goes with --chart only",
        ],
    );
}

/// A state file the library refuses: it says why (as a StateProblem), and
/// chainctl names the flag that picks another.
#[test]
fn a_refused_state_file_is_followed_by_the_state_flag() {
    let dir = tempfile::tempdir().unwrap();
    let install = |state_path: Option<&std::path::Path>, env: Option<&std::path::Path>| {
        let mut cmd = chainctl();
        cmd.args(MEMORY_INSTALL);
        if let Some(p) = state_path {
            cmd.arg("--state-path").arg(p);
        }
        if let Some(p) = env {
            cmd.env("CHAINCTL_STATE_PATH", p);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let not_a_file = dir.path().join("dir");
    std::fs::create_dir(&not_a_file).unwrap();
    let stderr = install(Some(&not_a_file), None);
    assert!(
        stderr.contains("is not a regular file")
            && stderr.contains("; point --state-path at a file"),
        "{stderr}"
    );

    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(dir.path().join("real.json"), &link).unwrap();
    let stderr = install(None, Some(&link));
    assert!(
        stderr.contains("is a symlink")
            && stderr.contains(&format!(
                "; --state-path {} names it explicitly",
                link.display()
            )),
        "{stderr}"
    );
    assert!(
        !dir.path().join("real.json").exists(),
        "nothing was written"
    );
}
