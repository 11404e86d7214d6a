//! The one libc call the crate makes itself: `sigaction`, to add
//! `SA_ONSTACK` to a signal handler for the Go runtime. Everything else the
//! state store and the values reader need of the OS (flags of `open`,
//! `poll`, `kill(pid, 0)`, the uid, the host name) is rustix's safe API;
//! rustix has no safe `sigaction` (only `runtime::kernel_sigaction`, which
//! is `unsafe`, bypasses libc's own signal bookkeeping and is meant for
//! programs without libc), so this wrapper stays here with the crate's other
//! `unsafe` code, and everything above `crate::ffi` is safe Rust.

use std::io;

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
