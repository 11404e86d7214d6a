//! Calls into the Go shim: typed requests in, `Result`s out, with deadlines,
//! cancellation and events. Safe code over [`crate::ffi`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ffi;
use crate::wire::{ErrorCode, Op, ReplyEnvelope};

/// Call ids are unique in the process; 0 is reserved for "not cancellable".
static NEXT_CALL_ID: AtomicU64 = AtomicU64::new(1);

/// How important an [`Event`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventLevel {
    /// Helm's own debug log.
    Debug,
    /// Progress: a phase starting.
    Info,
    /// Something the operator should know about.
    Warn,
}

/// A log or progress message from a running call.
///
/// ```
/// use chainctl_core::{Event, EventLevel};
/// let event: Event = serde_json::from_str(
///     r#"{"level":"info","phase":"render","message":"rendering hello"}"#,
/// ).unwrap();
/// assert_eq!(event.level, EventLevel::Info);
/// assert_eq!(event.to_string(), "[render] rendering hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// How important it is.
    pub level: EventLevel,
    /// The phase it belongs to (`load`, `render`, `apply`, ...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The text.
    pub message: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.phase {
            Some(phase) => write!(f, "[{phase}] {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A shared callback receiving [`Event`]s, possibly from another thread.
pub type EventHandler = Arc<dyn Fn(&Event) + Send + Sync>;

/// Cancels calls from another thread.
///
/// Clone it into the thread that may cancel; pass it to the client with
/// [`ClientBuilder::cancel_token`](crate::ClientBuilder::cancel_token). Once
/// cancelled it stays cancelled: calls in flight end with
/// [`Error::Cancelled`] and later calls fail at once.
///
/// ```
/// use chainctl_core::CancelToken;
/// let token = CancelToken::new();
/// let other = token.clone();
/// std::thread::spawn(move || other.cancel()).join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    calls: Mutex<Vec<u64>>,
    /// Why, when the canceller said ([`CancelToken::cancel_with`]).
    reason: Mutex<Option<String>>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token that has not been cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every call in flight that uses this token, and all later ones.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let calls = self.inner.calls.lock().unwrap_or_else(|e| e.into_inner());
        for &id in calls.iter() {
            ffi::cancel(id);
        }
    }

    /// [`cancel`](Self::cancel), saying why: `reason` (say `SIGTERM`) is
    /// what a [`Deployer`](crate::Deployer) records as the cause. The first
    /// reason given is kept.
    ///
    /// ```
    /// use chainctl_core::CancelToken;
    /// let token = CancelToken::new();
    /// token.cancel_with("SIGTERM");
    /// token.cancel_with("SIGINT");
    /// assert!(token.is_cancelled());
    /// assert_eq!(token.reason().as_deref(), Some("SIGTERM"));
    /// ```
    pub fn cancel_with(&self, reason: impl Into<String>) {
        {
            let mut kept = self.inner.reason.lock().unwrap_or_else(|e| e.into_inner());
            if kept.is_none() {
                *kept = Some(reason.into());
            }
        }
        self.cancel();
    }

    /// Why it was cancelled, when [`cancel_with`](Self::cancel_with) said.
    pub fn reason(&self) -> Option<String> {
        let kept = self.inner.reason.lock().unwrap_or_else(|e| e.into_inner());
        kept.clone()
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    fn register(&self, id: u64) {
        let mut calls = self.inner.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.push(id);
        // A cancel that raced with this registration still reaches the call.
        if self.is_cancelled() {
            ffi::cancel(id);
        }
    }

    fn unregister(&self, id: u64) {
        let mut calls = self.inner.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.retain(|&c| c != id);
    }
}

/// Makes the handler installed for `signal` safe in this process, which runs
/// Go code: adds `SA_ONSTACK`, keeping the handler, its mask and its other
/// flags (a default or ignored disposition is left alone).
///
/// The Go runtime requires every signal handler installed after it started
/// to run on the alternate signal stack; a handler without it that catches a
/// signal on a Go thread runs on a goroutine's small stack and can crash the
/// process. Crates such as `signal-hook` do not set the flag, so call this
/// after installing a handler, as `chainctl` does for SIGINT, SIGTERM and
/// SIGHUP before it cancels the running call through a [`CancelToken`].
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::AtomicBool;
/// use signal_hook::consts::SIGUSR1;
///
/// let seen = Arc::new(AtomicBool::new(false));
/// signal_hook::flag::register(SIGUSR1, seen.clone())?;
/// chainctl_core::go_safe_signal_handler(SIGUSR1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn go_safe_signal_handler(signal: i32) -> Result<()> {
    ffi::sys::add_sa_onstack(signal).map_err(|e| {
        Error::invalid(format!(
            "cannot set SA_ONSTACK on the handler of signal {signal}: {e}"
        ))
    })
}

