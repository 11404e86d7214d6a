//! The state store against the real file system and real processes.
//!
//! Tests that need other processes re-run this test binary with
//! `CHAINCTL_STATE_TEST_CHILD` set, which turns `child_process_entry` into
//! the child's main (see `child`).

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chainctl_core::state::{
    Action, DefaultDir, ExecutionStateRecord, LocationRule, LockInfo, SCHEMA_VERSION, StateEnv,
    StateFile, StateFileConfig, StateLocation, StateStore, StateStoreOptions, Timestamp,
    state_schema_json,
};
use chainctl_core::{ChartSource, Client, Error, ErrorKind, ReleaseOptions, StateProblem, Storage};

const CHILD_ENV: &str = "CHAINCTL_STATE_TEST_CHILD";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures/state")
}

fn record(release: &str, namespace: &str, revision: u32) -> ExecutionStateRecord {
    let mut rec = ExecutionStateRecord::new(Action::Upgrade, release, namespace);
    rec.helm_revision = Some(revision);
    rec.helm_status = Some("deployed".into());
    rec.finish_ok();
    rec
}

fn options(history_limit: usize) -> StateStoreOptions {
    let mut o = StateStoreOptions::default();
    o.history_limit = history_limit;
    o
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

// ---------------------------------------------------------------- location

fn env(state_path: Option<&str>, config: Option<&str>, home: Option<&str>) -> StateEnv {
    StateEnv {
        state_path: state_path.map(OsString::from),
        config_dir: config.map(PathBuf::from),
        home_dir: home.map(PathBuf::from),
    }
}

fn resolve(file: Option<&str>, path: Option<&str>, env: &StateEnv) -> Result<StateLocation, Error> {
    StateFileConfig {
        state_file: file.map(String::from),
        state_path: path.map(PathBuf::from),
    }
    .resolve_in(env)
}

#[test]
fn location_default_is_the_platform_config_dir() {
    let loc = resolve(
        None,
        None,
        &env(None, Some("/home/a/.config"), Some("/home/a")),
    )
    .unwrap();
    assert_eq!(loc.path, Path::new("/home/a/.config/chainctl/state.json"));
    assert_eq!(loc.rule, LocationRule::Default(DefaultDir::ConfigDir));
    assert_eq!(
        loc.to_string(),
        "/home/a/.config/chainctl/state.json (from the default, the platform config directory)"
    );
}

#[test]
fn location_falls_back_to_home_without_a_config_dir() {
    let loc = resolve(None, None, &env(None, None, Some("/home/a"))).unwrap();
    assert_eq!(loc.path, Path::new("/home/a/.chainctl/state.json"));
    assert_eq!(loc.rule, LocationRule::Default(DefaultDir::HomeFallback));

    let loc = resolve(Some("ci.json"), None, &env(None, None, Some("/home/a"))).unwrap();
    assert_eq!(loc.path, Path::new("/home/a/.chainctl/ci.json"));
    assert_eq!(
        loc.rule,
        LocationRule::StateFileFlag(DefaultDir::HomeFallback)
    );
}

#[test]
fn location_without_config_dir_or_home_names_the_way_out() {
    let err = resolve(None, None, &StateEnv::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.contains("--state-path") && msg.contains("CHAINCTL_STATE_PATH"),
        "{msg}"
    );
    // An explicit path needs neither.
    resolve(None, Some("/srv/state.json"), &StateEnv::default()).unwrap();
}

#[test]
fn location_state_file_picks_a_name_in_the_default_dir() {
    let e = env(None, Some("/cfg"), Some("/home/a"));
    let loc = resolve(Some("staging.json"), None, &e).unwrap();
    assert_eq!(loc.path, Path::new("/cfg/chainctl/staging.json"));
    assert_eq!(loc.rule, LocationRule::StateFileFlag(DefaultDir::ConfigDir));
    assert_eq!(
        loc.rule.to_string(),
        "--state-file, in the platform config directory"
    );
}

#[test]
fn location_state_file_must_be_a_bare_name() {
    let e = env(None, Some("/cfg"), None);
    for (name, says) in [
        ("", "is empty"),
        ("sub/state.json", "path separator"),
        ("/abs.json", "path separator"),
        ("..", "`..`"),
        ("x..json", "`..`"),
        ("state.json.lock", "`.lock`"),
    ] {
        let err = resolve(Some(name), None, &e).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("--state-file") && msg.contains(says),
            "{name:?}: {msg}"
        );
    }
}

