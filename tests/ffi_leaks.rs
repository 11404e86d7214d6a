//! No leaks across the bridge: alone in its own test binary, so that no
//! other test's calls move the process-wide numbers it reads.

use std::time::Duration;

use chainctl_core::{diagnostic_call, outstanding_replies};

/// Resident set size of this process in bytes (Linux /proc).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .expect("this test reads /proc/self/statm (Linux)");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm has a resident field");
    pages * 4096
}

fn calls(n: usize) {
    let request = format!(r#"{{"payload":"{}"}}"#, "x".repeat(512));
    for _ in 0..n {
        let reply = diagnostic_call("debug.echo", &request, Some(Duration::from_secs(30))).unwrap();
        assert_eq!(reply["payload"].as_str().map(str::len), Some(512));
    }
}

#[test]
fn a_hundred_thousand_calls_leak_neither_replies_nor_memory() {
    calls(10_000);
    let after_ten_thousand = rss_bytes();
    calls(90_000);
    let after_hundred_thousand = rss_bytes();
    assert_eq!(
        outstanding_replies(),
        0,
        "replies handed out and never freed"
    );
    let growth = after_hundred_thousand as f64 / after_ten_thousand as f64;
    eprintln!(
        "RSS after 10,000 calls: {after_ten_thousand} B; after 100,000: {after_hundred_thousand} B ({growth:.3}x)"
    );
    assert!(
        growth <= 1.10,
        "RSS grew {growth:.3}x from 10,000 to 100,000 calls ({after_ten_thousand} -> {after_hundred_thousand} bytes)"
    );
}
