//! What the integration tests talk to, run by the Go program in
//! tests/testenv on 127.0.0.1: two OCI registries (plain HTTP; TLS + basic
//! auth) and, for `Cluster`, a Kubernetes API server (etcd + kube-apiserver
//! built from the Go module proxy, cached by version under the user cache
//! directory).
//!
//! Use as `support::testenv` after `mod support;`, then
//! `Registries::shared()` / `Cluster::shared()` (one instance per test
//! binary) or `Registries::start()` / `Cluster::start()` (a private
//! instance, stopped on drop). `CHAINCTL_TEST_KUBECONFIG` points
//! `Cluster::shared()` at an existing cluster instead of starting one.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::fs;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct Registries {
    /// host:port of the plain-HTTP registry (no auth).
    pub plain: String,
    /// host:port of the HTTPS registry (basic auth, certificate from `ca_file`).
    pub tls: String,
    pub ca_file: PathBuf,
    pub username: String,
    pub password: String,
    /// One line per request to either registry: "REGISTRY METHOD PATH STATUS".
    pub access_log: PathBuf,
    /// The API server, when started with one.
    pub kube: Option<KubeInfo>,
    child: Child,
    dir: TempDir,
}

/// The API server testenv started (its half of the ready line).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeInfo {
    pub kubeconfig: PathBuf,
    /// https://127.0.0.1:PORT
    pub server: String,
    /// The Kubernetes version, "v1.36.3".
    pub version: String,
    /// The kubeconfig's current context: user "admin" (system:masters).
    pub context: String,
    /// A context whose user ("nobody") has no RBAC rights at all.
    pub nobody_context: String,
    pub etcd_pid: u32,
    pub apiserver_pid: u32,
}

/// One line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// "plain" or "tls".
    pub registry: String,
    pub method: String,
    /// The URL path, escaped, without the query.
    pub path: String,
    pub status: u16,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ready {
    plain: String,
    tls: String,
    ca_file: PathBuf,
    username: String,
    password: String,
    #[serde(default)]
    kube: Option<KubeInfo>,
}

