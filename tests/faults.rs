//! Network faults, injected by a loopback proxy (tests/support/faultproxy.rs)
//! in front of the real test registry and API server: each one must end the
//! chainctl CLI with the documented exit code and a message that names the
//! fault, within `--timeout` + 2 s, with bounded memory, nothing half-written
//! in the chart cache, and a healthy pull working right after.
//!
//! Every case adds a row to the fault table, printed and written to
//! `target/tmp/fault-table.md`.

mod support;
use support::{faultproxy, hello_dir, testenv};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use faultproxy::{Fault, FaultProxy};
use testenv::{Cluster, Registries};

/// The `--timeout` every faulted command runs with.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How much longer than `--timeout` a faulted command may take.
const SLACK: Duration = Duration::from_secs(2);
/// The bound on a refusal's peak RSS.
const MAX_RSS: u64 = 128 << 20;

/// What a child did, measured.
struct Measured {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// Peak resident set size, from wait4's rusage.
    max_rss: u64,
}

/// Runs `cmd` to its end (killed after `limit`), through `testenv
/// measure`: the peak RSS the kernel reports for a child starts from the
/// memory of its parent, and this test binary (Go runtime, registry pushes)
/// is larger than what is measured.
fn run_measured(cmd: &mut Command, limit: Duration) -> Measured {
    let out_dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let report = out_dir.path().join("measure.json");
    let mut measured = Command::new(testenv::binary());
    measured
        .arg("measure")
        .arg("-out")
        .arg(&report)
        .arg("-kill-after")
        .arg(format!("{}ms", limit.as_millis()))
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => measured.env(key, value),
            None => measured.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        measured.current_dir(dir);
    }
    measured
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap());
    let start = Instant::now();
    let status = measured.status().expect("testenv measure runs");
    let elapsed = start.elapsed();
    let stderr = fs::read_to_string(err_path).unwrap_or_default();
    assert!(status.success(), "testenv measure failed: {stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(&report).expect("testenv measure wrote its report"))
            .unwrap();
    let code = report["exitCode"]
        .as_i64()
        .and_then(|c| i32::try_from(c).ok());
    Measured {
        code: code.filter(|&c| c >= 0),
        stdout: fs::read_to_string(out_path).unwrap_or_default(),
        stderr,
        elapsed,
        max_rss: report["maxRssBytes"].as_u64().expect("a peak RSS"),
    }
}

/// One row of the fault table.
struct Row {
    command: &'static str,
    /// The exit code, or what stands for it.
    exit: String,
    kind: String,
    elapsed: Duration,
    max_rss: u64,
    cache: String,
    recovered: &'static str,
}

fn rss_text(bytes: u64) -> String {
    if bytes == 0 {
        "n/a (in-process)".into()
    } else {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    }
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or("killed".into(), |c| c.to_string())
}

static TABLE: Mutex<BTreeMap<String, Row>> = Mutex::new(BTreeMap::new());

