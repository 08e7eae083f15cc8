//! The pure scoring core: (exercise spec, answer key, probe results) → the
//! findings, the checks and the score. No Docker, no HTTP, no files: what a
//! grade means is decided here alone, so it is unit- and snapshot-tested
//! without a service (`evaluate/tests.rs`: a constant model, an
//! over-flagger, a leak-reliant model and a perfect one).

use datasets::spec::ExerciseSpec;
use datasets::AnswerKey;

use crate::findings;
use crate::report::Score;
use crate::score::{self, Check, Outcome, ProbeResults};

/// What the probes' results are worth.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The probe results, with the findings scored from report.json.
    pub metrics: ProbeResults,
    pub checks: Vec<Check>,
    pub score: Score,
}

/// Scores the candidate's report against the key, turns every probe result
/// into checks with `[rubric]`'s weights, and totals them.
pub fn evaluate(spec: &ExerciseSpec, key: &AnswerKey, mut metrics: ProbeResults) -> Evaluation {
    metrics.findings = match (&metrics.contract, metrics.contract.ran().and_then(|c| c.report.as_ref())) {
        (_, Some(report)) => Outcome::Ran(findings::score(report, key)),
        (Outcome::Ran(_), None) => Outcome::Failed("no valid report.json to read findings from".into()),
        (Outcome::Failed(why) | Outcome::NotRun(why), None) => Outcome::NotRun(why.clone()),
    };
    let checks = score::checks(spec, &metrics);
    let score = Score::of(&checks);
    Evaluation { metrics, checks, score }
}

#[cfg(test)]
mod tests;
