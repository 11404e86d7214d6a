//! Proves the test-registry harness (tests/support/testenv.rs and the Go
//! program in tests/testenv): what the registries answer, the access log,
//! and that no registry process outlives its owner. TLS and basic auth are
//! checked by the Go tests in tests/testenv, run here as well, since Rust's
//! std has no TLS client.

mod support;
use support::testenv;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use testenv::{Registries, Request};

/// Sends a bare HTTP/1.1 GET and returns the status code and the whole response.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // One write: write! would send pieces, and a server that answers and
    // closes after the first piece (see tls_registry_refuses_plain_http)
    // would make the next one fail with EPIPE or draw a reset.
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"));
    (status, resp)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn plain_registry_answers_v2() {
    let r = Registries::shared();
    let (status, resp) = http_get(&r.plain, "/v2/");
    assert_eq!(status, 200, "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0"),
        "{resp}"
    );
}

#[test]
fn tls_registry_refuses_plain_http() {
    let r = Registries::shared();
    // Go's server answers a plain request on a TLS port itself, before any
    // handler (so the access log does not see it).
    let (status, resp) = http_get(&r.tls, "/v2/");
    assert_eq!(status, 400, "{resp}");
    assert!(resp.starts_with("HTTP/1.0 400 Bad Request"), "{resp}");
    assert!(
        resp.ends_with("Client sent an HTTP request to an HTTPS server.\n"),
        "{resp}"
    );

    let ca = std::fs::read_to_string(&r.ca_file).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert_eq!(r.username, "chainctl");
    assert!(!r.password.is_empty());
}

#[test]
fn access_log_counts_each_request() {
    let r = Registries::shared();
    // A repository no other test uses, since tests share the instance.
    let path = format!("/v2/registry-env/count-{}/tags/list", std::process::id());
    let mine = || -> Vec<Request> {
        r.requests()
            .into_iter()
            .filter(|q| q.path == path)
            .collect()
    };
    assert!(mine().is_empty());

    for _ in 0..3 {
        let (status, resp) = http_get(&r.plain, &path);
        assert_eq!(status, 404, "{resp}");
    }
    let want = Request {
        registry: "plain".into(),
        method: "GET".into(),
        path: path.clone(),
        status: 404,
    };
    // Each line is written before its response goes out: no waiting needed.
    assert_eq!(mine(), vec![want; 3]);
}

#[test]
fn tls_and_basic_auth_go_tests() {
    // Build the harness first, with the same flags, so that on a cold Go
    // build cache the dependencies compile once, not twice in parallel.
    testenv::binary();
    for args in [
        &["vet", "-trimpath", "./..."][..],
        &["test", "-trimpath", "-count=1", "./..."][..],
    ] {
        let out = testenv::go_command()
            .args(args)
            .current_dir(testenv::source_dir())
            .env("GOWORK", "off")
            .env("CGO_ENABLED", "0")
            .output()
            .expect("run go (Go is needed for the test registries)");
        assert!(
            out.status.success(),
            "go {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn dropping_registries_stops_the_child() {
    let r = Registries::start();
    let proc_dir = format!("/proc/{}", r.pid());
    let dir = r.ca_file.parent().unwrap().to_owned();
    assert!(Path::new(&proc_dir).exists());
    assert_eq!(http_get(&r.plain, "/v2/").0, 200);

    drop(r);
    wait_until(&format!("{proc_dir} is gone"), || {
        !Path::new(&proc_dir).exists()
    });
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

/// What `Registries::shared()` relies on: when the stdin pipe closes, as it
/// does when the test process exits, the child stops and removes its -dir.
#[test]
fn closing_stdin_stops_the_child() {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut child = std::process::Command::new(testenv::binary())
        .arg("-dir")
        .arg(&dir)
        .args(["-password", "pw", "-rm-dir"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    let plain = ready["plain"].as_str().unwrap().to_owned();
    assert_eq!(http_get(&plain, "/v2/").0, 200);

    drop(child.stdin.take());
    wait_until("the child exits", || child.try_wait().unwrap().is_some());
    assert!(child.wait().unwrap().success());
    assert!(!dir.exists(), "{} was not removed", dir.display());
}