#[test]
fn location_state_path_is_used_as_given_and_made_absolute() {
    let e = env(Some("/from/env.json"), Some("/cfg"), None);
    let loc = resolve(None, Some("/srv/chainctl/state.json"), &e).unwrap();
    assert_eq!(loc.path, Path::new("/srv/chainctl/state.json"));
    assert_eq!(loc.rule, LocationRule::StatePathFlag);
    assert!(loc.allows_symlink());

    let loc = resolve(None, Some("rel/state.json"), &e).unwrap();
    assert_eq!(
        loc.path,
        std::env::current_dir().unwrap().join("rel/state.json")
    );

    let err = resolve(None, Some(""), &e).unwrap_err();
    assert!(err.to_string().contains("--state-path is empty"), "{err}");
}

#[test]
fn location_env_sets_the_path_and_flags_win() {
    let e = env(Some("/from/env.json"), Some("/cfg"), Some("/home/a"));
    let loc = resolve(None, None, &e).unwrap();
    assert_eq!(loc.path, Path::new("/from/env.json"));
    assert_eq!(loc.rule, LocationRule::Env);
    assert!(!loc.allows_symlink());
    assert_eq!(loc.to_string(), "/from/env.json (from CHAINCTL_STATE_PATH)");

    let loc = resolve(None, Some("/flag.json"), &e).unwrap();
    assert_eq!(loc.path, Path::new("/flag.json"));
    let loc = resolve(Some("named.json"), None, &e).unwrap();
    assert_eq!(loc.path, Path::new("/cfg/chainctl/named.json"));

    // Set but empty counts as unset.
    let loc = resolve(None, None, &env(Some(""), Some("/cfg"), None)).unwrap();
    assert_eq!(loc.rule, LocationRule::Default(DefaultDir::ConfigDir));
}

#[test]
fn location_flags_conflict() {
    let e = env(None, Some("/cfg"), None);
    let err = resolve(Some("a.json"), Some("/b.json"), &e).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.contains("--state-file and --state-path both given"),
        "{msg}"
    );
    assert!(
        msg.contains("/cfg/chainctl") && msg.contains("/b.json"),
        "{msg}"
    );
}

#[test]
fn location_reads_the_process_environment() {
    let dir = tempfile::tempdir().unwrap();
    let run = |vars: &[(&str, &Path)]| -> String {
        let mut cmd = child("resolve");
        cmd.env_remove("XDG_CONFIG_HOME")
            .env_remove("CHAINCTL_STATE_PATH");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        child_lines(&out.stdout)
            .pop()
            .expect("the child printed a location")
    };
    let home = dir.path().join("home");
    let xdg = dir.path().join("xdg");
    let env_path = dir.path().join("env.json");
    if cfg!(target_os = "linux") {
        assert_eq!(
            run(&[("HOME", &home), ("XDG_CONFIG_HOME", &xdg)]),
            format!(
                "{} (from the default, the platform config directory)",
                xdg.join("chainctl/state.json").display()
            )
        );
        assert_eq!(
            run(&[("HOME", &home)]),
            format!(
                "{} (from the default, the platform config directory)",
                home.join(".config/chainctl/state.json").display()
            )
        );
    }
    assert_eq!(
        run(&[("HOME", &home), ("CHAINCTL_STATE_PATH", &env_path)]),
        format!("{} (from CHAINCTL_STATE_PATH)", env_path.display())
    );
}

// ------------------------------------------------------------- permissions

#[test]
fn open_creates_private_directories_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/chainctl/state.json");
    let mut store = StateStore::open(&path, options(100)).unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    for d in ["a", "a/b", "a/b/chainctl"] {
        assert_eq!(mode(&dir.path().join(d)), 0o700, "{d}");
    }
    assert!(!path.exists(), "the file is written by the first record");
    store.record(record("hello", "demo", 1)).unwrap();
    store.record(record("hello", "demo", 2)).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&store.backup_path()), 0o600);
    assert_eq!(mode(&path.with_file_name("state.json.lock")), 0o600);
    let names: BTreeSet<String> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let want: BTreeSet<String> = ["state.json", "state.json.bak", "state.json.lock"]
        .map(String::from)
        .into();
    assert_eq!(names, want, "no temporary file is left behind");
}