/// How one call runs: its deadline, its cancel token, its event handler.
#[derive(Default, Clone)]
pub(crate) struct CallOptions<'a> {
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel: Option<&'a CancelToken>,
    pub(crate) events: Option<&'a EventHandler>,
}

/// Runs the operation `O` with `request` and decodes its reply: the one
/// way the crate calls the shim (see [`crate::wire`]).
pub(crate) fn call<O: Op>(request: &O::Request, options: &CallOptions<'_>) -> Result<O::Reply> {
    call_with_facts::<O, serde::de::IgnoredAny>(request, options).map_err(|f| f.error)
}

/// A failed call: the error, the shim's code for it, and the facts the
/// shim attached (see the shim's `failure`), decoded as `F` when present.
#[derive(Debug)]
pub(crate) struct Failure<F> {
    pub(crate) error: Error,
    pub(crate) code: Option<ErrorCode>,
    /// Boxed: a failure is the cold path, and keeps `Result`s small.
    pub(crate) facts: Option<Box<F>>,
}

impl<F> Failure<F> {
    fn of(error: Error) -> Failure<F> {
        Failure {
            error,
            code: None,
            facts: None,
        }
    }
}

/// Like [`call`], but a failure comes with the shim's code and facts.
pub(crate) fn call_with_facts<O: Op, F: DeserializeOwned>(
    request: &O::Request,
    options: &CallOptions<'_>,
) -> std::result::Result<O::Reply, Failure<F>> {
    let op = O::NAME;
    let request = serde_json::to_string(request).map_err(|e| {
        Failure::of(Error::internal(format!(
            "cannot encode the {op} request: {e}"
        )))
    })?;
    let result = call_envelope(op, &request, options).map_err(|f| Failure {
        error: f.error,
        code: f.code,
        facts: f
            .facts
            .and_then(|v| serde_json::from_value(*v).ok().map(Box::new)),
    })?;
    serde_json::from_value(result)
        .map_err(|e| Failure::of(Error::internal(format!("unexpected result from {op}: {e}"))))
}

/// Runs `op` with a request that is already JSON text; returns the result.
/// Only for [`diagnostic_call`], which tests the bridge with requests of
/// any shape; the crate itself calls through [`call`].
fn call_raw(op: &str, request: &str, options: &CallOptions<'_>) -> Result<serde_json::Value> {
    call_envelope(op, request, options).map_err(|f| f.error)
}

type Failed = Failure<serde_json::Value>;

fn call_envelope(
    op: &str,
    request: &str,
    options: &CallOptions<'_>,
) -> std::result::Result<serde_json::Value, Failed> {
    if options.cancel.is_some_and(CancelToken::is_cancelled) {
        return Err(Failure::of(Error::Cancelled {
            message: format!("{op} was not started: its cancel token was already cancelled"),
        }));
    }
    let id = NEXT_CALL_ID.fetch_add(1, Ordering::Relaxed);
    let timeout_ms = options
        .timeout
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1))
        .unwrap_or(0);
    let handler = options.events.map(|h| {
        move |text: &str| {
            if let Ok(event) = serde_json::from_str::<Event>(text) {
                h(&event);
            }
        }
    });
    if let Some(token) = options.cancel {
        token.register(id);
    }
    let reply = ffi::call(
        op,
        request,
        id,
        timeout_ms,
        handler.as_ref().map(|h| h as &(dyn Fn(&str) + Sync)),
    );
    if let Some(token) = options.cancel {
        token.unregister(id);
    }
    decode_reply(op, &reply.map_err(Failure::of)?)
}

