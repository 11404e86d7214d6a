//! Secrets never in the record or in output: values quoted by a failing
//! schema or a rejecting API server are redacted from the state file, its
//! backup, stdout, stderr and `-o json`; the values digest is keyed per
//! state file; `-o json` prints Secret data only when asked.
//!
//! Against the real test API server (tests/testenv), through the CLI.

mod support;
use support::{namespace, testenv};

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chainctl_core::state::{Action, ExecutionStateRecord, StateStore, StateStoreOptions};
use chainctl_core::{ChartSource, Client, ReleaseOptions, Storage};
use serde_json::Value;
use support::chainctl::Sandbox;
use testenv::Cluster;

/// Distinctive enough that finding it anywhere is the leak: long, and short
/// (a 3-character one, which the scrubber redacts only where it is quoted).
const LONG_SECRET: &str = "Zq7-long-Secret-4f1b9";
const SHORT_SECRET: &str = "x#9";

fn secrets_chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/secrets")
}

/// chainctl in `sandbox`, on the cluster, with no terminal.
fn on_cluster(sandbox: &Sandbox, cluster: &Cluster, args: &[&str]) -> Command {
    let mut cmd = sandbox.command(args);
    cmd.arg("--kubeconfig").arg(&cluster.kubeconfig);
    if let Some(context) = &cluster.context {
        cmd.args(["--kube-context", context]);
    }
    cmd.stdin(Stdio::null()).env_remove("CHAINCTL_VALUES_KEY");
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Everything the user or an auditor gets to see: the state file, its
/// backup and the outputs of the runs.
fn assert_nowhere(secret: &str, state: &Path, outputs: &[&Output]) {
    for path in [state.to_path_buf(), state.with_extension("json.bak")] {
        let content = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} should exist: {e}", path.display()));
        assert!(
            !content.contains(secret),
            "{} holds the secret {secret:?}:\n{content}",
            path.display()
        );
    }
    for out in outputs {
        let all = text(out);
        assert!(!all.contains(secret), "the output holds {secret:?}:\n{all}");
    }
}

