//! Duplicated rows (report name `duplicate_rows`): a fan-out join repeats
//! a few, mostly positive, train rows several times, inflating the base
//! rate and cross-validation scores.

use serde::{Deserialize, Serialize};

use super::level::{Level, Strength};
use super::plan::Leak;
use super::{invalid, Invalid};
use crate::certify::{distinct, positive_rate, LeakCertificate};
use crate::draw::{Draw, Split};
use crate::rng::Rng;

/// `[defects.duplicate_rows]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateRowsSpec {
    /// Share of train rows that are duplicated.
    pub strength: Strength,
    /// Share of duplicated rows that are positives (a fan-out join on the
    /// positives' side inflates the base rate, too).
    pub positive_share: f64,
    /// Extra copies of each duplicated source row, `[min, max]`: a fan-out
    /// repeats the same rows several times, which a model then memorises.
    pub copies: [u32; 2],
}

pub(crate) fn validate(p: &DuplicateRowsSpec) -> Result<(), Invalid> {
    p.strength.check("duplicate_rows.strength", 0.005, 0.5)?;
    if !(0.0..=1.0).contains(&p.positive_share) {
        return invalid("duplicate_rows.positive_share", format!("{} is outside [0, 1]", p.positive_share));
    }
    let [cmin, cmax] = p.copies;
    if cmin < 1 || cmin > cmax || cmax > 50 {
        return invalid("duplicate_rows.copies", format!("[{cmin}, {cmax}] needs 1 <= min <= max <= 50"));
    }
    Ok(())
}

pub(crate) fn draw(p: &DuplicateRowsSpec, level: Level, rng: &mut Rng) -> Leak {
    Leak::DuplicateRows {
        fraction: rng.range(p.strength.band(level)),
        positive_share: p.positive_share,
        copies: p.copies,
    }
}

/// The `n_dup` extra rows (indices into `train`), `positive_share` of them
/// positives: each source row repeated `copies` times until the quota is met.
pub(crate) fn extra_rows(
    train: &Split,
    n_dup: usize,
    positive_share: f64,
    copies: [u32; 2],
    rng: &mut Rng,
) -> Vec<usize> {
    let mut pos: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i]).collect();
    let mut neg: Vec<usize> = (0..train.len()).filter(|&i| !train.labels[i]).collect();
    rng.shuffle(&mut pos);
    rng.shuffle(&mut neg);
    let n_pos = (n_dup as f64 * positive_share).round() as usize;
    let mut idx = Vec::new();
    for (sources, quota) in [(pos, n_pos), (neg, n_dup - n_pos)] {
        let mut left = quota;
        for &row in &sources {
            if left == 0 {
                break;
            }
            let c = rng.count(copies).min(left);
            idx.extend(std::iter::repeat_n(row, c));
            left -= c;
        }
    }
    idx
}

/// The fan-out must show: duplicates found, and the base rate inflated.
pub(crate) fn certify(draw: &Draw) -> LeakCertificate {
    let found = draw.train.len() - distinct(&draw.train.ids);
    LeakCertificate {
        duplicate_rows: Some(found),
        train_positive_rate: Some(positive_rate(&draw.train.labels)),
        deduplicated_positive_rate: Some(positive_rate(&draw.train_base.labels)),
        passed: found > 0
            && found == draw.duplicated_rows
            && positive_rate(&draw.train.labels) > positive_rate(&draw.train_base.labels),
        ..LeakCertificate::none()
    }
}
