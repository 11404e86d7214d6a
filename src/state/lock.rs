//! The cross-process lock held across a read-modify-write of the state
//! file: `File::lock` on a sibling `<state file>.lock`, which also says who
//! holds it.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::record::current_operator;
use super::time::Timestamp;
use crate::error::{Error, Result};

/// Who holds a state file's lock, as written into the lock file by the
/// holder (the idea of Terraform's `LockInfo`).
///
/// ```
/// use chainctl_core::state::LockInfo;
/// let me = LockInfo::for_this_process();
/// assert_eq!(me.pid, std::process::id());
/// assert!(me.to_string().starts_with(&format!("pid {} on ", me.pid)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockInfo {
    /// Process id of the holder.
    pub pid: u32,
    /// Host name of the machine it runs on.
    pub host: String,
    /// [`current_operator`] of the holder.
    pub operator: String,
    /// When it took the lock.
    pub since: Timestamp,
}

impl LockInfo {
    /// This process, now.
    ///
    /// ```
    /// let me = chainctl_core::state::LockInfo::for_this_process();
    /// assert!(!me.host.is_empty());
    /// ```
    pub fn for_this_process() -> LockInfo {
        LockInfo {
            pid: std::process::id(),
            host: host_name(),
            operator: current_operator(),
            since: Timestamp::now(),
        }
    }

    /// Whether the holder is known to be gone: it ran on this host and no
    /// process has its pid. (A lock dies with its process, so then the
    /// details are stale and the lock has changed hands.)
    fn is_gone(&self) -> bool {
        if self.host != host_name() {
            return false;
        }
        !process_exists(self.pid)
    }
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on {} (operator {}) since {}",
            self.pid, self.host, self.operator, self.since
        )
    }
}

/// Whether a process with `pid` exists (it may belong to another user):
/// `kill(pid, 0)` sends nothing, and `EPERM` means someone else's process.
fn process_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) | Err(rustix::io::Errno::PERM) => true,
        Err(_) => false,
    }
}

/// This machine's host name (uname's node name), or `unknown-host`.
fn host_name() -> String {
    let uname = rustix::system::uname();
    match uname.nodename().to_string_lossy() {
        name if name.is_empty() => "unknown-host".into(),
        name => name.into_owned(),
    }
}

/// The lock file of one state file, open for the life of the store.
#[derive(Debug)]
pub(crate) struct StateLock {
    file: File,
    path: PathBuf,
}

/// Holds the lock until dropped. It owns a duplicate of the lock file's
/// descriptor (the lock belongs to the open file, which both share), so the
/// store stays free to change itself while holding it.
#[derive(Debug)]
pub(crate) struct LockGuard {
    file: File,
}