fn record(case: &str, row: Row) {
    let line = format!(
        "| {case} | {} | {} | {} | {:.2} s | {} | {} | {} |",
        row.command,
        row.exit,
        row.kind,
        row.elapsed.as_secs_f64(),
        rss_text(row.max_rss),
        row.cache,
        row.recovered,
    );
    println!("fault table: {line}");
    let mut table = TABLE.lock().unwrap();
    table.insert(case.to_string(), row);
    let mut text = String::from(
        "| case | command | exit | error kind | elapsed | peak RSS | cache after | next healthy run |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (case, row) in table.iter() {
        text.push_str(&format!(
            "| {case} | {} | {} | {} | {:.2} s | {} | {} | {} |\n",
            row.command,
            row.exit,
            row.kind,
            row.elapsed.as_secs_f64(),
            rss_text(row.max_rss),
            row.cache,
            row.recovered,
        ));
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-table.md");
    // Several test binaries never share this file; rows of one run are kept.
    fs::write(path, text).expect("write the fault table");
}

/// The chart cache of a sandbox: (archives, manifest entries, temp files).
fn cache_state(cache_home: &Path) -> (usize, usize, usize) {
    let root = cache_home.join("chainctl").join("charts");
    let count = |dir: &str| {
        fs::read_dir(root.join(dir))
            .map(|d| d.filter_map(Result::ok).count())
            .unwrap_or(0)
    };
    (
        count("blobs/sha256"),
        count("manifests/sha256"),
        count("tmp"),
    )
}

/// A pushed chart behind a fault proxy, and a private cache and config.
struct PullCase {
    proxy: FaultProxy,
    repo: String,
    dir: tempfile::TempDir,
}

impl PullCase {
    fn new(name: &str) -> PullCase {
        let reg = Registries::shared();
        let slug: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let repo = format!("faults-{slug}");
        reg.push_chart(false, &repo, "hello", &hello_dir(), &["0.1.0"]);
        PullCase {
            proxy: FaultProxy::http(&reg.plain),
            repo,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn reference(&self) -> String {
        format!("oci://{}/{}/hello:0.1.0", self.proxy.host(), self.repo)
    }

    fn cache_home(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// `chainctl chart pull` of the chart through the proxy.
    fn pull(&self) -> Command {
        let mut cmd = support::chainctl::chainctl();
        cmd.args([
            "chart",
            "pull",
            &self.reference(),
            "--plain-http",
            "--timeout",
        ])
        .arg(format!("{}s", TIMEOUT.as_secs()))
        .arg("--registry-config")
        .arg(self.dir.path().join("config.json"))
        .env("XDG_CACHE_HOME", self.cache_home())
        .env_remove("CHAINCTL_REGISTRY_PASSWORD");
        cmd
    }

    /// The manifest of the pushed chart, from the registry itself.
    fn manifest(&self) -> serde_json::Value {
        let (status, _, body) = self
            .proxy
            .upstream_get(&format!("/v2/{}/hello/manifests/0.1.0", self.repo));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}

/// What a faulted run must show.
struct Expect {
    code: i32,
    kind: &'static str,
    /// Words the message must contain (the host is always checked).
    words: &'static [&'static str],
}

/// Runs `cmd` under the fault, checks it against `expect`, checks that the
/// cache holds nothing, then lifts the fault and checks that `cmd` works.
fn check_case(
    case: &str,
    command: &'static str,
    host: &str,
    cache_home: &Path,
    mut cmd: impl FnMut() -> Command,
    expect: Expect,
    lift: impl FnOnce(),
) {
    let run = run_measured(&mut cmd(), TIMEOUT + Duration::from_secs(30));
    let stderr = run.stderr.trim();
    assert_eq!(
        run.code,
        Some(expect.code),
        "{case}: exit code; stderr: {stderr}\nstdout: {}",
        run.stdout
    );
    assert!(
        stderr.starts_with("chainctl: "),
        "{case}: one message, no Go stack trace: {stderr}"
    );
    assert!(!stderr.contains("goroutine "), "{case}: {stderr}");
    assert!(stderr.contains(host), "{case}: the host is named: {stderr}");
    for word in expect.words {
        assert!(
            stderr.contains(word),
            "{case}: {word:?} missing from: {stderr}"
        );
    }
    assert!(
        run.elapsed <= TIMEOUT + SLACK,
        "{case}: took {:?}, more than --timeout {TIMEOUT:?} + {SLACK:?}",
        run.elapsed
    );
    assert!(
        run.max_rss < MAX_RSS,
        "{case}: peak RSS {} MiB",
        run.max_rss >> 20
    );
    let (blobs, manifests, temps) = cache_state(cache_home);
    assert_eq!(
        (blobs, manifests, temps),
        (0, 0, 0),
        "{case}: the cache holds (archives, manifests, temp files) after the fault"
    );
    lift();
    let healthy = run_measured(&mut cmd(), Duration::from_secs(60));
    assert_eq!(
        healthy.code,
        Some(0),
        "{case}: the next run, without the fault: {}",
        healthy.stderr
    );
    let (blobs, manifests, temps) = cache_state(cache_home);
    assert_eq!(
        (blobs, manifests, temps),
        (1, 1, 0),
        "{case}: after recovery"
    );
    record(
        case,
        Row {
            command,
            exit: exit_text(run.code),
            kind: expect.kind.into(),
            elapsed: run.elapsed,
            max_rss: run.max_rss,
            cache: "empty".into(),
            recovered: "exit 0, cached",
        },
    );
}

/// A `chart pull` case: `fault` set on the proxy, then lifted.
fn pull_case(name: &str, fault: impl FnOnce(&PullCase) -> Fault, expect: Expect) {
    let case = PullCase::new(name);
    case.proxy.set(fault(&case));
    check_case(
        name,
        "chart pull",
        &case.proxy.host(),
        &case.cache_home(),
        || case.pull(),
        expect,
        || case.proxy.set(Fault::None),
    );
}

#[test]
fn stall_after_accept_times_out_naming_the_host_and_the_headers() {
    pull_case(
        "registry stalls after accept",
        |_| Fault::StallAfterAccept,
        Expect {
            code: 5,
            kind: "timeout",
            words: &["stalled", "waiting for the response headers", "--timeout"],
        },
    );
}

#[test]
fn stall_mid_body_times_out_naming_the_body() {
    pull_case(
        "registry stalls mid-body",
        |_| Fault::StallMidBody { path: "/blobs/" },
        Expect {
            code: 5,
            kind: "timeout",
            words: &["stalled", "reading the response body", "/blobs/sha256:"],
        },
    );
}

#[test]
fn http_500_is_a_registry_error() {
    pull_case(
        "HTTP 500",
        |_| Fault::Status {
            path: "/manifests/",
            code: 500,
        },
        Expect {
            code: 4,
            kind: "registry",
            words: &["HTTP 500"],
        },
    );
}

#[test]
fn http_429_says_it_is_rate_limited() {
    pull_case(
        "HTTP 429",
        |_| Fault::Status {
            path: "/manifests/",
            code: 429,
        },
        Expect {
            code: 4,
            kind: "registry",
            words: &["rate-limiting", "429"],
        },
    );
}

#[test]
fn connection_reset_is_named() {
    pull_case(
        "connection reset",
        |_| Fault::Reset { path: "/blobs/" },
        Expect {
            code: 4,
            kind: "registry",
            words: &["reset the connection", "try again"],
        },
    );
}

#[test]
fn truncated_body_is_refused() {
    pull_case(
        "truncated body",
        |_| Fault::Truncate { path: "/blobs/" },
        Expect {
            code: 4,
            kind: "registry",
            words: &["closed the connection early", "cut short"],
        },
    );
}

#[test]
fn flipped_byte_is_a_digest_mismatch() {
    pull_case(
        "flipped byte in a blob",
        |_| Fault::FlipByte { path: "/blobs/" },
        Expect {
            code: 4,
            kind: "registry",
            words: &["digest mismatch", "nothing was cached"],
        },
    );
}

#[test]
fn wrong_digest_header_is_a_digest_mismatch() {
    pull_case(
        "wrong Docker-Content-Digest",
        |_| Fault::WrongDigestHeader { path: "/blobs/" },
        Expect {
            code: 4,
            kind: "registry",
            words: &["digest mismatch", "Docker-Content-Digest"],
        },
    );
}

#[test]
fn a_manifest_declaring_a_huge_layer_is_refused_before_the_layer_is_fetched() {
    let case = PullCase::new("huge-layer");
    let mut manifest = case.manifest();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    manifest["layers"][0]["size"] = serde_json::json!(1u64 << 40);
    case.proxy.set(Fault::Manifest {
        body: serde_json::to_vec(&manifest).unwrap(),
    });
    check_case(
        "size lie: layer of 1 TiB declared",
        "chart pull",
        &case.proxy.host(),
        &case.cache_home(),
        || case.pull(),
        Expect {
            code: 4,
            kind: "registry",
            words: &[
                "1024 GiB",
                "100 MiB",
                "--max-chart-size",
                "nothing was cached",
            ],
        },
        || {
            let fetched: Vec<_> = case
                .proxy
                .seen()
                .into_iter()
                .filter(|s| s.path.ends_with(&layer))
                .collect();
            assert!(fetched.is_empty(), "the layer was requested: {fetched:?}");
            case.proxy.set(Fault::None);
        },
    );
}

#[test]
fn a_body_longer_than_declared_is_cut_and_refused() {
    let case = PullCase::new("endless-blob");
    let layer = case.manifest()["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path: &'static str = Box::leak(layer.into_boxed_str());
    case.proxy.set(Fault::EndlessBody { path });
    check_case(
        "size lie: endless blob body",
        "chart pull",
        &case.proxy.host(),
        &case.cache_home(),
        || case.pull(),
        Expect {
            code: 4,
            kind: "registry",
            words: &["more data than the manifest declares"],
        },
        || case.proxy.set(Fault::None),
    );
}

#[test]
fn an_endless_manifest_is_refused_at_4_mib() {
    pull_case(
        "size lie: endless manifest body",
        |_| Fault::EndlessBody {
            path: "/manifests/",
        },
        Expect {
            code: 4,
            kind: "registry",
            words: &["4 MiB", "not a chart"],
        },
    );
}

#[test]
fn a_chart_over_a_lowered_ceiling_is_refused_and_a_raised_one_admits_it() {
    let case = PullCase::new("ceiling");
    let size = case.manifest()["layers"][0]["size"].as_u64().unwrap();
    let run = run_measured(
        case.pull()
            .args(["--max-chart-size", &(size - 1).to_string()]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert!(run.stderr.contains("--max-chart-size"), "{}", run.stderr);
    assert_eq!(cache_state(&case.cache_home()), (0, 0, 0));
    assert!(run.max_rss < MAX_RSS, "peak RSS {} MiB", run.max_rss >> 20);
    record(
        "chart 1 byte over --max-chart-size",
        Row {
            command: "chart pull",
            exit: exit_text(run.code),
            kind: "registry".into(),
            elapsed: run.elapsed,
            max_rss: run.max_rss,
            cache: "empty".into(),
            recovered: "exit 0 with the ceiling at its size",
        },
    );
    let run = run_measured(
        case.pull().args(["--max-chart-size", &size.to_string()]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn app_install_from_a_stalled_registry_times_out() {
    let case = PullCase::new("install-stall");
    case.proxy.set(Fault::StallMidBody { path: "/blobs/" });
    let sandbox = support::chainctl::Sandbox::new();
    let install = || {
        let mut cmd = sandbox.command(&[
            "app",
            "install",
            "--release",
            "stalled",
            "-n",
            "faults",
            "--chart",
            &case.reference(),
            "--plain-http",
            "--driver",
            "memory",
            "--confirm",
            "--timeout",
            "5s",
        ]);
        cmd.arg("--registry-config")
            .arg(case.dir.path().join("config.json"))
            .env_remove("CHAINCTL_REGISTRY_PASSWORD");
        cmd
    };
    check_case(
        "registry stalls mid-body (app install)",
        "app install",
        &case.proxy.host(),
        &sandbox.dir.path().join("cache"),
        install,
        Expect {
            code: 5,
            kind: "timeout",
            words: &["stalled", "reading the response body"],
        },
        || case.proxy.set(Fault::None),
    );
}

/// Ports whose digits contain 401, 403 and 404: the same HTTP 500 from each
/// must read the same.
#[test]
fn the_same_500_reads_the_same_on_ports_containing_401_403_404() {
    let reg = Registries::shared();
    let repo = "faults-ports";
    reg.push_chart(false, repo, "hello", &hello_dir(), &["0.1.0"]);
    let mut kinds = Vec::new();
    for digits in ["401", "403", "404"] {
        let candidates: Vec<u16> = [
            format!("40{digits}"),
            format!("1{digits}0"),
            format!("2{digits}1"),
            format!("3{digits}2"),
        ]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
        let proxy =
            candidates
                .iter()
                .find_map(|&port| match FaultProxy::http_on(&reg.plain, port) {
                    Ok(proxy) => Some(proxy),
                    Err(e) => {
                        println!(
                            "port {port} is taken ({e}): trying another that contains {digits}"
                        );
                        None
                    }
                });
        let proxy = proxy.unwrap_or_else(|| {
            panic!("every port tried that contains {digits} is taken: {candidates:?}")
        });
        proxy.set(Fault::Status {
            path: "/manifests/",
            code: 500,
        });
        let dir = tempfile::tempdir().unwrap();
        let run = run_measured(
            support::chainctl::chainctl()
                .args(["chart", "pull"])
                .arg(format!("oci://{}/{repo}/hello:0.1.0", proxy.host()))
                .args(["--plain-http", "--timeout", "5s", "--registry-config"])
                .arg(dir.path().join("config.json"))
                .env("XDG_CACHE_HOME", dir.path().join("cache")),
            Duration::from_secs(60),
        );
        assert_eq!(
            run.code,
            Some(4),
            "port {}: {}",
            proxy.addr.port(),
            run.stderr
        );
        assert!(run.stderr.contains("HTTP 500"), "{}", run.stderr);
        for wrong in ["log in", "not found", "access denied", "credentials"] {
            assert!(!run.stderr.contains(wrong), "{wrong:?} in: {}", run.stderr);
        }
        assert!(run.max_rss < MAX_RSS, "peak RSS {} MiB", run.max_rss >> 20);
        assert_eq!(cache_state(&dir.path().join("cache")), (0, 0, 0));
        record(
            &format!("HTTP 500 on port {}", proxy.addr.port()),
            Row {
                command: "chart pull",
                exit: exit_text(run.code),
                kind: "registry".into(),
                elapsed: run.elapsed,
                max_rss: run.max_rss,
                cache: "empty".into(),
                recovered: "-",
            },
        );
        // The message without the port reads the same on every port.
        kinds.push(run.stderr.replace(&proxy.addr.port().to_string(), "PORT"));
    }
    assert!(
        kinds.windows(2).all(|w| w[0] == w[1]),
        "the same fault reads differently by port: {kinds:#?}"
    );
}

/// A kube-apiserver that accepts connections and then says nothing, during
/// an install and a status.
#[test]
fn a_stalled_api_server_ends_within_the_timeout() {
    let cluster = Cluster::shared();
    let server = cluster
        .env
        .kube
        .as_ref()
        .expect("this test needs the test API server (not CHAINCTL_TEST_KUBECONFIG)")
        .server
        .clone();
    let upstream = server.trim_start_matches("https://").to_string();
    let proxy = FaultProxy::tcp(&upstream);
    let sandbox = support::chainctl::Sandbox::new();
    let apiserver = format!("https://{}", proxy.host());
    let deploy = |action: &str| {
        let mut cmd = sandbox.command(&[
            "app",
            action,
            "--release",
            "stalled-api",
            "-n",
            "faults-api",
            "--confirm",
            "--timeout",
            "5s",
            "--kube-apiserver",
            &apiserver,
        ]);
        if action == "install" {
            cmd.arg("--create-namespace");
        }
        cmd.arg("--bundle").arg(hello_dir());
        cmd.arg("--kubeconfig").arg(&cluster.kubeconfig);
        if let Some(context) = &cluster.context {
            cmd.args(["--kube-context", context]);
        }
        cmd
    };
    let install = || deploy("install");
    proxy.set(Fault::StallAfterAccept);
    let run = run_measured(&mut install(), TIMEOUT + Duration::from_secs(60));
    assert_eq!(run.code, Some(5), "{}", run.stderr);
    assert!(
        run.elapsed <= TIMEOUT + SLACK,
        "install against a stalled API server took {:?}",
        run.elapsed
    );
    assert!(run.max_rss < MAX_RSS, "peak RSS {} MiB", run.max_rss >> 20);
    assert!(
        run.stderr.starts_with("chainctl: ") && !run.stderr.contains("goroutine "),
        "{}",
        run.stderr
    );
    for word in [
        "timed out",
        "the API server",
        proxy.host().as_str(),
        "stalled",
        "in the TLS handshake",
        "--timeout",
    ] {
        assert!(
            run.stderr.contains(word),
            "{word:?} missing from: {}",
            run.stderr
        );
    }
    let stalled_kind = run.stderr.trim().to_string();
    proxy.set(Fault::None);
    let healthy = run_measured(&mut install(), Duration::from_secs(120));
    assert_eq!(healthy.code, Some(0), "{}", healthy.stderr);
    record(
        "API server stalls after accept",
        Row {
            command: "app install",
            exit: exit_text(run.code),
            kind: "timeout".into(),
            elapsed: run.elapsed,
            max_rss: run.max_rss,
            cache: "n/a (bundle)".into(),
            recovered: "exit 0, deployed",
        },
    );
    println!("stalled install said: {stalled_kind}");

    // Mid-stream: the TLS handshake and the first answers pass, then the
    // API server goes silent.
    proxy.set(Fault::StallAfterBytes(12 * 1024));
    let run = run_measured(&mut deploy("upgrade"), TIMEOUT + Duration::from_secs(60));
    assert_eq!(run.code, Some(5), "{}", run.stderr);
    assert!(
        run.elapsed <= TIMEOUT + SLACK,
        "upgrade against an API server stalled mid-stream took {:?}",
        run.elapsed
    );
    assert!(run.max_rss < MAX_RSS, "peak RSS {} MiB", run.max_rss >> 20);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    println!("mid-stream stall said: {}", run.stderr.trim());
    record(
        "API server stalls mid-stream (12 KiB)",
        Row {
            command: "app upgrade",
            exit: exit_text(run.code),
            kind: "timeout".into(),
            elapsed: run.elapsed,
            max_rss: run.max_rss,
            cache: "n/a (bundle)".into(),
            recovered: "exit 0, upgraded",
        },
    );
    proxy.set(Fault::None);
    let healthy = run_measured(&mut deploy("upgrade"), Duration::from_secs(120));
    assert_eq!(healthy.code, Some(0), "{}", healthy.stderr);

    // A query: status, through the library with a short network timeout.
    proxy.set(Fault::StallAfterAccept);
    let mut builder = chainctl_core::Client::builder()
        .kubeconfig(&cluster.kubeconfig)
        .kube_apiserver(&apiserver)
        .network_timeout(TIMEOUT);
    if let Some(context) = &cluster.context {
        builder = builder.kube_context(context);
    }
    let client = builder.build().unwrap();
    let release = chainctl_core::ReleaseRef::new("stalled-api", "faults-api").unwrap();
    let start = Instant::now();
    let err = client.status(&release).unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.kind(), chainctl_core::ErrorKind::Timeout, "{err}");
    assert!(elapsed <= TIMEOUT + SLACK, "status took {elapsed:?}");
    for word in ["the API server", proxy.host().as_str(), "stalled"] {
        assert!(
            err.to_string().contains(word),
            "{word:?} missing from: {err}"
        );
    }
    record(
        "API server stalls after accept (status, library)",
        Row {
            command: "Client::status",
            exit: "Error::Timeout".into(),
            kind: "timeout".into(),
            elapsed,
            max_rss: 0,
            cache: "n/a".into(),
            recovered: "-",
        },
    );
    proxy.set(Fault::None);
    assert_eq!(client.status(&release).unwrap().status, "deployed");
}