#[test]
fn open_warns_about_open_permissions_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("shared");
    fs::create_dir(&state_dir).unwrap();
    fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o755)).unwrap();
    let path = state_dir.join("state.json");
    fs::copy(fixtures().join("valid/empty.json"), &path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

    let mut store = StateStore::open(&path, options(100)).unwrap();
    let warnings = store.warnings().join("\n");
    assert_eq!(store.warnings().len(), 2, "{warnings}");
    assert!(
        warnings.contains(&format!("`chmod 700 {}`", state_dir.display())),
        "{warnings}"
    );
    assert!(
        warnings.contains(&format!("`chmod 600 {}`", path.display())),
        "{warnings}"
    );
    assert!(
        warnings.contains("mode 0755") && warnings.contains("mode 0644"),
        "{warnings}"
    );

    store.record(record("hello", "demo", 1)).unwrap();
    assert_eq!(
        mode(&state_dir),
        0o755,
        "the directory is left as the operator set it"
    );
    assert_eq!(
        mode(&path),
        0o644,
        "the replaced file keeps the operator's mode"
    );

    // A shared directory like /tmp gets different advice than chmod 700.
    let shared = dir.path().join("tmp");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let store = StateStore::open(shared.join("state.json"), options(100)).unwrap();
    let warning = store.warnings().join("\n");
    assert!(
        warning.contains("mode 1777") && warning.contains("shared directory"),
        "{warning}"
    );
    assert!(!warning.contains("chmod"), "{warning}");
}

// ---------------------------------------------------------------- symlinks

#[test]
fn symlinked_state_path_is_refused_unless_named() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real/state.json");
    let link = dir.path().join("link.json");
    symlink(&real, &link).unwrap();

    let err = StateStore::open(&link, options(100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::State);
    let msg = err.to_string();
    assert!(
        msg.contains(&link.display().to_string()) && msg.contains("symlink"),
        "{msg}"
    );
    // Which flag names it is the CLI's to say.
    assert_eq!(err.state_problem(), Some(&StateProblem::Symlink));
    assert_eq!(err.path(), Some(link.as_path()));
    assert!(!real.parent().unwrap().exists(), "nothing was created");

    // The same path from the environment is refused too...
    let from_env = StateLocation {
        path: link.clone(),
        rule: LocationRule::Env,
    };
    assert!(StateStore::open_location(&from_env, options(100)).is_err());
    // ...and followed when --state-path names it.
    let named = StateLocation {
        path: link.clone(),
        rule: LocationRule::StatePathFlag,
    };
    let mut store = StateStore::open_location(&named, options(100)).unwrap();
    assert_eq!(store.path(), real);
    store.record(record("hello", "demo", 1)).unwrap();
    store.record(record("hello", "demo", 2)).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link stays a link"
    );
    assert_eq!(StateStore::load(&link).unwrap().record_count(), 2);
    assert_eq!(StateStore::load(&real).unwrap().record_count(), 2);
}

// ------------------------------------------------------- records and files

#[test]
fn history_is_bounded_and_current_is_the_last_success() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut store = StateStore::open(&path, options(5)).unwrap();
    store.record(record("hello", "demo", 1)).unwrap();
    for rev in 2..=9 {
        let mut failed = record("hello", "demo", rev);
        failed.finish_err(&Error::from_kind(ErrorKind::Kube, format!("attempt {rev}")));
        store.record(failed).unwrap();
    }
    store.record(record("other", "demo", 1)).unwrap();

    let revisions: Vec<u32> = store
        .history("hello", "demo")
        .iter()
        .map(|r| r.helm_revision.unwrap())
        .collect();
    assert_eq!(revisions, [5, 6, 7, 8, 9]);
    assert_eq!(
        store.current("hello", "demo").unwrap().helm_revision,
        Some(1)
    );
    assert_eq!(store.last("hello", "demo").unwrap().helm_revision, Some(9));
    assert!(store.current("hello", "nowhere").is_none());
    assert!(store.history("missing", "demo").is_empty());

    let on_disk = StateStore::load(&path).unwrap();
    assert_eq!(&on_disk, store.state());
    assert_eq!(on_disk.record_count(), 7);

    let mut gone = ExecutionStateRecord::new(Action::Uninstall, "hello", "demo");
    gone.finish_ok();
    store.record(gone).unwrap();
    assert!(store.current("hello", "demo").is_none());
}

