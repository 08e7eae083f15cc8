//! `grader self-check`: a candidate grades their own submission on the
//! exercise's practice variant, with the same harness and probes.
//!
//! From a kit (`--kit`, what candidates have) the hidden checks are not
//! evaluated at all: a kit carries no answer key. From an exercise
//! (`--exercise`, for exercise authors) they are, and only how many passed
//! is shown. Either way: never the answer key, never which columns leak or
//! drift, never their evidence.

use std::path::PathBuf;

use datasets::{Exercise, SeedSource, Terms};

use crate::evaluate::score::{round2, Check, Status, Visibility};
use crate::pipeline::grading::{grade, GradeRequest};
use crate::pipeline::material::Source;
use crate::pipeline::session::Overrides;
use crate::report::GradeResult;
use crate::sandbox::FailureClass;
pub use crate::schema::SelfCheck;
use crate::support::error::{GraderError, Result};
use crate::support::progress::Progress;

pub struct SelfCheckRequest {
    pub submission: PathBuf,
    /// A kit, or an exercise (its practice seed is used).
    pub source: SelfCheckSource,
    pub overrides: Overrides,
}

#[derive(Debug, Clone)]
pub enum SelfCheckSource {
    Kit(PathBuf),
    Exercise(PathBuf),
}

/// How the candidate named things on the command line: next steps repeat
/// them, so every command they suggest runs as printed.
pub struct Hints {
    pub submission: String,
    /// `--kit DIR` or `--exercise DIR --seed N`.
    pub source: String,
}

pub async fn run(req: SelfCheckRequest, progress: &Progress) -> Result<SelfCheck> {
    let (source, terms, hints) = match &req.source {
        SelfCheckSource::Kit(dir) => {
            // The kit is checked and read once, by the grading itself.
            let terms = crate::pipeline::kit::Kit::manifest(dir)?.terms;
            let hints =
                Hints { submission: req.submission.display().to_string(), source: format!("--kit {}", dir.display()) };
            (Source::Kit(dir.clone()), terms, hints)
        }
        SelfCheckSource::Exercise(path) => {
            let exercise = Exercise::load(path)?;
            let seed = exercise.spec.exercise.practice_seed;
            let hints = Hints {
                submission: req.submission.display().to_string(),
                source: format!("--exercise {} --seed {seed}", path.display()),
            };
            (Source::Exercise { path: path.clone(), seed: SeedSource::given(seed) }, exercise.spec.terms(), hints)
        }
    };
    // A candidate checks their own code, often without root: the build may
    // then run without the grader's process-limit cgroup.
    let mut overrides = req.overrides;
    overrides.unconfined_build = true;
    // Full results (with the answer key's evidence, from an exercise) stay
    // in a temporary directory that is deleted: the candidate gets the
    // redacted view only.
    let tmp = tempfile::tempdir().map_err(|source| GraderError::Io { path: std::env::temp_dir(), source })?;
    let result = grade(
        GradeRequest {
            submission: req.submission,
            intake: Default::default(),
            staged: None,
            source,
            out: tmp.path().join("results"),
            overrides,
            candidate: None,
            gate: None,
            blind: false,
        },
        progress,
    )
    .await?;
    Ok(redact(&result, &terms, &hints))
}

/// The candidate's view of a grade: visible checks with their points,
/// hidden ones as a count, next steps that follow from what failed.
pub fn redact(r: &GradeResult, terms: &Terms, hints: &Hints) -> SelfCheck {
    let (hidden, visible): (Vec<&Check>, Vec<&Check>) =
        r.checks.iter().partition(|c| c.visibility == Visibility::Hidden);
    // A kit's grade lists its hidden checks as skipped: not evaluated.
    let evaluated = hidden.iter().any(|c| c.status != Status::Skipped);
    let (hidden_total, hidden_max_points) = crate::evaluate::hidden_weight(terms);
    let hidden_passed = evaluated.then(|| hidden.iter().filter(|c| c.status == Status::Pass).count());
    let mut next = Vec::new();
    match &r.failure {
        Some(f) => next.push(after_failure(f.class, hints)),
        None => {
            let failing = |group: &str| {
                visible
                    .iter()
                    .any(|c| c.group == group && !matches!(c.status, Status::Pass | Status::Skipped | Status::Ungraded))
            };
            if failing("contract") {
                next.push("Fix the contract first: /health, /predict, /drift and /output/report.json exactly as the README describes (the failing checks above say which).".into());
            }
            if failing("robustness") {
                next.push("Validate every request: a malformed one must get a 4xx with {\"error\": \"...\"}, never a 5xx or a dead service; a row of nulls gets a 200.".into());
            }
            if failing("latency") {
                next.push("Make single-row /predict fast: load the model once at start-up, avoid per-request work (no pandas per row), check p99 under steady load.".into());
            }
            if visible.iter().any(|c| c.status == Status::Ungraded) {
                next.push("Latency was not graded: this machine was too busy for a fair measurement. Close what else runs and check again.".into());
            }
            if failing("correctness") {
                next.push("Improve the model as served: it sees customers it has never seen, and log-loss counts, so calibrate its probabilities.".into());
            }
        }
    }
    if let Some(shape) = r.metrics.replay.as_ref().filter(|s| !s.in_shape()) {
        next.push(format!(
            "Answer the production replay in contract v2's shape: POST /feedback with {{\"accepted\": n}}, GET /monitor with status, features and model_version, every day{}.",
            shape.first_problem.as_deref().map(|p| format!(" (first problem, {p})")).unwrap_or_default()
        ));
    }
    let groups = if terms.rubric.lifecycle.is_some() {
        "leak reliance, drift monitoring, findings, the production replay"
    } else {
        "leak reliance, drift monitoring, findings"
    };
    match hidden_passed {
        None => next.push(format!(
            "{hidden_total} hidden checks ({hidden_max_points} points: {groups}) are graded only on the variant you are graded on, \
             which has different planted problems than this practice data: study your own data as carefully as this."
        )),
        Some(p) if p < hidden.len() => {
            next.push("Some hidden checks did not pass: look again at what you trust in the data and what your service monitors.".into())
        }
        Some(_) => {}
    }
    let visible_points = round2(visible.iter().map(|c| c.points).sum());
    let visible_max_points = round2(visible.iter().map(|c| c.max_points).sum());
    SelfCheck {
        schema_version: crate::schema::SELF_CHECK_VERSION,
        exercise: r.exercise.id.clone(),
        practice_seed: r.seed.value,
        outcome: r.outcome,
        failure: r.failure.clone(),
        checks: visible.into_iter().cloned().collect(),
        visible_points,
        visible_max_points,
        hidden_passed,
        hidden_total,
        hidden_max_points,
        replay: r.metrics.replay.clone(),
        next_steps: next,
    }
}

