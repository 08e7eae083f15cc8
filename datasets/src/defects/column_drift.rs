//! Drift of one column's values at serving time, sharing one spec shape
//! (`features` it may hit, `strength`): a mean shift (`mean_shift`: values
//! move by training SDs), a scale change (`scale_change`: deviations from
//! the training mean grow) and a rising missing rate (`missing_rate`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::kind::DriftKind;
use super::level::{Level, Strength};
use super::plan::{Drift, DriftChange};
use super::{invalid, Invalid};
use crate::draw::{blank, mean_sd, Split, Values};
use crate::joint::{Joint, Shift};
use crate::rng::Rng;
use crate::spec::{ExerciseSpec, FeatureSpec, Range};
use crate::stats;

/// `[defects.mean_shift]`, `[defects.scale_change]`, `[defects.missing_rate]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDriftSpec {
    /// Features this drift may hit.
    pub features: Vec<String>,
    /// mean_shift: shift of the latent score in SDs (sign drawn per variant);
    /// scale_change: factor on the latent score's deviations;
    /// missing_rate: added share of missing values.
    pub strength: Strength,
}

/// The possible strengths of each kind.
fn bounds(kind: DriftKind) -> (f64, f64) {
    match kind {
        DriftKind::MeanShift => (0.01, 10.0),
        DriftKind::ScaleChange => (1.01, 10.0),
        _ => (0.001, 0.9),
    }
}

/// Checks one of the three; `eligible` collects the features it may hit.
pub(crate) fn validate(
    kind: DriftKind,
    s: &FeatureDriftSpec,
    spec: &ExerciseSpec,
    eligible: &mut BTreeSet<String>,
) -> Result<(), Invalid> {
    let (lo, hi) = bounds(kind);
    s.strength.check(&format!("{kind}.strength"), lo, hi)?;
    if s.features.is_empty() {
        return invalid(&format!("{kind}.features"), "needs at least one feature".into());
    }
    for name in &s.features {
        let Some(f) = spec.feature(name) else {
            return invalid(&format!("{kind}.features"), format!("`{name}` is not a feature of this exercise"));
        };
        if kind != DriftKind::MissingRate && f.dist.is_categorical() {
            return invalid(
                &format!("{kind}.features"),
                format!("`{name}` is categorical; {kind} needs a numeric feature"),
            );
        }
        if kind == DriftKind::MissingRate
            && f.missing_rate + s.strength.obvious[1].max(s.strength.subtle.map_or(0.0, |b| b[1])) >= 0.95
        {
            return invalid(
                "missing_rate.strength",
                format!(
                    "{} added to `{name}`'s base missing rate {} leaves almost no values: impossible defect strength",
                    s.strength.obvious[1], f.missing_rate
                ),
            );
        }
        eligible.insert(name.clone());
    }
    Ok(())
}

/// A drawn change of `kind`. A mean shift's `shift` in column units is
/// recorded once the drift is applied ([`record_shift`]).
pub(crate) fn draw(kind: DriftKind, s: &FeatureDriftSpec, level: Level, rng: &mut Rng) -> DriftChange {
    let band = s.strength.band(level);
    match kind {
        DriftKind::MeanShift => {
            let sign = if rng.bernoulli(0.5) { 1.0 } else { -1.0 };
            DriftChange::MeanShift { shift_sd: sign * rng.range(band), shift: 0.0 }
        }
        DriftKind::ScaleChange => DriftChange::ScaleChange { factor: rng.range(band) },
        _ => DriftChange::MissingRate { added: rng.range(band) },
    }
}

/// The change of a mean shift or a scale change to the feature's latent
/// score: `shift_sd` latent SDs, or deviations from the latent centre
/// times `factor`. Applied there and rendered again, the column keeps its
/// domain: no negative discounts, no pile on a clip bound.
pub(crate) fn latent_shift(d: &Drift) -> Option<(usize, Shift)> {
    match d.change {
        DriftChange::MeanShift { shift_sd, .. } => Some((d.index, Shift::Mean(shift_sd))),
        DriftChange::ScaleChange { factor } => Some((d.index, Shift::Scale(factor))),
        _ => None,
    }
}

