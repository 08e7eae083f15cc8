//! Latency windows that do not depend on neighbours (`batch`).
//!
//! A candidate's latency figure must be theirs, not the sum of theirs and
//! whatever else the host ran at the time. In a batch, every grading holds a
//! shared turn while it works (variant generation, build, start-up and
//! training, the other probes, clean-up) and trades it for an exclusive turn
//! for its latency window: the window starts only when no other grading is
//! working, no new one starts until it ends, and the other candidates'
//! containers that are up but idle are frozen (`docker pause`, the cgroup
//! freezer) so a service that burns CPU in the background cannot steal the
//! cores either. The lock is tokio's fair (FIFO) read-write lock, so a
//! waiting window is never starved by new gradings.
//!
//! Why not cpusets: on a 2-core host there is no core to give each window
//! alone, and a build's threads and the grader's own load generator would
//! still share the rest. Measured in BENCHMARKS.md ("latency alone vs in a
//! busy batch").
//!
//! The grader also measures its own lateness during every window
//! ([`crate::probe::latency::calibrated`], [`crate::fairness::host`]): outside a batch, or when
//! something outside the grader loads the host, that is what tells.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::Docker;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// One per batch (one per host's CPUs: every engine the grader reaches is on
/// this machine).
#[derive(Default)]
pub struct QuietGate {
    lock: Arc<RwLock<()>>,
    /// Candidate containers that are up: (key, engine, container id).
    running: Mutex<Vec<(u64, Docker, String)>>,
    next: std::sync::atomic::AtomicU64,
}

impl QuietGate {
    pub fn new() -> Arc<QuietGate> {
        Arc::new(QuietGate::default())
    }
}

/// Milliseconds since the Unix epoch (intervals in result.json).
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A running container known to the gate; forgotten on drop.
struct Registered {
    gate: Arc<QuietGate>,
    key: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut r) = self.gate.running.lock() {
            r.retain(|(k, _, _)| *k != self.key);
        }
    }
}

/// The containers a window froze; thawed by [`Turns::exclusive`], or on
/// drop (a panic, a cancelled task) by a spawned task.
struct Frozen(Vec<(Docker, String)>);

impl Frozen {
    async fn thaw(mut self) {
        for (docker, id) in std::mem::take(&mut self.0) {
            if let Err(e) = docker.unpause_container(&id).await {
                tracing::debug!(container = %id, error = %e, "unpause after a latency window");
            }
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let left = std::mem::take(&mut self.0);
        if !left.is_empty() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(Frozen(left).thaw());
            }
        }
    }
}

/// One grading's turns at the gate, and the record of them (result.json's
/// `timings.shared` and `timings.exclusive`, in Unix milliseconds). Without
/// a gate (a single `grade`, `probe --url`) only the record is kept.
pub struct Turns {
    gate: Option<Arc<QuietGate>>,
    shared: Option<(OwnedRwLockReadGuard<()>, u64)>,
    own: Option<(Registered, String)>,
    pub shared_ms: Vec<[u64; 2]>,
    pub exclusive_ms: Vec<[u64; 2]>,
}

impl Turns {
    /// Takes a shared turn (waits while a window runs).
    pub async fn start(gate: Option<Arc<QuietGate>>) -> Turns {
        let mut t = Turns { gate, shared: None, own: None, shared_ms: Vec::new(), exclusive_ms: Vec::new() };
        t.share().await;
        t
    }

    async fn share(&mut self) {
        if let Some(g) = &self.gate {
            let guard = g.lock.clone().read_owned().await;
            self.shared = Some((guard, unix_ms()));
        }
    }

    fn unshare(&mut self) {
        if let Some((guard, from)) = self.shared.take() {
            // The end is taken before the turn is given up, so a window
            // that starts next can never appear to overlap it.
            self.shared_ms.push([from, unix_ms()]);
            drop(guard);
        }
    }

    /// Whether windows wait for the other gradings (a batch).
    pub fn gated(&self) -> bool {
        self.gate.is_some()
    }

    /// This grading's service is up: other windows freeze it while idle.
    pub fn register(&mut self, docker: &Docker, container: &str) {
        let Some(g) = &self.gate else { return };
        let key = g.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        g.running.lock().expect("not poisoned").push((key, docker.clone(), container.to_string()));
        self.own = Some((Registered { gate: g.clone(), key }, container.to_string()));
    }

    /// Runs `work` alone: waits for every other grading to pause or finish,
    /// freezes the other candidates' idle containers, runs, thaws them, and
    /// takes a shared turn again.
    pub async fn exclusive<F: std::future::Future>(&mut self, work: F) -> F::Output {
        let Some(gate) = self.gate.clone() else {
            let from = unix_ms();
            let out = work.await;
            self.exclusive_ms.push([from, unix_ms()]);
            return out;
        };
        self.unshare();
        let guard: OwnedRwLockWriteGuard<()> = gate.lock.clone().write_owned().await;
        let own = self.own.as_ref().map(|(_, id)| id.as_str());
        let others: Vec<(Docker, String)> = gate
            .running
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(_, _, id)| Some(id.as_str()) != own)
            .map(|(_, d, id)| (d.clone(), id.clone()))
            .collect();
        let mut frozen = Frozen(Vec::new());
        for (docker, id) in others {
            match docker.pause_container(&id).await {
                Ok(()) => frozen.0.push((docker, id)),
                // Gone or stopping: it competes for nothing.
                Err(e) => tracing::debug!(container = %id, error = %e, "pause for a latency window"),
            }
        }
        let from = unix_ms();
        let out = work.await;
        self.exclusive_ms.push([from, unix_ms()]);
        frozen.thaw().await;
        drop(guard);
        self.share().await;
        out
    }

    /// Ends the shared turn (the grading is done), forgets the service, and
    /// returns the record: (shared, exclusive) spans for result.json.
    pub fn finish(&mut self) -> (Vec<[u64; 2]>, Vec<[u64; 2]>) {
        self.own = None;
        self.unshare();
        (self.shared_ms.clone(), self.exclusive_ms.clone())
    }
}

impl Drop for Turns {
    fn drop(&mut self) {
        self.finish();
    }
}
