//! Latency under a fixed-rate, open-loop load.
//!
//! Request `i` is due at `start + i / rate`, whether or not earlier ones have
//! answered (open loop), and its latency is measured from that intended time,
//! not from when it was actually sent: a stalled server therefore shows its
//! stall in the percentiles instead of hiding it by slowing the load
//! (no coordinated omission). Warm-up requests are sent but not recorded. A
//! timeout counts as an error and as a latency of at least the timeout. A
//! success needs a 200 with a valid body for one row.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::clock::wait_until;
use super::{parse_predictions, Failure, Target};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyConfig {
    pub rate_per_second: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub timeout: Duration,
    /// Requests in flight at most; past it a due request is counted as
    /// dropped (an error), which bounds the grader's memory.
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencyMetrics {
    pub target_rate: f64,
    /// Requests actually sent per second in the measured window.
    pub achieved_rate: f64,
    /// Measured requests (warm-up excluded).
    pub requests: u64,
    pub successes: u64,
    /// Errors of any kind, timeouts and dropped requests included.
    /// Percentiles cover successes and timeouts; with neither, they sit at
    /// the timeout.
    pub errors: u64,
    pub timeouts: u64,
    pub dropped: u64,
    /// Sends that left more than 2 ms (or a tenth of the interval) late:
    /// the grader's own lag, reported so a reader can trust the figures.
    pub late_sends: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// (upper bound in ms, count) pairs for a histogram chart.
    pub buckets: Vec<(f64, u64)>,
    /// First few error messages, for evidence.
    pub error_examples: Vec<String>,
    /// The grader's own lateness beside this window, and whether the
    /// measurement was fair ([`calibrated`]; absent from `probe` alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostCheck>,
}

/// How late the grader itself was while it measured: a calibration load
/// against a loopback server inside the grader (answers at once), sent by
/// the same runtime beside the candidate's window. What it shows above zero
/// is the grader's and the host's delay, never the candidate's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostCheck {
    /// Windows measured: a window on a busy host is measured again.
    pub windows: u32,
    pub calibration_p50_ms: f64,
    pub calibration_p99_ms: f64,
    /// Most the calibration may show for a fair window: a tenth of each SLO.
    pub limit_p50_ms: f64,
    pub limit_p99_ms: f64,
    /// Load average (1 min) of the host when the window ended.
    pub load_average: Option<f64>,
    /// Cores the rest of the host (neither the grader nor the candidate's
    /// containers) kept busy on average during the window, and the most a
    /// fair window allows ([`crate::fairness::host`]); absent when it cannot be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_cores: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_cores_limit: Option<f64>,
    /// Whether the figures are the candidate's: false after every window
    /// found the host too busy (latency is then not graded).
    pub fair: bool,
}

impl HostCheck {
    /// Whether other processes kept more of the host's cores busy than a
    /// fair window allows: the candidate's service then lost CPU to them,
    /// by an amount the grader's own delay does not bound.
    pub fn contended(&self) -> bool {
        matches!((self.other_cores, self.other_cores_limit), (Some(o), Some(l)) if o > l)
    }
}

/// Calibration rate: low, so it adds nothing the candidate would notice.
pub const CALIBRATION_RATE: f64 = 20.0;

/// A window is fair when the grader's own delay stays within a tenth of
/// each latency SLO: at that size it cannot move a pass to a fail.
pub fn fair(calibration_p50_ms: f64, calibration_p99_ms: f64, slo_p50_ms: f64, slo_p99_ms: f64) -> bool {
    calibration_p50_ms <= slo_p50_ms / 10.0 && calibration_p99_ms <= slo_p99_ms / 10.0
}

/// The host's 1-minute load average, when /proc tells.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// One window against `target` with a calibration load beside it.
pub async fn calibrated(
    target: &Target,
    bodies: &[Vec<u8>],
    cfg: LatencyConfig,
    slo_p50_ms: f64,
    slo_p99_ms: f64,
    windows: u32,
) -> LatencyMetrics {
    let (url, _server) = super::loopback::serve_scoped(Duration::ZERO, None).await;
    let reference = Target::for_url(&url, MAX_ONE_ROW_RESPONSE, cfg.timeout).expect("loopback URL");
    let one = vec![super::predict_body(&[])];
    let cal_cfg = LatencyConfig { rate_per_second: CALIBRATION_RATE, max_in_flight: 64, ..cfg };
    let (mut m, cal) = tokio::join!(probe(target, bodies, cfg), probe(&reference, &one, cal_cfg));
    m.host = Some(HostCheck {
        windows,
        calibration_p50_ms: cal.p50_ms,
        calibration_p99_ms: cal.p99_ms,
        limit_p50_ms: slo_p50_ms / 10.0,
        limit_p99_ms: slo_p99_ms / 10.0,
        load_average: load_average(),
        other_cores: None,
        other_cores_limit: None,
        fair: cal.errors == 0 && fair(cal.p50_ms, cal.p99_ms, slo_p50_ms, slo_p99_ms),
    });
    m
}

/// Largest answer accepted for one row under load.
pub const MAX_ONE_ROW_RESPONSE: usize = 64 * 1024;

struct Sample {
    measured: bool,
    latency_us: u64,
    error: Option<String>,
    timeout: bool,
}

