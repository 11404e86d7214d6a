//! OCI charts against real distribution registries on loopback (started by
//! tests/support/testenv.rs): pull by tag, digest and constraint, TLS and
//! auth, and a cache that avoids every redundant download.

mod support;
use support::{hello_dir, testenv};

use std::path::{Path, PathBuf};

use chainctl_core::state::{Action, ExecutionStateRecord, RecordSource};
use chainctl_core::{
    ChartCache, ChartSource, Client, ErrorKind, RegistryOptions, ReleaseOptions, Storage,
};
use serde_json::json;
use testenv::{Registries, Request};

/// Packages examples/charts/hello at each version and pushes it to
/// `host/<repo>` (plain HTTP or TLS with the test credentials).
fn push_hello(reg: &Registries, host: &str, repo: &str, versions: &[&str], tls: bool) {
    push_chart(reg, host, repo, &hello_dir(), versions, tls);
}

/// Packages the chart in `dir` at each version and pushes it as `hello`.
fn push_chart(reg: &Registries, host: &str, repo: &str, dir: &Path, versions: &[&str], tls: bool) {
    assert_eq!(host, if tls { &reg.tls } else { &reg.plain });
    reg.push_chart(tls, repo, "hello", dir, versions);
}

struct Fixture {
    cache_dir: tempfile::TempDir,
    config_dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            cache_dir: tempfile::tempdir().unwrap(),
            config_dir: tempfile::tempdir().unwrap(),
        }
    }
    fn config_file(&self) -> PathBuf {
        self.config_dir.path().join("config.json")
    }
    fn client(&self, registry: RegistryOptions) -> Client {
        let registry = RegistryOptions {
            config_file: Some(self.config_file()),
            ..registry
        };
        Client::builder()
            .storage(Storage::Memory)
            .registry(registry)
            .chart_cache(ChartCache::open(self.cache_dir.path()).unwrap())
            .build()
            .unwrap()
    }
    fn plain(&self) -> Client {
        self.client(RegistryOptions {
            plain_http: true,
            ..Default::default()
        })
    }
}

fn requests_for(reg: &Registries, repo: &str) -> Vec<Request> {
    let prefix = format!("/v2/{repo}/");
    reg.requests()
        .into_iter()
        .filter(|r| r.path.starts_with(&prefix))
        .collect()
}

fn blob_gets(requests: &[Request]) -> usize {
    requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
        .count()
}

fn oci(host: &str, repo: &str, suffix: &str) -> String {
    format!("oci://{host}/{repo}/hello{suffix}")
}

#[test]
fn pull_by_tag_then_warm_pulls_by_tag_and_digest() {
    let reg = Registries::shared();
    let repo = "warm";
    push_hello(reg, &reg.plain, repo, &["0.1.0", "0.2.0"], false);
    let fx = Fixture::new();
    let client = fx.plain();

    let source = ChartSource::oci(&oci(&reg.plain, repo, ":0.2.0"), None).unwrap();
    let cold = client.pull(&source).unwrap();
    assert!(!cold.cached);
    assert_eq!(cold.version, "0.2.0");
    assert_eq!(cold.chart.name, "hello");
    assert!(
        cold.manifest_digest.starts_with("sha256:") && cold.chart_digest.starts_with("sha256:")
    );
    assert!(cold.path.starts_with(fx.cache_dir.path()));
    assert!(
        cold.reference
            .ends_with(&format!(":0.2.0@{}", cold.manifest_digest)),
        "{}",
        cold.reference
    );

    let before = requests_for(reg, repo).len();
    let warm = client.pull(&source).unwrap();
    assert!(warm.cached);
    assert_eq!(warm.chart_digest, cold.chart_digest);
    let by_tag: Vec<_> = requests_for(reg, repo).split_off(before);
    assert_eq!(
        blob_gets(&by_tag),
        0,
        "a warm pull by tag downloaded blobs: {by_tag:?}"
    );
    assert_eq!(
        by_tag.len(),
        1,
        "a warm pull by tag makes exactly one manifest request: {by_tag:?}"
    );
    assert!(by_tag[0].path.contains("/manifests/0.2.0"), "{by_tag:?}");

    let pinned = ChartSource::oci(
        &oci(&reg.plain, repo, &format!("@{}", cold.manifest_digest)),
        None,
    )
    .unwrap();
    let before = requests_for(reg, repo).len();
    let by_digest = client.pull(&pinned).unwrap();
    assert!(by_digest.cached);
    assert_eq!(
        requests_for(reg, repo).len(),
        before,
        "a warm digest-pinned pull made requests"
    );
}

