//! Contamination (report name `contamination`): a share of production.csv's
//! customers also sit in train.csv with their outcomes: the extract
//! overlaps the period being served. The extract records them as it
//! records everyone: its encodings (no serving skew, none of the serving
//! period's drift), the customers' own ids, and the extract's leaks (a
//! post-outcome column written after the outcome). The same id in both
//! files is what gives them away, not identical rows.

use serde::{Deserialize, Serialize};

use super::level::{Level, Strength};
use super::plan::Leak;
use super::Invalid;
use crate::certify::LeakCertificate;
use crate::draw::{Draw, Split};
use crate::rng::Rng;

/// `[defects.contamination]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContaminationSpec {
    /// Share of production rows copied into train.
    pub strength: Strength,
}

pub(crate) fn validate(c: &ContaminationSpec) -> Result<(), Invalid> {
    c.strength.check("contamination.strength", 0.005, 0.5)
}

pub(crate) fn draw(c: &ContaminationSpec, level: Level, rng: &mut Rng) -> Leak {
    Leak::Contamination { fraction: rng.range(c.strength.band(level)) }
}

/// Appends `n` of production's customers, as the extract records them
/// (`recorded`: their rows before the serving period's drift and skew,
/// with their own ids), to train; returns the (train row, production row)
/// pairs.
pub(crate) fn plant(n: usize, recorded: &Split, train: &mut Split, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut idx: Vec<usize> = (0..recorded.len()).collect();
    rng.shuffle(&mut idx);
    idx.truncate(n);
    idx.sort_unstable();
    let first = train.len();
    train.append(&recorded.take(&idx));
    idx.into_iter().enumerate().map(|(k, p)| (first + k, p)).collect()
}

/// Exactly the planted rows are found by id.
pub(crate) fn certify(draw: &Draw) -> LeakCertificate {
    let production: std::collections::BTreeSet<i64> = draw.production.ids.iter().copied().collect();
    let mut found: Vec<i64> = draw.train.ids.iter().copied().filter(|id| production.contains(id)).collect();
    found.sort_unstable();
    found.dedup();
    LeakCertificate {
        contaminated_rows: Some(found.len()),
        passed: !found.is_empty() && found.len() == draw.contaminated_rows,
        ..LeakCertificate::none()
    }
}
