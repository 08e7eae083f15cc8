//! The one abstraction the probes run against: a service under test, reached
//! through a [`Target`] and asked, before each probe, whether it still lives
//! and, if not, whose failure that is. The Docker sandbox ([`Sandboxed`])
//! and `grader probe --url` ([`AtUrl`]) implement it; the probes and the
//! scoring core never know which one they got.

use std::future::Future;
use std::time::Duration;

use bollard::Docker;

use super::Target;
use crate::sandbox::run::{Service, State};
use crate::sandbox::FailureClass;
use crate::support::health::{poll, Ending, Seen};

/// Whose failure, and what happened.
pub type Crash = (FailureClass, String);

pub trait ServiceUnderTest {
    fn target(&self) -> &Target;
    /// `None` while the service lives.
    fn alive(&self) -> impl Future<Output = Option<Crash>> + Send;
    /// The engine and the containers whose CPU time is the candidate's,
    /// and their CPU quota (to tell what else the host ran meanwhile);
    /// `None` when the service is not in a container.
    fn containers(&self) -> Option<(&Docker, Vec<String>, f64)> {
        None
    }
}

/// A service already running on this machine's loopback: no container to
/// inspect, so one that stops answering /health is gone.
pub struct AtUrl {
    pub target: Target,
}

impl ServiceUnderTest for AtUrl {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn alive(&self) -> Option<Crash> {
        match self.target.get("/health").await {
            Ok(a) if a.status == 200 => None,
            Ok(a) => Some((FailureClass::Unhealthy, format!("/health answered {}", a.status))),
            Err(e) => Some((FailureClass::Crashed, format!("/health: {e}"))),
        }
    }
}

/// How long a running service that stopped answering /health is asked
/// again before it is called unhealthy.
pub const HEALTH_GRACE: Duration = Duration::from_secs(15);

/// A candidate's container in the sandbox, behind the grader's relay.
pub struct Sandboxed<'a> {
    pub target: Target,
    pub docker: Docker,
    pub service: &'a Service,
    pub memory_mb: u64,
    pub cpus: f64,
}

impl Sandboxed<'_> {
    fn dead(&self, s: State) -> Option<Crash> {
        if s.oom_killed {
            Some((FailureClass::OomKilled, format!("the container was killed for exceeding {} MB", self.memory_mb)))
        } else if !s.running {
            Some((FailureClass::Crashed, format!("the container exited with code {}", s.exit_code.unwrap_or(-1))))
        } else {
            None
        }
    }

    /// A verdict from the container's state alone: an exit or an OOM kill
    /// (the candidate's), or the engine's failure (the grader's).
    async fn exited(&self) -> Option<Crash> {
        match self.service.state(&self.docker).await {
            Err(e) => Some((FailureClass::Infrastructure, e.to_string())),
            Ok(s) => self.dead(s),
        }
    }

    async fn health_ok(&self) -> bool {
        matches!(self.target.get("/health").await, Ok(a) if a.status == 200)
    }
}

impl ServiceUnderTest for Sandboxed<'_> {
    fn target(&self) -> &Target {
        &self.target
    }

    fn containers(&self) -> Option<(&Docker, Vec<String>, f64)> {
        let ids = std::iter::once(self.service.candidate.clone()).chain(self.service.relay.clone()).collect();
        Some((&self.docker, ids, self.cpus))
    }

    /// Alive means: the container runs and /health answers. Blame by
    /// evidence: the engine's failure and the relay's death are the
    /// grader's; an exit, an OOM kill or a service that stays silent is the
    /// candidate's.
    async fn alive(&self) -> Option<Crash> {
        // Running, no answer: the relay's death is the grader's, never the
        // candidate's. The engine records an exit asynchronously, and one
        // slow answer on a loaded host is not a service that stopped
        // answering: watch the state and ask again for a while first.
        let relay_checked = std::sync::atomic::AtomicBool::new(false);
        let checked = &relay_checked;
        let polled = poll(
            Duration::from_millis(200),
            std::time::Instant::now() + HEALTH_GRACE,
            || self.exited(),
            || async move {
                if self.health_ok().await {
                    Seen::Healthy
                } else {
                    Seen::NoAnswer(String::new())
                }
            },
            |_| async move {
                if checked.swap(true, std::sync::atomic::Ordering::SeqCst)
                    || self.service.relay_alive(&self.docker).await
                {
                    return None;
                }
                if let Ok(s) = self.service.state(&self.docker).await {
                    if let Some(crash) = self.dead(s) {
                        return Some(crash);
                    }
                }
                Some((FailureClass::Infrastructure, "the grader's relay to the service stopped answering".into()))
            },
        )
        .await;
        match polled {
            Ok(()) => None,
            Err(Ending::Stopped(crash)) => Some(crash),
            Err(Ending::Deadline(_)) => Some((
                FailureClass::Unhealthy,
                format!("the service stopped answering /health (asked again for {} s)", HEALTH_GRACE.as_secs()),
            )),
        }
    }
}