/// A release installed with harmless values, so that the failures after it
/// write a state file and a backup.
fn install_good(sandbox: &Sandbox, cluster: &Cluster, ns: &str) {
    let chart = secrets_chart();
    let out = on_cluster(
        sandbox,
        cluster,
        &[
            "app",
            "install",
            "--bundle",
            chart.to_str().unwrap(),
            "--release",
            "app",
            "-n",
            ns,
            "--create-namespace",
            "--confirm",
            "--set-string",
            "password=1234",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// An upgrade with `set`, once as text with Helm's debug log and once as
/// JSON: both fail with `code`.
fn failing_upgrades(
    sandbox: &Sandbox,
    cluster: &Cluster,
    ns: &str,
    set: &str,
    code: i32,
) -> (Output, Output) {
    let chart = secrets_chart();
    let base = [
        "app",
        "upgrade",
        "--bundle",
        chart.to_str().unwrap(),
        "--release",
        "app",
        "-n",
        ns,
        "--confirm",
        "--set",
        set,
    ];
    let mut with_debug = base.to_vec();
    with_debug.push("--debug");
    let debug = on_cluster(sandbox, cluster, &with_debug).output().unwrap();
    assert_eq!(debug.status.code(), Some(code), "{}", text(&debug));
    let mut with_json = base.to_vec();
    with_json.extend(["-o", "json"]);
    let json = on_cluster(sandbox, cluster, &with_json).output().unwrap();
    assert_eq!(json.status.code(), Some(code), "{}", text(&json));
    let body: Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("-o json prints JSON ({e}): {}", text(&json)));
    assert!(body["error"]["message"].is_string(), "{body}");
    (debug, json)
}

/// The recorded failure: its error names what was wrong, with the value
/// redacted.
fn last_error(state: &Path) -> String {
    let file = StateStore::load(state).unwrap();
    let release = file.releases.values().next().expect("one release recorded");
    let last = release.history.last().expect("a history");
    last.error
        .as_ref()
        .expect("the failure is recorded")
        .message
        .clone()
}

#[test]
fn a_schema_pattern_failure_keeps_the_password_out_of_state_and_output() {
    let cluster = Cluster::shared();
    for (i, secret) in [LONG_SECRET, SHORT_SECRET].into_iter().enumerate() {
        let sandbox = Sandbox::new();
        let ns = namespace(&format!("secret-schema-{i}"));
        install_good(&sandbox, cluster, &ns);
        let set = format!("password={secret}");
        let (debug, json) = failing_upgrades(&sandbox, cluster, &ns, &set, 2);
        let message = last_error(&sandbox.state_path());
        assert!(
            message.contains("does not match pattern") && message.contains("[redacted]"),
            "the recorded error still says what was wrong: {message}"
        );
        let status = on_cluster(
            &sandbox,
            cluster,
            &["app", "status", "--release", "app", "-n", &ns, "-o", "json"],
        )
        .output()
        .unwrap();
        assert_nowhere(secret, &sandbox.state_path(), &[&debug, &json, &status]);
        // The manifest digest is keyed too, and --check compares under the key.
        let file = StateStore::load(sandbox.state_path()).unwrap();
        let current = file
            .releases
            .values()
            .next()
            .unwrap()
            .current
            .clone()
            .unwrap();
        let manifest_digest = current.manifest_digest.unwrap();
        assert!(
            manifest_digest.starts_with("hmac-sha256:"),
            "{manifest_digest}"
        );
        let check = on_cluster(
            &sandbox,
            cluster,
            &["app", "status", "--release", "app", "-n", &ns, "--check"],
        )
        .output()
        .unwrap();
        assert_eq!(check.status.code(), Some(0), "{}", text(&check));
        // Status JSON, like an install's, shows no Secret data.
        let body: Value = serde_json::from_slice(&status.stdout).unwrap();
        let manifest = body["release"]["manifest"].as_str().unwrap();
        assert!(
            manifest.contains("password: '[redacted]'") && !manifest.contains("MTIzNA=="),
            "{manifest}"
        );
    }
}

#[test]
fn an_api_server_rejection_keeps_the_label_value_out_of_state_and_output() {
    let cluster = Cluster::shared();
    // Neither is a valid label value; the API server quotes each.
    for (i, secret) in ["Zq7 label secret 4f1b9", "a b"].into_iter().enumerate() {
        let sandbox = Sandbox::new();
        let ns = namespace(&format!("secret-label-{i}"));
        install_good(&sandbox, cluster, &ns);
        let set = format!("team={secret}");
        let (debug, json) = failing_upgrades(&sandbox, cluster, &ns, &set, 1);
        let message = last_error(&sandbox.state_path());
        assert!(
            message.contains("Invalid value") && message.contains("[redacted]"),
            "the recorded error still says what was wrong: {message}"
        );
        // Helm's debug log quotes the error too, scrubbed as well.
        let log = String::from_utf8_lossy(&debug.stderr);
        assert!(
            log.lines().any(|l| {
                // Helm 3's words, and Helm 4's.
                (l.contains("warning: Upgrade") || l.contains("warning: upgrade failed"))
                    && l.contains("[redacted]")
            }),
            "{log}"
        );
        // Helm recorded the failure in the release's description too,
        // which history prints. (Status would print the manifest the value
        // was rendered into, as `helm status` does with --show-resources:
        // a manifest is no error message.)
        let args = ["--release", "app", "-n", ns.as_str(), "-o", "json"];
        let history = on_cluster(
            &sandbox,
            cluster,
            &[&["app", "history"][..], &args].concat(),
        )
        .output()
        .unwrap();
        let revisions: Value = serde_json::from_slice(&history.stdout).unwrap();
        let failed = (revisions["revisions"].as_array().unwrap().iter())
            .find(|r| r["status"] == "failed")
            .unwrap_or_else(|| panic!("a failed revision: {revisions}"));
        assert!(
            failed["description"]
                .as_str()
                .unwrap()
                .contains("[redacted]"),
            "{failed}"
        );
        assert_nowhere(secret, &sandbox.state_path(), &[&debug, &json, &history]);
    }
}

fn recorded_digest(state: &Path) -> String {
    let file = StateStore::load(state).unwrap();
    let release = file.releases.values().next().expect("one release recorded");
    let digest = (release.history.last().unwrap().values_digest.clone()).expect("a values digest");
    assert!(digest.starts_with("hmac-sha256:"), "{digest}");
    digest
}

#[test]
fn the_values_digest_is_keyed_per_state_file() {
    let cluster = Cluster::shared();
    let chart = secrets_chart();
    let ns = namespace("secret-digest");
    let (one, two) = (Sandbox::new(), Sandbox::new());
    let deploy = |sandbox: &Sandbox, verb: &str| {
        let mut args = vec!["app", verb, "--bundle", chart.to_str().unwrap()];
        args.extend([
            "--release",
            "app",
            "-n",
            &ns,
            "--create-namespace",
            "--confirm",
        ]);
        args.extend(["--set-string", "password=24681357"]);
        if verb == "upgrade" {
            args.push("--install");
        }
        let out = on_cluster(sandbox, cluster, &args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        out
    };
    let first = deploy(&one, "install");
    let a = recorded_digest(&one.state_path());
    let again = deploy(&one, "upgrade");
    assert_eq!(
        recorded_digest(&one.state_path()),
        a,
        "same values, same state file"
    );
    let other = deploy(&two, "upgrade");
    let b = recorded_digest(&two.state_path());
    assert_ne!(a, b, "the same values under another state file's key");

    // The key is beside the state file, private, and never printed.
    let key_file = one.state_path().with_extension("json.key");
    let meta = fs::metadata(&key_file).expect("the key file exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let key = fs::read_to_string(&key_file).unwrap();
    for out in [&first, &again, &other] {
        assert!(!text(out).contains(key.trim()), "the key was printed");
    }
    // The library hands out no unkeyed digest either.
    let merged = Client::builder()
        .build()
        .unwrap()
        .merge_values(
            &ReleaseOptions::builder("app", &ns)
                .set_string("password=24681357")
                .build()
                .unwrap(),
        )
        .unwrap();
    assert!(
        merged.digest.starts_with("hmac-sha256:"),
        "{}",
        merged.digest
    );

    // CHAINCTL_VALUES_KEY, when set, keys both files alike.
    let shared = |sandbox: &Sandbox| {
        let mut args = vec!["app", "upgrade", "--bundle", chart.to_str().unwrap()];
        args.extend([
            "--release",
            "app",
            "-n",
            &ns,
            "--confirm",
            "--set-string",
            "password=24681357",
        ]);
        let out = on_cluster(sandbox, cluster, &args)
            .env("CHAINCTL_VALUES_KEY", "a secret shared by the CI runners")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        recorded_digest(&sandbox.state_path())
    };
    let (x, y) = (shared(&one), shared(&two));
    assert_eq!(x, y);
    assert_ne!(x, a);
}

#[test]
fn library_digests_differ_between_state_files_and_old_ones_read_as_changed() {
    let dir = tempfile::tempdir().unwrap();
    let chart = ChartSource::bundle(secrets_chart()).unwrap();
    let opts = ReleaseOptions::builder("app", "demo")
        .set_string("password=13572468")
        .build()
        .unwrap();
    let memory = Client::builder().storage(Storage::Memory).build().unwrap();
    let digest = |state: &str| {
        let store = StateStore::open(dir.path().join(state), StateStoreOptions::default()).unwrap();
        let client = memory.clone().with_values_key(store.values_key().unwrap());
        client.render(&chart, &opts).unwrap().values_digest
    };
    let (a, a_again, b) = (digest("a.json"), digest("a.json"), digest("b.json"));
    assert_eq!(a, a_again);
    assert_ne!(a, b);

    // A record written before digests were keyed still loads; its digest
    // never equals a keyed one.
    let path = dir.path().join("old.json");
    let mut store = StateStore::open(&path, StateStoreOptions::default()).unwrap();
    let mut rec = ExecutionStateRecord::new(Action::Install, "app", "demo");
    rec.values_digest = Some(format!("sha256:{}", "ab".repeat(32)));
    rec.finish_ok();
    store.record(rec).unwrap();
    let loaded = StateStore::load(&path).unwrap();
    let old = loaded
        .releases
        .values()
        .next()
        .unwrap()
        .current
        .clone()
        .unwrap();
    assert_ne!(old.values_digest.as_deref(), Some(a.as_str()));
}

#[test]
fn json_output_hides_secret_data_unless_asked_and_text_dry_run_is_helms() {
    let chart = secrets_chart();
    let sandbox = Sandbox::new();
    let run = |extra: &[&str]| {
        let mut args = vec!["app", "install", "--bundle", chart.to_str().unwrap()];
        args.extend(["--release", "app", "-n", "demo", "--dry-run"]);
        args.extend([
            "--set-string",
            "password=97531864",
            "--set",
            "token=tok-Zq7-plain",
        ]);
        args.extend(extra);
        let out = sandbox
            .command(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        out
    };
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode("97531864");

    let hidden = run(&["-o", "json"]);
    let body: Value = serde_json::from_slice(&hidden.stdout).unwrap();
    let manifest = body["release"]["manifest"].as_str().unwrap();
    assert!(manifest.contains("password: '[redacted]'"), "{manifest}");
    assert!(manifest.contains("token: '[redacted]'"), "{manifest}");
    assert!(manifest.contains("kind: ConfigMap"), "{manifest}");
    let all = text(&hidden);
    assert!(
        !all.contains(&encoded) && !all.contains("97531864") && !all.contains("tok-Zq7-plain"),
        "{all}"
    );

    let shown = run(&["-o", "json", "--show-secrets"]);
    let body: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let manifest = body["release"]["manifest"].as_str().unwrap();
    assert!(
        manifest.contains(&encoded) && manifest.contains("tok-Zq7-plain"),
        "{manifest}"
    );

    // As helm install --dry-run: the manifest in full.
    let plain = run(&[]);
    let out = String::from_utf8_lossy(&plain.stdout);
    assert!(
        out.contains(&encoded) && out.contains("kind: Secret"),
        "{out}"
    );
}