#[test]
fn the_backup_is_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut store = StateStore::open(&path, options(100)).unwrap();
    store.record(record("hello", "demo", 1)).unwrap();
    assert!(!store.backup_path().exists(), "no previous version yet");
    let first = fs::read(&path).unwrap();
    store.record(record("hello", "demo", 2)).unwrap();
    assert_eq!(fs::read(store.backup_path()).unwrap(), first);
    let second = fs::read(&path).unwrap();
    store.record(record("hello", "demo", 3)).unwrap();
    assert_eq!(
        fs::read(store.backup_path()).unwrap(),
        second,
        "only one backup is kept"
    );
    assert_eq!(
        StateStore::load(store.backup_path())
            .unwrap()
            .record_count(),
        2
    );
}

#[test]
fn records_that_break_the_schema_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut store = StateStore::open(&path, options(100)).unwrap();
    store.record(record("hello", "demo", 1)).unwrap();
    let before = fs::read(&path).unwrap();

    let bad_name = record("Hello_World", "demo", 2);
    let mut bad_digest = record("hello", "demo", 2);
    bad_digest.values_digest = Some("md5:abc".into());
    let mut no_error = record("hello", "demo", 2);
    no_error.outcome = chainctl_core::state::Outcome::Failed;
    for (rec, says) in [
        (bad_name, "$.release"),
        (bad_digest, "$.valuesDigest"),
        (no_error, "no error"),
    ] {
        let err = store.record(rec).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::State);
        assert!(err.to_string().contains(says), "{err}");
    }
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(store.history("hello", "demo").len(), 1);
}

#[test]
fn values_digest_is_recorded_not_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut store = StateStore::open(&path, options(100)).unwrap();
    // A real (in-memory) install: the digest is Helm's merge's, from the report.
    let chart = ChartSource::bundle(manifest_dir().join("examples/charts/hello")).unwrap();
    let opts = ReleaseOptions::builder("hello", "demo")
        .values_yaml("secrets", "db: {password: hunter2}\n")
        .set("replicas=3")
        .build()
        .unwrap();
    let client = Client::builder().storage(Storage::Memory).build().unwrap();
    let mut rec = ExecutionStateRecord::for_chart(Action::Install, &chart, &opts).unwrap();
    let result = client.install(&chart, &opts);
    rec.finish_with_report(&result);
    let digest = rec.values_digest.clone().expect("a digest from the report");
    assert_eq!(digest, client.merge_values(&opts).unwrap().digest);
    store.record(rec).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("hunter2") && text.contains(&format!("\"valuesDigest\":\"{digest}\"")),
        "{text}"
    );
}

#[test]
fn changes_by_another_store_are_read_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut a = StateStore::open(&path, options(100)).unwrap();
    let mut b = StateStore::open(&path, options(100)).unwrap();
    a.record(record("hello", "demo", 1)).unwrap();
    b.record(record("hello", "demo", 2)).unwrap();
    a.record(record("hello", "demo", 3)).unwrap();
    let revisions: Vec<_> = a
        .history("hello", "demo")
        .iter()
        .map(|r| r.helm_revision.unwrap())
        .collect();
    assert_eq!(revisions, [1, 2, 3]);
    b.reload().unwrap();
    assert_eq!(a.state(), b.state());
}

