//! Progress on stderr: the phase, elapsed time, and what it waits for.
//! Silent with `--quiet` or `--json` (scripts read stdout and exit codes).

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Progress {
    started: Instant,
    enabled: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { started: Instant::now(), enabled }
    }

    pub fn phase(&self, message: impl AsRef<str>) {
        if self.enabled {
            eprintln!("[{:>6.1}s] {}", self.started.elapsed().as_secs_f64(), message.as_ref());
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }
}
