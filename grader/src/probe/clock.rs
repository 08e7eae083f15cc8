//! Precise waits for open-loop load: both the latency probe (send times)
//! and the calibration server (known delays) need them, so neither imports
//! the other.

use std::time::Duration;

use tokio::time::Instant;

/// Waits until `deadline` within tens of microseconds: tokio's timer has a
/// 1 ms granularity (a send up to 1 ms late would count as latency, since
/// latency runs from the intended time), so it sleeps to 1.5 ms before and
/// yields the rest of the way.
pub async fn wait_until(deadline: Instant) {
    let coarse = Duration::from_micros(1500);
    if deadline.saturating_duration_since(Instant::now()) > coarse {
        tokio::time::sleep_until(deadline - coarse).await;
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}
