//! Results for people and machines, written even when the submission did not
//! build or run: `result.json` (versioned schema), `gradescope.json`,
//! `junit.xml`, `report.md`, and `logs/`.

pub mod gradescope;
pub mod junit;
pub mod markdown;

use std::path::{Path, PathBuf};

use datasets::SeedSource;
use serde::{Deserialize, Serialize};

use crate::sandbox::FailureClass;
use crate::score::{Check, ProbeResults};

/// Version of result.json's schema; bumped on any breaking change, and the
/// fields below only ever grow within a version.
pub const RESULT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GradeResult {
    pub schema_version: u32,
    pub grader_version: String,
    pub exercise: ExerciseInfo,
    pub seed: SeedSource,
    /// `docker` (built and run in the sandbox) or `url` (`grader probe`).
    pub mode: String,
    /// The candidate's id as given (a batch's folder name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    pub submission: Option<String>,
    pub image: Option<ImageInfo>,
    pub limits: Option<LimitsInfo>,
    pub timings: Timings,
    /// `graded`: the probes ran (whatever the score); `failed`: the
    /// submission never became a healthy service (see `failure`);
    /// `infrastructure_error`: the grader's side failed, nothing is charged.
    pub outcome: String,
    pub failure: Option<FailureInfo>,
    pub score: Score,
    pub checks: Vec<Check>,
    pub metrics: ProbeResults,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExerciseInfo {
    pub id: String,
    pub version: u32,
    pub spec_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageInfo {
    pub tag: String,
    pub id: String,
    /// The base image as the Dockerfile names it, and its id on the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_id: Option<String>,
    /// Bytes the build added to its base.
    #[serde(default)]
    pub added_bytes: u64,
    /// Whether the build ran under the grader's process and memory cgroup.
    #[serde(default)]
    pub build_confined: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitsInfo {
    pub memory_mb: u64,
    pub cpus: f64,
    pub pids: i64,
    pub nofile: u64,
    pub log_bytes: u64,
    pub build_timeout_s: u64,
    #[serde(default)]
    pub build_memory_mb: u64,
    #[serde(default)]
    pub build_pids: i64,
    #[serde(default)]
    pub build_disk_mb: u64,
    #[serde(default)]
    pub output_mb: u64,
    pub startup_timeout_s: u64,
    pub request_timeout_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub variant_ms: u128,
    pub build_ms: Option<u128>,
    /// From container start until /health answered 200 (training included).
    pub ready_ms: Option<u128>,
    pub probes_ms: Option<u128>,
    pub total_ms: u128,
    /// When this grading worked beside others ([Unix ms from, to] pairs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<[u64; 2]>,
    /// Its latency windows, each alone on the host in a batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusive: Vec<[u64; 2]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureInfo {
    pub class: FailureClass,
    pub message: String,
    /// The last lines of the build or container log.
    pub log_excerpt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Score {
    pub points: f64,
    pub max_points: f64,
    pub percent: f64,
}

impl Score {
    pub fn of(checks: &[Check]) -> Score {
        let (points, max_points) = crate::score::total(checks);
        Score { points, max_points, percent: if max_points > 0.0 { (1000.0 * points / max_points).round() / 10.0 } else { 0.0 } }
    }
}

/// Logs to write under `logs/`.
pub struct Logs {
    pub build: Option<String>,
    pub container: Option<String>,
}

/// Writes every output into `out` (which must not exist, or be empty):
/// into a temporary directory beside it first, renamed into place at the
/// end, so results are never half-written.
pub fn write(out: &Path, result: &GradeResult, logs: &Logs) -> std::io::Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let tmp = tempfile::Builder::new().prefix(".results-partial-").tempdir_in(&parent)?;
    let dir = tmp.path();
    let mut json = serde_json::to_string_pretty(result).expect("plain data");
    json.push('\n');
    std::fs::write(dir.join("result.json"), json)?;
    let mut gs = serde_json::to_string_pretty(&gradescope::render(result)).expect("plain data");
    gs.push('\n');
    std::fs::write(dir.join("gradescope.json"), gs)?;
    std::fs::write(dir.join("junit.xml"), junit::render(result))?;
    std::fs::write(dir.join("report.md"), markdown::render(result))?;
    std::fs::create_dir(dir.join("logs"))?;
    if let Some(b) = &logs.build {
        std::fs::write(dir.join("logs/build.log"), b)?;
    }
    if let Some(c) = &logs.container {
        std::fs::write(dir.join("logs/container.log"), c)?;
    }
    let kept = tmp.keep();
    // Published only if no shutdown has begun; a failed rename keeps the
    // results where they are and names them, never discards them.
    crate::shutdown::commit(|| {
        if out.exists() {
            std::fs::remove_dir(out)?; // empty: checked before grading started
        }
        std::fs::rename(&kept, out)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{e}; the results are kept in {}", kept.display())))
    })
    .inspect_err(|e| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            let _ = std::fs::remove_dir_all(&kept);
        }
    })
}

/// Refuses an output directory that exists and holds anything.
pub fn check_out_dir(out: &Path) -> Result<(), String> {
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(format!("results directory {} exists and is not empty; choose a new directory or empty it first", out.display()));
        }
    }
    Ok(())
}

/// A few lines for a terminal: score per group, failure, where the files are.
pub fn summary(r: &GradeResult, out: &Path) -> String {
    let mut groups: Vec<(String, f64, f64)> = Vec::new();
    for c in &r.checks {
        match groups.iter_mut().find(|g| g.0 == c.group) {
            Some(g) => {
                g.1 += c.points;
                g.2 += c.max_points;
            }
            None => groups.push((c.group.clone(), c.points, c.max_points)),
        }
    }
    let mut s = format!("{}: {} / {} points ({}%), {}\n", r.exercise.id, r.score.points, r.score.max_points, r.score.percent, r.outcome);
    for (g, p, m) in groups {
        s += &format!("  {g:<17} {p:>6.2} / {m:.2}\n");
    }
    if let Some(f) = &r.failure {
        s += &format!("  failure: {:?}: {}\n", f.class, crate::sanitize::terminal(&f.message));
    }
    s += &format!("results: {}", out.display());
    s
}
