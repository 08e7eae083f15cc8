//! Probe and grading benchmarks; prints Markdown tables for BENCHMARKS.md.
//! `cargo bench -p grader --bench probe [-- CASE…]`, cases: throughput,
//! accuracy, overhead, batch (default: all). overhead and batch need Docker
//! and the base image; throughput compares with `oha` when it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use grader::probe::latency::{probe, LatencyConfig};
use grader::probe::loopback::serve;
use grader::probe::Target;

const BODY: &str = r#"{"rows":[{"x":1}]}"#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let want = |c: &str| args.is_empty() || args.iter().any(|a| a == c);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if want("throughput") {
        rt.block_on(throughput());
    }
    if want("accuracy") {
        rt.block_on(accuracy());
    }
    if want("overhead") {
        overhead();
    }
    if want("batch") {
        batch();
    }
}

fn target(url: &str) -> Target {
    Target::for_url(url, 1 << 20, Duration::from_secs(5)).unwrap()
}

fn cfg(rate: f64, warmup: f64, duration: f64) -> LatencyConfig {
    LatencyConfig {
        rate_per_second: rate,
        warmup: Duration::from_secs_f64(warmup),
        duration: Duration::from_secs_f64(duration),
        timeout: Duration::from_secs(2),
        max_in_flight: 1024,
    }
}

/// The highest open-loop rate the probe sustains (achieved ≥ 97 % of the
/// target, no error, no drop, at most 1 % late sends) against a zero-delay
/// loopback server, beside oha's closed-loop maximum on the same server.
async fn throughput() {
    let url = serve(Duration::ZERO, None).await;
    let t = target(&url);
    println!("\n### Probe throughput (loopback, zero-delay server)\n\n| target rate | achieved | errors | dropped | late sends | p50 ms | p99 ms | sustained |\n|---|---|---|---|---|---|---|---|");
    let mut best = 0.0;
    for rate in [1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 24000.0, 32000.0, 48000.0, 64000.0, 96000.0] {
        let m = probe(&t, &[BODY.as_bytes().to_vec()], cfg(rate, 0.5, 3.0)).await;
        let ok = m.achieved_rate >= 0.97 * rate
            && m.errors == 0
            && m.dropped == 0
            && (m.late_sends as f64) <= 0.01 * m.requests as f64;
        println!(
            "| {rate} | {:.0} | {} | {} | {} | {:.2} | {:.2} | {} |",
            m.achieved_rate,
            m.errors,
            m.dropped,
            m.late_sends,
            m.p50_ms,
            m.p99_ms,
            if ok { "yes" } else { "no" }
        );
        if ok {
            best = rate;
        } else {
            break;
        }
    }
    let oha = which_oha();
    let oha_rps = oha.as_ref().and_then(|bin| {
        let out = Command::new(bin)
            .args([
                "-z",
                "5s",
                "-c",
                "32",
                "--no-tui",
                "--output-format",
                "json",
                "-m",
                "POST",
                "-T",
                "application/json",
                "-d",
                BODY,
                &format!("{url}/predict"),
            ])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["summary"]["requestsPerSec"].as_f64()
    });
    match oha_rps {
        Some(o) => println!("\nHighest sustained open-loop rate: **{best:.0} req/s**; oha (closed loop, 32 connections, 5 s) on the same server: **{o:.0} req/s**; ratio **{:.2}** (target ≥ 0.8).", best / o),
        None => println!("\nHighest sustained open-loop rate: **{best:.0} req/s**; oha not installed (`cargo install oha`), no ratio."),
    }
}

