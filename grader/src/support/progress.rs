//! Progress: the phase, elapsed time, and what it waits for. On stderr for a
//! single grade; into a progress bar for each candidate of a batch; silent
//! with `--quiet` or `--json` (scripts read stdout and exit codes).

use std::sync::Arc;
use std::time::Instant;

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone)]
pub struct Progress {
    started: Instant,
    enabled: bool,
    sink: Option<Sink>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("enabled", &self.enabled).finish()
    }
}

impl Progress {
    /// Lines on stderr when `enabled`.
    pub fn new(enabled: bool) -> Progress {
        Progress { started: Instant::now(), enabled, sink: None }
    }

    /// Phases go to `sink` (e.g. a progress bar's message) instead.
    pub fn to_sink(sink: impl Fn(&str) + Send + Sync + 'static) -> Progress {
        Progress { started: Instant::now(), enabled: true, sink: Some(Arc::new(sink)) }
    }

    pub fn phase(&self, message: impl AsRef<str>) {
        if !self.enabled {
            return;
        }
        let message = crate::support::sanitize::terminal(message.as_ref());
        match &self.sink {
            Some(sink) => sink(&message),
            None => eprintln!("[{:>6.1}s] {}", self.started.elapsed().as_secs_f64(), message),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }
}
