//! Every structured error the crate reports, produced for real: Helm's
//! memory driver, a real state file and lock, the test registries (a
//! missing chart or version, refused credentials) and the test API server
//! (RBAC refusal, refused credentials, a release left pending). Each test
//! checks the variant's fields and its predicates, never the message text.

mod support;
use support::chainctl::{Sandbox, chainctl};
use support::{
    client_for as cluster_client, kill_while_pending, namespace, testenv, waiting_install,
};

use std::error::Error as _;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chainctl_core::state::{
    Action, ExecutionStateRecord, LockInfo, StateStore, StateStoreOptions, Timestamp,
};
use chainctl_core::{
    CancelToken, ChartCache, ChartSource, Client, Denied, Error, ErrorKind, Input, ListOptions,
    Missing, RegistryFailure, RegistryOptions, ReleaseOptions, ReleaseRef, Storage,
};
use testenv::{Cluster, Registries};

fn hello() -> ChartSource {
    ChartSource::bundle(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/charts/hello"))
        .unwrap()
}

fn no_workloads() -> ChartSource {
    ChartSource::bundle(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts/no-workloads"),
    )
    .unwrap()
}

fn memory() -> Client {
    Client::builder().storage(Storage::Memory).build().unwrap()
}

fn release(name: &str, namespace: &str) -> ReleaseRef {
    ReleaseRef::new(name, namespace).unwrap()
}

type Predicate = fn(&Error) -> bool;

/// Which of the predicates hold, by name: each test says exactly which.
fn predicates(err: &Error) -> Vec<&'static str> {
    let all: [(&str, Predicate); 12] = [
        ("not_found", Error::is_not_found),
        ("release_not_found", Error::is_release_not_found),
        ("revision_not_found", Error::is_revision_not_found),
        ("chart_not_found", Error::is_chart_not_found),
        ("no_state_file", Error::is_no_state_file),
        ("pending", Error::is_pending),
        ("locked", Error::is_locked),
        ("auth", Error::is_auth),
        ("forbidden", Error::is_forbidden),
        ("registry_auth", Error::is_registry_auth),
        ("timeout", Error::is_timeout),
        ("cancelled", Error::is_cancelled),
    ];
    all.iter()
        .filter(|(_, p)| p(err))
        .map(|(n, _)| *n)
        .collect()
}

// ---------------------------------------------------------------- releases

#[test]
fn a_release_that_does_not_exist_is_release_not_found() {
    let err = memory().status(&release("ghost", "demo")).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { missing: Missing::Release { release, namespace }, .. }
            if release == "ghost" && namespace == "demo"),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["not_found", "release_not_found"]);
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn a_revision_that_does_not_exist_is_revision_not_found() {
    let client = memory();
    client
        .install(
            &hello(),
            &ReleaseOptions::builder("web", "demo").build().unwrap(),
        )
        .unwrap();
    let err = client.revision(&release("web", "demo"), 9).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { missing: Missing::Revision { release, namespace, revision: 9 }, .. }
            if release == "web" && namespace == "demo"),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["not_found", "revision_not_found"]);
    // A revision of a release that does not exist: the release is missing.
    let err = client.revision(&release("ghost", "demo"), 1).unwrap_err();
    assert_eq!(predicates(&err), ["not_found", "release_not_found"]);
}

#[test]
fn an_upgrade_of_a_release_never_installed_misses_its_deployed_revision() {
    let err = memory()
        .upgrade(
            &hello(),
            &ReleaseOptions::builder("new", "demo").build().unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { missing: Missing::DeployedRevision { release, namespace }, .. }
            if release == "new" && namespace == "demo"),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["not_found"]);
}

#[test]
fn a_cancelled_token_cancels_and_a_deadline_times_out() {
    let token = CancelToken::new();
    token.cancel();
    let client = Client::builder()
        .storage(Storage::Memory)
        .cancel_token(token)
        .build()
        .unwrap();
    let err = client.status(&release("web", "demo")).unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_eq!(predicates(&err), ["cancelled"]);

    let err = chainctl_core::diagnostic_call(
        "debug.sleep",
        r#"{"millis":10000}"#,
        Some(Duration::from_millis(50)),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(predicates(&err), ["timeout"]);
}

// ---------------------------------------------------------------- state

fn record(name: &str) -> ExecutionStateRecord {
    let mut rec = ExecutionStateRecord::new(Action::Install, name, "demo");
    rec.helm_revision = Some(1);
    rec.finish_ok();
    rec
}

#[test]
fn a_missing_state_file_is_no_state_file_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let err = StateStore::load(&path).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { missing: Missing::StateFile { path: p }, .. } if *p == path),
        "{err:?}"
    );
    assert_eq!(err.path(), Some(path.as_path()));
    assert_eq!(predicates(&err), ["not_found", "no_state_file"]);
}

