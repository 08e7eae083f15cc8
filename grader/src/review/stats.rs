//! How well the automated score agrees with the reviewers' decisions: the
//! AUC of the score against "advance", the threshold that best separates
//! them, and how often reviewers disagree. Pure: samples in, figures out.

use super::{Decision, ReviewStats};
use crate::schema::REVIEW_STATS_VERSION;

/// One current decision: the candidate's automated percent and what the
/// reviewer decided.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub percent: f64,
    pub decision: Decision,
}

/// Mann–Whitney AUC of `percent` for `advance` against the rest (ties
/// count a half); None without both.
pub fn auc(samples: &[Sample]) -> Option<f64> {
    let pos: Vec<f64> = samples.iter().filter(|s| s.decision == Decision::Advance).map(|s| s.percent).collect();
    let neg: Vec<f64> = samples.iter().filter(|s| s.decision != Decision::Advance).map(|s| s.percent).collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (pos.len() * neg.len()) as f64)
}

/// The score at or above which "advance" best matches: the highest
/// TPR − FPR over every observed score (the lowest such score on a tie),
/// with its TPR and FPR.
pub fn threshold(samples: &[Sample]) -> Option<(f64, f64, f64)> {
    let pos = samples.iter().filter(|s| s.decision == Decision::Advance).count() as f64;
    let neg = samples.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let mut scores: Vec<f64> = samples.iter().map(|s| s.percent).collect();
    scores.sort_by(f64::total_cmp);
    scores.dedup();
    let mut best: Option<(f64, f64, f64, f64)> = None;
    for t in scores {
        let tp = samples.iter().filter(|s| s.decision == Decision::Advance && s.percent >= t).count() as f64;
        let fp = samples.iter().filter(|s| s.decision != Decision::Advance && s.percent >= t).count() as f64;
        let (tpr, fpr) = (tp / pos, fp / neg);
        if best.is_none_or(|b| tpr - fpr > b.0 + 1e-12) {
            best = Some((tpr - fpr, t, tpr, fpr));
        }
    }
    best.map(|(_, t, tpr, fpr)| (t, tpr, fpr))
}

/// Everything `grader review --stats` reports. `per_candidate`: each
/// candidate's current decisions, one per reviewer, with their percent.
pub fn compute(per_candidate: &[(f64, Vec<Decision>)], stale_records: usize) -> ReviewStats {
    let samples: Vec<Sample> =
        per_candidate.iter().flat_map(|(p, ds)| ds.iter().map(move |d| Sample { percent: *p, decision: *d })).collect();
    let count = |d: Decision| samples.iter().filter(|s| s.decision == d).count();
    let multi: Vec<&Vec<Decision>> = per_candidate.iter().map(|(_, d)| d).filter(|d| d.len() >= 2).collect();
    let disagreements = multi.iter().filter(|d| d.iter().any(|x| *x != d[0])).count();
    let t = threshold(&samples);
    ReviewStats {
        schema_version: REVIEW_STATS_VERSION,
        candidates_decided: per_candidate.iter().filter(|(_, d)| !d.is_empty()).count(),
        decisions: samples.len(),
        advance: count(Decision::Advance),
        hold: count(Decision::Hold),
        reject: count(Decision::Reject),
        auc: auc(&samples),
        threshold: t.map(|t| t.0),
        threshold_tpr: t.map(|t| t.1),
        threshold_fpr: t.map(|t| t.2),
        candidates_with_two_or_more_reviewers: multi.len(),
        disagreements,
        disagreement_rate: (!multi.is_empty()).then(|| disagreements as f64 / multi.len() as f64),
        stale_records,
    }
}

/// The figures for a person.
pub fn human(s: &ReviewStats) -> String {
    let f = |x: Option<f64>, pct: bool| match x {
        Some(v) if pct => format!("{:.0}%", 100.0 * v),
        Some(v) => format!("{v:.3}"),
        None => "n/a".into(),
    };
    let mut out = format!(
        "{} candidates decided, {} decisions: {} advance, {} hold, {} reject\n",
        s.candidates_decided, s.decisions, s.advance, s.hold, s.reject
    );
    out += &format!("AUC of the automated score against advance: {}\n", f(s.auc, false));
    match s.threshold {
        Some(t) => {
            out += &format!(
                "best threshold: advance at {t}% or more (catches {} of advances, {} of the others)\n",
                f(s.threshold_tpr, true),
                f(s.threshold_fpr, true)
            )
        }
        None => out += "best threshold: n/a (needs both advance and other decisions)\n",
    }
    out += &format!(
        "reviewers disagree on {} of {} candidates with two or more reviewers ({})\n",
        s.disagreements,
        s.candidates_with_two_or_more_reviewers,
        f(s.disagreement_rate, true)
    );
    if s.stale_records > 0 {
        out += &format!("{} stale record(s) (made on results graded again since) not counted\n", s.stale_records);
    }
    out
}