#[test]
fn a_failed_write_changes_neither_the_file_nor_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut store = StateStore::open(&path, options(100)).unwrap();
    store.record(record("hello", "demo", 1)).unwrap();
    let before = fs::read(&path).unwrap();
    // A directory where the temporary file goes makes the write fail even
    // for root, which a read-only directory does not.
    let blocker = dir.path().join("state.json.tmp");
    fs::create_dir(&blocker).unwrap();
    fs::write(blocker.join("x"), "x").unwrap();

    let err = store.record(record("hello", "demo", 2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::State);
    assert!(
        err.to_string()
            .contains("the previous version is unchanged"),
        "{err}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the I/O error is kept"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(store.history("hello", "demo").len(), 1);

    fs::remove_dir_all(&blocker).unwrap();
    store.record(record("hello", "demo", 2)).unwrap();
    assert_eq!(StateStore::load(&path).unwrap().record_count(), 2);
}

#[test]
fn lock_timeout_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut o = options(100);
    o.lock_timeout = Duration::from_millis(200);
    let mut store = StateStore::open(&path, o).unwrap();

    let holder = LockInfo {
        pid: std::process::id(),
        host: "build-7".into(),
        operator: "alice".into(),
        since: Timestamp::from_unix_millis(Timestamp::now().unix_millis() - 42_000),
    };
    let lock_path = dir.path().join("state.json.lock");
    let mut lock = fs::OpenOptions::new().write(true).open(&lock_path).unwrap();
    lock.lock().unwrap();
    writeln!(lock, "{}", serde_json::to_string(&holder).unwrap()).unwrap();

    let started = Instant::now();
    let err = store.record(record("hello", "demo", 1)).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(err.kind(), ErrorKind::State);
    let msg = err.to_string();
    for part in [
        &format!("pid {}", std::process::id()),
        "build-7",
        "alice",
        "held for 42s",
        "retrying shortly should work",
        &path.display().to_string(),
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    assert!(!path.exists());

    lock.unlock().unwrap();
    store.record(record("hello", "demo", 1)).unwrap();
}

#[test]
fn threads_with_their_own_stores_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let path = &path;
            s.spawn(move || {
                let mut store = StateStore::open(path, options(1000)).unwrap();
                for i in 0..25 {
                    store
                        .record(record("shared", "threads", t * 100 + i + 1))
                        .unwrap();
                }
            });
        }
    });
    let state = StateStore::load(&path).unwrap();
    let revisions: HashSet<u32> = state
        .release("shared", "threads")
        .unwrap()
        .history
        .iter()
        .map(|r| r.helm_revision.unwrap())
        .collect();
    assert_eq!(revisions.len(), 100);
}

// ------------------------------------------------ fixtures and the schema

/// What each invalid fixture must produce: a phrase of the loader's
/// message, and whether the schema file alone rejects it (`None`: it is not
/// JSON, so there is nothing to give the schema).
const INVALID: &[(&str, &str, Option<bool>)] = &[
    ("truncated.json", "not valid JSON: EOF while parsing", None),
    ("empty-file.json", "the file is empty", None),
    (
        "wrong-type-revision.json",
        r#"at $.releases["demo/hello"].history[1].helmRevision: "2""#,
        Some(true),
    ),
    (
        "unknown-outcome.json",
        r#"at $.releases["demo/hello"].history[0].outcome: "done""#,
        Some(true),
    ),
    ("releases-not-an-object.json", "at $.releases:", Some(true)),
    (
        "newer-schema-version.json",
        "schemaVersion 5, written by a newer chainctl",
        Some(true),
    ),
    (
        "values-stored.json",
        r#"at $.releases["demo/hello"].history[0]: "#,
        Some(true),
    ),
    (
        "bad-values-digest.json",
        r#"at $.releases["demo/hello"].current.valuesDigest"#,
        Some(true),
    ),
    (
        "bad-timestamp.json",
        r#"at $.releases["staging/api.v2"].history[0].startedAt"#,
        Some(true),
    ),
    ("missing-schema-version.json", "schemaVersion", Some(true)),
    // Only the loader knows that a record must sit under its own key...
    (
        "record-under-wrong-key.json",
        "a record of release demo/hello is filed under prod/hello",
        Some(false),
    ),
    // ...and that a version 1 file holds no field of version 2.
    (
        "manifest-digest-in-version-1.json",
        r#"at $.releases["default/web"].current.manifestDigest: manifestDigest needs schemaVersion 2"#,
        Some(false),
    ),
];