#[test]
fn versions_and_constraints_follow_helm() {
    let reg = Registries::shared();
    let repo = "constraints";
    push_hello(
        reg,
        &reg.plain,
        repo,
        &["0.1.0", "0.2.0", "1.0.0+build.7"],
        false,
    );
    let fx = Fixture::new();
    let client = fx.plain();
    let reference = oci(&reg.plain, repo, "").parse().unwrap();
    assert_eq!(
        client.versions(&reference).unwrap(),
        ["1.0.0+build.7", "0.2.0", "0.1.0"]
    );

    let pull = |version: &str| {
        client.pull(&ChartSource::oci(&oci(&reg.plain, repo, ""), Some(version)).unwrap())
    };
    assert_eq!(pull("^0.1").unwrap().version, "0.1.0");
    assert_eq!(pull("<1.0.0").unwrap().version, "0.2.0");
    let build = pull("1.0.0+build.7").unwrap();
    assert_eq!(build.version, "1.0.0+build.7");
    assert!(
        build.reference.contains(":1.0.0_build.7@"),
        "+ maps to _ in tags: {}",
        build.reference
    );
    let err = pull(">=3.0.0").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.message().contains("1.0.0+build.7"),
        "nearest versions listed: {err}"
    );
}

#[test]
fn a_corrupt_cache_entry_is_pulled_again() {
    let reg = Registries::shared();
    let repo = "corrupt";
    push_hello(reg, &reg.plain, repo, &["0.1.0"], false);
    let fx = Fixture::new();
    let source = ChartSource::oci(&oci(&reg.plain, repo, ":0.1.0"), None).unwrap();
    let first = fx.plain().pull(&source).unwrap();
    std::fs::write(&first.path, b"bit rot").unwrap();
    let again = fx.plain().pull(&source).unwrap();
    assert!(!again.cached, "the corrupt entry was used");
    assert_ne!(std::fs::read(&again.path).unwrap(), b"bit rot");
    assert_eq!(again.chart_digest, first.chart_digest);
}

#[test]
fn tls_and_auth_errors_say_what_to_do() {
    let reg = Registries::shared();
    let repo = "secure";
    push_hello(reg, &reg.tls, repo, &["0.1.0"], true);
    let fx = Fixture::new();
    let source = ChartSource::oci(&oci(&reg.tls, repo, ":0.1.0"), None).unwrap();
    let creds = |ca: Option<&Path>, insecure: bool, password: &str| RegistryOptions {
        ca_file: ca.map(Path::to_path_buf),
        insecure_skip_tls_verify: insecure,
        username: Some(reg.username.clone()),
        password: Some(password.to_string()),
        ..Default::default()
    };

    let ok = fx
        .client(creds(Some(&reg.ca_file), false, &reg.password))
        .pull(&source)
        .unwrap();
    assert_eq!(ok.version, "0.1.0");

    let fresh = Fixture::new();
    let err = fresh
        .client(creds(None, false, &reg.password))
        .pull(&source)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Registry, "{err}");
    // The library says verification failed with no CA file given; naming
    // --ca-file is the CLI's advice.
    assert!(
        matches!(
            &err,
            chainctl_core::Error::Registry {
                failure: chainctl_core::RegistryFailure::TlsVerify { ca_file: None },
                ..
            }
        ),
        "{err:?}"
    );

    let insecure = Fixture::new();
    assert!(
        insecure
            .client(creds(None, true, &reg.password))
            .pull(&source)
            .is_ok()
    );

    let wrong = Fixture::new();
    let err = wrong
        .client(creds(Some(&reg.ca_file), false, "not-the-password"))
        .pull(&source)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(
        !err.to_string().contains("not-the-password"),
        "the password leaked: {err}"
    );

    let anonymous = Fixture::new();
    let err = anonymous
        .client(RegistryOptions {
            ca_file: Some(reg.ca_file.clone()),
            ..Default::default()
        })
        .pull(&source)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    // The library names the host that refused (the CLI adds its advice:
    // `chainctl registry login HOST`).
    assert!(
        matches!(&err, chainctl_core::Error::Auth { denied: chainctl_core::Denied::Registry { host }, .. } if *host == reg.tls),
        "{err:?}"
    );
}

