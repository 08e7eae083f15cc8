//! Contamination (report name `contamination`): a share of production.csv's
//! rows, as published (same id, same values), also sit in train.csv with
//! their outcomes: the extract overlaps the period being served.

use serde::{Deserialize, Serialize};

use super::plan::Leak;
use super::Invalid;
use crate::certify::LeakCertificate;
use crate::draw::{Draw, Split};
use crate::rng::Rng;
use crate::spec::{check_range, Range};

/// `[defects.contamination]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContaminationSpec {
    /// Share of production rows copied into train.
    pub strength: Range,
}

pub(crate) fn validate(c: &ContaminationSpec) -> Result<(), Invalid> {
    check_range("contamination.strength", c.strength, 0.005, 0.5)
}

pub(crate) fn draw(c: &ContaminationSpec, rng: &mut Rng) -> Leak {
    Leak::Contamination { fraction: rng.range(c.strength) }
}

/// Appends `n` of production's rows, as published, to train; returns how many.
pub(crate) fn plant(n: usize, production: &Split, train: &mut Split, rng: &mut Rng) -> usize {
    let mut idx: Vec<usize> = (0..production.len()).collect();
    rng.shuffle(&mut idx);
    idx.truncate(n);
    idx.sort_unstable();
    train.append(&production.take(&idx));
    idx.len()
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
