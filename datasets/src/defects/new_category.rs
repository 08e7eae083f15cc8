//! A new category (report name `new_category`): a share of serving rows
//! carry a category train never had.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::level::{Level, Strength};
use super::plan::DriftChange;
use super::{invalid, Invalid};
use crate::draw::Values;
use crate::joint::Joint;
use crate::rng::Rng;
use crate::spec::{Distribution, ExerciseSpec, FeatureSpec};

/// `[defects.new_category]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewCategorySpec {
    /// Categorical feature -> names its new category may take.
    pub features: BTreeMap<String, Vec<String>>,
    /// Share of production rows that carry the new category.
    pub strength: Strength,
}

pub(crate) fn validate(
    s: &NewCategorySpec,
    spec: &ExerciseSpec,
    eligible: &mut BTreeSet<String>,
) -> Result<(), Invalid> {
    s.strength.check("new_category.strength", 0.002, 0.9)?;
    for (name, new) in &s.features {
        let Some(Distribution::Categorical { categories, .. }) = spec.feature(name).map(|f| &f.dist) else {
            return invalid("new_category.features", format!("`{name}` is not a categorical feature of this exercise"));
        };
        if new.is_empty() {
            return invalid(&format!("new_category.features.{name}"), "needs at least one new category name".into());
        }
        if let Some(c) = new.iter().find(|c| categories.contains(c)) {
            return invalid(
                &format!("new_category.features.{name}"),
                format!("`{c}` already is a category of `{name}`"),
            );
        }
        eligible.insert(name.clone());
    }
    Ok(())
}

pub(crate) fn draw(s: &NewCategorySpec, level: Level, feature: &str, rng: &mut Rng) -> DriftChange {
    let names = &s.features[feature];
    DriftChange::NewCategory {
        category: names[rng.below(names.len())].clone(),
        share: rng.range(s.strength.band(level)),
    }
}

/// Each value becomes the new category (index after the training ones)
/// with probability `share`, where no constraint forbids it.
pub(crate) fn apply(f: &FeatureSpec, index: usize, share: f64, joint: &Joint, features: &mut [Values], rng: &mut Rng) {
    let new = match &f.dist {
        Distribution::Categorical { categories, .. } => categories.len() as u32,
        _ => unreachable!("validated: new_category hits categorical features"),
    };
    replace(index, new, share, joint, features, rng);
}

/// A share `share` of the present values of feature `index` become
/// `code`, drawn among the rows where no constraint forbids it (a new
/// online category takes card-not-present rows only), so the share holds.
pub(crate) fn replace(index: usize, code: u32, share: f64, joint: &Joint, features: &mut [Values], rng: &mut Rng) {
    let n = features[index].len();
    let cat = |features: &[Values], r: usize| match &features[index] {
        Values::Cat(v) => v[r],
        _ => unreachable!("a categorical feature"),
    };
    let set = |features: &mut [Values], r: usize, c: Option<u32>| {
        if let Values::Cat(v) = &mut features[index] {
            v[r] = c;
        }
    };
    let mut present = 0;
    let mut eligible = Vec::new();
    for r in 0..n {
        let Some(old) = cat(features, r) else { continue };
        present += 1;
        set(features, r, Some(code));
        if !joint.breaks(features, r) {
            eligible.push(r);
        }
        set(features, r, Some(old));
    }
    let p = (share * present as f64 / eligible.len().max(1) as f64).min(1.0);
    for r in eligible {
        if rng.bernoulli(p) {
            set(features, r, Some(code));
        }
    }
}