/// Records a mean shift's size in the column's units: the batch's mean
/// after the drift minus before.
pub(crate) fn record_shift(change: &mut DriftChange, before: &Values, after: &Values) {
    if let (DriftChange::MeanShift { shift, .. }, Values::Num(a), Values::Num(b)) = (change, before, after) {
        *shift = crate::rng::round_to(mean_sd(b).0 - mean_sd(a).0, 4);
    }
}

/// Among values still present, blanks enough to add `added` missing overall.
pub(crate) fn add_missing(f: &FeatureSpec, added: f64, values: &mut Values, rng: &mut Rng) {
    add_missing_with(added, f.missing_rate, values, rng);
}

/// Solves a subtle drift's strength, within its subtle band, so that
/// `production`'s test against the training rows lands at a p-value drawn
/// log-uniformly over the middle half of `p_band`: every seed's subtle
/// drift is about as hard to find as every other's, where a strength
/// drawn blindly would land anywhere from a wall to nothing (a latent SD
/// moves a lognormal, a count and a bounded column by different KS
/// distances). Bisection: the p-value falls as the strength grows.
pub(crate) fn calibrate(
    d: &mut Drift,
    (band, p_band): (Range, Range),
    f: &FeatureSpec,
    joint: &Joint,
    train: &Split,
    production: &Split,
    rng: &mut Rng,
) {
    let i = d.index;
    let [lo, hi] = p_band.map(f64::ln);
    let target = rng.range([lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo)]);
    let mut sorted: Vec<f64> = match &train.features[i] {
        Values::Num(v) => v.iter().flatten().copied().collect(),
        Values::Cat(_) => Vec::new(),
    };
    sorted.sort_unstable_by(f64::total_cmp);
    let blanks = rng.clone();
    let log_p = |s: f64| -> f64 {
        let mut change = d.change.clone();
        set_strength(&mut change, s);
        let p = match (&change, &train.features[i]) {
            (DriftChange::MissingRate { added }, reference) => {
                let mut v = production.features[i].clone();
                add_missing_with(*added, f.missing_rate, &mut v, &mut blanks.clone());
                stats::two_proportion_z(
                    reference.missing() as u64,
                    reference.len() as u64,
                    v.missing() as u64,
                    v.len() as u64,
                )
                .p_value
            }
            _ => {
                let shift = latent_shift(&Drift { change, ..d.clone() }).expect("a mean shift or a scale change");
                let (mut values, mut latent) = (production.features.clone(), production.latent.clone());
                let all: Vec<usize> = (0..production.len()).collect();
                joint.rerender(&mut values, &mut latent, &[shift], &all);
                let Values::Num(b) = &values[i] else { unreachable!("numeric") };
                stats::ks_presorted(&sorted, &b.iter().flatten().copied().collect::<Vec<f64>>()).p_value
            }
        };
        p.max(1e-300).ln()
    };
    let solved = bisect(band, 14, target, log_p);
    set_strength(&mut d.change, solved);
}

/// The strength within `band` whose log p-value is `target`, for a test
/// whose p falls as the strength grows (`steps` halvings of the band).
pub(crate) fn bisect(band: Range, steps: u32, target: f64, log_p: impl Fn(f64) -> f64) -> f64 {
    let (mut a, mut b) = (band[0], band[1]);
    for _ in 0..steps {
        let m = 0.5 * (a + b);
        if log_p(m) > target {
            a = m;
        } else {
            b = m;
        }
    }
    0.5 * (a + b)
}

/// A drift's strength, its sign kept.
fn set_strength(change: &mut DriftChange, s: f64) {
    match change {
        DriftChange::MeanShift { shift_sd, .. } => *shift_sd = shift_sd.signum() * s,
        DriftChange::ScaleChange { factor } => *factor = s,
        DriftChange::MissingRate { added } => *added = s,
        _ => unreachable!("only column drifts are calibrated"),
    }
}

/// [`add_missing`] given the column's base missing rate.
fn add_missing_with(added: f64, base: f64, values: &mut Values, rng: &mut Rng) {
    blank(values, added / (1.0 - base), rng);
}
