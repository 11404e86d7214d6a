//! Values inputs are bounded: what is not a regular file or a pipe
//! (`/dev/zero`, a directory, a socket) is refused at once, a pipe (a FIFO,
//! helm's `-f <(command)`) is read within the deadline, a file, a pipe or
//! standard input past the size limit is refused having read at most one
//! byte past it, and YAML nested past Helm's depth is refused fast; each
//! refusal with exit 2, a message naming the input, and a small peak RSS.
//! Go's own log lines (Helm's, client-go's) arrive as the call's events.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use chainctl_core::{
    CancelToken, ChartSource, Client, ErrorKind, Event, EventHandler, EventLevel, ReleaseOptions,
    Storage, diagnostic_call_with,
};
use support::chainctl::Sandbox;
use support::testenv;

/// Peak RSS allowed for any refusal.
const MAX_RSS_KIB: i64 = 128 * 1024;

struct Run {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    max_rss_kib: i64,
}

/// Runs `cmd` to its end, killing it after `limit` (a hang fails the test,
/// it does not block it), and measures its peak RSS.
///
/// The peak is the largest VmHWM read from /proc while it runs, every
/// millisecond: rusage's ru_maxrss cannot serve, as Linux carries the
/// forking parent's (this test's) high-water mark across exec.
fn measure(mut cmd: Command, stdin: Stdio, limit: Duration) -> Run {
    let start = Instant::now();
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chainctl starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut out).ok();
        out
    });
    let mut max_rss_kib = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        {
            max_rss_kib = max_rss_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "still running after {limit:?}, killed; stderr: {}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    Run {
        code: status.code(),
        stderr: reader.join().unwrap(),
        elapsed: start.elapsed(),
        max_rss_kib,
    }
}

fn dry_run(sandbox: &Sandbox, values: &[&str]) -> Command {
    let args: Vec<&str> = [
        &[
            "app",
            "install",
            "--bundle",
            "examples/charts/hello",
            "--release",
            "hello",
            "--namespace",
            "demo",
            "--dry-run",
        ][..],
        values,
    ]
    .concat();
    sandbox.command(&args)
}

/// The refusal every case must be: exit 2, the words expected, fast, small.
fn assert_refused(case: &str, run: &Run, words: &[&str]) {
    eprintln!(
        "{case}: exit {:?} in {:?}, peak RSS {} KiB",
        run.code, run.elapsed, run.max_rss_kib
    );
    assert_eq!(run.code, Some(2), "{case}: {}", run.stderr);
    for word in words {
        assert!(
            run.stderr.contains(word),
            "{case}: {:?} lacks {word:?}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("goroutine ") && !run.stderr.contains("panic"),
        "{case}: {}",
        run.stderr
    );
    assert!(
        run.max_rss_kib < MAX_RSS_KIB,
        "{case}: peak RSS {} KiB",
        run.max_rss_kib
    );
    assert!(
        run.elapsed < Duration::from_secs(5),
        "{case}: took {:?}",
        run.elapsed
    );
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

#[test]
fn values_that_are_not_regular_files_are_refused_without_blocking() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("values.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let cases: [(&str, PathBuf, &str); 3] = [
        (
            "dev-zero",
            "/dev/zero".into(),
            "/dev/zero is a character device",
        ),
        ("directory", dir.path().to_owned(), "is a directory"),
        ("socket", socket, "is a socket"),
    ];
    for (case, path, what) in &cases {
        let run = measure(
            dry_run(&sandbox, &["-f", path_arg(path)]),
            Stdio::null(),
            Duration::from_secs(20),
        );
        assert_refused(case, &run, &[path_arg(path), what]);
        let set_file = format!("blob={}", path_arg(path));
        let run = measure(
            dry_run(&sandbox, &["--set-file", &set_file]),
            Stdio::null(),
            Duration::from_secs(20),
        );
        assert_refused(&format!("{case} --set-file"), &run, &["--set-file", what]);
    }
}

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path_arg(path)).unwrap();
    // SAFETY: c_path is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

/// Opens `fifo` for writing in a thread (the open waits for chainctl to
/// open it for reading) and writes with `write` until it returns or fails.
fn write_fifo(
    fifo: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let fifo = fifo.to_owned();
    std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        // Past the limit chainctl closes its end: the write fails (EPIPE).
        let _ = write(&mut w);
    })
}