fn fixture_names(kind: &str) -> BTreeSet<String> {
    fs::read_dir(fixtures().join(kind))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn schema_file_validator() -> jsonschema::Validator {
    let text = fs::read_to_string(manifest_dir().join("schemas/state.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[test]
fn fixtures_are_checked_by_the_loader_and_the_schema_file() {
    let validator = schema_file_validator();
    let valid = fixture_names("valid");
    assert!(valid.len() >= 3, "{valid:?}");
    for name in &valid {
        let path = fixtures().join("valid").join(name);
        StateStore::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        if let Err(e) = validator.validate(&value) {
            panic!("{name} fails the schema file at {}: {e}", e.instance_path());
        }
    }

    let listed: BTreeSet<String> = INVALID.iter().map(|(n, _, _)| n.to_string()).collect();
    assert_eq!(
        listed,
        fixture_names("invalid"),
        "every invalid fixture needs an entry in INVALID"
    );
    for (name, says, schema_rejects) in INVALID {
        let path = fixtures().join("invalid").join(name);
        let msg = StateStore::load(&path).unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()), "{name}: {msg}");
        assert!(msg.contains(says), "{name}: {says:?} missing from: {msg}");
        let parsed: Option<serde_json::Value> =
            serde_json::from_slice(&fs::read(&path).unwrap()).ok();
        let rejected = parsed.map(|v| !validator.is_valid(&v));
        assert_eq!(rejected, *schema_rejects, "{name}: schema file verdict");
    }
}

#[test]
fn unusable_files_are_never_overwritten() {
    for (name, says, _) in INVALID {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let corrupt = fs::read(fixtures().join("invalid").join(name)).unwrap();

        // Refused at open...
        fs::write(&path, &corrupt).unwrap();
        let err = StateStore::open(&path, options(100)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::State, "{name}");
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains(says),
            "{name}: {msg}"
        );
        assert!(msg.contains("It was left unchanged"), "{name}: {msg}");
        assert_eq!(err.path(), Some(path.as_path()), "{name}");
        if name.starts_with("newer") {
            assert!(msg.contains("newer chainctl"), "{name}: {msg}");
            assert_eq!(err.state_problem(), Some(&StateProblem::Newer), "{name}");
        } else {
            // The library says what is wrong; `chainctl state validate` is
            // the CLI's advice (tests/cli.rs).
            assert_eq!(err.state_problem(), Some(&StateProblem::Invalid), "{name}");
            assert!(msg.contains("mv "), "{name}: {msg}");
        }

        // ...and when it went bad after a store opened it.
        fs::copy(fixtures().join("valid/full.json"), &path).unwrap();
        let mut store = StateStore::open(&path, options(100)).unwrap();
        fs::write(&path, &corrupt).unwrap();
        let err = store.record(record("hello", "demo", 7)).unwrap_err();
        assert!(err.to_string().contains(says), "{name}: {err}");
        assert_eq!(fs::read(&path).unwrap(), corrupt, "{name}: bytes changed");
        assert!(!store.backup_path().exists(), "{name}: nothing was rotated");
    }
}

#[test]
fn a_version_1_file_is_read_and_rewritten_as_the_current_version_keeping_it_as_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let v1 = fs::read(fixtures().join("valid/full.json")).unwrap();
    fs::write(&path, &v1).unwrap();
    let before = StateStore::load(&path).unwrap();
    assert_eq!(before.schema_version, 1);

    let mut store = StateStore::open(&path, options(100)).unwrap();
    assert_eq!(store.state().schema_version, 1);
    let mut rec = record("hello", "demo", 2);
    rec.manifest_digest = Some(format!("sha256:{}", "c".repeat(64)));
    store.record(rec.clone()).unwrap();

    let after = StateStore::load(&path).unwrap();
    assert_eq!(after.schema_version, SCHEMA_VERSION);
    assert_eq!(store.current("hello", "demo"), Some(&rec));
    assert_eq!(
        after.releases["staging/api.v2"], before.releases["staging/api.v2"],
        "the other releases are kept as they were"
    );
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n  \"schemaVersion\": 4,"), "{text}");
    assert_eq!(
        fs::read(store.backup_path()).unwrap(),
        v1,
        "the .bak is the version 1 file, for an older chainctl"
    );
}

#[test]
fn unusable_file_message_offers_a_valid_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut store = StateStore::open(&path, options(100)).unwrap();
    store.record(record("hello", "demo", 1)).unwrap();
    store.record(record("hello", "demo", 2)).unwrap();
    fs::write(&path, "{\"schemaVersion\": 1, \"rel").unwrap();
    let msg = StateStore::open(&path, options(100))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!(
            "`cp -p {}.bak {}`",
            path.display(),
            path.display()
        )),
        "{msg}"
    );
}

#[test]
fn schema_file_is_current() {
    let path = manifest_dir().join("schemas/state.schema.json");
    let want = state_schema_json();
    if std::env::var_os("CHAINCTL_BLESS").is_some_and(|v| v == "1") {
        fs::write(&path, &want).unwrap();
        return;
    }
    let have = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "schemas/state.schema.json is stale or missing; regenerate it with \
         `CHAINCTL_BLESS=1 cargo test --test state schema_file_is_current` and commit it"
    );
}

