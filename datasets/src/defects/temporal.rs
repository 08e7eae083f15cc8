//! Temporal leakage (report name `temporal`): a real feature that the
//! extract measured after the prediction time. For positives it already
//! carries the outcome's trace (logins counted after the customer left),
//! `strength` training SDs along the feature's own effect, bounded by the
//! column's range. Served, it is measured when it should be.

use serde::{Deserialize, Serialize};

use super::level::{Level, Strength};
use super::plan::Leak;
use super::{invalid, Invalid};
use crate::certify::{
    bound_share, column_leak, column_test, median_filled, LeakCertificate, TestKind, LEAK_MARGIN, MAX_BOUND_EXCESS,
};
use crate::draw::{Draw, Split, Values};
use crate::joint::{Joint, Shift};
use crate::rng::Rng;
use crate::spec::{CertificateSpec, ExerciseSpec, FeatureSpec, Range};
use crate::stats;

/// `[defects.temporal]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemporalSpec {
    /// Numeric features with an effect on the label that it may hit.
    pub features: Vec<String>,
    /// How far positives' latent scores move in the extract, in SDs, in
    /// the direction their effect already points.
    pub strength: Strength,
}

pub(crate) fn validate(t: &TemporalSpec, spec: &ExerciseSpec) -> Result<(), Invalid> {
    t.strength.check("temporal.strength", 0.2, 10.0)?;
    if t.features.is_empty() {
        return invalid("temporal.features", "needs at least one feature".into());
    }
    for name in &t.features {
        match spec.feature(name) {
            Some(f) if !f.dist.is_categorical() && f.effect.is_some_and(|x| x.coef.centre() != 0.0) => {}
            Some(_) => {
                return invalid(
                    "temporal.features",
                    format!(
                        "`{name}` needs to be numeric with a nonzero `effect.coef` (the outcome's trace follows it)"
                    ),
                )
            }
            None => return invalid("temporal.features", format!("`{name}` is not a feature of this exercise")),
        }
    }
    Ok(())
}

pub(crate) fn draw(t: &TemporalSpec, level: Level, rng: &mut Rng) -> Leak {
    let column = t.features[rng.below(t.features.len())].clone();
    Leak::Temporal { column, strength: rng.range(t.strength.band(level)) }
}

/// Moves positives' latent scores of feature `f` (column `i`) in the
/// extract's splits by `strength` SDs, in the direction of the family's
/// effect, and renders their values again: the column keeps its domain and
/// its bounds, and whatever a constraint bounds by it follows.
pub(crate) fn plant<'a>(
    f: &FeatureSpec,
    i: usize,
    strength: f64,
    joint: &Joint,
    extract: impl IntoIterator<Item = &'a mut Split>,
) {
    // The family's direction (the business's), whatever this variant drew.
    let sign = f.effect.map(|e| e.coef.centre().signum()).unwrap_or(1.0);
    for split in extract {
        let positives: Vec<usize> = (0..split.len()).filter(|&r| split.labels[r]).collect();
        joint.rerender(&mut split.features, &mut split.latent, &[(i, Shift::Mean(sign * strength))], &positives);
    }
}

/// Solves a subtle leak's strength, within `band`, so that the column's
/// single-feature AUC in `train` (oriented along the family's effect)
/// lands at a target drawn over the middle half of `auc_band`: the
/// variant's own effect of the feature adds a different amount on every
/// seed. Bisection: the AUC grows with the strength.
/// Rows a temporal leak's strength is solved on, at most.
const CALIBRATION_ROWS: usize = 50_000;

pub(crate) fn calibrate(
    f: &FeatureSpec,
    i: usize,
    band: Range,
    auc_band: Range,
    joint: &Joint,
    train: &Split,
    rng: &mut Rng,
) -> f64 {
    let [lo, hi] = auc_band;
    let target = rng.range([lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo)]);
    let sign = f.effect.map(|e| e.coef.centre().signum()).unwrap_or(1.0);
    // On at most CALIBRATION_ROWS of train (rows are in random order, so
    // the first ones are a sample): an AUC from 50,000 rows is within about
    // 0.003 of the whole's, and the certificate judges the whole.
    let sample = train.take(&(0..train.len().min(CALIBRATION_ROWS)).collect::<Vec<_>>());
    let auc_at = |s: f64| -> f64 {
        let mut t = sample.clone();
        plant(f, i, s, joint, [&mut t]);
        let Values::Num(v) = &t.features[i] else { unreachable!("validated: numeric") };
        let auc =
            stats::auc(&median_filled(v.iter().map(|x| x.unwrap_or(f64::NAN)).collect()), &t.labels).unwrap_or(0.5);
        if sign > 0.0 {
            auc
        } else {
            1.0 - auc
        }
    };
    let (mut a, mut b) = (band[0], band[1]);
    for _ in 0..12 {
        let m = 0.5 * (a + b);
        if auc_at(m) < target {
            a = m;
        } else {
            b = m;
        }
    }
    0.5 * (a + b)
}

/// It separates in the extract as no honest feature does, and much less as
/// served (a real feature: some signal remains). How far train.csv's column
/// differs from production.csv's is recorded, not required: with few
/// positives (fraud) their trace moves the whole column little.
pub(crate) fn certify(c: &CertificateSpec, draw: &Draw, i: usize, spec_clip: Option<[f64; 2]>) -> LeakCertificate {
    let values = |s: &Split| match &s.features[i] {
        Values::Num(v) => v.iter().map(|x| x.unwrap_or(f64::NAN)).collect::<Vec<f64>>(),
        Values::Cat(_) => unreachable!("validated: numeric"),
    };
    let mut cert = column_leak(c, draw, |s| median_filled(values(s)));
    let (train_auc, serving) = (cert.train_auc.unwrap_or(0.5), cert.holdout_serving_auc.unwrap_or(0.5));
    cert.train_vs_production = Some(column_test(TestKind::Ks, &draw.train.features[i], &draw.production.features[i]));
    cert.bound_excess = spec_clip
        .map(|clip| bound_share(&draw.train.features[i], clip) - bound_share(&draw.holdout_serving.features[i], clip));
    cert.passed = (train_auc - 0.5).abs() + 0.5 >= c.leak_min_train_auc
        && (cert.holdout_offline_auc.unwrap_or(0.5) - 0.5).abs() + 0.5 >= c.leak_min_train_auc
        && (train_auc - 0.5).abs() - (serving - 0.5).abs() >= c.temporal_min_auc_drop
        && cert.bound_excess.is_none_or(|x| x <= MAX_BOUND_EXCESS)
        && c.honest_max_auc.is_none_or(|h| (train_auc - 0.5).abs() + 0.5 >= h + LEAK_MARGIN);
    cert
}
