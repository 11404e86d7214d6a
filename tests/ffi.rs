//! The bridge itself: panics, malformed requests, threads, deadlines,
//! cancellation and events, through the real Go shim.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chainctl_core::{
    CancelToken, Client, Error, ErrorKind, Event, EventHandler, diagnostic_call,
    diagnostic_call_with,
};

#[test]
fn a_go_panic_comes_back_as_an_internal_error_and_the_process_survives() {
    let err = diagnostic_call("debug.panic", "{}", None).unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    assert!(err.message().contains("panicked"), "{err}");
    assert!(
        !err.to_string().contains("goroutine"),
        "no Go stack trace in {err}"
    );
    // The process and the shim still work.
    let echoed = diagnostic_call("debug.echo", r#"{"after":"panic"}"#, None).unwrap();
    assert_eq!(echoed["after"], "panic");
}

#[test]
fn malformed_requests_get_the_invalid_input_kind() {
    for (op, request) in [
        ("debug.echo", "{not json"),
        ("debug.echo", ""),
        ("debug.sleep", r#"{"millis":"ten"}"#),
        ("debug.sleep", r#"{"millis":1,"typo":true}"#),
        (
            "release.status",
            r#"{"kube":{"storage":"memory","memoryStore":"x"}}"#,
        ),
        ("no.such.op", "{}"),
    ] {
        let err = diagnostic_call(op, request, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{op} {request}: {err}");
    }
    let err = diagnostic_call("debug.echo", "{\"a\":\"\0\"}", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("NUL"), "{err}");
}

#[test]
fn eight_threads_times_two_hundred_calls_all_get_their_own_replies() {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..200 {
                    let request =
                        format!(r#"{{"thread":{t},"call":{i},"pad":"{}"}}"#, "x".repeat(i));
                    let reply =
                        diagnostic_call("debug.echo", &request, Some(Duration::from_secs(60)))
                            .unwrap();
                    assert_eq!(reply["thread"], t);
                    assert_eq!(reply["call"], i);
                    assert_eq!(reply["pad"].as_str().unwrap().len(), i);
                }
            })
        })
        .collect();
    for handle in threads {
        handle.join().expect("a calling thread failed");
    }
}

#[test]
fn a_call_past_its_deadline_returns_the_timeout_kind() {
    let started = Instant::now();
    let err = diagnostic_call(
        "debug.sleep",
        r#"{"millis":30000}"#,
        Some(Duration::from_millis(100)),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // It returned at its deadline, not after the 30 s sleep.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    // A call inside its deadline succeeds.
    let ok = diagnostic_call(
        "debug.sleep",
        r#"{"millis":10}"#,
        Some(Duration::from_secs(30)),
    )
    .unwrap();
    assert_eq!(ok["slept"], 10);
}

#[test]
fn a_running_call_can_be_cancelled_from_another_thread() {
    let token = CancelToken::new();
    let canceller = token.clone();
    let waiter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        canceller.cancel();
    });
    let err =
        diagnostic_call_with("debug.sleep", r#"{"millis":30000}"#, None, &token, None).unwrap_err();
    waiter.join().unwrap();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    // A cancelled token stops later calls before they start.
    let err = diagnostic_call_with("debug.echo", "{}", None, &token, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[test]
fn events_reach_the_callback_and_a_panic_in_it_is_raised_on_the_caller() {
    let seen = Arc::new(Mutex::new(Vec::<Event>::new()));
    let sink = seen.clone();
    let handler: EventHandler = Arc::new(move |e: &Event| sink.lock().unwrap().push(e.clone()));
    diagnostic_call_with(
        "debug.echo",
        "{}",
        None,
        &CancelToken::new(),
        Some(&handler),
    )
    .unwrap();
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].phase.as_deref(), Some("echo"));

    let panicking: EventHandler = Arc::new(|_: &Event| panic!("callback panic"));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        diagnostic_call_with(
            "debug.echo",
            "{}",
            None,
            &CancelToken::new(),
            Some(&panicking),
        )
    }));
    let payload = caught.expect_err("the callback's panic must reach the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"callback panic"));
    // And the bridge still works afterwards.
    assert!(diagnostic_call("debug.echo", "{}", None).is_ok());
}

#[test]
fn the_shim_reports_the_helm_it_links() {
    let version = Client::shim_version().unwrap();
    // The versions go-shim/go.mod and go-shim/go.helm4.mod pin, stamped by
    // build.rs into the SDK's internal/version package.
    let (major, helm) = match cfg!(feature = "helm-v4") {
        true => (4, "v4.3.2"),
        false => (3, "v3.22.0"),
    };
    assert_eq!(version.helm, helm);
    assert_eq!(version.helm_major(), Some(major));
    assert!(version.go.starts_with("go1."), "{}", version.go);
}
