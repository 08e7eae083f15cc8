//! What else the host ran while a latency window was measured: CPU time of
//! the whole host (/proc/stat) less the grader's own (getrusage) and the
//! candidate's containers' (the engine's stats), over the window. The
//! calibration beside a window shows the grader's own delay, but the kernel
//! favours a process that mostly sleeps (the grader) over a busy service:
//! measured here, three CPU-bound neighbours took the reference's p50 from
//! 10 ms to 1,485 ms while the calibration stayed under 3 ms (BENCHMARKS.md).
//! The other processes' CPU is what tells.
//!
//! The Docker engine's own processes (dockerd, containerd, the containers'
//! shims) count as the candidate's: during a window no other grading works
//! (`fairness::turns`), so what the engine does then it does for the
//! candidate's container (its logs, its I/O). Otherwise a service that
//! floods its stdout during its window would make the host look busy and
//! its own misses ungraded.

use std::time::Instant;

use bollard::Docker;
use futures_util::StreamExt;

/// CPU seconds at one instant.
#[derive(Debug, Clone, Copy)]
pub struct CpuSnapshot {
    at: Instant,
    host_busy_s: Option<f64>,
    grader_s: f64,
    /// The candidate's containers, when the engine tells.
    service_s: Option<f64>,
    /// The engine's processes on this host (see the module's docs).
    engine_s: f64,
}

/// Busy CPU seconds of the whole host since boot (every state but idle and
/// iowait), from the first line of /proc/stat.
fn host_busy_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    if v.len() < 8 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is in user).
    let busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(busy as f64 / if hz > 0 { hz as f64 } else { 100.0 })
}

/// CPU seconds of the Docker engine's processes on this host: dockerd,
/// containerd and every containerd-shim, from /proc (0 where none is seen,
/// e.g. an engine in a VM).
fn engine_seconds() -> f64 {
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    let Ok(procs) = std::fs::read_dir("/proc") else { return 0.0 };
    let mut ticks = 0u64;
    for p in procs.flatten() {
        let name = p.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else { continue };
        ticks += engine_ticks(&stat).unwrap_or(0);
    }
    ticks as f64 / hz
}

/// utime + stime of one /proc/PID/stat line, if the process is the engine's.
fn engine_ticks(stat: &str) -> Option<u64> {
    // `PID (comm) state ...`: comm may hold spaces, so split at the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1;
    if !(comm == "dockerd" || comm == "containerd" || comm.starts_with("containerd-shim")) {
        return None;
    }
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state is field 3, utime 14 and stime 15 (1-based).
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn grader_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

async fn container_seconds(docker: &Docker, id: &str) -> Option<f64> {
    let opts = bollard::query_parameters::StatsOptionsBuilder::default().stream(false).one_shot(true).build();
    let stats = docker.stats(id, Some(opts)).next().await?.ok()?;
    Some(stats.cpu_stats?.cpu_usage?.total_usage? as f64 / 1e9)
}

/// Now, counting `containers` (on `docker`) as the candidate's.
pub async fn snapshot(containers: Option<(&Docker, &[String])>) -> CpuSnapshot {
    let service_s = match containers {
        None => None,
        // The engine takes a while to answer stats: ask for every
        // container at once.
        Some((docker, ids)) => futures_util::future::join_all(ids.iter().map(|id| container_seconds(docker, id)))
            .await
            .into_iter()
            .sum::<Option<f64>>(),
    };
    CpuSnapshot {
        at: Instant::now(),
        host_busy_s: host_busy_seconds(),
        grader_s: grader_seconds(),
        service_s,
        engine_s: engine_seconds(),
    }
}

/// Cores the rest of the host kept busy on average between two snapshots
/// (neither the grader nor the candidate); `None` when it cannot be told
/// (no /proc/stat, no container to subtract, e.g. `grader probe --url`).
pub fn other_cores(a: &CpuSnapshot, b: &CpuSnapshot) -> Option<f64> {
    let secs = b.at.duration_since(a.at).as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    let host = b.host_busy_s? - a.host_busy_s?;
    let service = b.service_s? - a.service_s? + (b.engine_s - a.engine_s);
    let grader = b.grader_s - a.grader_s;
    Some(((host - service - grader) / secs).max(0.0))
}

/// Most the rest of the host may use for a fair window: what is left of
/// the cores after the candidate's quota and half a core for the grader,
/// and at least a quarter of a core.
pub fn other_cores_limit(candidate_cpus: f64) -> f64 {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    (n - candidate_cpus - 0.5).max(0.25)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_and_the_grader_report_cpu_time() {
        let a = host_busy_seconds().expect("/proc/stat reads");
        let g = grader_seconds();
        // Burn a little CPU in this process.
        let mut x = 0u64;
        let until = Instant::now() + std::time::Duration::from_millis(200);
        while Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(host_busy_seconds().unwrap() > a, "the host's busy time grows while this test spins");
        assert!(grader_seconds() - g > 0.1, "this process's own CPU time grows by the spin");
    }

    #[test]
    fn others_are_what_the_host_did_beyond_grader_and_service() {
        let t0 = Instant::now();
        let snap = |dt: u64, host: f64, grader: f64, service: Option<f64>| CpuSnapshot {
            at: t0 + std::time::Duration::from_secs(dt),
            host_busy_s: Some(host),
            grader_s: grader,
            service_s: service,
            engine_s: 0.0,
        };
        let (a, b) = (snap(0, 100.0, 1.0, Some(5.0)), snap(10, 125.0, 2.0, Some(9.0)));
        assert!((other_cores(&a, &b).unwrap() - 2.0).abs() < 1e-9, "25 - 4 - 1 = 20 s over 10 s");
        let (a, b) = (snap(0, 100.0, 1.0, None), snap(10, 125.0, 2.0, None));
        assert_eq!(other_cores(&a, &b), None, "without the service's own time nothing can be told");
        assert!(other_cores_limit(64.0) >= 0.25);
        // The engine's CPU in the window is the candidate's (its logs, its I/O).
        let a = CpuSnapshot { engine_s: 3.0, ..snap(0, 100.0, 1.0, Some(5.0)) };
        let b = CpuSnapshot { engine_s: 11.0, ..snap(10, 125.0, 2.0, Some(9.0)) };
        assert!((other_cores(&a, &b).unwrap() - 1.2).abs() < 1e-9, "25 - 4 - 8 - 1 = 12 s over 10 s");
    }

    #[test]
    fn the_engines_processes_are_recognised_by_name() {
        let line = |comm: &str| format!("42 ({comm}) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0");
        assert_eq!(engine_ticks(&line("dockerd")), Some(300));
        assert_eq!(engine_ticks(&line("containerd-shim-runc-v2")), Some(300));
        assert_eq!(engine_ticks(&line("containerd")), Some(300));
        assert_eq!(engine_ticks(&line("python3")), None);
        assert_eq!(engine_ticks(&line("evil) (dockerd")), None, "a comm with a paren is parsed from the right");
    }
}