#[test]
fn install_from_oci_records_the_digests() {
    let reg = Registries::shared();
    let repo = "install";
    push_hello(reg, &reg.plain, repo, &["0.3.0"], false);
    let fx = Fixture::new();
    let source = ChartSource::oci(&oci(&reg.plain, repo, ""), Some("0.3.0")).unwrap();
    let opts = ReleaseOptions::builder("hello", "demo").build().unwrap();
    let mut record = ExecutionStateRecord::for_chart(Action::Install, &source, &opts).unwrap();
    let result = fx.plain().install(&source, &opts);
    record.finish_with_report(&result);
    let report = result.unwrap();
    assert_eq!(report.release.chart.version, "0.3.0");
    let pulled = report.pulled.expect("an OCI install reports its pull");
    let Some(RecordSource::Oci(recorded)) = &record.source else {
        panic!("{:?}", record.source)
    };
    assert_eq!(recorded.requested_version.as_deref(), Some("0.3.0"));
    assert_eq!(recorded.resolved_version.as_deref(), Some("0.3.0"));
    assert_eq!(
        recorded.manifest_digest.as_deref(),
        Some(pulled.manifest_digest.as_str())
    );
    assert_eq!(
        recorded.chart_digest.as_deref(),
        Some(pulled.chart_digest.as_str())
    );
}

// ---- the same through chainctl ----

/// chainctl with its cache and registry config in `fx`'s directories.
fn chainctl_in(fx: &Fixture) -> std::process::Command {
    let mut cmd = support::chainctl::chainctl();
    cmd.env("XDG_CACHE_HOME", fx.cache_dir.path())
        .env_remove("CHAINCTL_REGISTRY_PASSWORD");
    cmd
}

