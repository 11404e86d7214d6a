//! The FFI edge: the raw bindings and the one safe wrapper around them.
//!
//! This is the only module of the crate that holds `unsafe`. Everything it
//! hands out is owned Rust data; nothing borrowed from C outlives a call.

#[allow(non_camel_case_types, non_upper_case_globals, dead_code, missing_docs)]
#[rustfmt::skip]
mod bindings;

pub(crate) mod sys;

use std::any::Any;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The ABI version this crate was written against.
pub(crate) const ABI_VERSION: i32 = bindings::CHAINCTL_ABI_VERSION as i32;

/// What the event trampoline needs: the caller's callback and a place to park
/// a panic until control is back in Rust.
struct EventContext<'a> {
    callback: &'a (dyn Fn(&str) + Sync),
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// Called by the Go shim, on a thread of its own, for each event.
unsafe extern "C" fn event_trampoline(user_data: *mut c_void, event_json: *mut c_char) {
    if user_data.is_null() || event_json.is_null() {
        return;
    }
    // SAFETY: user_data is the &EventContext passed to chainctl_call, which
    // the shim only uses before chainctl_call returns (see chainctl.h), so it
    // is alive here; event_json is a NUL-terminated string the shim owns for
    // the duration of this callback.
    let (ctx, text) = unsafe {
        (
            &*(user_data as *const EventContext<'_>),
            CStr::from_ptr(event_json).to_string_lossy(),
        )
    };
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (ctx.callback)(&text))) {
        let mut slot = ctx.panic.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(panic);
    }
}

/// Runs one shim operation and returns its reply envelope as text.
///
/// A panic in `on_event` is re-raised here, on the caller's thread, once the
/// shim has returned.
pub(crate) fn call(
    op: &str,
    request: &str,
    call_id: u64,
    timeout_ms: i64,
    on_event: Option<&(dyn Fn(&str) + Sync)>,
) -> Result<String> {
    let op = CString::new(op).map_err(|_| Error::invalid("operation name contains a NUL byte"))?;
    let request = CString::new(request).map_err(|_| {
        Error::invalid("the request contains a NUL byte: remove \\0 from names, values and paths")
    })?;
    let ctx = on_event.map(|callback| EventContext {
        callback,
        panic: Mutex::new(None),
    });
    let (trampoline, user_data): (bindings::chainctl_event_fn, *mut c_void) = match &ctx {
        Some(ctx) => (
            Some(event_trampoline),
            ctx as *const EventContext<'_> as *mut c_void,
        ),
        None => (None, std::ptr::null_mut()),
    };
    // SAFETY: op and request are valid NUL-terminated strings that outlive the
    // call and that the shim does not modify; user_data points at ctx, which
    // outlives the call, and the shim stops using it before returning.
    let reply = unsafe {
        bindings::chainctl_call(
            op.as_ptr().cast_mut(),
            request.as_ptr().cast_mut(),
            call_id,
            timeout_ms,
            trampoline,
            user_data,
        )
    };
    let text = take_reply(reply);
    if let Some(panic) = ctx.and_then(|c| c.panic.into_inner().unwrap_or_else(|e| e.into_inner())) {
        resume_unwind(panic);
    }
    text
}

/// Copies a reply out and frees it with the shim's own free function.
fn take_reply(reply: *mut c_char) -> Result<String> {
    if reply.is_null() {
        return Err(Error::internal("the Go shim returned a NULL reply"));
    }
    // SAFETY: a non-NULL reply is a NUL-terminated string from C.CString that
    // we own until we pass it to chainctl_free, exactly once, below.
    let bytes = unsafe { CStr::from_ptr(reply) }.to_bytes().to_vec();
    // SAFETY: see above; reply is not used after this.
    unsafe { bindings::chainctl_free(reply) };
    String::from_utf8(bytes).map_err(|_| Error::internal("the Go shim's reply is not UTF-8"))
}

/// Asks the shim to cancel the call in flight with `call_id`.
pub(crate) fn cancel(call_id: u64) -> bool {
    // SAFETY: takes and returns plain integers.
    unsafe { bindings::chainctl_cancel(call_id) == 1 }
}

/// Replies handed out by the shim and not yet freed.
pub(crate) fn outstanding_replies() -> i64 {
    // SAFETY: takes nothing, returns an integer.
    unsafe { bindings::chainctl_outstanding_replies() }
}

/// The ABI version the linked shim was built with.
#[cfg(test)]
pub(crate) fn shim_abi_version() -> i32 {
    // SAFETY: takes nothing, returns an integer.
    unsafe { bindings::chainctl_abi_version() }
}