fn which_oha() -> Option<PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    [
        PathBuf::from(format!("{home}/.cargo/bin/oha")),
        PathBuf::from("/usr/local/bin/oha"),
        PathBuf::from("/usr/bin/oha"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Reported percentiles against servers whose latency is known.
async fn accuracy() {
    println!("\n### Probe accuracy (loopback, 50 req/s, 5 s after 1 s warm-up)\n\n| server | truth p50 | reported p50 | error | truth p99 | reported p99 | error |\n|---|---|---|---|---|---|---|");
    for ms in [5u64, 50] {
        let url = serve(Duration::from_millis(ms), None).await;
        let m = probe(&target(&url), &[BODY.as_bytes().to_vec()], cfg(50.0, 1.0, 5.0)).await;
        let truth = ms as f64;
        println!(
            "| fixed {ms} ms delay | {truth} | {:.2} | {:+.1} % | {truth} | {:.2} | {:+.1} % |",
            m.p50_ms,
            100.0 * (m.p50_ms - truth) / truth,
            m.p99_ms,
            100.0 * (m.p99_ms - truth) / truth
        );
    }
    // A 1 s stall 2.5 s into a 5 s window at 100 req/s: requests due during
    // the stall wait for its end, uniformly 0–1000 ms: 20 % of requests, so
    // the true p99 is 1000 × (1 − 0.01/0.20) = 950 ms, the max 1000 ms.
    let url = serve(Duration::from_millis(1), Some((Duration::from_millis(3500), Duration::from_secs(1)))).await;
    let m = probe(&target(&url), &[BODY.as_bytes().to_vec()], cfg(100.0, 1.0, 5.0)).await;
    println!(
        "| 1 ms delay, 1 s stall mid-run | 1 | {:.2} | — | ≈ 950 (stall) | {:.1} (max {:.1}) | {:+.1} % |",
        m.p50_ms,
        m.p99_ms,
        m.max_ms,
        100.0 * (m.p99_ms - 950.0) / 950.0
    );
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The churn exercise with a 1 s warm-up and 4 s window, in `dir`.
fn short_exercise(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("exercises/churn/exercise.toml"))
        .unwrap()
        .replace("latency_warmup_seconds = 5", "latency_warmup_seconds = 1")
        .replace("latency_duration_seconds = 20", "latency_duration_seconds = 4");
    let d = dir.join("ex");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("exercise.toml"), text).unwrap();
    d
}

const WINDOW_S: f64 = 5.0;

/// Wall time of `grader grade` on the trivial fixture minus its probe windows.
fn overhead() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = short_exercise(tmp.path());
    let mut rows = Vec::new();
    for i in 0..4 {
        let out = tmp.path().join(format!("r{i}"));
        let t0 = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_grader"))
            .args([
                "grade",
                root().join("fixtures/submissions/trivial").to_str().unwrap(),
                "--exercise",
                ex.to_str().unwrap(),
                "--seed",
                "1",
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ])
            .output()
            .unwrap();
        let wall = t0.elapsed().as_secs_f64();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
        let ms = |k: &str| r["timings"][k].as_f64().unwrap_or(0.0) / 1000.0;
        if i > 0 {
            rows.push((wall, wall - WINDOW_S, ms("build_ms"), ms("ready_ms"), ms("probes_ms") - WINDOW_S));
        }
    }
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    println!("\n### Per-submission overhead (`grader grade` on fixtures/submissions/trivial, 5 s of probe windows subtracted; 3 runs after one warm-up)\n\n| run | wall s | overhead s | of which build s | overhead without the build s | start until healthy s | probes beyond the windows s |\n|---|---|---|---|---|---|---|");
    for (i, r) in rows.iter().enumerate() {
        println!("| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |", i + 1, r.0, r.1, r.2, r.1 - r.2, r.3, r.4);
    }
    let m = rows[rows.len() / 2];
    println!(
        "\nMedian overhead: **{:.2} s**, {:.2} s without the build (target ≤ 3 s). Builds never use the layer cache (isolation between candidates), so an \"already built\" fixture is rebuilt each time.",
        m.1, m.1 - m.2
    );
}

/// 8 trivial submissions with --jobs 1, 2 and 4.
fn batch() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = short_exercise(tmp.path());
    let subs = tmp.path().join("subs");
    for i in 0..8 {
        let d = subs.join(format!("candidate-{i}"));
        std::fs::create_dir_all(&d).unwrap();
        for f in ["Dockerfile", "serve.py"] {
            std::fs::copy(root().join("fixtures/submissions/trivial").join(f), d.join(f)).unwrap();
        }
    }
    println!("\n### Batch scaling (8 trivial submissions, 5 s of probe windows each)\n\n| --jobs | wall s | per candidate s | speed-up |\n|---|---|---|---|");
    let mut first = None;
    for jobs in [1, 2, 4] {
        let out = tmp.path().join(format!("out{jobs}"));
        let t0 = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_grader"))
            .args([
                "batch",
                subs.to_str().unwrap(),
                "--exercise",
                ex.to_str().unwrap(),
                "--seed",
                "1",
                "--out",
                out.to_str().unwrap(),
                "--jobs",
                &jobs.to_string(),
                "--quiet",
            ])
            .output()
            .unwrap();
        let wall = t0.elapsed().as_secs_f64();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let base = *first.get_or_insert(wall);
        println!("| {jobs} | {wall:.1} | {:.2} | {:.2}× |", wall / 8.0, base / wall);
    }
}