fn json_out(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn cli_pull_versions_and_install_from_oci() {
    let reg = Registries::shared();
    let repo = "cli";
    push_hello(reg, &reg.plain, repo, &["0.1.0", "0.4.0"], false);
    let fx = Fixture::new();
    let config = fx.config_file();
    let reference = oci(&reg.plain, repo, "");

    let out = chainctl_in(&fx)
        .args([
            "chart",
            "versions",
            &reference,
            "--plain-http",
            "-o",
            "json",
            "--registry-config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(json_out(&out)["versions"], json!(["0.4.0", "0.1.0"]));

    let pull = |fx: &Fixture| {
        chainctl_in(fx)
            .args([
                "chart",
                "pull",
                &reference,
                "--version",
                "^0.4",
                "--plain-http",
                "-o",
                "json",
                "--registry-config",
            ])
            .arg(&config)
            .output()
            .unwrap()
    };
    let first = json_out(&pull(&fx));
    assert_eq!(first["version"], "0.4.0");
    assert_eq!(first["cached"], false);
    assert!(
        first["manifestDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(json_out(&pull(&fx))["cached"], true);

    // A corrupt cache entry is dropped with a warning and pulled again.
    std::fs::write(first["path"].as_str().unwrap(), b"bit rot").unwrap();
    let out = pull(&fx);
    assert_eq!(json_out(&out)["cached"], false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("corrupt"),
        "{stderr}"
    );

    let state = fx.config_dir.path().join("state.json");
    let out = chainctl_in(&fx)
        .args([
            "app",
            "install",
            "--chart",
            &reference,
            "--version",
            "0.4.0",
            "--plain-http",
            "--release",
            "web",
        ])
        .args([
            "-n",
            "demo",
            "--driver",
            "memory",
            "--confirm",
            "-o",
            "json",
            "--registry-config",
        ])
        .arg(&config)
        .arg("--state-path")
        .arg(&state)
        .output()
        .unwrap();
    let body = json_out(&out);
    let source = &body["record"]["source"];
    assert_eq!(source["type"], "oci");
    assert_eq!(source["requestedVersion"], "0.4.0");
    assert_eq!(source["resolvedVersion"], "0.4.0");
    assert_eq!(source["manifestDigest"], first["manifestDigest"]);
    assert_eq!(source["chartDigest"], first["chartDigest"]);
}

#[test]
fn cli_login_then_pull_with_no_credential_flags() {
    use std::io::Write;
    let reg = Registries::shared();
    let repo = "login";
    push_hello(reg, &reg.tls, repo, &["0.1.0"], true);
    let fx = Fixture::new();
    let config = fx.config_file();
    let ca = reg.ca_file.to_str().unwrap();

    let login = |password: &str| {
        let mut child = chainctl_in(&fx)
            .args([
                "registry",
                "login",
                &reg.tls,
                "--username",
                &reg.username,
                "--password-stdin",
                "--ca-file",
                ca,
            ])
            .arg("--registry-config")
            .arg(&config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let wrong = login("wrong-password-123");
    assert_eq!(
        wrong.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    assert!(!String::from_utf8_lossy(&wrong.stderr).contains("wrong-password-123"));
    assert!(login(&reg.password).status.success());
    let stored = std::fs::read_to_string(&config).unwrap();
    assert!(
        stored.contains(&reg.tls),
        "helm's config file names the registry: {stored}"
    );

    let out = chainctl_in(&fx)
        .args([
            "chart",
            "pull",
            &oci(&reg.tls, repo, ":0.1.0"),
            "--ca-file",
            ca,
            "-o",
            "json",
            "--registry-config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(json_out(&out)["version"], "0.1.0");

    let out = chainctl_in(&fx)
        .args(["registry", "logout", &reg.tls, "--registry-config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let empty_cache = tempfile::tempdir().unwrap();
    let out = chainctl_in(&fx)
        .args([
            "chart",
            "pull",
            &oci(&reg.tls, repo, ":0.1.0"),
            "--ca-file",
            ca,
            "--registry-config",
        ])
        .arg(&config)
        .env("XDG_CACHE_HOME", empty_cache.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "after logout: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn offline_uses_only_the_cache_and_names_what_is_missing() {
    let reg = Registries::shared();
    let repo = "offline";
    push_hello(reg, &reg.plain, repo, &["0.1.0"], false);
    let fx = Fixture::new();
    let offline = Client::builder()
        .registry(RegistryOptions {
            plain_http: true,
            config_file: Some(fx.config_file()),
            ..Default::default()
        })
        .chart_cache(ChartCache::open(fx.cache_dir.path()).unwrap())
        .offline(true)
        .build()
        .unwrap();
    let tagged = ChartSource::oci(&oci(&reg.plain, repo, ":0.1.0"), None).unwrap();

    let err = offline.pull(&tagged).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // The library says what the cache lacks; naming --offline and `chart
    // pull` is the CLI's advice.
    assert!(err.message().contains(":0.1.0"), "{err}");
    assert!(
        matches!(&err, chainctl_core::Error::NotFound { missing: chainctl_core::Missing::Cached { reference }, .. } if reference.contains(":0.1.0")),
        "{err:?}"
    );

    let online = fx.plain().pull(&tagged).unwrap();
    let before = requests_for(reg, repo).len();
    let warm = offline.pull(&tagged).unwrap();
    assert!(warm.cached);
    assert_eq!(warm.manifest_digest, online.manifest_digest);
    let pinned = ChartSource::oci(
        &oci(&reg.plain, repo, &format!("@{}", online.manifest_digest)),
        None,
    )
    .unwrap();
    assert!(offline.pull(&pinned).unwrap().cached);
    assert_eq!(
        requests_for(reg, repo).len(),
        before,
        "offline pulls made requests"
    );

    let constraint = ChartSource::oci(&oci(&reg.plain, repo, ""), Some("^0.1")).unwrap();
    assert_eq!(
        offline.pull(&constraint).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn upgrade_locked_installs_the_recorded_digest_and_refuses_a_moved_tag() {
    let reg = Registries::shared();
    let repo = "locked";
    push_hello(reg, &reg.plain, repo, &["0.1.0"], false);
    let fx = Fixture::new();
    let config = fx.config_file();
    let state = fx.config_dir.path().join("state.json");
    let reference = oci(&reg.plain, repo, "");
    let deploy = |args: &[&str]| {
        chainctl_in(&fx)
            .args(args)
            .args([
                "--release",
                "web",
                "-n",
                "demo",
                "--plain-http",
                "--driver",
                "memory",
                "--confirm",
            ])
            .arg("--registry-config")
            .arg(&config)
            .arg("--state-path")
            .arg(&state)
            .output()
            .unwrap()
    };
    let out = deploy(&[
        "app",
        "install",
        "--chart",
        &reference,
        "--version",
        "0.1.0",
        "-o",
        "json",
    ]);
    let recorded = json_out(&out)["record"]["source"]["manifestDigest"]
        .as_str()
        .unwrap()
        .to_string();

    let out = deploy(&["app", "upgrade", "--locked", "--install"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&recorded));

    // Someone pushes different content under the same tag.
    let changed = tempfile::tempdir().unwrap();
    for entry in ["Chart.yaml", "values.schema.json", ".helmignore"] {
        std::fs::copy(hello_dir().join(entry), changed.path().join(entry)).unwrap();
    }
    std::fs::create_dir(changed.path().join("templates")).unwrap();
    for entry in std::fs::read_dir(hello_dir().join("templates")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            changed.path().join("templates").join(entry.file_name()),
        )
        .unwrap();
    }
    let values = std::fs::read_to_string(hello_dir().join("values.yaml")).unwrap();
    std::fs::write(
        changed.path().join("values.yaml"),
        values.replace("hello from chainctl", "moved"),
    )
    .unwrap();
    push_chart(reg, &reg.plain, repo, changed.path(), &["0.1.0"], false);

    let out = deploy(&["app", "upgrade", "--locked", "--install"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&recorded),
        "names the recorded digest: {stderr}"
    );
    let moved = stderr
        .split("now points to ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("");
    assert!(
        moved.starts_with("sha256:") && moved != recorded,
        "names the new digest: {stderr}"
    );
}

#[test]
fn a_digest_that_does_not_match_its_tag_is_refused_before_anything_is_installed() {
    let reg = Registries::shared();
    let repo = "mismatch";
    push_hello(reg, &reg.plain, repo, &["6.14.1", "6.14.2"], false);
    let fx = Fixture::new();
    let client = fx.plain();
    let old = client
        .pull(&ChartSource::oci(&oci(&reg.plain, repo, ":6.14.1"), None).unwrap())
        .unwrap();
    let new = client
        .pull(&ChartSource::oci(&oci(&reg.plain, repo, ":6.14.2"), None).unwrap())
        .unwrap();
    assert_ne!(old.manifest_digest, new.manifest_digest);
    let opts = ReleaseOptions::builder("hello", "demo").build().unwrap();

    // The tag in the reference, and --version beside a digest-only reference.
    let lying = [
        ChartSource::oci(
            &oci(
                &reg.plain,
                repo,
                &format!(":6.14.2@{}", old.manifest_digest),
            ),
            None,
        )
        .unwrap(),
        ChartSource::oci(
            &oci(&reg.plain, repo, &format!("@{}", old.manifest_digest)),
            Some("6.14.2"),
        )
        .unwrap(),
    ];
    for source in &lying {
        let err = client.install(source, &opts).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{source}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&old.manifest_digest) && msg.contains(&new.manifest_digest),
            "names both digests: {msg}"
        );
        assert!(client.pull(source).is_err(), "{source}: pull refused too");
    }
    assert_eq!(
        client
            .status(&chainctl_core::ReleaseRef::new("hello", "demo").unwrap())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound,
        "nothing was installed"
    );

    // The matching pair, a constraint beside a digest, and a tag the
    // registry lacks all install by the digest, as with helm.
    let fine = [
        (format!(":6.14.1@{}", old.manifest_digest), None),
        (format!("@{}", old.manifest_digest), Some("^6")),
        (format!(":9.9.9@{}", old.manifest_digest), None),
    ];
    for (suffix, version) in &fine {
        let source = ChartSource::oci(&oci(&reg.plain, repo, suffix), *version).unwrap();
        let report = client.render(&source, &opts).unwrap();
        assert_eq!(report.release.chart.version, "6.14.1", "{source}");
    }

    // chainctl: exit 2, both digests named, nothing recorded.
    let sandbox = support::chainctl::Sandbox::new();
    let reference = oci(
        &reg.plain,
        repo,
        &format!(":6.14.2@{}", old.manifest_digest),
    );
    let install = [
        "app",
        "install",
        "--chart",
        &reference,
        "--release",
        "hello",
        "-n",
        "demo",
        "--plain-http",
        "--driver",
        "memory",
        "--confirm",
    ];
    let pull = ["chart", "pull", &reference, "--plain-http"];
    for out in [
        sandbox.run(&install),
        chainctl_in(&fx).args(pull).output().unwrap(),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&old.manifest_digest) && stderr.contains(&new.manifest_digest),
            "{stderr}"
        );
    }
    assert!(
        !sandbox.state_path().exists() || sandbox.show("hello", "demo")["current"].is_null(),
        "no deployment recorded"
    );
}

#[test]
fn devel_takes_pre_releases_as_helm_does() {
    let reg = Registries::shared();
    let repo = "devel";
    push_hello(reg, &reg.plain, repo, &["1.0.0", "1.1.0-rc.1"], false);
    let fx = Fixture::new();
    let reference = oci(&reg.plain, repo, "");
    let install = |extra: &[&str]| {
        let mut args = vec![
            "app",
            "install",
            "--chart",
            &reference,
            "--release",
            "hello",
            "-n",
            "demo",
            "--plain-http",
            "--dry-run",
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = chainctl_in(&fx).args(&args).output().unwrap();
        json_out(&out)["release"]["chart"]["version"].clone()
    };
    assert_eq!(install(&[]), "1.0.0", "the newest release by default");
    assert_eq!(
        install(&["--devel"]),
        "1.1.0-rc.1",
        "pre-releases with --devel"
    );
    assert_eq!(
        install(&["--devel", "--version", "1.0.0"]),
        "1.0.0",
        "--version wins"
    );
}