impl Registries {
    /// The instance shared by every test of this binary, started on first use.
    ///
    /// Statics are never dropped, so `Drop` never runs for it. It still dies
    /// with us: the child holds the read end of a pipe as stdin and exits at
    /// EOF, and the kernel closes our write end when this process exits,
    /// however it exits (even SIGKILL). `-rm-dir` makes the child delete the
    /// directory that `TempDir` would have. Tests sharing it run in parallel:
    /// use repository names of their own, and count only their own requests.
    pub fn shared() -> &'static Registries {
        static SHARED: OnceLock<Registries> = OnceLock::new();
        SHARED.get_or_init(|| Self::spawn(true, false))
    }

    /// A private instance, stopped (and its files removed) when dropped.
    /// Costs a process start, ~0.1 s, once the binary is built.
    pub fn start() -> Registries {
        Self::spawn(false, false)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Packages the chart in `dir` at each version (the shim's
    /// `chart.package`) and pushes it as `host/<repo>/<name>:<version>`:
    /// to the plain registry, or with `tls` to the TLS one with our CA and
    /// credentials.
    pub fn push_chart(&self, tls: bool, repo: &str, name: &str, dir: &Path, versions: &[&str]) {
        use serde_json::json;
        let work = tempfile::tempdir().expect("a temporary directory");
        let mut registry = json!({ "configFile": work.path().join("config.json") });
        let host = if tls {
            registry["caFile"] = json!(self.ca_file);
            registry["username"] = json!(self.username);
            registry["password"] = json!(self.password);
            &self.tls
        } else {
            registry["plainHttp"] = json!(true);
            &self.plain
        };
        for version in versions {
            let request = json!({ "path": dir, "version": version, "destDir": work.path() });
            let packaged =
                chainctl_core::diagnostic_call("chart.package", &request.to_string(), None)
                    .unwrap_or_else(|e| panic!("packaging {} at {version}: {e}", dir.display()));
            let request = json!({
                "ref": format!("{host}/{repo}/{name}:{version}"),
                "chart": packaged["path"],
                "registry": registry,
            });
            chainctl_core::diagnostic_call("registry.push", &request.to_string(), None)
                .unwrap_or_else(|e| panic!("pushing {host}/{repo}/{name}:{version}: {e}"));
        }
    }

    /// The access log so far (a line still being written is left out).
    pub fn requests(&self) -> Vec<Request> {
        let log = fs::read_to_string(&self.access_log).unwrap_or_default();
        let complete = &log[..log.rfind('\n').map_or(0, |i| i + 1)];
        complete
            .lines()
            .map(|line| {
                let f: Vec<&str> = line.split(' ').collect();
                assert_eq!(f.len(), 4, "access log line {line:?}");
                Request {
                    registry: f[0].to_owned(),
                    method: f[1].to_owned(),
                    path: f[2].to_owned(),
                    status: f[3].parse().expect("status in access log"),
                }
            })
            .collect()
    }

    fn spawn(rm_dir: bool, kube: bool) -> Registries {
        let bin = binary();
        if kube {
            // In the foreground with stderr on ours (child output is not
            // captured by the test harness), so a first build that takes
            // minutes says what it is doing.
            let out = Command::new(&bin)
                .arg("build-kube")
                .arg("-kube-src")
                .arg(source_dir().join("kube"))
                .arg("-bin-cache")
                .arg(bin_cache())
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
            assert!(
                out.status.success(),
                "building kube-apiserver and etcd failed (see the messages above); `go -C tests/testenv run . build-kube` repeats it"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("chainctl-testenv-")
            .tempdir()
            .expect("create a temporary directory for the test registries");
        let access_log = dir.path().join("access.log");
        let password = format!(
            "pw-{:016x}",
            RandomState::new().hash_one(std::process::id())
        );

        let mut cmd = Command::new(&bin);
        cmd.arg("-dir")
            .arg(dir.path())
            .args(["-password", &password])
            .arg("-access-log")
            .arg(&access_log)
            .stdin(Stdio::piped()) // kept open in `child` until we exit or drop
            .stdout(Stdio::piped())
            // A pipe, not a file in the directory: with -rm-dir testenv
            // removes that directory when it fails to start, and the
            // message with it.
            .stderr(Stdio::piped());
        if rm_dir {
            cmd.arg("-rm-dir");
        }
        if kube {
            cmd.arg("-kube")
                .arg("-kube-src")
                .arg(source_dir().join("kube"))
                .arg("-bin-cache")
                .arg(bin_cache());
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));

        let stderr = child.stderr.take().expect("piped stderr");
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Drained for the child's whole life (a full pipe would block
            // it); the last 64 KiB are kept to show if start-up fails.
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            let mut r = stderr;
            while let Ok(n @ 1..) = io::Read::read(&mut r, &mut buf) {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 64 * 1024 {
                    kept.drain(..kept.len() - 64 * 1024);
                }
            }
            let _ = err_tx.send(String::from_utf8_lossy(&kept).into_owned());
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(r.read_line(&mut line).map(|_| line));
            let _ = io::copy(&mut r, &mut io::sink());
        });
        // The API server takes about 5 s to become ready, more on a busy machine.
        let wait = Duration::from_secs(if kube { 240 } else { 60 });
        let ready = match rx.recv_timeout(wait) {
            Ok(Ok(line)) if !line.is_empty() => serde_json::from_str::<Ready>(&line)
                .unwrap_or_else(|e| panic!("test registries printed {line:?}: {e}")),
            outcome => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "the test registries did not start ({outcome:?}, exit {status:?}); stderr:\n{}",
                    err_rx
                        .recv_timeout(Duration::from_secs(10))
                        .unwrap_or_else(|_| "(not closed 10 s after the exit)".into())
                );
            }
        };
        Registries {
            plain: ready.plain,
            tls: ready.tls,
            ca_file: ready.ca_file,
            username: ready.username,
            password: ready.password,
            access_log,
            kube: ready.kube,
            child,
            dir,
        }
    }
}

/// A Kubernetes API server to install into, with the registries beside it.
pub struct Cluster {
    pub kubeconfig: PathBuf,
    /// The context to use (None: the kubeconfig's current one).
    pub context: Option<String>,
    /// A context with no RBAC rights, for the forbidden tests: ours, or
    /// `CHAINCTL_TEST_NOBODY_CONTEXT` with an existing cluster.
    pub nobody_context: Option<String>,
    /// The registries (and, unless the cluster is external, the API
    /// server's processes).
    pub env: Registries,
}

