//! `/drift` against the answer key: which flags are right, which are false
//! alarms, and which are neither (columns that differ by design).
//!
//! Scored like findings: each planted drift found earns 1, each false alarm
//! costs [`FALSE_ALARM_COST`], so a monitor that names every column that
//! moved at an uncorrected p < 0.05 loses what it found to what it did not.

use std::collections::BTreeSet;

use datasets::AnswerKey;

use crate::evaluate::findings::FALSE_FLAG_COST;
use crate::probe::drift::DriftMetrics;

/// A false alarm costs what a false flag in report.json costs.
pub const FALSE_ALARM_COST: f64 = FALSE_FLAG_COST;
/// Under a prior shift some clean columns move as far as the new base rate
/// explains. A careful monitor may name one or two of them; past this many,
/// each further one is a false alarm (a monitor that names everything that
/// moved does not earn the base rate's consequences for free).
pub const LABEL_SHIFT_FREE: usize = 2;

/// Columns whose flag is neither right nor wrong, from the answer key.
pub struct Neutral {
    /// The identifier and the leaking columns: they differ between the
    /// extract and serving by design. Never capped.
    fixed: BTreeSet<String>,
    /// What a prior shift moves (`clean.label_shift_consequences`): free up
    /// to [`LABEL_SHIFT_FREE`] flags.
    label_shift: BTreeSet<String>,
}

/// A flag's standing before it is matched with the planted defects.
#[derive(Debug, PartialEq, Eq)]
pub enum Standing {
    /// Neither credited nor charged.
    Ignored,
    /// Judged against the planted defects.
    Judged,
    /// A label-shift consequence past the free ones: a false alarm.
    PastFree,
}

impl Neutral {
    pub fn of(key: &AnswerKey) -> Neutral {
        let label_shift: BTreeSet<String> = key.clean.label_shift_consequences.iter().cloned().collect();
        let fixed = key.drift_neutral_columns.iter().filter(|c| !label_shift.contains(*c)).cloned().collect();
        Neutral { fixed, label_shift }
    }

    /// The standing of each flag in order; `features` may repeat a column
    /// (a report's flags), which counts once towards the free ones.
    pub fn standings<'a>(&self, features: impl IntoIterator<Item = &'a str>) -> Vec<Standing> {
        let mut free_used: BTreeSet<&str> = BTreeSet::new();
        features
            .into_iter()
            .map(|f| {
                if self.fixed.contains(f) {
                    Standing::Ignored
                } else if self.label_shift.contains(f) {
                    if free_used.contains(f) || free_used.len() < LABEL_SHIFT_FREE {
                        free_used.insert(f);
                        Standing::Ignored
                    } else {
                        Standing::PastFree
                    }
                } else {
                    Standing::Judged
                }
            })
            .collect()
    }
}

/// `/drift`'s flags against the key.
pub fn judge(flagged: BTreeSet<String>, key: &AnswerKey, rows_sent: usize, batches_failed: usize) -> DriftMetrics {
    let planted: BTreeSet<String> = key.drift.iter().map(|d| d.feature.clone()).collect();
    let neutral = Neutral::of(key);
    let standings = neutral.standings(flagged.iter().map(String::as_str));
    let mut tp = Vec::new();
    let mut fp = Vec::new();
    for (f, s) in flagged.iter().zip(standings) {
        match s {
            Standing::Ignored => {}
            Standing::Judged if planted.contains(f) => tp.push(f.clone()),
            Standing::Judged | Standing::PastFree => fp.push(f.clone()),
        }
    }
    let missed: Vec<String> = planted.iter().filter(|p| !tp.contains(p)).cloned().collect();
    let judged = tp.len() + fp.len();
    let precision = if judged == 0 { 0.0 } else { tp.len() as f64 / judged as f64 };
    let recall = if planted.is_empty() { 1.0 } else { tp.len() as f64 / planted.len() as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    let score = if planted.is_empty() {
        if fp.is_empty() {
            1.0
        } else {
            0.0
        }
    } else {
        ((tp.len() as f64 - FALSE_ALARM_COST * fp.len() as f64) / planted.len() as f64).clamp(0.0, 1.0)
    };
    DriftMetrics {
        rows_sent,
        batches_failed,
        flagged: flagged.into_iter().collect(),
        planted: planted.into_iter().collect(),
        true_positives: tp,
        false_positives: fp,
        missed,
        precision,
        recall,
        f1,
        score: Some(score),
    }
}
