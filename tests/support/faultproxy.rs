//! A fault-injecting proxy on 127.0.0.1, in front of a real registry (HTTP
//! mode: it reads each request and answer, and can stall, cut, corrupt or
//! replace the answer) or a real API server (TCP mode: bytes pass through
//! untouched, TLS included, unless the proxy is told to stall).
//!
//! Each accepted connection carries one request (the proxy answers with
//! `Connection: close`). Every loop is bounded: a stalled connection is
//! held at most [`MAX_STALL`], an endless body stops after [`MAX_ENDLESS`]
//! bytes or when the client goes away, and everything stops when the proxy
//! is dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a stalled connection is held open at most.
pub const MAX_STALL: Duration = Duration::from_secs(60);
/// How much an endless body sends at most.
pub const MAX_ENDLESS: u64 = 8 << 30;

/// What the proxy does to requests whose path contains `path` (every
/// request when the fault has no path).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Pass everything through.
    None,
    /// Accept the connection, then read nothing and answer nothing.
    StallAfterAccept,
    /// TCP mode: pass the first `n` bytes from the server through, then
    /// nothing more in either direction (a stall in mid-stream).
    StallAfterBytes(u64),
    /// Send the answer's headers and half its body, then nothing more.
    StallMidBody { path: &'static str },
    /// Answer with this HTTP status and a registry error document.
    Status { path: &'static str, code: u16 },
    /// Reset the connection (TCP RST) instead of answering.
    Reset { path: &'static str },
    /// Announce the whole body, send half of it and close.
    Truncate { path: &'static str },
    /// Flip one bit in the middle of the body.
    FlipByte { path: &'static str },
    /// Replace the Docker-Content-Digest header with another digest.
    WrongDigestHeader { path: &'static str },
    /// Answer every manifest request (HEAD or GET) with this manifest.
    Manifest { body: Vec<u8> },
    /// Send the real body, then zeros without end (no Content-Length).
    EndlessBody { path: &'static str },
}

impl Fault {
    fn path(&self) -> Option<&'static str> {
        match self {
            Fault::None | Fault::StallAfterAccept | Fault::StallAfterBytes(_) => None,
            Fault::Manifest { .. } => Some("/manifests/"),
            Fault::StallMidBody { path }
            | Fault::Status { path, .. }
            | Fault::Reset { path }
            | Fault::Truncate { path }
            | Fault::FlipByte { path }
            | Fault::WrongDigestHeader { path }
            | Fault::EndlessBody { path } => Some(path),
        }
    }
}

/// One request the proxy saw: method, path and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub faulted: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Http,
    Tcp,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// An HTTP proxy for `upstream` (host:port of a plain-HTTP registry) on
    /// a free port.
    pub fn http(upstream: &str) -> FaultProxy {
        Self::bind(upstream, 0, Mode::Http).expect("bind a loopback port")
    }

    /// A TCP proxy for `upstream` (an API server's host:port) on a free port.
    pub fn tcp(upstream: &str) -> FaultProxy {
        Self::bind(upstream, 0, Mode::Tcp).expect("bind a loopback port")
    }

    /// An HTTP proxy on 127.0.0.1:`port` exactly, or the error of binding it.
    pub fn http_on(upstream: &str, port: u16) -> io::Result<FaultProxy> {
        Self::bind(upstream, port, Mode::Http)
    }

    fn bind(upstream: &str, port: u16, mode: Mode) -> io::Result<FaultProxy> {
        let upstream: SocketAddr = upstream.parse().expect("upstream is host:port");
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let proxy = FaultProxy {
            addr: listener.local_addr()?,
            upstream,
            fault: Arc::new(Mutex::new(Fault::None)),
            seen: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (fault, seen, stop) = (proxy.fault.clone(), proxy.seen.clone(), proxy.stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let ctx = Conn {
                            upstream,
                            fault: fault.lock().unwrap().clone(),
                            seen: seen.clone(),
                            stop: stop.clone(),
                        };
                        thread::spawn(move || {
                            let _ = match mode {
                                Mode::Http => ctx.serve_http(client),
                                Mode::Tcp => ctx.serve_tcp(client),
                            };
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(proxy)
    }

    /// host:port of the proxy.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Applies to connections accepted from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
        self.seen.lock().unwrap().clear();
    }

    /// The requests seen since the last [`set`](Self::set).
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// A GET straight to the upstream registry: (status, headers, body).
    pub fn upstream_get(&self, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut up = TcpStream::connect(self.upstream).expect("connect to the registry");
        write!(
            up,
            "GET {path} HTTP/1.0\r\nHost: {}\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\n\r\n",
            self.upstream
        )
        .unwrap();
        let answer = read_answer(&mut BufReader::new(up)).expect("the registry answers");
        (answer.status, answer.headers, answer.body)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct Conn {
    upstream: SocketAddr,
    fault: Fault,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

struct Answer {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads a status line, headers and (HTTP/1.0, so until EOF) the body.
fn read_answer(r: &mut impl BufRead) -> io::Result<Answer> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let _proto = parts.next();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let headers = read_headers(r)?;
    let mut body = Vec::new();
    r.read_to_end(&mut body)?;
    Ok(Answer {
        status,
        reason,
        headers,
        body,
    })
}

fn read_headers(r: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(headers);
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

impl Conn {
    /// Holds `conn` open, doing nothing, until the proxy stops or MAX_STALL.
    fn stall(&self, conn: TcpStream) {
        let start = Instant::now();
        while !self.stop.load(Ordering::SeqCst) && start.elapsed() < MAX_STALL {
            thread::sleep(Duration::from_millis(20));
        }
        drop(conn);
    }

    fn serve_tcp(self, client: TcpStream) -> io::Result<()> {
        if let Fault::StallAfterAccept = self.fault {
            self.seen.lock().unwrap().push(Seen {
                method: "TCP".into(),
                path: String::new(),
                faulted: true,
            });
            self.stall(client);
            return Ok(());
        }
        let upstream = TcpStream::connect(self.upstream)?;
        let (mut c_read, mut u_write) = (client.try_clone()?, upstream.try_clone()?);
        let pump = thread::spawn(move || {
            let _ = io::copy(&mut c_read, &mut u_write);
            let _ = u_write.shutdown(Shutdown::Write);
        });
        let (mut u_read, mut c_write) = (upstream, client);
        match self.fault {
            Fault::StallAfterBytes(n) => {
                let mut limited = (&mut u_read).take(n);
                let _ = io::copy(&mut limited, &mut c_write);
                self.seen.lock().unwrap().push(Seen {
                    method: "TCP".into(),
                    path: format!("stalled after {n} bytes"),
                    faulted: true,
                });
                // Hold both ends: the client's requests reach the server,
                // its answers never come back.
                self.stall(c_write);
                drop(u_read);
            }
            _ => {
                let _ = io::copy(&mut u_read, &mut c_write);
                let _ = c_write.shutdown(Shutdown::Write);
            }
        }
        let _ = pump.join();
        Ok(())
    }

    fn serve_http(self, client: TcpStream) -> io::Result<()> {
        if let Fault::StallAfterAccept = self.fault {
            self.seen.lock().unwrap().push(Seen {
                method: "?".into(),
                path: String::new(),
                faulted: true,
            });
            self.stall(client);
            return Ok(());
        }
        client.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut reader = BufReader::new(client.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut fields = request_line.split_whitespace();
        let method = fields.next().unwrap_or("").to_string();
        let target = fields.next().unwrap_or("").to_string();
        let headers = read_headers(&mut reader)?;
        let mut body = vec![
            0;
            header(&headers, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        ];
        reader.read_exact(&mut body)?;
        let path = target.split('?').next().unwrap_or("").to_string();
        let faulted = self.fault.path().is_some_and(|p| path.contains(p));
        self.seen.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path.clone(),
            faulted,
        });
        let mut client = client;
        if faulted {
            match &self.fault {
                Fault::Reset { .. } => {
                    reset(&client);
                    return Ok(());
                }
                Fault::Status { code, .. } => {
                    let doc = format!(
                        r#"{{"errors":[{{"code":"UNKNOWN","message":"injected HTTP {code}","detail":null}}]}}"#
                    );
                    let mut extra =
                        vec![("Content-Type".to_string(), "application/json".to_string())];
                    if *code == 429 {
                        extra.push(("Retry-After".into(), "1".into()));
                    }
                    return write_answer(
                        &mut client,
                        *code,
                        "Injected",
                        &extra,
                        doc.as_bytes(),
                        &method,
                    );
                }
                Fault::Manifest { body } => {
                    let headers = vec![
                        (
                            "Content-Type".to_string(),
                            "application/vnd.oci.image.manifest.v1+json".to_string(),
                        ),
                        (
                            "Docker-Content-Digest".to_string(),
                            format!("sha256:{}", sha256_hex(body)),
                        ),
                    ];
                    return write_answer(&mut client, 200, "OK", &headers, body, &method);
                }
                _ => {}
            }
        }

        // Forward as HTTP/1.0, so the answer is delimited by EOF.
        let mut up = TcpStream::connect(self.upstream)?;
        up.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(up, "{method} {target} HTTP/1.0\r\n")?;
        for (k, v) in &headers {
            if !k.eq_ignore_ascii_case("connection") && !k.eq_ignore_ascii_case("keep-alive") {
                write!(up, "{k}: {v}\r\n")?;
            }
        }
        write!(up, "\r\n")?;
        up.write_all(&body)?;
        let mut answer = read_answer(&mut BufReader::new(up))?;
        let keep: Vec<(String, String)> = answer
            .headers
            .iter()
            .filter(|(k, _)| {
                ![
                    "connection",
                    "content-length",
                    "transfer-encoding",
                    "keep-alive",
                ]
                .iter()
                .any(|h| k.eq_ignore_ascii_case(h))
            })
            .cloned()
            .collect();
        if !faulted || answer.status != 200 {
            return write_answer(
                &mut client,
                answer.status,
                &answer.reason,
                &keep,
                &answer.body,
                &method,
            );
        }
        let len = answer.body.len();
        match &self.fault {
            Fault::StallMidBody { .. } => {
                write_head(&mut client, answer.status, &answer.reason, &keep, Some(len))?;
                if method != "HEAD" {
                    client.write_all(&answer.body[..len / 2])?;
                }
                client.flush()?;
                self.stall(client);
                Ok(())
            }
            Fault::Truncate { .. } => {
                write_head(&mut client, answer.status, &answer.reason, &keep, Some(len))?;
                if method != "HEAD" {
                    client.write_all(&answer.body[..len / 2])?;
                }
                Ok(())
            }
            Fault::FlipByte { .. } => {
                if len > 0 {
                    answer.body[len / 2] ^= 0x20;
                }
                write_answer(
                    &mut client,
                    answer.status,
                    &answer.reason,
                    &keep,
                    &answer.body,
                    &method,
                )
            }
            Fault::WrongDigestHeader { .. } => {
                let wrong = format!("sha256:{}", sha256_hex(b"not what was asked for"));
                let mut headers: Vec<_> = keep
                    .into_iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("docker-content-digest"))
                    .collect();
                headers.push(("Docker-Content-Digest".into(), wrong));
                write_answer(
                    &mut client,
                    answer.status,
                    &answer.reason,
                    &headers,
                    &answer.body,
                    &method,
                )
            }
            Fault::EndlessBody { .. } => {
                if method == "HEAD" {
                    // A HEAD has no body to lie with.
                    return write_answer(
                        &mut client,
                        answer.status,
                        &answer.reason,
                        &keep,
                        &answer.body,
                        &method,
                    );
                }
                write_head(&mut client, answer.status, &answer.reason, &keep, None)?;
                client.write_all(&answer.body)?;
                let zeros = vec![0u8; 64 * 1024];
                let mut sent = 0u64;
                while sent < MAX_ENDLESS && !self.stop.load(Ordering::SeqCst) {
                    if client.write_all(&zeros).is_err() {
                        break;
                    }
                    sent += zeros.len() as u64;
                }
                Ok(())
            }
            _ => write_answer(
                &mut client,
                answer.status,
                &answer.reason,
                &keep,
                &answer.body,
                &method,
            ),
        }
    }
}

fn write_head(
    w: &mut impl Write,
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    len: Option<usize>,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(len) = len {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    w.write_all(head.as_bytes())
}

fn write_answer(
    w: &mut impl Write,
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    body: &[u8],
    method: &str,
) -> io::Result<()> {
    write_head(w, status, reason, headers, Some(body.len()))?;
    if method != "HEAD" {
        w.write_all(body)?;
    }
    w.flush()
}

/// Closes `conn` with a TCP RST (SO_LINGER 0) instead of a FIN.
fn reset(conn: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = conn.shutdown(Shutdown::Read);
}
