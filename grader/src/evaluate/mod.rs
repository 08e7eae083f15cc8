//! The pure scoring core: (exercise spec, answer key, probe results) → the
//! findings, the checks and the score. No Docker, no HTTP, no files: what a
//! grade means is decided here alone, so it is unit- and snapshot-tested
//! without a service (`evaluate/tests.rs`: a constant model, an
//! over-flagger, a leak-reliant model and a perfect one).

pub mod findings;
pub mod lifecycle;
pub mod monitoring;
pub mod score;

use datasets::spec::Terms;
use datasets::AnswerKey;

use crate::report::Score;
use score::{Check, Outcome, ProbeResults, Status, Visibility};

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
///
/// Without a key (a candidate's practice kit) nothing hidden is evaluated:
/// the hidden checks are listed as skipped, worth nothing either way, and
/// the score is that of the visible checks alone.
pub fn evaluate(terms: &Terms, key: Option<&AnswerKey>, mut metrics: ProbeResults) -> Evaluation {
    metrics.findings = match (key, &metrics.contract, metrics.contract.ran().and_then(|c| c.report.as_ref())) {
        (None, _, _) => Outcome::NotRun(score::NOT_IN_PRACTICE.into()),
        (Some(key), _, Some(report)) => Outcome::Ran(findings::score(report, key)),
        (Some(_), Outcome::Ran(_), None) => Outcome::Failed("no valid report.json to read findings from".into()),
        (Some(_), Outcome::Failed(why) | Outcome::NotRun(why), None) => Outcome::NotRun(why.clone()),
    };
    let mut checks = score::checks(terms, &metrics);
    if key.is_none() {
        for c in checks.iter_mut().filter(|c| c.visibility == Visibility::Hidden) {
            c.status = Status::Skipped;
            c.points = 0.0;
            c.max_points = 0.0;
            c.evidence = score::NOT_IN_PRACTICE.into();
        }
    }
    let score = Score::of(&checks);
    Evaluation { metrics, checks, score }
}

/// The hidden checks' count and points, whatever the results: what a
/// candidate is told is graded on their own variant only.
pub fn hidden_weight(terms: &Terms) -> (usize, f64) {
    let all = score::checks(terms, &ProbeResults::none("-"));
    let hidden: Vec<&Check> = all.iter().filter(|c| c.visibility == Visibility::Hidden).collect();
    (hidden.len(), crate::evaluate::score::round2(hidden.iter().map(|c| c.max_points).sum()))
}

#[cfg(test)]
pub(crate) mod tests;