/// The one place a reply envelope becomes a `Result`: the result, or the
/// error with the facts the shim attached to it.
fn decode_reply(op: &str, reply: &str) -> std::result::Result<serde_json::Value, Failed> {
    // serde reads a struct from an array too (`[true]` as `{"ok":true}`):
    // an envelope is an object.
    if !reply.trim_start().starts_with('{') {
        return Err(Failure::of(Error::internal(format!(
            "the reply to {op} is not a JSON object"
        ))));
    }
    let envelope: ReplyEnvelope = serde_json::from_str(reply).map_err(|e| {
        Failure::of(Error::internal(format!(
            "the reply to {op} is not a valid envelope: {e}"
        )))
    })?;
    match (envelope.ok, envelope.error) {
        (true, _) => Ok(envelope.result.unwrap_or(serde_json::Value::Null)),
        (false, Some(mut err)) => Err(Failure {
            code: err.code,
            facts: err.facts.take().map(Box::new),
            error: Error::from_reply(err),
        }),
        (false, None) => Err(Failure::of(Error::internal(format!(
            "the reply to {op} failed without an error"
        )))),
    }
}

/// Replies the shim handed out that were not freed yet; zero when nothing
/// leaks. For leak checks in tests and benchmarks.
///
/// ```
/// assert!(chainctl_core::outstanding_replies() >= 0);
/// ```
pub fn outstanding_replies() -> i64 {
    ffi::outstanding_replies()
}

/// Runs a diagnostic operation of the shim directly: `debug.echo` (returns
/// its request), `debug.sleep` (`{"millis": N}`), `debug.panic` (a Go panic,
/// returned as [`Error::Internal`]) and `version`. These exist to test the
/// bridge itself; applications use [`Client`](crate::Client).
///
/// ```
/// use std::time::Duration;
/// use chainctl_core::{diagnostic_call, ErrorKind};
///
/// let echoed = diagnostic_call("debug.echo", r#"{"n":1}"#, None).unwrap();
/// assert_eq!(echoed["n"], 1);
/// let err = diagnostic_call("debug.panic", "{}", None).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Internal);
/// let err = diagnostic_call("debug.sleep", r#"{"millis":5000}"#, Some(Duration::from_millis(20))).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Timeout);
/// ```
pub fn diagnostic_call(
    op: &str,
    request_json: &str,
    timeout: Option<Duration>,
) -> Result<serde_json::Value> {
    call_raw(
        op,
        request_json,
        &CallOptions {
            timeout,
            ..CallOptions::default()
        },
    )
}

