//! `[defects]`: which kinds an exercise may plant, how many per variant,
//! and each kind's pools and strengths (the kinds' own modules check them).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::column_drift::{self, FeatureDriftSpec};
use super::contamination::{self, ContaminationSpec};
use super::duplicate_rows::{self, DuplicateRowsSpec};
use super::identifier::{self, IdentifierSpec};
use super::kind::{DriftKind, LeakKind};
use super::level::{self, Level, Mix, Strength};
use super::new_category::{self, NewCategorySpec};
use super::post_outcome::{self, PostOutcomeSpec};
use super::prior_shift::{self, PriorShiftSpec};
use super::serving_skew::{self, ServingSkewSpec};
use super::temporal::{self, TemporalSpec};
use super::{invalid, Invalid};
use crate::spec::ExerciseSpec;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DefectCatalog {
    /// How many leakage defects a variant plants, `[min, max]`.
    pub leak_count: [u32; 2],
    /// How many drifted features a variant plants, `[min, max]`.
    pub drift_count: [u32; 2],
    /// Kinds a rule of thumb misses: every variant plants one of them
    /// (drawn uniformly), so no seed is all loud defects.
    #[serde(default)]
    pub breadth: Vec<String>,
    /// How many leaks and drifts of each level every variant plants.
    #[serde(default)]
    pub mix: Option<Mix>,
    pub post_outcome: Option<PostOutcomeSpec>,
    pub identifier: Option<IdentifierSpec>,
    pub duplicate_rows: Option<DuplicateRowsSpec>,
    pub mean_shift: Option<FeatureDriftSpec>,
    pub scale_change: Option<FeatureDriftSpec>,
    pub missing_rate: Option<FeatureDriftSpec>,
    pub new_category: Option<NewCategorySpec>,
    pub temporal: Option<TemporalSpec>,
    pub contamination: Option<ContaminationSpec>,
    pub serving_skew: Option<ServingSkewSpec>,
    pub prior_shift: Option<PriorShiftSpec>,
}

impl DefectCatalog {
    /// The spec of a column drift kind, if configured.
    pub fn column_drift(&self, kind: DriftKind) -> Option<&FeatureDriftSpec> {
        match kind {
            DriftKind::MeanShift => self.mean_shift.as_ref(),
            DriftKind::ScaleChange => self.scale_change.as_ref(),
            DriftKind::MissingRate => self.missing_rate.as_ref(),
            _ => None,
        }
    }

    /// The strength bands of a leak kind, if configured.
    pub fn leak_strength(&self, kind: LeakKind) -> Option<&Strength> {
        match kind {
            LeakKind::TargetLeakage => self.post_outcome.as_ref().map(|s| &s.strength),
            LeakKind::Identifier => self.identifier.as_ref().map(|s| &s.strength),
            LeakKind::DuplicateRows => self.duplicate_rows.as_ref().map(|s| &s.strength),
            LeakKind::Temporal => self.temporal.as_ref().map(|s| &s.strength),
            LeakKind::Contamination => self.contamination.as_ref().map(|s| &s.strength),
        }
    }

    /// The strength bands of a drift kind, if configured (a serving
    /// skew's: the share of rows it encodes, when declared).
    pub fn drift_strength(&self, kind: DriftKind) -> Option<&Strength> {
        match kind {
            DriftKind::NewCategory => self.new_category.as_ref().map(|s| &s.strength),
            DriftKind::PriorShift => self.prior_shift.as_ref().map(|s| &s.strength),
            DriftKind::ServingSkew => self.serving_skew.as_ref().and_then(|s| s.share.as_ref()),
            k => self.column_drift(k).map(|s| &s.strength),
        }
    }
}