#[test]
fn a_state_file_that_cannot_be_read_keeps_its_path_and_io_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: reading it fails with EISDIR.
    let path = dir.path().join("state.json");
    fs::create_dir(&path).unwrap();
    let err = StateStore::load(&path).unwrap_err();
    assert!(matches!(err, Error::State { .. }), "{err:?}");
    assert_eq!(err.path(), Some(path.as_path()));
    let io = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::IsADirectory, "{io}");
    assert!(predicates(&err).is_empty(), "{:?}", predicates(&err));
}

#[test]
fn a_state_file_locked_by_another_holder_is_locked_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut options = StateStoreOptions::default();
    options.lock_timeout = Duration::from_millis(100);
    let mut store = StateStore::open(&path, options).unwrap();

    // Another holder: the lock file locked through another open file
    // description, with its details written as chainctl writes them.
    let holder = LockInfo {
        pid: std::process::id(),
        host: "build-7".into(),
        operator: "alice".into(),
        since: Timestamp::now(),
    };
    let lock_path = dir.path().join("state.json.lock");
    let mut lock = fs::OpenOptions::new().write(true).open(&lock_path).unwrap();
    lock.lock().unwrap();
    writeln!(lock, "{}", serde_json::to_string(&holder).unwrap()).unwrap();

    let err = store.record(record("web")).unwrap_err();
    let locked = err.locked().expect("the error says the file is locked");
    assert_eq!(locked.lock_file, lock_path);
    assert_eq!(locked.holder.as_ref(), Some(&holder));
    assert_eq!(err.path(), Some(path.as_path()));
    assert_eq!(predicates(&err), ["locked"]);
    assert_eq!(err.kind(), ErrorKind::State);

    lock.unlock().unwrap();
    store.record(record("web")).unwrap();
}

// ---------------------------------------------------------------- registries

fn registry_client(options: RegistryOptions, cache: &tempfile::TempDir, offline: bool) -> Client {
    Client::builder()
        .storage(Storage::Memory)
        .registry(RegistryOptions {
            config_file: Some(cache.path().join("registry.json")),
            ..options
        })
        .chart_cache(ChartCache::open(cache.path().join("cache")).unwrap())
        .offline(offline)
        .build()
        .unwrap()
}

#[test]
fn a_missing_chart_or_version_is_chart_not_found() {
    let reg = Registries::shared();
    reg.push_chart(
        false,
        "errors",
        "hello",
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/charts/hello"),
        &["0.1.0"],
    );
    let dir = tempfile::tempdir().unwrap();
    let plain = RegistryOptions {
        plain_http: true,
        ..Default::default()
    };
    let client = registry_client(plain.clone(), &dir, false);

    let tag = format!("oci://{}/errors/hello:9.9.9", reg.plain);
    let err = client
        .pull(&ChartSource::oci(&tag, None).unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { missing: Missing::Chart { reference }, .. }
            if reference.ends_with("errors/hello:9.9.9")),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["not_found", "chart_not_found"]);

    let repo = format!("oci://{}/errors/hello", reg.plain);
    let err = client
        .pull(&ChartSource::oci(&repo, Some("^2.0.0")).unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { missing: Missing::Version { reference, version }, .. }
            if reference.ends_with("errors/hello") && version == "^2.0.0"),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["not_found", "chart_not_found"]);

    // Offline, a chart the cache never saw.
    let empty = tempfile::tempdir().unwrap();
    let err = registry_client(plain, &empty, true)
        .pull(&ChartSource::oci(&format!("{repo}:0.1.0"), None).unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { missing: Missing::Cached { reference }, .. }
            if reference.contains("errors/hello")),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["not_found", "chart_not_found"]);
}

