//! Identifiers that encode the label (report name `identifier`). Obvious:
//! the extract appended an archive of churned accounts, so a share of
//! positives got late ids (a block). Subtle: the ids were handed out in an
//! order that follows the outcome loosely (accounts re-keyed by last
//! activity, say), a trend over the whole range. New customers at serving
//! time get new, larger ids.

use serde::{Deserialize, Serialize};

use super::level::{Level, Strength};
use super::plan::Leak;
use super::Invalid;
use crate::certify::{column_leak, LeakCertificate};
use crate::draw::Draw;
use crate::rng::Rng;
use crate::spec::CertificateSpec;

/// `[defects.identifier]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierSpec {
    /// Obvious: share of positives whose id comes from the late block.
    /// Subtle: how far positives' sort key sits above negatives', in SDs
    /// of its noise (the id's single-feature AUC is about Φ(s / √2)).
    pub strength: Strength,
}

pub(crate) fn validate(p: &IdentifierSpec) -> Result<(), Invalid> {
    p.strength.check("identifier.strength", 0.05, 4.0)
}

pub(crate) fn draw(p: &IdentifierSpec, level: Level, rng: &mut Rng) -> Leak {
    Leak::Identifier { strength: rng.range(p.strength.band(level)) }
}

/// Ids as the extract has them, for train and holdout jointly, and the first
/// id free for serving time. With the identifier leak, a share of positives
/// sort after everyone else (their ids come from a late block).
pub(crate) fn extract_ids(
    start: i64,
    train: &[bool],
    holdout: &[bool],
    leak: Option<(f64, Level)>,
    rng: &mut Rng,
) -> (Vec<i64>, Vec<i64>, i64) {
    let labels: Vec<bool> = train.iter().chain(holdout).copied().collect();
    let keys: Vec<f64> = labels
        .iter()
        .map(|&y| match leak {
            Some((s, Level::Subtle)) => rng.normal() + if y { s } else { 0.0 },
            _ => {
                let late = matches!(leak, Some((s, _)) if y && rng.bernoulli(s));
                rng.uniform() + if late { 1.0 } else { 0.0 }
            }
        })
        .collect();
    // Sorted as (key, row) pairs: a tie keeps the rows' order, as a stable
    // sort of the rows by key would, at a fraction of its cost.
    let mut order: Vec<(f64, usize)> = keys.iter().copied().zip(0..).collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut ids = vec![0i64; labels.len()];
    for (rank, &(_, row)) in order.iter().enumerate() {
        ids[row] = start + 4 * rank as i64 + rng.below(4) as i64;
    }
    let next = start + 4 * labels.len() as i64 + 1000;
    let holdout_ids = ids.split_off(train.len());
    (ids, holdout_ids, next)
}

/// The id separates the labels in the extract and not as served.
pub(crate) fn certify(c: &CertificateSpec, draw: &Draw) -> LeakCertificate {
    column_leak(c, draw, |s| s.ids.iter().map(|&x| x as f64).collect())
}

/// Ids of `n` customers served after the extract, from `first` on: in a
/// shuffled order, 4 apart with a jitter, so an id's place says nothing.
/// The next batch starts at `first + 4 * n + 4`.
pub(crate) fn serving_ids(first: i64, n: usize, rng: &mut Rng) -> Vec<i64> {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    order.iter().map(|&r| first + 4 * r as i64 + rng.below(4) as i64).collect()
}
