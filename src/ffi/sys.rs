//! The few libc calls the crate needs (the state store, reading values from
//! a pipe, signals), kept here with its other `unsafe` code so that everything
//! above `crate::ffi` is safe Rust.

use std::io;

/// Whether a process with `pid` exists (it may belong to another user).
pub(crate) fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This machine's host name, or `unknown-host`.
pub(crate) fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most
    // that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The real user id of this process.
pub(crate) fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The effective user id of this process.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Adds `SA_ONSTACK` to the handler installed for `signal`, keeping the
/// handler, its mask and its other flags. The Go runtime requires it of
/// every signal handler in a process that runs Go code: without it a signal
/// that lands on a Go thread runs the handler on a goroutine's small stack.
pub(crate) fn add_sa_onstack(signal: i32) -> io::Result<()> {
    // SAFETY: sigaction with a null new action only reads the current one
    // into `action`, which is a plain C struct that zeroed memory makes valid.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut action) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if action.sa_sigaction == libc::SIG_DFL || action.sa_sigaction == libc::SIG_IGN {
        return Ok(());
    }
    action.sa_flags |= libc::SA_ONSTACK;
    // SAFETY: the action is the one just read, with one more flag.
    if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the handler installed for `signal` runs on the alternate signal
/// stack (`SA_ONSTACK`).
#[cfg(test)]
pub(crate) fn has_sa_onstack(signal: i32) -> bool {
    // SAFETY: as in add_sa_onstack, a read of the current action only.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), &mut action) };
    rc == 0 && action.sa_flags & libc::SA_ONSTACK != 0
}

/// Waits at most `timeout_ms` for `fd` to be readable or hung up:
/// `Ok(false)` when the time passed first.
pub(crate) fn poll_readable(fd: std::os::fd::BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for a descriptor the borrow keeps open.
    match unsafe { libc::poll(&mut pfd, 1, timeout_ms) } {
        n if n < 0 => Err(io::Error::last_os_error()),
        0 => Ok(false),
        _ => Ok(true),
    }
}
