//! `grader self-check`: a candidate grades their own submission on the
//! exercise's public practice variant, with the same harness and probes.
//! Hidden checks show only how many passed: never the answer key, never
//! which columns leak or drift, never their evidence.

use std::path::PathBuf;

use datasets::{Exercise, SeedSource};

use crate::error::{GraderError, Result};
use crate::grade::{grade, GradeRequest};
use crate::progress::Progress;
use crate::report::GradeResult;
use crate::score::{Check, Status, Visibility};
use crate::session::Overrides;
pub use crate::schema::SelfCheck;

pub struct SelfCheckRequest {
    pub submission: PathBuf,
    pub exercise: PathBuf,
    pub overrides: Overrides,
}

pub async fn run(req: SelfCheckRequest, progress: &Progress) -> Result<SelfCheck> {
    let exercise = Exercise::load(&req.exercise)?;
    let seed = exercise.spec.exercise.practice_seed;
    // A candidate checks their own code, often without root: the build may
    // then run without the grader's process-limit cgroup.
    let mut overrides = req.overrides;
    overrides.unconfined_build = true;
    // Full results (with the answer key's evidence) stay in a temporary
    // directory that is deleted: the candidate gets the redacted view only.
    let tmp = tempfile::tempdir().map_err(|source| GraderError::Io { path: std::env::temp_dir(), source })?;
    let result = grade(
        GradeRequest {
            submission: req.submission,
            exercise: req.exercise,
            seed: SeedSource::given(seed),
            out: tmp.path().join("results"),
            overrides,
            candidate: None,
            gate: None,
        },
        progress,
    )
    .await?;
    Ok(redact(&result, seed))
}

pub fn redact(r: &GradeResult, practice_seed: u64) -> SelfCheck {
    let (hidden, visible): (Vec<&Check>, Vec<&Check>) = r.checks.iter().partition(|c| c.visibility == Visibility::Hidden);
    let mut next = Vec::new();
    let failing = |group: &str| visible.iter().any(|c| c.group == group && !matches!(c.status, Status::Pass | Status::Skipped | Status::Ungraded));
    if let Some(f) = &r.failure {
        next.push(format!("Your service failed ({:?}): read the log excerpt above and run it with `grader run` to debug.", f.class));
    }
    if failing("contract") {
        next.push("Fix the contract first: /health, /predict, /drift and report.json exactly as the README describes.".into());
    }
    if failing("robustness") {
        next.push("Validate every request: a malformed one must get a 4xx with {\"error\": \"...\"}, never a 5xx or a dead service.".into());
    }
    if failing("latency") {
        next.push("Make single-row /predict fast: load the model once, avoid per-request work, check p99 under steady load.".into());
    }
    if failing("correctness") {
        next.push("Improve the model as served: unseen customers, calibrated probabilities (log-loss counts).".into());
    }
    let hidden_passed = hidden.iter().filter(|c| c.status == Status::Pass).count();
    if hidden_passed < hidden.len() {
        next.push("Some hidden checks did not pass: look again at what you trust in the data and what your service monitors.".into());
    }
    SelfCheck {
        schema_version: crate::schema::SELF_CHECK_VERSION,
        exercise: r.exercise.id.clone(),
        practice_seed,
        outcome: r.outcome.clone(),
        failure: r.failure.clone(),
        checks: visible.into_iter().cloned().collect(),
        hidden_passed,
        hidden_total: hidden.len(),
        next_steps: next,
    }
}

impl SelfCheck {
    pub fn human(&self) -> String {
        let mut s = format!("self-check of {} on the practice variant (seed {}): {}\n", self.exercise, self.practice_seed, self.outcome);
        if let Some(f) = &self.failure {
            s += &format!("\nFAILED: {:?}: {}\n{}\n", f.class, f.message, f.log_excerpt);
        }
        let mut group = "";
        for c in &self.checks {
            if c.group != group {
                group = &c.group;
                s += &format!("\n{group}\n");
            }
            let mark = match c.status {
                Status::Pass => "ok  ",
                Status::Partial => "part",
                Status::Fail => "FAIL",
                Status::Error => "ERR ",
                Status::Skipped => "skip",
                Status::Ungraded => "n/g ",
            };
            s += &format!("  [{mark}] {} — {}\n", c.title, c.evidence);
        }
        s += &format!("\nhidden checks: {} of {} passed\n", self.hidden_passed, self.hidden_total);
        if !self.next_steps.is_empty() {
            s += "\nnext steps:\n";
            for n in &self.next_steps {
                s += &format!("  - {n}\n");
            }
        }
        s
    }
}
