//! `[defects]`: which kinds an exercise may plant, how many per variant,
//! and each kind's pools and strengths (the kinds' own modules check them).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::column_drift::{self, FeatureDriftSpec};
use super::contamination::{self, ContaminationSpec};
use super::duplicate_rows::{self, DuplicateRowsSpec};
use super::identifier::{self, IdentifierSpec};
use super::kind::DriftKind;
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
