//! Which defects a variant plants, drawn per seed from the exercise's catalog.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::spec::{Distribution, ExerciseSpec};

/// A planted leak, with the parameters it was drawn with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "defect", rename_all = "snake_case")]
pub enum Leak {
    /// A column recorded after the outcome: in the extract its values carry
    /// the label; at prediction time the outcome has not happened yet.
    PostOutcome {
        column: String,
        /// Positives' shift in noise SDs in the extract.
        strength: f64,
        /// Position among the feature columns of the public files.
        position: usize,
    },
    /// Ids handed out so that late ids are mostly positives (the extract
    /// appended an archive of churned accounts); new customers get new ids.
    Identifier { strength: f64 },
    /// Rows duplicated in train, mostly positives, each repeated several
    /// times (a fan-out join).
    DuplicateRows { fraction: f64, positive_share: f64, copies: [u32; 2] },
}

impl Leak {
    /// The kind as the candidate's report names it (contract v1).
    pub fn report_kind(&self) -> &'static str {
        match self {
            Leak::PostOutcome { .. } => "target_leakage",
            Leak::Identifier { .. } => "identifier",
            Leak::DuplicateRows { .. } => "duplicate_rows",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftChange {
    /// Values move by `shift_sd` training SDs (`shift` in the column's units).
    MeanShift { shift_sd: f64, shift: f64 },
    /// Deviations from the training mean are multiplied by `factor`.
    ScaleChange { factor: f64 },
    /// `added` more of the values are missing.
    MissingRate { added: f64 },
    /// A share of rows carry a category never seen in train.
    NewCategory { category: String, share: f64 },
}

impl DriftChange {
    pub fn report_kind(&self) -> &'static str {
        match self {
            DriftChange::MeanShift { .. } => "mean_shift",
            DriftChange::ScaleChange { .. } => "scale_change",
            DriftChange::MissingRate { .. } => "missing_rate",
            DriftChange::NewCategory { .. } => "new_category",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub feature: String,
    /// Index of the feature in the exercise's feature list.
    #[serde(skip)]
    pub index: usize,
    #[serde(flatten)]
    pub change: DriftChange,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub leaks: Vec<Leak>,
    pub drifts: Vec<Drift>,
}

impl Plan {
    /// Draws the defects. `shift_sd` for mean shifts is resolved into column
    /// units later, once the training rows exist.
    pub fn draw(spec: &ExerciseSpec, rng: &mut Rng) -> Plan {
        let d = &spec.defects;
        // At least one column leak (post-outcome or identifier) per variant:
        // they are what collapses a careless model at serving time, while
        // duplicated rows alone mostly bias the base rate and the CV scores.
        let mut column_kinds = Vec::new();
        if d.post_outcome.is_some() {
            column_kinds.push("post_outcome");
        }
        if d.identifier.is_some() {
            column_kinds.push("identifier");
        }
        let n_leaks = rng.count(d.leak_count);
        let mut chosen = Vec::new();
        if !column_kinds.is_empty() {
            chosen.push(column_kinds[rng.below(column_kinds.len())]);
        }
        let mut rest: Vec<&str> = ["post_outcome", "identifier", "duplicate_rows"]
            .into_iter()
            .filter(|k| !chosen.contains(k))
            .filter(|k| match *k {
                "duplicate_rows" => d.duplicate_rows.is_some(),
                k => column_kinds.contains(&k),
            })
            .collect();
        rng.shuffle(&mut rest);
        chosen.extend(rest.into_iter().take(n_leaks.saturating_sub(chosen.len())));
        let mut leaks: Vec<Leak> = chosen
            .into_iter()
            .map(|k| match k {
                "post_outcome" => {
                    let p = d.post_outcome.as_ref().expect("configured");
                    Leak::PostOutcome {
                        column: p.names[rng.below(p.names.len())].clone(),
                        strength: rng.range(p.strength),
                        position: rng.below(spec.features.len() + 1),
                    }
                }
                "identifier" => Leak::Identifier {
                    strength: rng.range(d.identifier.as_ref().expect("configured").strength),
                },
                _ => {
                    let p = d.duplicate_rows.as_ref().expect("configured");
                    Leak::DuplicateRows { fraction: rng.range(p.strength), positive_share: p.positive_share, copies: p.copies }
                }
            })
            .collect();
        // A stable order makes the answer key easy to read and diff.
        leaks.sort_by_key(|l| l.report_kind());

        // Every (kind, feature) pair the catalog allows, then distinct features.
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (kind, s) in [("mean_shift", &d.mean_shift), ("scale_change", &d.scale_change), ("missing_rate", &d.missing_rate)] {
            if let Some(s) = s {
                pairs.extend(s.features.iter().map(|f| (kind, f.clone())));
            }
        }
        if let Some(s) = &d.new_category {
            pairs.extend(s.features.keys().map(|f| ("new_category", f.clone())));
        }
        rng.shuffle(&mut pairs);
        // At least one drift per variant is a change of distribution that
        // standard two-sample tests find (a missing rate alone is invisible
        // to tools that ignore nulls): one such pair goes first.
        if let Some(i) = pairs.iter().position(|(k, _)| *k != "missing_rate") {
            let first = pairs.remove(i);
            pairs.insert(0, first);
        }
        let n_drifts = rng.count(d.drift_count);
        let mut drifts: Vec<Drift> = Vec::new();
        for (kind, feature) in pairs {
            if drifts.len() == n_drifts {
                break;
            }
            if drifts.iter().any(|x| x.feature == feature) {
                continue;
            }
            let index = spec.features.iter().position(|f| f.name == feature).expect("validated");
            let change = match kind {
                "mean_shift" => {
                    let s = d.mean_shift.as_ref().expect("configured");
                    let sign = if rng.bernoulli(0.5) { 1.0 } else { -1.0 };
                    DriftChange::MeanShift { shift_sd: sign * rng.range(s.strength), shift: 0.0 }
                }
                "scale_change" => DriftChange::ScaleChange {
                    factor: rng.range(d.scale_change.as_ref().expect("configured").strength),
                },
                "missing_rate" => DriftChange::MissingRate {
                    added: rng.range(d.missing_rate.as_ref().expect("configured").strength),
                },
                _ => {
                    let s = d.new_category.as_ref().expect("configured");
                    let names = &s.features[&feature];
                    DriftChange::NewCategory { category: names[rng.below(names.len())].clone(), share: rng.range(s.strength) }
                }
            };
            drifts.push(Drift { feature, index, change });
        }
        drifts.sort_by_key(|x| x.index);
        Plan { leaks, drifts }
    }

    pub fn post_outcome(&self) -> Option<(&str, f64, usize)> {
        self.leaks.iter().find_map(|l| match l {
            Leak::PostOutcome { column, strength, position } => Some((column.as_str(), *strength, *position)),
            _ => None,
        })
    }

    pub fn identifier(&self) -> Option<f64> {
        self.leaks.iter().find_map(|l| match l {
            Leak::Identifier { strength } => Some(*strength),
            _ => None,
        })
    }

    pub fn duplicates(&self) -> Option<(f64, f64, [u32; 2])> {
        self.leaks.iter().find_map(|l| match l {
            Leak::DuplicateRows { fraction, positive_share, copies } => Some((*fraction, *positive_share, *copies)),
            _ => None,
        })
    }

    pub fn drift_of(&self, feature_index: usize) -> Option<&Drift> {
        self.drifts.iter().find(|d| d.index == feature_index)
    }
}

/// Category names of a feature, with the planted new one appended.
pub fn categories_with_new(dist: &Distribution, drift: Option<&Drift>) -> Vec<String> {
    let Distribution::Categorical { categories, .. } = dist else { return Vec::new() };
    let mut c = categories.clone();
    if let Some(Drift { change: DriftChange::NewCategory { category, .. }, .. }) = drift {
        c.push(category.clone());
    }
    c
}