/// Runs the load. `bodies` are request bodies for one row each, sent in turn.
pub async fn probe(target: &Target, bodies: &[Vec<u8>], cfg: LatencyConfig) -> LatencyMetrics {
    assert!(!bodies.is_empty() && cfg.rate_per_second > 0.0);
    // A one-row answer is tiny; with up to `max_in_flight` requests open, a
    // small cap per response bounds the grader's memory (1024 × 64 KiB).
    let mut target = target.clone();
    target.max_response_bytes = target.max_response_bytes.min(MAX_ONE_ROW_RESPONSE);
    let target = &target;
    let interval = Duration::from_secs_f64(1.0 / cfg.rate_per_second);
    let warm_n = (cfg.warmup.as_secs_f64() * cfg.rate_per_second).round() as u64;
    let total = warm_n + (cfg.duration.as_secs_f64() * cfg.rate_per_second).round() as u64;
    let late_after = Duration::from_millis(2).max(interval / 10);
    let slots = Arc::new(Semaphore::new(cfg.max_in_flight.max(1)));
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(bodies.to_vec());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Sample>();
    let mut late = 0u64;
    let mut dropped = 0u64;
    let start = Instant::now() + Duration::from_millis(20);
    let mut first_measured_send = None;
    let mut last_send = start;

    // Precise waits keep a worker busy between sends; measured here they
    // sustain 8,000 req/s, the plain timer 16,000 (in 1 ms bursts). Above
    // 8,000 req/s the timer's bursts are the lesser evil (BENCHMARKS.md).
    let precise = interval >= Duration::from_micros(125);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        if precise {
            wait_until(due).await;
        } else {
            tokio::time::sleep_until(due).await;
        }
        let now = Instant::now();
        let measured = i >= warm_n;
        if measured {
            first_measured_send.get_or_insert(now);
            last_send = now;
            if now.duration_since(due) > late_after {
                late += 1;
            }
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if measured {
                dropped += 1;
            }
            continue;
        };
        let (target, bodies, tx) = (target.clone(), bodies.clone(), tx.clone());
        let timeout = cfg.timeout;
        tokio::spawn(async move {
            let body = bodies[(i as usize) % bodies.len()].clone();
            let outcome = tokio::time::timeout(timeout, target.post("/predict", body)).await;
            let latency = Instant::now().duration_since(due);
            let (error, timed_out) = match outcome {
                Err(_) | Ok(Err(Failure::Timeout)) => (Some("timed out".to_string()), true),
                Ok(Err(e)) => (Some(e.to_string()), false),
                Ok(Ok(answer)) => (parse_predictions(&answer, 1).err(), false),
            };
            let latency = if timed_out { latency.max(timeout) } else { latency };
            let _ = tx.send(Sample { measured, latency_us: latency.as_micros() as u64, error, timeout: timed_out });
            drop(permit);
        });
    }
    drop(tx);

    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    let (mut requests, mut errors, mut timeouts, mut successes) = (0u64, 0u64, 0u64, 0u64);
    let mut examples = Vec::new();
    while let Some(s) = rx.recv().await {
        if !s.measured {
            continue;
        }
        requests += 1;
        // Percentiles cover answers and timeouts: a fast refusal from a dead
        // service is an error, not a good latency.
        if s.error.is_none() || s.timeout {
            hist.saturating_record(s.latency_us.max(1));
        }
        if s.timeout {
            timeouts += 1;
        }
        match s.error {
            Some(e) => {
                errors += 1;
                if examples.len() < 5 {
                    examples.push(e);
                }
            }
            None => successes += 1,
        }
    }
    requests += dropped;
    errors += dropped;
    let window = first_measured_send.map(|f| last_send.duration_since(f).as_secs_f64()).unwrap_or(0.0);
    let sent = requests - dropped;
    if hist.is_empty() {
        // Nothing answered: every percentile is at least the timeout.
        hist.saturating_record(cfg.timeout.as_micros() as u64);
    }
    let ms = |us: u64| us as f64 / 1000.0;
    LatencyMetrics {
        target_rate: cfg.rate_per_second,
        achieved_rate: if window > 0.0 { (sent.saturating_sub(1)) as f64 / window } else { 0.0 },
        requests,
        successes,
        errors,
        timeouts,
        dropped,
        late_sends: late,
        error_rate: if requests == 0 { 1.0 } else { errors as f64 / requests as f64 },
        p50_ms: ms(hist.value_at_quantile(0.50)),
        p95_ms: ms(hist.value_at_quantile(0.95)),
        p99_ms: ms(hist.value_at_quantile(0.99)),
        max_ms: ms(hist.max()),
        mean_ms: hist.mean() / 1000.0,
        buckets: buckets(&hist),
        error_examples: examples,
        host: None,
    }
}

/// Log-spaced buckets (0.5 ms … 60 s) for charts.
fn buckets(hist: &Histogram<u64>) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    let mut lower = 0u64;
    let mut upper_ms = 0.5f64;
    while upper_ms <= 60_000.0 {
        let upper = (upper_ms * 1000.0) as u64;
        let n = if hist.is_empty() { 0 } else { hist.count_between(lower, upper.saturating_sub(1)) };
        out.push((upper_ms, n));
        lower = upper;
        upper_ms *= 2.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fair;

    #[test]
    fn a_window_is_fair_while_the_graders_delay_is_a_tenth_of_each_slo() {
        assert!(fair(0.2, 1.5, 50.0, 200.0));
        assert!(fair(5.0, 20.0, 50.0, 200.0));
        assert!(!fair(5.1, 1.0, 50.0, 200.0));
        assert!(!fair(0.2, 20.5, 50.0, 200.0));
        assert!(!fair(f64::NAN, 1.0, 50.0, 200.0));
    }
}
