//! SIGINT, SIGTERM and SIGHUP while chainctl waits on the test API server:
//! the action is cancelled through the client's cancel token, Helm marks the
//! release failed, the record says cancelled, and chainctl exits 128 plus the
//! signal's number. The cluster has no nodes, so a Deployment never becomes
//! ready and `--wait` waits until it is interrupted.

mod support;
use support::{client, namespace, testenv, wait_for_status};

use std::fs;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chainctl_core::state::{Action, ExecutionStateRecord, Outcome};
use chainctl_core::{ErrorKind, ReleaseRef, StateStore};
use support::chainctl::Sandbox;
use testenv::Cluster;

fn hello_dir() -> String {
    support::hello_dir().to_string_lossy().into_owned()
}

/// chainctl against the cluster, with a state file of the test's own.
struct Cli<'a> {
    cluster: &'a Cluster,
    sandbox: Sandbox,
}

impl Cli<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.sandbox.command(args);
        cmd.arg("--kubeconfig").arg(&self.cluster.kubeconfig);
        if let Some(context) = &self.cluster.context {
            cmd.args(["--kube-context", context]);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs to the end; returns the exit code, stdout and stderr.
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = self.cmd(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn expect(&self, code: i32, args: &[&str]) -> String {
        let (got, stdout, stderr) = self.run(args);
        assert_eq!(
            got,
            Some(code),
            "chainctl {args:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        stdout
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn last_record(&self, release: &str, ns: &str) -> ExecutionStateRecord {
        let state = StateStore::load(self.sandbox.state_path()).unwrap();
        let rel = state.release(release, ns).expect("the release is recorded");
        rel.history.last().unwrap().clone()
    }
}

fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // The test's own child: signalling it is all this does.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

/// Waits for the child (at most a minute) and returns how it ended, how
/// long after `since` that was, and its stderr.
fn finish(mut child: Child, since: Instant) -> (ExitStatus, Duration, String) {
    let deadline = since + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chainctl did not exit within a minute of the signal");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = since.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, elapsed, stderr)
}

/// The record of an interrupted action: cancelled by `signal`, with the
/// revision Helm left failed.
fn assert_cancelled(rec: &ExecutionStateRecord, action: Action, revision: u32, signal: &str) {
    assert_eq!(rec.action, action, "{rec:?}");
    assert_eq!(rec.outcome, Outcome::Failed);
    assert!(rec.is_cancelled(), "{rec:?}");
    let error = rec.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Cancelled);
    assert!(
        error.message.contains(&format!("cancelled by {signal}")),
        "{}",
        error.message
    );
    assert_eq!(rec.helm_revision, Some(revision), "{rec:?}");
    assert_eq!(
        rec.helm_status,
        Some(chainctl_core::HelmStatus::Failed),
        "{rec:?}"
    );
}

#[test]
fn sigint_during_the_wait_of_a_first_install_is_recorded_and_the_next_upgrade_works() {
    let cluster = Cluster::shared();
    let cli = Cli {
        cluster,
        sandbox: Sandbox::new(),
    };
    let c = client(cluster);
    let ns = namespace("sigint");
    let hello = hello_dir();
    let rel = ReleaseRef::new("web", &ns).unwrap();
    let base = ["--release", "web", "-n", &ns, "--confirm"];

    let child = cli.spawn(
        &[
            &["app", "install", "--bundle", &hello, "--create-namespace"][..],
            &["--wait", "--timeout", "5m"],
            &base,
        ]
        .concat(),
    );
    wait_for_status(&c, &rel, "pending-install");
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let (status, elapsed, stderr) = finish(child, sent);
    eprintln!("SIGINT to exit: {} ms", elapsed.as_millis());
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}: {stderr}");
    assert!(stderr.contains("SIGINT"), "{stderr}");
    assert!(!stderr.contains("goroutine"), "no Go stack trace: {stderr}");

    // Recorded as cancelled, with the revision Helm marked failed.
    assert_cancelled(&cli.last_record("web", &ns), Action::Install, 1, "SIGINT");
    assert_eq!(c.status(&rel).unwrap().status, "failed");

    // --check names the interrupted record instead of blaming someone else.
    let (code, stdout, _) = cli.run(&["app", "status", "--release", "web", "-n", &ns, "--check"]);
    assert_eq!(code, Some(8), "{stdout}");
    let hint = stdout.lines().find(|l| l.starts_with("hint:")).unwrap();
    for part in [
        "the last action recorded, the install started at",
        "was interrupted: cancelled by SIGINT",
        "Helm left revision 1 failed",
        "no recovery is needed",
    ] {
        assert!(hint.contains(part), "{part:?} missing from {hint}");
    }
    assert!(!hint.contains("outside chainctl: run"), "{hint}");

    // The next upgrade works without any recovery.
    let out = cli.expect(
        0,
        &[&["app", "upgrade", "--bundle", &hello][..], &base].concat(),
    );
    assert!(out.contains("revision 2 (deployed)"), "{out}");
    let check = cli.expect(
        0,
        &["app", "status", "--release", "web", "-n", &ns, "--check"],
    );
    assert!(check.contains("matches"), "{check}");
}

#[test]
fn sigterm_during_the_wait_of_an_upgrade_is_recorded_and_the_next_upgrade_works() {
    let cluster = Cluster::shared();
    let cli = Cli {
        cluster,
        sandbox: Sandbox::new(),
    };
    let c = client(cluster);
    let ns = namespace("sigterm");
    let hello = hello_dir();
    let rel = ReleaseRef::new("api", &ns).unwrap();
    let base = ["--release", "api", "-n", &ns, "--confirm"];
    cli.expect(
        0,
        &[
            &["app", "install", "--bundle", &hello, "--create-namespace"][..],
            &base,
        ]
        .concat(),
    );

    let child = cli.spawn(
        &[
            &["app", "upgrade", "--bundle", &hello, "--set", "greeting=x"][..],
            &["--wait", "--timeout", "5m", "-o", "json"],
            &base,
        ]
        .concat(),
    );
    wait_for_status(&c, &rel, "pending-upgrade");
    let sent = Instant::now();
    signal(&child, libc::SIGTERM);
    let (status, elapsed, stderr) = finish(child, sent);
    eprintln!("SIGTERM to exit: {} ms", elapsed.as_millis());
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}: {stderr}");

    assert_cancelled(&cli.last_record("api", &ns), Action::Upgrade, 2, "SIGTERM");
    let now = c.status(&rel).unwrap();
    assert_eq!((now.revision, now.status.as_str()), (2, "failed"));

    let (code, stdout, _) = cli.run(&[
        "app",
        "status",
        "--release",
        "api",
        "-n",
        &ns,
        "--check",
        "-o",
        "json",
    ]);
    assert_eq!(code, Some(8), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let hint = v["check"]["hint"].as_str().unwrap();
    assert!(hint.contains("the upgrade started at"), "{hint}");
    assert!(hint.contains("cancelled by SIGTERM"), "{hint}");
    assert!(
        hint.contains(&format!(
            "`chainctl app rollback --release api -n {ns} --revision 1`"
        )),
        "{hint}"
    );
    assert_eq!(v["check"]["interrupted"]["helmRevision"], 2, "{v}");
    assert_eq!(v["check"]["interrupted"]["error"]["kind"], "cancelled");

    let out = cli.expect(
        0,
        &[&["app", "upgrade", "--bundle", &hello][..], &base].concat(),
    );
    assert!(out.contains("revision 3 (deployed)"), "{out}");
}

/// Holds the state file's lock, as another chainctl writing would, until
/// dropped.
struct HeldLock {
    _file: fs::File,
}

impl HeldLock {
    fn new(state_path: &std::path::Path) -> HeldLock {
        fs::create_dir_all(state_path.parent().unwrap()).unwrap();
        let lock_path = state_path.with_file_name("state.json.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)
            .unwrap();
        file.lock().unwrap();
        HeldLock { _file: file }
    }
}

#[test]
fn a_second_signal_exits_at_once() {
    let cluster = Cluster::shared();
    let cli = Cli {
        cluster,
        sandbox: Sandbox::new(),
    };
    let c = client(cluster);
    let ns = namespace("twice");
    let hello = hello_dir();
    let rel = ReleaseRef::new("web", &ns).unwrap();

    // The record cannot be written while another process holds the lock,
    // so after the first signal chainctl waits (for the lock, within its
    // grace) until the second ends it.
    let lock = HeldLock::new(&cli.sandbox.state_path());
    let child = cli.spawn(&[
        "app",
        "install",
        "--bundle",
        &hello,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        "--release",
        "web",
        "-n",
        &ns,
        "--confirm",
    ]);
    wait_for_status(&c, &rel, "pending-install");
    signal(&child, libc::SIGINT);
    wait_for_status(&c, &rel, "failed");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        Command::new("kill")
            .args(["-0", &child.id().to_string()])
            .status()
            .unwrap()
            .success(),
        "chainctl waits for the lock after the first signal"
    );
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let (status, elapsed, stderr) = finish(child, sent);
    eprintln!("second SIGINT to exit: {} ms", elapsed.as_millis());
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        elapsed < Duration::from_millis(1000),
        "{elapsed:?}: {stderr}"
    );
    assert!(stderr.contains("a second signal"), "{stderr}");
    drop(lock);
}