impl Cluster {
    /// The cluster shared by every test of this binary: started on first
    /// use, or the one `CHAINCTL_TEST_KUBECONFIG` names. Tests sharing it
    /// run in parallel: each uses namespaces of its own.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| match std::env::var_os("CHAINCTL_TEST_KUBECONFIG") {
            Some(path) => {
                let kubeconfig = PathBuf::from(path);
                assert!(
                    kubeconfig.is_file(),
                    "CHAINCTL_TEST_KUBECONFIG={} is not a file",
                    kubeconfig.display()
                );
                Cluster {
                    kubeconfig,
                    context: std::env::var("CHAINCTL_TEST_KUBE_CONTEXT").ok(),
                    nobody_context: std::env::var("CHAINCTL_TEST_NOBODY_CONTEXT").ok(),
                    env: Registries::spawn(true, false),
                }
            }
            None => Cluster::from_env(Registries::spawn(true, true)),
        })
    }

    /// A private API server (and registries), stopped when dropped.
    pub fn start() -> Cluster {
        Cluster::from_env(Registries::spawn(false, true))
    }

    fn from_env(env: Registries) -> Cluster {
        let kube = env
            .kube
            .clone()
            .expect("testenv -kube reports the API server");
        Cluster {
            kubeconfig: kube.kubeconfig,
            context: Some(kube.context),
            nobody_context: Some(kube.nobody_context),
            env,
        }
    }

    /// The processes of our API server: (etcd, kube-apiserver).
    pub fn pids(&self) -> Option<(u32, u32)> {
        self.env
            .kube
            .as_ref()
            .map(|k| (k.etcd_pid, k.apiserver_pid))
    }

    /// The context without rights; fails the test, saying what to set,
    /// when an external cluster gives none.
    pub fn nobody(&self) -> &str {
        self.nobody_context.as_deref().expect(
            "this test needs a kubeconfig context without RBAC rights: set CHAINCTL_TEST_NOBODY_CONTEXT when using CHAINCTL_TEST_KUBECONFIG",
        )
    }

    /// GETs an API path as the admin context: (HTTP status, JSON body).
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.request(&[], path)
    }

    /// Server-side applies `yaml` at an API path (with `?fieldManager=...`
    /// and any other query) as the admin context: (HTTP status, JSON body).
    #[allow(dead_code)]
    pub fn apply(&self, path: &str, yaml: &str) -> (u16, serde_json::Value) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), yaml).unwrap();
        let data = file.path().to_str().unwrap().to_string();
        self.request(&["-method", "PATCH", "-data", &data], path)
    }

    fn request(&self, flags: &[&str], path: &str) -> (u16, serde_json::Value) {
        let mut cmd = Command::new(binary());
        cmd.arg("get").arg("-kubeconfig").arg(&self.kubeconfig);
        if let Some(context) = &self.context {
            cmd.args(["-context", context]);
        }
        let out = cmd.args(flags).arg(path).output().expect("run testenv get");
        assert!(
            out.status.success(),
            "testenv get {path} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("testenv get prints JSON");
        (v["status"].as_u64().unwrap_or(0) as u16, v["body"].clone())
    }
}

/// Where kube-apiserver and etcd are built, by version.
pub fn bin_cache() -> PathBuf {
    cache_dir().join("chainctl-testenv")
}

impl Drop for Registries {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `go` command: `$GO` if set.
pub fn go_command() -> Command {
    Command::new(std::env::var_os("GO").unwrap_or_else(|| "go".into()))
}

/// The tests/testenv Go module.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testenv")
}

/// The testenv binary, built once per source version and cached under the
/// user cache directory, not target/, so that fresh clones and `cargo clean`
/// reuse it.
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let src = source_dir();
    let mut files: Vec<PathBuf> = fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("read {}: {e}", src.display()))
        .map(|entry| entry.expect("read tests/testenv").path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name == "go.mod" || name == "go.sum" || name.ends_with(".go")
        })
        .collect();
    files.sort();
    let mut hasher = DefaultHasher::new();
    for f in &files {
        f.file_name().hash(&mut hasher);
        fs::read(f)
            .expect("read a testenv source")
            .hash(&mut hasher);
    }
    let hash = hasher.finish();

    let cache = cache_dir().join("chainctl-testenv");
    let bin = cache.join(format!("testenv-{hash:016x}"));
    if bin.exists() {
        return bin;
    }
    fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("create {}: {e}", cache.display()));
    // Built under a name of our own and renamed into place, so a test binary
    // running alongside never executes a half-written file.
    let tmp = cache.join(format!(".testenv-{hash:016x}.{}.tmp", std::process::id()));

    // Straight to stderr: the test harness captures eprintln! from tests.
    let started = Instant::now();
    let _ = writeln!(
        io::stderr(),
        "building the test registry ({}) from the Go module proxy; the first build takes a few minutes",
        distribution_version(&src)
    );
    let out = go_command()
        .args(["build", "-trimpath", "-o"])
        .arg(&tmp)
        .arg(".")
        .current_dir(&src)
        .env("GOWORK", "off")
        .env("CGO_ENABLED", "0")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run go ({e}): Go (1.26 or newer) is needed to build the test registry in tests/testenv; set GO to its path if it is not on PATH")
        });
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        panic!(
            "building the test registry in {} failed:\n{}{}",
            src.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fs::rename(&tmp, &bin).unwrap_or_else(|e| panic!("rename to {}: {e}", bin.display()));
    let _ = writeln!(
        io::stderr(),
        "built the test registry in {:.0?}: {}",
        started.elapsed(),
        bin.display()
    );
    bin
}

fn cache_dir() -> PathBuf {
    let from = |var| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    from("XDG_CACHE_HOME")
        .or_else(|| from("HOME").map(|home| home.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

/// "distribution v3.1.1", as required by tests/testenv/go.mod.
fn distribution_version(src: &Path) -> String {
    let go_mod = fs::read_to_string(src.join("go.mod")).unwrap_or_default();
    let version = go_mod
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("github.com/distribution/distribution/v3 ")
        })
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        .unwrap_or_default();
    format!("distribution {version}")
}