#[test]
fn values_from_pipes_are_read_within_the_deadline_and_the_limit() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("values.fifo");
    mkfifo(&fifo);

    // A FIFO whose writer writes values: merged.
    let writer = write_fifo(&fifo, |w| w.write_all(b"greeting: from a fifo\n"));
    let out = dry_run(&sandbox, &["-f", path_arg(&fifo)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("greeting: \"from a fifo\""), "{stdout}");
    writer.join().unwrap();

    // helm's -f <(command): bash gives /dev/fd/63, an anonymous pipe.
    let inner = dry_run(&sandbox, &[]);
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(r#"exec "$@" -f <(printf 'greeting: from a process substitution\n')"#)
        .arg("bash")
        .arg(inner.get_program())
        .args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => bash.env(key, value),
            None => bash.env_remove(key),
        };
    }
    let out = bash.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("greeting: \"from a process substitution\""),
        "{stdout}"
    );

    // A FIFO no writer opens: refused at the deadline (--timeout), naming it.
    let run = measure(
        dry_run(&sandbox, &["-f", path_arg(&fifo), "--timeout", "2s"]),
        Stdio::null(),
        Duration::from_secs(20),
    );
    assert_refused(
        "fifo with no writer",
        &run,
        &[
            path_arg(&fifo),
            "is a named pipe (FIFO) that no writer opened within",
        ],
    );
    assert!(
        run.elapsed >= Duration::from_millis(1500),
        "{:?}",
        run.elapsed
    );

    // An endless writer: cut at the limit, memory small.
    let writer = write_fifo(&fifo, |w| {
        w.write_all(b"greeting: ")?;
        let chunk = vec![b'x'; 1 << 16];
        loop {
            w.write_all(&chunk)?;
        }
    });
    let run = measure(
        dry_run(&sandbox, &["-f", path_arg(&fifo)]),
        Stdio::null(),
        Duration::from_secs(20),
    );
    assert_refused(
        "endless fifo",
        &run,
        &[path_arg(&fifo), "is larger than 16 MiB"],
    );
    writer.join().unwrap();
}

#[test]
fn values_past_the_size_limit_are_refused_before_memory_grows() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    // A sparse 1 GiB file: refused from its size, never read.
    let huge = dir.path().join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let run = measure(
        dry_run(&sandbox, &["-f", path_arg(&huge)]),
        Stdio::null(),
        Duration::from_secs(20),
    );
    assert_refused("1 GiB file", &run, &[path_arg(&huge), "larger than 16 MiB"]);
    let set_file = format!("blob={}", path_arg(&huge));
    let run = measure(
        dry_run(&sandbox, &["--set-file", &set_file]),
        Stdio::null(),
        Duration::from_secs(20),
    );
    assert_refused(
        "1 GiB --set-file",
        &run,
        &["--set-file", "larger than 16 MiB"],
    );

    // Endless standard input: read up to the limit, then refused.
    let run = measure(
        dry_run(&sandbox, &["-f", "-"]),
        Stdio::from(std::fs::File::open("/dev/zero").unwrap()),
        Duration::from_secs(20),
    );
    assert_refused(
        "endless stdin",
        &run,
        &["standard input (-f -) are larger than 16 MiB"],
    );
}

#[test]
fn set_file_from_standard_input_is_bounded_too() {
    let sandbox = Sandbox::new();
    let run = measure(
        dry_run(&sandbox, &["--set-file", "greeting=-"]),
        Stdio::from(std::fs::File::open("/dev/zero").unwrap()),
        Duration::from_secs(20),
    );
    assert_refused(
        "--set-file from endless stdin",
        &run,
        &["--set-file", "standard input (-) is larger than 16 MiB"],
    );
    let mut child = dry_run(&sandbox, &["--set-file", "greeting=-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("greeting: \"piped\""), "{stdout}");
}

#[test]
fn standard_input_within_the_limit_still_works() {
    let sandbox = Sandbox::new();
    let mut child = dry_run(&sandbox, &["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"greeting: from stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("greeting: \"from stdin\""), "{stdout}");
}

#[test]
fn deep_nesting_is_refused_fast_naming_the_file_and_the_depth() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("brackets", "[".repeat(100_000)),
        ("braces", format!("a: {}", "{a: ".repeat(100_000))),
        ("dashes", format!("{}x\n", "- ".repeat(100_000))),
    ];
    for (case, content) in &cases {
        let file = dir.path().join(format!("{case}.yaml"));
        std::fs::write(&file, content).unwrap();
        let run = measure(
            dry_run(&sandbox, &["-f", path_arg(&file)]),
            Stdio::null(),
            Duration::from_secs(20),
        );
        assert_refused(case, &run, &[path_arg(&file), "deeper than 10000 levels"]);
        // The whole run, process start included, on a shared machine.
        assert!(
            run.elapsed < Duration::from_secs(2),
            "{case}: {:?}",
            run.elapsed
        );
    }
    // Block indentation one space per level passes Helm's depth only past
    // the size limit: that refuses it first.
    let mut indented = String::new();
    for depth in 0..6000 {
        indented.push_str(&" ".repeat(depth));
        indented.push_str("a:\n");
    }
    let file = dir.path().join("indented.yaml");
    std::fs::write(&file, indented).unwrap();
    let run = measure(
        dry_run(&sandbox, &["-f", path_arg(&file)]),
        Stdio::null(),
        Duration::from_secs(20),
    );
    assert_refused("indented", &run, &["larger than 16 MiB"]);
}