impl StateLock {
    /// Opens (creating, mode 0600) the lock file at `path`. A symlink there
    /// is refused.
    pub(crate) fn open(path: &Path) -> io::Result<StateLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)?;
        Ok(StateLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Takes the lock, waiting up to `timeout` (polling with backoff), and
    /// writes this process's [`LockInfo`] into the file. `what` names the
    /// state file for the error.
    pub(crate) fn acquire(&self, timeout: Duration, what: &Path) -> Result<LockGuard> {
        let start = Instant::now();
        // Start short (a record takes milliseconds to write) and back off;
        // the pid spreads waiters apart so they do not poll in step.
        let mut delay = Duration::from_micros(500 + u64::from(std::process::id() % 500));
        loop {
            match self.file.try_lock() {
                Ok(()) => {
                    let guard = match self.file.try_clone() {
                        Ok(file) => LockGuard { file },
                        Err(e) => {
                            let _ = self.file.unlock();
                            return Err(Error::state(
                                format!("cannot hold the lock {}", self.path.display()),
                                Some(&self.path),
                                Some(e),
                            ));
                        }
                    };
                    self.write_info(&LockInfo::for_this_process());
                    return Ok(guard);
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(Error::state(
                        format!(
                            "cannot lock {} (for {})",
                            self.path.display(),
                            what.display()
                        ),
                        Some(&self.path),
                        Some(e),
                    ));
                }
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(self.timeout_error(what, waited));
            }
            std::thread::sleep(delay.min(timeout - waited));
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// The holder's details are for people; failing to write them must not
    /// stop the write they guard.
    fn write_info(&self, info: &LockInfo) {
        let text = serde_json::to_string(info).expect("lock info serializes") + "\n";
        let _ = self.file.set_len(0);
        let _ = self.file.write_all_at(text.as_bytes(), 0);
    }

    /// Who holds the lock, if the holder left its details.
    pub(crate) fn holder(&self) -> Option<LockInfo> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        serde_json::from_str(text.trim()).ok()
    }

    fn timeout_error(&self, what: &Path, waited: Duration) -> Error {
        let lock = self.path.display();
        let waited = format!("{:.1}s", waited.as_secs_f64());
        let holder = self.holder();
        let message = match holder.clone() {
            Some(holder) if holder.is_gone() => format!(
                "{} is locked; waited {waited}. The last holder that left its details ({holder}) \
                 has exited, so the lock has just changed hands: retrying should work.",
                what.display()
            ),
            Some(holder) => {
                let held = Timestamp::now().millis_since(holder.since) / 1000;
                format!(
                    "{} is locked by another chainctl: {holder}, held for {held}s; waited {waited}. \
                     A run holds the lock only while it writes its record, so retrying shortly \
                     should work; if that process is stuck, stop it (the lock is released when it \
                     exits). Lock file: {lock}",
                    what.display()
                )
            }
            None => format!(
                "{} is locked by a process that left no details in {lock}; waited {waited}. \
                 Retry shortly; if it stays locked, find the holder with `fuser {lock}` or \
                 `lsof {lock}`.",
                what.display()
            ),
        };
        Error::State {
            message,
            path: Some(what.to_path_buf()),
            locked: Some(Box::new(crate::error::Locked {
                lock_file: self.path.clone(),
                holder,
            })),
            problem: None,
            source: None,
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Clear the details first so a waiter never blames a finished run.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_exists_while_it_runs_and_not_once_reaped() {
        assert!(process_exists(std::process::id()));
        // pid 1 exists in every pid namespace, whoever owns it (EPERM).
        assert!(process_exists(1));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_exists(pid), "pid {pid} was reaped");
        // Not pids at all: kill(0, 0) would ask about our process group.
        assert!(!process_exists(0));
        assert!(!process_exists(u32::MAX));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_host_name_is_the_kernels() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(host_name(), kernel.trim_end());
    }

    #[test]
    fn timeout_names_the_holder_and_whether_retrying_helps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json.lock");
        let holder = StateLock::open(&path).unwrap();
        let waiter = StateLock::open(&path).unwrap();
        let guard = holder
            .acquire(Duration::from_secs(1), Path::new("/s.json"))
            .unwrap();
        let info = waiter.holder().unwrap();
        assert_eq!(info.pid, std::process::id());

        let started = Instant::now();
        let err = waiter
            .acquire(Duration::from_millis(150), Path::new("/s.json"))
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(150));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("since ") && msg.contains("retrying"), "{msg}");
        assert!(msg.contains("/s.json"), "{msg}");

        drop(guard);
        assert!(waiter.holder().is_none(), "details are cleared on release");
        let _again = waiter
            .acquire(Duration::from_millis(10), Path::new("/s.json"))
            .unwrap();
    }

    #[test]
    fn a_holder_without_details_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let raw = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap();
        raw.lock().unwrap();
        let waiter = StateLock::open(&path).unwrap();
        let msg = waiter
            .acquire(Duration::from_millis(20), Path::new("/s.json"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("left no details") && msg.contains("fuser"),
            "{msg}"
        );
    }

    #[test]
    fn gone_holders_are_recognised() {
        let mut info = LockInfo::for_this_process();
        assert!(!info.is_gone());
        info.pid = i32::MAX as u32; // above any pid_max
        assert!(info.is_gone());
        info.host = "elsewhere.invalid".into();
        assert!(!info.is_gone(), "another host's pid says nothing here");
    }
}
