//! The latency probe against loopback servers whose truth is known: a fixed
//! injected delay, and a stall in the middle of the run.
//!
//! A test binary of its own: cargo runs test binaries one after another, so
//! these run after the Docker tests, on a machine not busy with fork bombs
//! and training jobs (their tolerances are about the probe, not the load).

// A timing test holds the lock that keeps it alone for its whole run,
// awaits included: that is the point of it.
#![allow(clippy::await_holding_lock)]

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use grader::probe::latency::{probe, LatencyConfig};
use grader::probe::Target;

mod graded;
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

/// Every test here runs alone: each holds this for its whole run.
pub fn alone() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

async fn server(delay: Duration, stall: Option<(Duration, Duration)>) -> String {
    grader::probe::loopback::serve(delay, stall).await
}

fn target(url: &str) -> Target {
    Target::for_url(url, 1 << 20, Duration::from_secs(5)).unwrap()
}

fn bodies() -> Vec<Vec<u8>> {
    vec![br#"{"rows":[{"x":1}]}"#.to_vec()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentiles_match_a_known_delay_within_5_percent() {
    let _alone = alone();
    let truth = 200.0;
    let url = server(Duration::from_millis(200), None).await;
    let cfg = LatencyConfig {
        rate_per_second: 50.0,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(4),
        timeout: Duration::from_secs(2),
        max_in_flight: 1024,
    };
    let m = probe(&target(&url), &bodies(), cfg).await;
    assert_eq!(m.requests, 200, "every due request is counted");
    assert_eq!(m.errors, 0, "{:?}", m.error_examples);
    for (name, v) in [("p50", m.p50_ms), ("p99", m.p99_ms)] {
        assert!((v - truth).abs() <= 0.05 * truth, "{name} {v} ms, truth {truth} ms");
    }
    assert!((m.achieved_rate - 50.0).abs() < 2.5, "achieved {} req/s", m.achieved_rate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_corrected_percentiles() {
    let _alone = alone();
    let stall = Duration::from_secs(1);
    let url = server(Duration::from_millis(5), Some((Duration::from_millis(2500), stall))).await;
    let cfg = LatencyConfig {
        rate_per_second: 100.0,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(4),
        timeout: Duration::from_secs(5),
        max_in_flight: 1024,
    };
    let m = probe(&target(&url), &bodies(), cfg).await;
    assert_eq!(m.errors, 0, "{:?}", m.error_examples);
    // A quarter of the measured window falls in the stall: requests due then
    // wait for its end, so p99 sits near the stall and max at it.
    assert!(m.p99_ms >= 850.0, "p99 {} ms hides a 1000 ms stall", m.p99_ms);
    assert!((950.0..1150.0).contains(&m.max_ms), "max {} ms for a 1000 ms stall", m.max_ms);
    assert!(m.p50_ms < 50.0, "p50 {} ms: most requests were not stalled", m.p50_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_count_as_errors_at_the_timeout() {
    let _alone = alone();
    let url = server(Duration::from_millis(400), None).await;
    let cfg = LatencyConfig {
        rate_per_second: 20.0,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(1),
        timeout: Duration::from_millis(100),
        max_in_flight: 1024,
    };
    let m = probe(&target(&url), &bodies(), cfg).await;
    assert_eq!(m.requests, 20);
    assert_eq!(m.timeouts, 20);
    assert_eq!(m.error_rate, 1.0);
    assert!(m.p50_ms >= 100.0 && m.p50_ms < 150.0, "p50 {} ms for a 100 ms timeout", m.p50_ms);
}

#[test]
fn probe_urls_must_be_on_this_machine() {
    for bad in ["http://192.0.2.10:8080", "http://example.com", "http://10.0.0.1"] {
        assert!(Target::for_url(bad, 1024, Duration::from_secs(1)).is_err(), "{bad} accepted");
    }
    for good in ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:8080"] {
        assert!(Target::for_url(good, 1024, Duration::from_secs(1)).is_ok(), "{good} refused");
    }
}