#[test]
fn a_pipe_is_read_once_when_the_options_are_built_so_a_plan_and_its_action_agree() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("values.fifo");
    mkfifo(&fifo);
    let writer = write_fifo(&fifo, |w| w.write_all(b"greeting: read once\n"));
    let opts = ReleaseOptions::builder("web", "prod")
        .values_file(&fifo)
        .build()
        .unwrap();
    writer.join().unwrap();
    // The writer is gone: what the pipe gave is in the options, for the
    // plan's merge and the action's alike.
    let client = Client::builder().build().unwrap();
    for pass in ["plan", "action"] {
        let merged = client.merge_values(&opts).unwrap();
        assert_eq!(merged.values["greeting"], "read once", "{pass}");
    }
    // Errors name the pipe by its path, as Helm names files.
    let writer = write_fifo(&fifo, |w| w.write_all(b"greeting: [unclosed\n"));
    let bad = ReleaseOptions::builder("web", "prod")
        .values_file(&fifo)
        .build()
        .unwrap();
    writer.join().unwrap();
    let msg = client.merge_values(&bad).unwrap_err().to_string();
    assert!(msg.contains(path_arg(&fifo)), "{msg}");
}

#[test]
fn the_library_limit_is_a_release_option() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v.yaml");
    std::fs::write(&file, format!("greeting: {}\n", "x".repeat(2000))).unwrap();
    let client = Client::builder().build().unwrap();
    let small = ReleaseOptions::builder("web", "prod")
        .values_file(&file)
        .values_size_limit(1024)
        .build()
        .unwrap();
    let err = client.merge_values(&small).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.contains(path_arg(&file)) && msg.contains("larger than 1 KiB"),
        "{msg}"
    );
    let default = ReleaseOptions::builder("web", "prod")
        .values_file(&file)
        .build()
        .unwrap();
    assert_eq!(
        client.merge_values(&default).unwrap().values["greeting"]
            .as_str()
            .map(str::len),
        Some(2000)
    );
    let err = ReleaseOptions::builder("web", "prod")
        .values_size_limit(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn helms_log_lines_arrive_as_events_of_the_call() {
    // Helm's values coalescing logs through Go's standard logger when a
    // user table meets one of the chart's scalars (helm prints
    // "coalesce.go:237: warning: skipped value for hello.greeting: Not a
    // table." on stderr).
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let client = Client::builder()
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let chart = ChartSource::bundle(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/charts/hello"
    ))
    .unwrap();
    let opts = ReleaseOptions::builder("hello", "demo")
        .set("greeting.x=1")
        .build()
        .unwrap();
    let _ = client.render(&chart, &opts);
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(|e| e.level == EventLevel::Warn
            && e.message.contains("skipped value for hello.greeting")),
        "no warning about the replaced table among {events:#?}"
    );
}

#[test]
fn klog_and_go_log_lines_reach_the_calls_handler_at_their_level() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let handler: EventHandler = Arc::new(move |e: &Event| sink.lock().unwrap().push(e.clone()));
    diagnostic_call_with(
        "debug.log",
        r#"{"stdlib":"a debug line","klogWarning":"Warning: apps/v1beta1 is deprecated"}"#,
        None,
        &CancelToken::new(),
        Some(&handler),
    )
    .unwrap();
    let seen = seen.lock().unwrap();
    let levels: Vec<_> = seen.iter().map(|e| (e.level, e.message.as_str())).collect();
    assert_eq!(
        levels,
        [
            (EventLevel::Debug, "a debug line"),
            (EventLevel::Warn, "apps/v1beta1 is deprecated"),
        ]
    );
}

#[test]
fn api_server_warnings_logged_by_client_go_arrive_as_warn_events() {
    // The API server warns of a Deployment whose pods carry the seccomp
    // alpha annotation; client-go logs the Warning header through klog
    // (helm prints "W... warnings.go:...] ..." on stderr).
    let cluster = testenv::Cluster::shared();
    let chart = tempfile::tempdir().unwrap();
    std::fs::create_dir(chart.path().join("templates")).unwrap();
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: warned\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.path().join("templates/deploy.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 0
  selector:
    matchLabels: {app: warned}
  template:
    metadata:
      labels: {app: warned}
      annotations:
        seccomp.security.alpha.kubernetes.io/pod: runtime/default
    spec:
      containers:
        - name: pause
          image: registry.k8s.io/pause:3.10
"#,
    )
    .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let mut builder = Client::builder()
        .storage(Storage::Secret)
        .kubeconfig(&cluster.kubeconfig)
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    if let Some(context) = &cluster.context {
        builder = builder.kube_context(context);
    }
    let client = builder.build().unwrap();
    let ns = format!("warned-{}", std::process::id());
    let opts = ReleaseOptions::builder("warned", &ns)
        .create_namespace(true)
        .build()
        .unwrap();
    client
        .install(&ChartSource::bundle(chart.path()).unwrap(), &opts)
        .unwrap();
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(|e| e.level == EventLevel::Warn
            && e.message
                .contains("seccomp.security.alpha.kubernetes.io/pod")),
        "no API server warning among {events:#?}"
    );
}