#[test]
fn an_interrupted_action_whose_record_cannot_be_written_in_time_prints_it_for_import() {
    let cluster = Cluster::shared();
    let cli = Cli {
        cluster,
        sandbox: Sandbox::new(),
    };
    let c = client(cluster);
    let ns = namespace("grace");
    let hello = hello_dir();
    let rel = ReleaseRef::new("web", &ns).unwrap();

    let lock = HeldLock::new(&cli.sandbox.state_path());
    let child = cli.spawn(&[
        "app",
        "install",
        "--bundle",
        &hello,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        "--release",
        "web",
        "-n",
        &ns,
        "--confirm",
    ]);
    wait_for_status(&c, &rel, "pending-install");
    let sent = Instant::now();
    signal(&child, libc::SIGHUP);
    let (status, elapsed, stderr) = finish(child, sent);
    assert_eq!(status.code(), Some(129), "{stderr}");
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(15)).contains(&elapsed),
        "exits after its grace of 10 s: {elapsed:?}"
    );
    assert!(stderr.contains("did not end within 10 s"), "{stderr}");
    drop(lock);

    // What it printed is what `state import` takes back.
    let saved = cli.sandbox.dir.path().join("install.err");
    fs::write(&saved, &stderr).unwrap();
    let out = cli
        .sandbox
        .run(&["state", "import", saved.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("imported the install record"), "{stdout}");
    assert_cancelled(&cli.last_record("web", &ns), Action::Install, 1, "SIGHUP");
}

#[test]
fn a_command_that_runs_no_action_exits_at_once_with_the_signals_code() {
    let sandbox = Sandbox::new();
    for (sig, code) in [
        (libc::SIGINT, 130),
        (libc::SIGTERM, 143),
        (libc::SIGHUP, 129),
    ] {
        // `state import -` waits on a stdin that never ends.
        let child = sandbox
            .command(&["state", "import", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        signal(&child, sig);
        let (status, elapsed, stderr) = finish(child, sent);
        assert_eq!(status.code(), Some(code), "{stderr}");
        assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
        assert!(stderr.contains("interrupted by SIG"), "{stderr}");
        assert!(!sandbox.state_path().exists(), "nothing was written");
    }
}
