//! Drift of one column's values at serving time, sharing one spec shape
//! (`features` it may hit, `strength`): a mean shift (`mean_shift`: values
//! move by training SDs), a scale change (`scale_change`: deviations from
//! the training mean grow) and a rising missing rate (`missing_rate`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::kind::DriftKind;
use super::plan::{Drift, DriftChange};
use super::{invalid, Invalid};
use crate::draw::{blank, mean_sd, Values};
use crate::joint::Shift;
use crate::rng::Rng;
use crate::spec::{check_range, ExerciseSpec, FeatureSpec, Range};

/// `[defects.mean_shift]`, `[defects.scale_change]`, `[defects.missing_rate]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDriftSpec {
    /// Features this drift may hit.
    pub features: Vec<String>,
    /// mean_shift: shift of the latent score in SDs (sign drawn per variant);
    /// scale_change: factor on the latent score's deviations;
    /// missing_rate: added share of missing values.
    pub strength: Range,
}

/// The possible strengths of each kind.
fn bounds(kind: DriftKind) -> (f64, f64) {
    match kind {
        DriftKind::MeanShift => (0.05, 10.0),
        DriftKind::ScaleChange => (1.05, 10.0),
        _ => (0.01, 0.9),
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
    check_range(&format!("{kind}.strength"), s.strength, lo, hi)?;
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
        if kind == DriftKind::MissingRate && f.missing_rate + s.strength[1] >= 0.95 {
            return invalid(
                "missing_rate.strength",
                format!(
                    "{} added to `{name}`'s base missing rate {} leaves almost no values: impossible defect strength",
                    s.strength[1], f.missing_rate
                ),
            );
        }
        eligible.insert(name.clone());
    }
    Ok(())
}

/// A drawn change of `kind`. A mean shift's `shift` in column units is
/// recorded once the drift is applied ([`record_shift`]).
pub(crate) fn draw(kind: DriftKind, s: &FeatureDriftSpec, rng: &mut Rng) -> DriftChange {
    match kind {
        DriftKind::MeanShift => {
            let sign = if rng.bernoulli(0.5) { 1.0 } else { -1.0 };
            DriftChange::MeanShift { shift_sd: sign * rng.range(s.strength), shift: 0.0 }
        }
        DriftKind::ScaleChange => DriftChange::ScaleChange { factor: rng.range(s.strength) },
        _ => DriftChange::MissingRate { added: rng.range(s.strength) },
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
    blank(values, added / (1.0 - f.missing_rate), rng);
}