/// Like [`diagnostic_call`], with a cancel token and an event handler.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use chainctl_core::{diagnostic_call_with, CancelToken, Event, EventHandler};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let handler: EventHandler = Arc::new(move |e: &Event| sink.lock().unwrap().push(e.clone()));
/// diagnostic_call_with("debug.echo", "{}", None, &CancelToken::new(), Some(&handler)).unwrap();
/// assert_eq!(seen.lock().unwrap().len(), 1);
/// ```
pub fn diagnostic_call_with(
    op: &str,
    request_json: &str,
    timeout: Option<Duration>,
    cancel: &CancelToken,
    events: Option<&EventHandler>,
) -> Result<serde_json::Value> {
    call_raw(
        op,
        request_json,
        &CallOptions {
            timeout,
            cancel: Some(cancel),
            events,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn decode_reply_maps_each_kind() {
        let err = decode_reply(
            "x",
            r#"{"ok":false,"error":{"kind":"not_found","message":"gone"}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err.error, Error::NotFound { message, missing: crate::Missing::Other, .. } if message == "gone")
                && err.facts.is_none()
                && err.code.is_none()
        );
        let ok = decode_reply("x", r#"{"ok":true,"result":{"a":1}}"#).unwrap();
        assert_eq!(ok["a"], 1);
        let Failure { error, facts, .. } = decode_reply(
            "x",
            r#"{"ok":false,"error":{"kind":"kube","message":"m","facts":{"installed":true}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            (error.kind(), facts.unwrap()["installed"].clone()),
            (ErrorKind::Kube, true.into())
        );
        let Failure { error, code, .. } = decode_reply(
            "x",
            r#"{"ok":false,"error":{"kind":"not_found","code":"revision_not_found","message":"m",
                "details":{"release":"web","namespace":"prod","revision":7}}}"#,
        )
        .unwrap_err();
        assert_eq!(code, Some(ErrorCode::RevisionNotFound));
        assert!(error.is_revision_not_found() && !error.is_release_not_found());
        // A code this crate does not know keeps the kind.
        let Failure { error, code, .. } = decode_reply(
            "x",
            r#"{"ok":false,"error":{"kind":"auth","code":"from_the_future","message":"m"}}"#,
        )
        .unwrap_err();
        assert_eq!(
            (code, error.kind()),
            (Some(ErrorCode::Other), ErrorKind::Auth)
        );
    }

    #[test]
    fn decode_reply_takes_only_an_object() {
        for reply in [
            "[true]",
            " [false, null, {\"kind\": \"kube\", \"message\": \"m\"}]",
        ] {
            let err = decode_reply("x", reply).unwrap_err().error;
            assert_eq!(err.kind(), ErrorKind::Internal, "{reply}");
            assert!(err.to_string().contains("not a JSON object"), "{err}");
        }
    }

    #[test]
    fn decode_reply_rejects_garbage_and_unknown_kinds() {
        assert_eq!(
            decode_reply("x", "not json").unwrap_err().error.kind(),
            ErrorKind::Internal
        );
        let unknown = r#"{"ok":false,"error":{"kind":"weird","message":"m"}}"#;
        assert_eq!(
            decode_reply("x", unknown).unwrap_err().error.kind(),
            ErrorKind::Internal
        );
        assert_eq!(
            decode_reply("x", r#"{"ok":false}"#)
                .unwrap_err()
                .error
                .kind(),
            ErrorKind::Internal
        );
    }

    #[test]
    fn a_signal_handler_is_made_to_run_on_the_alternate_stack() {
        let sig = signal_hook::consts::SIGUSR2;
        let flag = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(sig, flag.clone()).unwrap();
        assert!(
            !ffi::sys::has_sa_onstack(sig),
            "signal-hook sets no SA_ONSTACK"
        );
        go_safe_signal_handler(sig).unwrap();
        assert!(ffi::sys::has_sa_onstack(sig));
        signal_hook::low_level::raise(sig).unwrap();
        assert!(flag.load(Ordering::SeqCst), "the handler still runs");
        let err = go_safe_signal_handler(-1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }

    /// Property tests of the reply decoder: whatever the reply, never a
    /// panic; garbage is an internal error; a well-formed failure keeps its
    /// kind, message and facts. 256 cases each; `PROPTEST_CASES=N` runs N.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        const KINDS: [&str; 10] = [
            "invalid_input",
            "conflicting_sources",
            "registry",
            "auth",
            "not_found",
            "kube",
            "timeout",
            "cancelled",
            "state",
            "internal",
        ];

        fn json_value() -> impl Strategy<Value = Value> {
            let keys = prop_oneof![
                Just("ok".to_string()),
                Just("result".to_string()),
                Just("error".to_string()),
                Just("kind".to_string()),
                Just("message".to_string()),
                Just("facts".to_string()),
                ".{0,6}"
            ];
            crate::state::fuzz::json_value_with_keys(keys.boxed())
        }

        /// Envelopes close to the real ones: each part present or not, of
        /// the right type or not.
        fn envelope() -> impl Strategy<Value = Value> {
            let kind = prop_oneof![
                prop::sample::select(KINDS.to_vec()).prop_map(Value::from),
                json_value(),
            ];
            let error = (
                proptest::option::of(kind),
                proptest::option::of(prop_oneof![".{0,40}".prop_map(Value::from), json_value()]),
                proptest::option::of(json_value()),
            )
                .prop_map(|(kind, message, facts)| {
                    let mut e = serde_json::Map::new();
                    kind.map(|k| e.insert("kind".into(), k));
                    message.map(|m| e.insert("message".into(), m));
                    facts.map(|f| e.insert("facts".into(), f));
                    Value::Object(e)
                });
            (
                proptest::option::of(prop_oneof![
                    any::<bool>().prop_map(Value::from),
                    json_value()
                ]),
                proptest::option::of(json_value()),
                proptest::option::of(prop_oneof![error, json_value()]),
            )
                .prop_map(|(ok, result, error)| {
                    let mut env = serde_json::Map::new();
                    ok.map(|v| env.insert("ok".into(), v));
                    result.map(|v| env.insert("result".into(), v));
                    error.map(|v| env.insert("error".into(), v));
                    Value::Object(env)
                })
        }

        /// What the decoder must do with `reply`, given what it is.
        fn check(reply: &str) -> Result<(), TestCaseError> {
            let decoded = decode_reply("fuzz.op", reply);
            let value: Option<Value> = serde_json::from_str(reply).ok();
            let ok = value.as_ref().and_then(|v| v.get("ok"));
            match (&decoded, ok) {
                (Ok(result), Some(Value::Bool(true))) => {
                    let want = value.as_ref().and_then(|v| v.get("result")).cloned();
                    prop_assert_eq!(result, &want.unwrap_or(Value::Null));
                }
                (Ok(_), _) => prop_assert!(false, "accepted a reply without ok: true: {}", reply),
                (
                    Err(Failure {
                        error: err, facts, ..
                    }),
                    Some(Value::Bool(false)),
                ) => {
                    let error = value.as_ref().and_then(|v| v.get("error"));
                    let kind = error.and_then(|e| e.get("kind")).and_then(Value::as_str);
                    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str);
                    match (kind, message) {
                        (Some(kind), Some(message)) if KINDS.contains(&kind) => {
                            prop_assert_eq!(err.kind().as_str(), kind);
                            prop_assert_eq!(err.message(), message);
                            let want = error.and_then(|e| e.get("facts")).filter(|f| !f.is_null());
                            prop_assert_eq!(facts.as_deref(), want);
                        }
                        _ => prop_assert_eq!(err.kind(), ErrorKind::Internal, "{}", reply),
                    }
                }
                (
                    Err(Failure {
                        error: err, facts, ..
                    }),
                    _,
                ) => {
                    prop_assert_eq!(err.kind(), ErrorKind::Internal, "{}", reply);
                    prop_assert!(facts.is_none());
                    prop_assert!(err.message().contains("fuzz.op"), "{}", err);
                }
            }
            // A result of any shape decodes to a typed reply or an error.
            if let Ok(result) = decoded {
                let _ = serde_json::from_value::<crate::ActionReport>(result.clone());
                let _ = serde_json::from_value::<crate::ReleaseInfo>(result);
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn arbitrary_text_never_panics(reply in ".{0,200}") {
                check(&reply)?;
            }

            #[test]
            fn arbitrary_json_never_panics(reply in json_value()) {
                check(&reply.to_string())?;
            }

            #[test]
            fn envelopes_decode_to_their_kind_or_internal(reply in envelope()) {
                check(&reply.to_string())?;
            }

            #[test]
            fn mutated_envelopes_never_panic(reply in envelope(), at in any::<usize>(), cut in any::<bool>()) {
                let mut text = reply.to_string().into_bytes();
                let i = at % (text.len() + 1);
                match cut {
                    true => text.truncate(i),
                    false => text.insert(i, b'"'),
                }
                check(&String::from_utf8_lossy(&text))?;
            }
        }
    }

    #[test]
    fn abi_versions_match() {
        assert_eq!(ffi::shim_abi_version(), ffi::ABI_VERSION);
    }
}