// ---------------------------------------------------------------- processes

/// This test binary again, running only `child_process_entry` in `mode`.
fn child(mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(CHILD_ENV, mode)
    .stdin(Stdio::null());
    cmd
}

/// The lines a child printed for the parent (libtest prints its own too).
fn child_lines(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("@@ ").map(String::from))
        .collect()
}

/// The main of child processes; an ordinary (empty) test otherwise.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    let mut out = std::io::stdout().lock();
    match mode.as_str() {
        "resolve" => {
            let loc = StateFileConfig::default().resolve().unwrap();
            writeln!(out, "@@ {loc}").unwrap();
        }
        "writer" => {
            let id: u32 = var("WRITER_ID").parse().unwrap();
            let count: u32 = var("WRITER_COUNT").parse().unwrap();
            let start_at: u64 = var("WRITER_START_AT_MS").parse().unwrap();
            let mut store = StateStore::open(var("STATE_PATH"), options(1000)).unwrap();
            while unix_ms() < start_at {
                std::thread::sleep(Duration::from_millis(1));
            }
            for i in 0..count {
                let mut rec = record("shared", "load", i + 1);
                rec.kube_context = Some(format!("writer-{id}"));
                store.record(rec).unwrap();
                writeln!(out, "@@ ack {id} {}", i + 1).unwrap();
            }
        }
        "crash" => {
            let total: u32 = var("CRASH_TOTAL").parse().unwrap();
            let mut store = StateStore::open(var("STATE_PATH"), options(1000)).unwrap();
            let done = store.history("crash", "test").len() as u32;
            writeln!(out, "@@ ready").unwrap();
            out.flush().unwrap();
            for rev in done + 1..=total {
                store.record(record("crash", "test", rev)).unwrap();
                writeln!(out, "@@ ack {rev}").unwrap();
                out.flush().unwrap();
            }
        }
        other => panic!("unknown child mode {other}"),
    }
    out.flush().unwrap();
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn concurrent_processes_lose_no_record() {
    const WRITERS: u32 = 16;
    const EACH: u32 = 25;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    // Start together, once every process is up.
    let start_at = unix_ms() + 1500;
    let children: Vec<_> = (0..WRITERS)
        .map(|id| {
            child("writer")
                .env("STATE_PATH", &path)
                .env("WRITER_ID", id.to_string())
                .env("WRITER_COUNT", EACH.to_string())
                .env("WRITER_START_AT_MS", start_at.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut acked = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        acked += child_lines(&out.stdout).len();
    }
    assert_eq!(acked, (WRITERS * EACH) as usize);

    let state = StateStore::load(&path).unwrap();
    let release = state.release("shared", "load").unwrap();
    let seen: HashSet<(String, u32)> = release
        .history
        .iter()
        .map(|r| (r.kube_context.clone().unwrap(), r.helm_revision.unwrap()))
        .collect();
    assert_eq!(release.history.len(), (WRITERS * EACH) as usize);
    assert_eq!(
        seen.len(),
        (WRITERS * EACH) as usize,
        "a record is missing or doubled"
    );
    assert_eq!(release.current.as_ref(), release.history.last());
}

/// A tiny xorshift: enough randomness to vary kill times, reproducible
/// from the seed the test prints.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigkill_at_random_moments_never_corrupts_or_loses_acknowledged_records() {
    const TOTAL: u32 = 200;
    let seed = std::env::var("CHAINCTL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("seed {seed} (set CHAINCTL_TEST_SEED to repeat)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut acked: BTreeSet<u32> = BTreeSet::new();
    let (mut rounds, mut killed_mid_run, mut written_by_killed) = (0, 0, 0);

    loop {
        rounds += 1;
        let mut c = child("crash")
            .env("STATE_PATH", &path)
            .env("CRASH_TOTAL", TOTAL.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(c.stdout.take().unwrap());
        // Kill until every record is written; should kills keep landing
        // before the child gets anything done, let it finish.
        let kill = rounds <= 1000;
        // Time the kill from when the child starts writing, not from its
        // start-up, which takes longer than a few writes.
        let mut lines = Vec::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            let ready = line.trim_end() == "@@ ready";
            lines.push(std::mem::take(&mut line));
            if ready {
                break;
            }
        }
        if kill {
            std::thread::sleep(Duration::from_micros(rng.below(30_000)));
            if c.try_wait().unwrap().is_none() {
                killed_mid_run += 1;
            }
            let _ = c.kill(); // SIGKILL
        }
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        lines.push(rest);
        let status = c.wait().unwrap();
        if !kill {
            assert!(status.success(), "the last child failed");
        }
        for line in child_lines(lines.concat().as_bytes()) {
            if let Some(rev) = line.strip_prefix("ack ") {
                acked.insert(rev.parse().unwrap());
            }
        }

        if path.exists() {
            let state = StateStore::load(&path).unwrap_or_else(|e| panic!("round {rounds}: {e}"));
            let history = &state.release("crash", "test").unwrap().history;
            let present: Vec<u32> = history.iter().map(|r| r.helm_revision.unwrap()).collect();
            let expected: Vec<u32> = (1..=present.len() as u32).collect();
            assert_eq!(
                present, expected,
                "round {rounds}: records out of order or doubled"
            );
            let missing: Vec<_> = acked
                .iter()
                .filter(|r| **r > present.len() as u32)
                .collect();
            assert!(
                missing.is_empty(),
                "round {rounds}: acknowledged but lost: {missing:?}"
            );
            if kill {
                written_by_killed = present.len();
            }
            if present.len() as u32 == TOTAL {
                break;
            }
        } else {
            assert!(acked.is_empty());
        }
        if let Ok(bak) = fs::read(path.with_file_name("state.json.bak")) {
            assert!(
                serde_json::from_slice::<StateFile>(&bak).is_ok(),
                "round {rounds}: the backup is corrupt"
            );
        }
    }
    eprintln!(
        "{rounds} rounds, {killed_mid_run} killed while running, {written_by_killed} records \
         written by children that were killed, {} acknowledged",
        acked.len()
    );
    assert!(
        killed_mid_run >= 20,
        "too few kills landed: {killed_mid_run}"
    );
    assert!(
        written_by_killed >= 100,
        "kills landed too early: {written_by_killed}"
    );
}

// ------------------------------------------------------- reading ahead

/// A state file read ahead (`LazyStateStore::prefetch`) and changed before
/// the record is written: the record goes to the file as it is then, as if
/// it had not been read ahead. Nothing another writer added is lost, and a
/// file made unusable meanwhile stops the record and stays as it is.
#[test]
fn a_file_read_ahead_and_changed_before_the_record_loses_nothing() {
    use chainctl_core::LazyStateStore;
    use chainctl_core::deployer::StateBackend;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut first = StateStore::open(&path, options(10)).unwrap();
    first.record(record("a", "ns", 1)).unwrap();

    let mut ahead = LazyStateStore::at(&path);
    ahead.prefetch();
    // Another writer, after the read ahead (given time to be done first;
    // the other order must give the same file too).
    std::thread::sleep(Duration::from_millis(100));
    first.record(record("b", "ns", 1)).unwrap();
    ahead.open().unwrap();
    ahead.record(record("c", "ns", 1)).unwrap();
    let on_disk = StateStore::load(&path).unwrap();
    let keys: Vec<&str> = on_disk.releases.keys().map(String::as_str).collect();
    assert_eq!(keys, ["ns/a", "ns/b", "ns/c"]);

    // Read ahead, then made unusable: the record is refused, the file kept.
    let mut ahead = LazyStateStore::at(&path);
    ahead.prefetch();
    ahead.open().unwrap();
    fs::write(&path, "{ not json").unwrap();
    let err = ahead.record(record("d", "ns", 1)).unwrap_err();
    assert_eq!(err.state_problem(), Some(&StateProblem::Invalid), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "{ not json");

    // Read ahead from a file that is unusable already: the open says so.
    let mut ahead = LazyStateStore::at(&path);
    ahead.prefetch();
    let err = ahead.open().unwrap_err();
    assert_eq!(err.state_problem(), Some(&StateProblem::Invalid), "{err}");

    // A FIFO is not read ahead (the read would wait for a writer): the
    // open refuses it, as without a read ahead.
    let fifo = dir.path().join("fifo.json");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let mut ahead = LazyStateStore::at(&fifo);
    ahead.prefetch();
    let err = ahead.open().unwrap_err();
    assert_eq!(err.state_problem(), Some(&StateProblem::NotAFile), "{err}");
}