/// Checks `[defects]`; `taken` holds the feature, label and id names.
pub(crate) fn validate(spec: &ExerciseSpec, taken: &BTreeSet<String>) -> Result<(), Invalid> {
    let d = &spec.defects;
    let leak_kinds = [
        d.post_outcome.is_some(),
        d.identifier.is_some(),
        d.duplicate_rows.is_some(),
        d.temporal.is_some(),
        d.contamination.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count() as u32;
    let [lmin, lmax] = d.leak_count;
    if lmin > lmax || lmax > leak_kinds {
        return invalid(
            "leak_count",
            format!("[{lmin}, {lmax}] needs min <= max <= {leak_kinds} (the leak kinds configured)"),
        );
    }
    if let Some(p) = &d.post_outcome {
        post_outcome::validate(p, taken)?;
    }
    if let Some(p) = &d.identifier {
        identifier::validate(p)?;
    }
    if let Some(p) = &d.duplicate_rows {
        duplicate_rows::validate(p)?;
    }
    if let Some(t) = &d.temporal {
        temporal::validate(t, spec)?;
    }
    if let Some(c) = &d.contamination {
        contamination::validate(c)?;
    }
    let mut eligible = BTreeSet::new();
    if let Some(k) = &d.serving_skew {
        serving_skew::validate(k, spec, &mut eligible)?;
    }
    if let Some(p) = &d.prior_shift {
        prior_shift::validate(p, &mut eligible)?;
    }
    for kind in [DriftKind::MeanShift, DriftKind::ScaleChange, DriftKind::MissingRate] {
        if let Some(s) = d.column_drift(kind) {
            column_drift::validate(kind, s, spec, &mut eligible)?;
        }
    }
    if let Some(s) = &d.new_category {
        new_category::validate(s, spec, &mut eligible)?;
    }
    for name in &d.breadth {
        let configured = match (name.parse::<super::LeakKind>(), name.parse::<DriftKind>()) {
            (Ok(k), _) => match k {
                super::LeakKind::Temporal => d.temporal.is_some() && lmin >= 2,
                super::LeakKind::Contamination => d.contamination.is_some() && lmin >= 2,
                super::LeakKind::DuplicateRows => d.duplicate_rows.is_some() && lmin >= 2,
                super::LeakKind::TargetLeakage => d.post_outcome.is_some(),
                super::LeakKind::Identifier => d.identifier.is_some(),
            },
            (_, Ok(k)) => match k {
                DriftKind::ServingSkew => d.serving_skew.is_some(),
                DriftKind::PriorShift => d.prior_shift.is_some(),
                DriftKind::NewCategory => d.new_category.is_some(),
                k => d.column_drift(k).is_some(),
            },
            _ => return invalid("breadth", format!("`{name}` is not a leak or drift kind")),
        };
        if !configured {
            return invalid(
                "breadth",
                format!("`{name}` is not configured in [defects] (a second leak kind also needs leak_count >= 2)"),
            );
        }
    }
    if let Some(mix) = &d.mix {
        level::validate_mix(mix, d.leak_count, d.drift_count)?;
        // Any configured kind may be drawn, so each needs a subtle band
        // for the mix to hold on every seed.
        let needs = |subtle: u32, name: &str, s: &Strength| -> Result<(), Invalid> {
            if subtle > 0 && !s.has(Level::Subtle) {
                return invalid(
                    &format!("{name}.strength"),
                    "the mix plants subtle defects of this family: needs \
                     { obvious = [min, max], subtle = [min, max] }"
                        .into(),
                );
            }
            Ok(())
        };
        for k in LeakKind::ALL {
            if let Some(s) = d.leak_strength(*k) {
                needs(mix.leaks.subtle, leak_section(*k), s)?;
            }
        }
        // A drift kind may stay obvious (a serving skew, a prior shift):
        // enough features must have a kind with a subtle band, one spare
        // for the temporal leak's feature.
        let mut subtle_features = BTreeSet::new();
        for k in [DriftKind::MeanShift, DriftKind::ScaleChange, DriftKind::MissingRate] {
            if let Some(s) = d.column_drift(k).filter(|s| s.strength.has(Level::Subtle)) {
                subtle_features.extend(s.features.iter().cloned());
            }
        }
        if let Some(s) = d.new_category.as_ref().filter(|s| s.strength.has(Level::Subtle)) {
            subtle_features.extend(s.features.keys().cloned());
        }
        if let Some(s) = &d.serving_skew {
            subtle_features.extend(s.unit.keys().filter(|f| s.subtle_able(f)).cloned());
        }
        if mix.drifts.subtle > 0 && subtle_features.len() < mix.drifts.subtle as usize + 1 {
            return invalid(
                "mix.drifts",
                format!(
                    "{} subtle drifts per variant, but only {} features have a drift kind with a subtle band",
                    mix.drifts.subtle,
                    subtle_features.len()
                ),
            );
        }
    }
    let [dmin, dmax] = d.drift_count;
    // A temporal leak takes its feature out of the drift pool.
    let eligible_left =
        eligible.len() - d.temporal.as_ref().is_some_and(|t| t.features.iter().any(|f| eligible.contains(f))) as usize;
    if dmin < 1 || dmin > dmax || dmax as usize > eligible_left {
        return invalid(
            "drift_count",
            format!("[{dmin}, {dmax}] needs 1 <= min <= max <= {eligible_left} (the features any drift may hit)"),
        );
    }
    Ok(())
}

/// The `[defects.<section>]` a leak kind is configured in.
fn leak_section(k: LeakKind) -> &'static str {
    match k {
        LeakKind::TargetLeakage => "post_outcome",
        k => k.as_str(),
    }
}
