//! Runs a command on a pseudo-terminal, as a user at a terminal runs it.
//!
//! The child's stdin, stdout and stderr are the terminal (the slave side);
//! the test holds the master side: it waits for text the child writes, types
//! answers, and collects the exit status and everything written.
//!
//! ```ignore
//! let mut session = Pty::spawn(command).expect("a pseudo-terminal");
//! session.expect("Proceed? [y/N]");
//! session.send("y\n");
//! let (status, output) = session.finish();
//! ```
//!
//! The terminal echoes what is typed and writes line ends as `\r\n`:
//! [`Pty::expect`] and [`Pty::finish`] return the text with `\r\n` made `\n`,
//! echoed answers included.
//!
//! Kept hand-written rather than taken from a crate (issue 11, item 7):
//! expectrl (through ptyprocess) and rexpect fork the test process
//! themselves, which runs tests on many threads, then allocate in the child
//! before exec (and rexpect's child returns into the harness when exec
//! fails); both turn echo off. portable-pty spawns soundly but only from
//! its own command type and has no expect. This spawns through std's
//! `Command`, whose `pre_exec` hook only calls setsid and ioctl.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long [`Pty::expect`] and [`Pty::finish`] wait unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the child has written so far, and whether it has closed the terminal.
#[derive(Default)]
struct Transcript {
    bytes: Vec<u8>,
    closed: bool,
}

/// A child process running on a pseudo-terminal.
pub struct Pty {
    child: Child,
    master: File,
    transcript: Arc<(Mutex<Transcript>, Condvar)>,
    reader: Option<JoinHandle<()>>,
    /// Where the next [`expect`](Pty::expect) starts looking.
    cursor: usize,
    timeout: Duration,
}

/// Opens a pseudo-terminal pair: (master, slave), both close-on-exec.
fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: openpty writes two descriptors into the ints we pass; the null
    // name, termios and winsize pointers are documented as "use defaults".
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded, so both are open descriptors that nothing
    // else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a descriptor we own; FD_CLOEXEC keeps the master
        // (and stray slave copies) out of the child, so the child's exit
        // closes the terminal's last slave and the master reads EOF.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((master, slave))
}

impl Pty {
    /// Starts `command` with its stdin, stdout and stderr on a new
    /// pseudo-terminal. Fails when no pseudo-terminal can be opened (a
    /// sandbox without /dev/ptmx): a test should fail saying so, not skip.
    pub fn spawn(mut command: Command) -> io::Result<Pty> {
        let (master, slave) = open_pty()?;
        // SAFETY: the hook runs in the child between fork and exec, after its
        // stdio is the slave, and calls only async-signal-safe functions.
        // It makes the terminal the child's controlling terminal, as a login
        // shell's is: in a new session, so the test's own terminal is not.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        let child = command.spawn()?;
        // The command holds our copies of the slave: dropped, the child holds
        // the only ones, and its exit ends the master's stream.
        drop(command);
        let master = File::from(master);
        let transcript = Arc::new((Mutex::new(Transcript::default()), Condvar::new()));
        let reader = {
            let mut master = master.try_clone()?;
            let transcript = Arc::clone(&transcript);
            thread::spawn(move || read_all(&mut master, &transcript))
        };
        Ok(Pty {
            child,
            master,
            transcript,
            reader: Some(reader),
            cursor: 0,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets how long [`expect`](Pty::expect) and [`finish`](Pty::finish)
    /// wait.
    pub fn timeout(mut self, timeout: Duration) -> Pty {
        self.timeout = timeout;
        self
    }

    /// Waits until the child has written `needle` (after what earlier calls
    /// matched) and returns the text up to and including it. Panics after
    /// the timeout, or when the child closes the terminal first, showing
    /// everything seen so far.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + self.timeout;
        let (lock, ready) = &*self.transcript;
        let mut transcript = lock.lock().unwrap();
        loop {
            // The cursor counts normalized text: what precedes a match never
            // changes as more arrives.
            let text = normalize(&transcript.bytes);
            if let Some(at) = text[self.cursor..].find(needle) {
                let end = self.cursor + at + needle.len();
                let matched = text[self.cursor..end].to_string();
                self.cursor = end;
                return matched;
            }
            let now = Instant::now();
            if transcript.closed || now >= deadline {
                let why = if transcript.closed {
                    "the child closed the terminal".to_string()
                } else {
                    format!("timed out after {:?}", self.timeout)
                };
                panic!("waiting for {needle:?} on the terminal: {why}; seen so far:\n{text}");
            }
            transcript = ready.wait_timeout(transcript, deadline - now).unwrap().0;
        }
    }

    /// Types `text` at the terminal (include `\n` to press Enter).
    pub fn send(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .and_then(|()| self.master.flush())
            .unwrap_or_else(|err| panic!("typing {text:?} at the terminal: {err}"));
    }

    /// Everything the child has written so far.
    pub fn output(&self) -> String {
        normalize(&self.transcript.0.lock().unwrap().bytes)
    }

    /// Waits for the child to exit and its output to end; returns the exit
    /// status and everything it wrote. Kills the child and panics after the
    /// timeout, showing what it wrote.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    self.kill();
                    panic!(
                        "the child did not exit within {:?}; it wrote:\n{}",
                        self.timeout,
                        self.output()
                    );
                }
                Err(err) => panic!("waiting for the child: {err}"),
            }
        };
        // A grandchild may still hold the terminal: wait for the end of the
        // stream only until the deadline, then take what there is.
        let (lock, ready) = &*self.transcript;
        let mut transcript = lock.lock().unwrap();
        while !transcript.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            transcript = ready.wait_timeout(transcript, deadline - now).unwrap().0;
        }
        let closed = transcript.closed;
        drop(transcript);
        if closed && let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.output())
    }
}

impl Pty {
    /// Kills the child and whatever it started: its session's process group.
    fn kill(&mut self) {
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: a plain syscall; the child leads its own session (see
            // spawn), so -pgid names only processes this test started.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // A test that panicked midway leaves no process behind.
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// Copies the master's stream into the transcript until it ends. Once the
/// last slave descriptor closes, Linux reports EIO rather than EOF: the same
/// end here.
fn read_all(master: &mut File, transcript: &(Mutex<Transcript>, Condvar)) {
    let (lock, ready) = transcript;
    let mut buf = [0u8; 4096];
    loop {
        let read = match master.read(&mut buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if err.raw_os_error() == Some(libc::EIO) => 0,
            Err(err) => panic!("reading the terminal: {err}"),
        };
        let mut transcript = lock.lock().unwrap();
        if read == 0 {
            transcript.closed = true;
        } else {
            transcript.bytes.extend_from_slice(&buf[..read]);
        }
        ready.notify_all();
        if read == 0 {
            return;
        }
    }
}

/// Terminal output as text: `\r\n` made `\n`, invalid UTF-8 replaced.
fn normalize(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}
