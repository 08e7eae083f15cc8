//! The one `/health` poller. Start-up (`sandbox::run`), `probe --wait` and
//! the grace a running service gets before it is called unhealthy
//! (`probe::service`) differ only in how they ask, what they watch beside
//! the answer, how often and until when: those are its arguments.

use std::future::Future;
use std::time::{Duration, Instant};

/// What one request to `/health` saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// 200.
    Healthy,
    /// Another status.
    Status(u16),
    /// No answer (refused, reset, timed out), and why.
    NoAnswer(String),
}

/// Why polling stopped without a 200.
#[derive(Debug)]
pub enum Ending<E> {
    /// A watch found a verdict (the container exited, the relay died, …).
    Stopped(E),
    /// The deadline passed; the last answer seen, if any was asked.
    Deadline(Option<Seen>),
}

/// Asks `/health` every `every` until it is healthy (`Ok`), `before` (run
/// before each request) or `after` (run on each answer that is not 200)
/// returns a verdict, or `deadline` passes. Asks at least once. (Closures
/// returning futures rather than async closures: the futures of a service's
/// probes must be `Send`.)
pub async fn poll<E, B, A, C>(
    every: Duration,
    deadline: Instant,
    mut before: impl FnMut() -> B,
    mut ask: impl FnMut() -> A,
    mut after: impl FnMut(Seen) -> C,
) -> Result<(), Ending<E>>
where
    B: Future<Output = Option<E>>,
    A: Future<Output = Seen>,
    C: Future<Output = Option<E>>,
{
    loop {
        if let Some(e) = before().await {
            return Err(Ending::Stopped(e));
        }
        let seen = ask().await;
        if seen == Seen::Healthy {
            return Ok(());
        }
        if let Some(e) = after(seen.clone()).await {
            return Err(Ending::Stopped(e));
        }
        if Instant::now() >= deadline {
            return Err(Ending::Deadline(Some(seen)));
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn healthy_on_the_third_answer_and_stopped_or_timed_out_otherwise() {
        let n = std::sync::atomic::AtomicU32::new(0);
        let soon = || Instant::now() + Duration::from_secs(5);
        let r: Result<(), Ending<()>> = poll(
            Duration::from_millis(1),
            soon(),
            || async { None },
            || async {
                if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 2 {
                    Seen::Healthy
                } else {
                    Seen::Status(503)
                }
            },
            |_| async { None },
        )
        .await;
        assert!(r.is_ok());
        assert_eq!(n.into_inner(), 3);
        let stopped = poll(
            Duration::from_millis(1),
            soon(),
            || async { Some("exited") },
            || async { Seen::Healthy },
            |_| async { None },
        )
        .await;
        assert!(matches!(stopped, Err(Ending::Stopped("exited"))));
        let late: Result<(), Ending<()>> = poll(
            Duration::from_millis(1),
            Instant::now(),
            || async { None },
            || async { Seen::NoAnswer("refused".into()) },
            |_| async { None },
        )
        .await;
        assert!(matches!(late, Err(Ending::Deadline(Some(Seen::NoAnswer(_))))));
    }
}