#[test]
fn refused_registry_credentials_are_registry_auth_naming_the_host() {
    let reg = Registries::shared();
    let dir = tempfile::tempdir().unwrap();
    let client = registry_client(
        RegistryOptions {
            ca_file: Some(reg.ca_file.clone()),
            username: Some(reg.username.clone()),
            password: Some("not-the-password".into()),
            ..Default::default()
        },
        &dir,
        false,
    );
    let source = ChartSource::oci(&format!("oci://{}/errors/hello:0.1.0", reg.tls), None).unwrap();
    let err = client.pull(&source).unwrap_err();
    assert!(
        matches!(&err, Error::Auth { denied: Denied::Registry { host }, .. } if *host == reg.tls),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["auth", "registry_auth"]);
    assert!(!format!("{err:?}").contains("not-the-password"));
}

#[test]
fn registry_failures_say_why() {
    let reg = Registries::shared();
    reg.push_chart(
        false,
        "errors-why",
        "hello",
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/charts/hello"),
        &["0.1.0"],
    );
    let source =
        ChartSource::oci(&format!("oci://{}/errors-why/hello:0.1.0", reg.plain), None).unwrap();

    // HTTPS to a registry that speaks plain HTTP.
    let dir = tempfile::tempdir().unwrap();
    let err = registry_client(RegistryOptions::default(), &dir, false)
        .pull(&source)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Registry { failure: RegistryFailure::PlainHttp, host: Some(h), .. } if *h == reg.plain),
        "{err:?}"
    );
    assert!(predicates(&err).is_empty(), "{:?}", predicates(&err));

    // A chart over the client's ceiling.
    let dir = tempfile::tempdir().unwrap();
    let small = Client::builder()
        .storage(Storage::Memory)
        .registry(RegistryOptions {
            plain_http: true,
            config_file: Some(dir.path().join("registry.json")),
            ..Default::default()
        })
        .chart_cache(ChartCache::open(dir.path().join("cache")).unwrap())
        .max_chart_size(16)
        .build()
        .unwrap();
    let err = small.pull(&source).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Registry {
                failure: RegistryFailure::ChartTooLarge { limit: 16 },
                ..
            }
        ),
        "{err:?}"
    );

    // TLS without the CA that signed the registry's certificate.
    let dir = tempfile::tempdir().unwrap();
    let tls = ChartSource::oci(&format!("oci://{}/errors-why/hello:0.1.0", reg.tls), None).unwrap();
    let err = registry_client(RegistryOptions::default(), &dir, false)
        .pull(&tls)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Registry {
                failure: RegistryFailure::TlsVerify { ca_file: None },
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- the cluster

#[test]
fn rbac_refusal_is_forbidden_with_verb_resource_and_namespace() {
    let cluster = Cluster::shared();
    let ns = namespace("err-forbidden");
    cluster_client(cluster, cluster.context.as_deref())
        .install(
            &no_workloads(),
            &ReleaseOptions::builder("mine", &ns)
                .create_namespace(true)
                .build()
                .unwrap(),
        )
        .unwrap();
    let nobody = cluster_client(cluster, Some(cluster.nobody()));
    let err = nobody.status(&release("mine", &ns)).unwrap_err();
    assert!(
        matches!(&err, Error::Auth { denied: Denied::Forbidden { verb, resource, namespace }, .. }
            if verb == "list" && resource == "secrets" && *namespace == ns),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["auth", "forbidden"]);
}

#[test]
fn refused_cluster_credentials_are_unauthorized() {
    let cluster = Cluster::shared();
    let mut b = Client::builder()
        .storage(Storage::Secret)
        .kubeconfig(&cluster.kubeconfig)
        .kube_token("not-a-token-the-api-server-knows");
    if let Some(context) = cluster.context.as_deref() {
        b = b.kube_context(context);
    }
    let err = b
        .build()
        .unwrap()
        .status(&release("any", "default"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth {
                denied: Denied::Unauthorized,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(predicates(&err), ["auth"]);
}

#[test]
fn an_action_on_a_release_left_pending_is_pending_with_its_revision() {
    let cluster = Cluster::shared();
    let ns = namespace("err-pending");
    let c = cluster_client(cluster, cluster.context.as_deref());
    let sandbox = Sandbox::new();
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/charts/hello");

    // An install killed while it waits (nothing ever becomes ready on this
    // cluster) stays pending-install.
    let mut cmd = sandbox.command(&waiting_install(chart.to_str().unwrap(), &ns));
    cmd.arg("--kubeconfig").arg(&cluster.kubeconfig);
    if let Some(context) = &cluster.context {
        cmd.args(["--kube-context", context]);
    }
    kill_while_pending(cmd, &c, &release("cut", &ns));

    let err = c
        .upgrade(
            &hello(),
            &ReleaseOptions::builder("cut", &ns).build().unwrap(),
        )
        .unwrap_err();
    let pending = err
        .pending()
        .expect("the error carries the pending revision");
    assert_eq!((pending.revision, pending.rollback_to), (1, None));
    assert!(matches!(err, Error::Kube { .. }), "{err:?}");
    assert_eq!(predicates(&err), ["pending"]);
}

// ---------------------------------------------------------------- invalid input

/// An invalid input names which of the library's inputs was wrong: the
/// library checks some (a bundle, a kubeconfig, reuse with reset), the shim
/// others (a list filter Go's regexp refuses), and both say it as data.
#[test]
fn invalid_input_names_the_input_from_the_library_and_from_the_shim() {
    let dir = tempfile::tempdir().unwrap();
    let err = ChartSource::bundle(dir.path().join("nope.tgz")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.invalid_input(), Some(Input::Bundle));
    assert!(predicates(&err).is_empty(), "{:?}", predicates(&err));

    let err = Client::builder()
        .kubeconfig(dir.path().join("no-kubeconfig"))
        .build()
        .unwrap_err();
    assert_eq!(err.invalid_input(), Some(Input::Kubeconfig));

    let err = ReleaseOptions::builder("web", "demo")
        .reuse_values(true)
        .reset_values(true)
        .build()
        .unwrap_err();
    assert_eq!(err.invalid_input(), Some(Input::ReuseValues));

    // Checked by the shim (Helm compiles the filter): the reply's code and
    // details carry the input across.
    let opts = ListOptions {
        filter: "web(".into(),
        ..Default::default()
    };
    let err = memory().list(&opts).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidInput {
                input: Some(Input::ListFilter),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.invalid_input(), Some(Input::ListFilter));

    // Another kind has no input, and an invalid input the crate cannot
    // attribute has none either.
    assert_eq!(
        memory()
            .status(&release("ghost", "demo"))
            .unwrap_err()
            .invalid_input(),
        None
    );
    let err = ReleaseOptions::builder("Bad_Name", "demo")
        .build()
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.invalid_input()),
        (ErrorKind::InvalidInput, None)
    );
}

// ---------------------------------------------------------------- the CLI's advice

/// The library reports facts; chainctl adds the advice that names its own
/// flags and commands.
#[test]
fn the_cli_adds_the_advice_that_names_its_flags() {
    let reg = Registries::shared();
    let sandbox = Sandbox::new();
    let pull = |args: &[&str], stdin: &str| {
        let mut cmd = chainctl();
        cmd.args(["chart", "pull"])
            .args(args)
            .env("XDG_CACHE_HOME", sandbox.dir.path().join("cache"));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let registry_config = sandbox.dir.path().join("registry.json");
    let registry_config = registry_config.to_str().unwrap();

    let tls = format!("oci://{}/errors/hello:0.1.0", reg.tls);
    let ca = reg.ca_file.to_str().unwrap();
    let (code, stderr) = pull(
        &[
            &tls,
            "--ca-file",
            ca,
            "--username",
            &reg.username,
            "--password-stdin",
            "--registry-config",
            registry_config,
        ],
        "not-the-password\n",
    );
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("chainctl registry login {}", reg.tls)),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    // HTTPS to the plain-HTTP registry, and the TLS one without its CA.
    let (code, stderr) = pull(
        &[
            &format!("oci://{}/errors/hello:0.1.0", reg.plain),
            "--registry-config",
            registry_config,
        ],
        "",
    );
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("; pass --plain-http"), "{stderr}");
    let (code, stderr) = pull(&[&tls, "--registry-config", registry_config], "");
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("; pass --ca-file with the CA that signed its certificate"),
        "{stderr}"
    );

    // registry login without credentials: the flags that give them.
    let out = chainctl()
        .args(["registry", "login", &reg.plain, "--plain-http"])
        .args(["--registry-config", registry_config])
        .env_remove("CHAINCTL_REGISTRY_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs a username and a password (--username, and --password-stdin or CHAINCTL_REGISTRY_PASSWORD)"),
        "{stderr}"
    );

    let plain = format!("oci://{}/errors/never-pulled:0.1.0", reg.plain);
    let (code, stderr) = pull(
        &[
            &plain,
            "--plain-http",
            "--offline",
            "--registry-config",
            registry_config,
        ],
        "",
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("--offline forbids the network: pull it once online (chainctl chart pull)"),
        "{stderr}"
    );
}
