//! Train/serving skew (report name `serving_skew`): the serving pipeline
//! encodes a column differently from the training extract, in production,
//! live traffic and the sealed holdout alike: numbers in another unit
//! (dollars to cents), or categories spelled another way.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::plan::DriftChange;
use super::{invalid, Invalid};
use crate::draw::Values;
use crate::rng::round_to;
use crate::spec::{Distribution, ExerciseSpec, FeatureSpec};

/// `[defects.serving_skew]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSkewSpec {
    /// Numeric feature -> factor its values carry at serving time (a unit
    /// change: 100 for dollars to cents).
    #[serde(default)]
    pub unit: BTreeMap<String, f64>,
    /// Categorical features whose categories are spelled differently at
    /// serving time (upper case, `-` and spaces as `_`).
    #[serde(default)]
    pub spelling: Vec<String>,
}

/// How the serving pipeline spells a category under serving skew.
pub fn serving_spelling(category: &str) -> String {
    category.to_uppercase().replace(['-', ' '], "_")
}

pub(crate) fn validate(
    k: &ServingSkewSpec,
    spec: &ExerciseSpec,
    eligible: &mut BTreeSet<String>,
) -> Result<(), Invalid> {
    if k.unit.is_empty() && k.spelling.is_empty() {
        return invalid("serving_skew", "needs at least one feature in `unit` or `spelling`".into());
    }
    for (name, factor) in &k.unit {
        match spec.feature(name) {
            Some(f) if !f.dist.is_categorical() => {}
            _ => {
                return invalid(
                    &format!("serving_skew.unit.{name}"),
                    format!("`{name}` is not a numeric feature of this exercise"),
                )
            }
        }
        if !(factor.is_finite() && *factor > 0.0 && (factor.ln().abs() >= 2.0f64.ln())) {
            return invalid(
                &format!("serving_skew.unit.{name}"),
                format!("{factor} must be a positive factor of at least 2 (or at most 1/2): a unit change"),
            );
        }
        eligible.insert(name.clone());
    }
    for name in &k.spelling {
        let Some(Distribution::Categorical { categories, .. }) = spec.feature(name).map(|f| &f.dist) else {
            return invalid("serving_skew.spelling", format!("`{name}` is not a categorical feature of this exercise"));
        };
        if let Some(c) = categories.iter().find(|c| categories.contains(&serving_spelling(c))) {
            return invalid(
                "serving_skew.spelling",
                format!("`{name}`'s category `{c}` is spelled the same at serving time (lower-case names with `-` or spaces are respelled)"),
            );
        }
        eligible.insert(name.clone());
    }
    Ok(())
}

/// The encoding `feature` gets: its unit factor, or its respelled categories.
pub(crate) fn draw(s: &ServingSkewSpec, feature: &str, f: &FeatureSpec) -> DriftChange {
    match (s.unit.get(feature), &f.dist) {
        (Some(factor), _) => DriftChange::ServingSkew { factor: Some(*factor), spelling: None },
        (None, Distribution::Categorical { categories, .. }) => DriftChange::ServingSkew {
            factor: None,
            spelling: Some(categories.iter().map(|c| serving_spelling(c)).collect()),
        },
        (None, _) => unreachable!("validated: spelling skew hits categorical features"),
    }
}

/// The serving pipeline's encoding of one feature's column.
pub(crate) fn apply(f: &FeatureSpec, change: &DriftChange, values: &mut Values) {
    match (change, values) {
        (DriftChange::ServingSkew { factor: Some(k), .. }, Values::Num(v)) => {
            v.iter_mut().flatten().for_each(|x| *x = round_to(*x * k, f.decimals()));
        }
        (DriftChange::ServingSkew { spelling: Some(s), .. }, Values::Cat(v)) => {
            // Spellings sit after the training categories (categories_with_new).
            let n = (match &f.dist {
                Distribution::Categorical { categories, .. } => categories.len(),
                _ => unreachable!("categorical"),
            }) as u32;
            debug_assert_eq!(s.len() as u32, n);
            v.iter_mut().flatten().for_each(|x| *x += n);
        }
        _ => unreachable!("validated: skew kinds match feature types"),
    }
}

/// The inverse of [`apply`]: the extract's encoding of a served column
/// (a unit factor divided out, respelled categories mapped back), for
/// checks that hold on what a value means, not how it is served.
pub(crate) fn undo(f: &FeatureSpec, change: &DriftChange, values: &mut Values) {
    match (change, values, &f.dist) {
        (DriftChange::ServingSkew { factor: Some(k), .. }, Values::Num(v), _) => {
            v.iter_mut().flatten().for_each(|x| *x /= k);
        }
        (
            DriftChange::ServingSkew { spelling: Some(_), .. },
            Values::Cat(v),
            Distribution::Categorical { categories, .. },
        ) => {
            let n = categories.len() as u32;
            v.iter_mut().flatten().filter(|c| **c >= n).for_each(|c| *c -= n);
        }
        _ => {}
    }
}
