//! Prior shift (report name `prior_shift`, feature [`crate::PREDICTION`]):
//! production and live traffic are drawn at a higher positive rate than
//! training, each class as in training (label shift). No column is to
//! blame; it shows in the distribution of a model's predictions. A subtle
//! one's factor is solved per variant so that test lands in the
//! certificate's band ([`calibrate`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::level::{Level, Strength};
use super::Invalid;
use crate::draw::Split;
use crate::rng::Rng;
use crate::spec::Range;

/// `[defects.prior_shift]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriorShiftSpec {
    /// Factor on the training positive rate at serving time (upwards).
    pub strength: Strength,
}

pub(crate) fn validate(p: &PriorShiftSpec, eligible: &mut BTreeSet<String>) -> Result<(), Invalid> {
    p.strength.check("prior_shift.strength", 1.05, 4.0)?;
    eligible.insert(crate::PREDICTION.to_string());
    Ok(())
}

/// The factor on the positive rate. Upwards only: a fall of the same
/// factor moves a low base rate too little to show in a day's traffic.
pub(crate) fn draw(p: &PriorShiftSpec, level: Level, rng: &mut Rng) -> f64 {
    rng.range(p.strength.band(level))
}

/// A subtle prior shift's factor, solved within `band` so that its test
/// (`log_p_at(factor)`: the generating model's score over the clean
/// columns, production drawn at that factor against train) lands near a
/// point drawn in the middle half of `p_band` (log scale). The batch drawn
/// at each step comes from the same stream, so the p-value falls with the
/// factor as the rate's own share does.
pub(crate) fn calibrate(band: Range, p_band: Range, p_at: impl Fn(f64) -> f64, rng: &mut Rng) -> f64 {
    let [lo, hi] = p_band.map(f64::ln);
    let target = rng.range([lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo)]);
    super::column_drift::bisect(band, 12, target, |m| p_at(m).max(1e-300).ln())
}

/// The serving positive rate for a training rate and a factor.
pub(crate) fn serving_rate(train_rate: f64, factor: Option<f64>) -> f64 {
    factor.map(|f| (train_rate * f).clamp(0.005, 0.95)).unwrap_or(train_rate)
}

/// A serving batch of `n` rows at `serving_rate`, drawn from pools of clean
/// rows (`pool(size)`): a pool with half again as many of the scarcer class
/// as needed; in the rare pool that still falls short, one twice as big
/// (from the same stream: the draw stays deterministic).
pub(crate) fn sample(n: usize, train_rate: f64, serving_rate: f64, pool: impl FnMut(usize) -> Split) -> Split {
    let rows = pool_for(n, train_rate, [serving_rate, serving_rate], pool);
    let idx = at_rate(&rows.labels, n, serving_rate).expect("pool_for holds enough of each class");
    rows.take(&idx)
}

/// One pool of clean rows from which a batch of `n` rows can be taken at
/// every serving rate in `rates` (low, high): sized as [`sample`] sizes it
/// for the rate that needs most, doubled while a class falls short at
/// either end (the counts a batch needs are monotone in the rate). A subtle
/// prior shift's factor is solved on batches of this one pool, and
/// production is the batch at the solved factor: the calibration sees the
/// rows production gets, and draws them once.
pub(crate) fn pool_for(n: usize, train_rate: f64, rates: [f64; 2], mut pool: impl FnMut(usize) -> Split) -> Split {
    let need = |r: f64| (r / train_rate).max((1.0 - r) / (1.0 - train_rate));
    let mut size = (n as f64 * need(rates[0]).max(need(rates[1])) * 1.5) as usize + 50;
    loop {
        let rows = pool(size);
        if rates.iter().all(|&r| at_rate(&rows.labels, n, r).is_some()) {
            break rows;
        }
        size *= 2;
    }
}

/// The indices of `n` rows at positive rate `rate`, in the pool's (random)
/// order: the first of each class; `None` when the pool holds too few of a
/// class.
pub(crate) fn at_rate(labels: &[bool], n: usize, rate: f64) -> Option<Vec<usize>> {
    let want_pos = (n as f64 * rate).round() as usize;
    let (mut pos, mut neg) = (0, 0);
    let idx: Vec<usize> = (0..labels.len())
        .filter(|&i| {
            let keep = if labels[i] { pos < want_pos } else { neg < n - want_pos };
            if keep {
                if labels[i] {
                    pos += 1
                } else {
                    neg += 1
                }
            }
            keep
        })
        .collect();
    (idx.len() == n).then_some(idx)
}

/// The rows of `split` resampled to positive rate `rate`: every row of the
/// scarcer class, the first rows of the other (the order is random). Clean
/// columns are certified against train so resampled under a prior shift:
/// a column that moves only with the label is not drift.
pub(crate) fn reference_at_rate(split: &Split, rate: f64) -> Split {
    let pos: Vec<usize> = (0..split.len()).filter(|&i| split.labels[i]).collect();
    let neg: Vec<usize> = (0..split.len()).filter(|&i| !split.labels[i]).collect();
    let have = pos.len() as f64 / split.len().max(1) as f64;
    let (pos, neg) = if rate > have {
        let n = ((pos.len() as f64) * (1.0 - rate) / rate).round() as usize;
        (pos, neg[..n.min(neg.len())].to_vec())
    } else {
        let n = ((neg.len() as f64) * rate / (1.0 - rate)).round() as usize;
        (pos[..n.min(pos.len())].to_vec(), neg)
    };
    let mut idx: Vec<usize> = pos.into_iter().chain(neg).collect();
    idx.sort_unstable();
    split.take(&idx)
}