/// One next step for a submission that failed: about the failure alone
/// (after a crash, the crash; nothing else was measured fairly).
fn after_failure(class: FailureClass, h: &Hints) -> String {
    let (dir, src) = (&h.submission, &h.source);
    match class {
        FailureClass::IntakeRejected => format!(
            "The grader refused to unpack {dir} (the message above names the entry): send a folder, or a .zip, .tar, .tar.gz or git bundle without links that leave it, devices, encryption or more than the contract's size."),
        FailureClass::BuildRejected => format!(
            "The grader refused to build {dir} (the message above says why): fix the Dockerfile or the folder as the contract's Build section says, then run `grader self-check {dir} {src}` again."),
        FailureClass::BuildFailed => format!(
            "Your image did not build: read the build log above. The build has no network: everything must come from the base image or {dir}."),
        FailureClass::BuildTimeout => "Your build ran past its deadline: do not train or download during the build; train when the container starts.".into(),
        FailureClass::StartupTimeout => format!(
            "Your service did not answer /health with 200 before the start-up deadline: train faster (or on fewer rows) and write /output/report.json first. \
             Watch it start with `grader run {dir} {src}`."),
        FailureClass::OomKilled => "Your container ran out of memory (the contract's limit): load the CSV with explicit dtypes, train on fewer rows, keep one copy of the data.".into(),
        FailureClass::Crashed => format!(
            "Your service exited (the log excerpt above shows its last lines): reproduce it with `grader run {dir} {src}` and fix the crash before anything else."),
        FailureClass::Unhealthy => "Your service ran but /health never answered 200: answer 200 once the model is loaded and /output/report.json is written.".into(),
        FailureClass::StartFailed => "The engine could not start your image's command: check CMD in your Dockerfile (the base image has python, python3 and uvicorn on PATH).".into(),
        FailureClass::Infrastructure => "The grader's side failed, not your submission (is Docker running?): run the self-check again.".into(),
    }
}

impl SelfCheck {
    pub fn human(&self) -> String {
        let mut s = format!(
            "self-check of {} on the practice variant (seed {}): {}\n",
            self.exercise, self.practice_seed, self.outcome
        );
        if let Some(f) = &self.failure {
            s += &format!("\nFAILED: {:?}: {}\n{}\n", f.class, f.message, f.log_excerpt);
        }
        let mut group = "";
        for c in &self.checks {
            if c.group != group {
                group = &c.group;
                let (p, m) = self
                    .checks
                    .iter()
                    .filter(|x| x.group == group)
                    .fold((0.0, 0.0), |(p, m), x| (p + x.points, m + x.max_points));
                s += &format!("\n{group}  {} / {}\n", round2(p), round2(m));
            }
            let mark = match c.status {
                Status::Pass => "ok  ",
                Status::Partial => "part",
                Status::Fail => "FAIL",
                Status::Error => "ERR ",
                Status::Skipped => "skip",
                Status::Ungraded => "n/g ",
            };
            s += &format!("  [{mark}] {:>6.2} / {:<6.2} {} — {}\n", c.points, c.max_points, c.title, c.evidence);
        }
        let pct =
            if self.visible_max_points > 0.0 { 100.0 * self.visible_points / self.visible_max_points } else { 0.0 };
        s += &format!("\nvisible checks: {} / {} points ({:.1}%)\n", self.visible_points, self.visible_max_points, pct);
        s += &match self.hidden_passed {
            Some(p) => {
                format!("hidden checks: {p} of {} passed ({} points)\n", self.hidden_total, self.hidden_max_points)
            }
            None => format!(
                "hidden checks: {} ({} points), graded on your own variant only\n",
                self.hidden_total, self.hidden_max_points
            ),
        };
        if let Some(r) = &self.replay {
            s += &format!(
                "\nproduction replay (contract v2): {}; its points are hidden checks\n",
                if r.in_shape() { "every answer in shape" } else { "answers out of shape" }
            );
            for line in r.lines() {
                s += &format!("  {line}\n");
            }
        }
        if !self.next_steps.is_empty() {
            s += "\nnext steps:\n";
            for n in &self.next_steps {
                s += &format!("  - {n}\n");
            }
        }
        s
    }
}

pub fn execute(req: SelfCheckRequest, ui: super::Ui) -> Result<()> {
    let report = super::runtime()?.block_on(run(req, &ui.progress()))?;
    if ui.json {
        ui.print_json(&report);
    } else {
        println!("{}", crate::support::sanitize::terminal(&report.human()));
    }
    Ok(())
}
