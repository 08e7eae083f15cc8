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
    /// A real feature measured after the prediction time in the extract:
    /// positives' values already carry the outcome's trace, `strength`
    /// training SDs along the feature's own effect. Served as it should be.
    Temporal { column: String, strength: f64 },
    /// A share of production rows, as published, also in train with their
    /// outcomes (the extract was pulled after the recent period began).
    Contamination { fraction: f64 },
}

impl Leak {
    /// The kind as the candidate's report names it (contract v1).
    pub fn report_kind(&self) -> &'static str {
        match self {
            Leak::PostOutcome { .. } => "target_leakage",
            Leak::Identifier { .. } => "identifier",
            Leak::DuplicateRows { .. } => "duplicate_rows",
            Leak::Temporal { .. } => "temporal",
            Leak::Contamination { .. } => "contamination",
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
    /// The serving pipeline encodes the feature differently: numbers carry
    /// `factor` (a unit change), or categories are spelled `spelling`
    /// (in the order of the training categories).
    ServingSkew {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        factor: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spelling: Option<Vec<String>>,
    },
    /// The share of positives at serving time is `serving_rate` instead of
    /// `train_rate` (feature [`crate::PREDICTION`]).
    PriorShift { factor: f64, train_rate: f64, serving_rate: f64 },
}

impl DriftChange {
    pub fn report_kind(&self) -> &'static str {
        match self {
            DriftChange::MeanShift { .. } => "mean_shift",
            DriftChange::ScaleChange { .. } => "scale_change",
            DriftChange::MissingRate { .. } => "missing_rate",
            DriftChange::NewCategory { .. } => "new_category",
            DriftChange::ServingSkew { .. } => "serving_skew",
            DriftChange::PriorShift { .. } => "prior_shift",
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
    /// Drifted features, in feature order.
    pub drifts: Vec<Drift>,
    /// Prior shift: the factor on the positive rate at serving time.
    pub prior_shift: Option<f64>,
}

/// How the serving pipeline spells a category under serving skew.
pub fn serving_spelling(category: &str) -> String {
    category.to_uppercase().replace(['-', ' '], "_")
}

impl Plan {
    /// Draws the defects. `shift_sd` for mean shifts is resolved into column
    /// units later, once the training rows exist.
    pub fn draw(spec: &ExerciseSpec, rng: &mut Rng) -> Plan {
        let d = &spec.defects;
        // At least one column leak (post-outcome or identifier) per variant:
        // they are what collapses a careless model at serving time, while
        // duplicated rows, contamination or a temporal leak (a real feature
        // keeps some honest signal as served) hurt it less. Every seed thus
        // costs a careless model alike (`grader validate --parity`).
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
        let mut rest: Vec<&str> = ["post_outcome", "identifier", "duplicate_rows", "temporal", "contamination"]
            .into_iter()
            .filter(|k| !chosen.contains(k))
            .filter(|k| match *k {
                "duplicate_rows" => d.duplicate_rows.is_some(),
                "contamination" => d.contamination.is_some(),
                "temporal" => d.temporal.is_some(),
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
                "temporal" => {
                    let t = d.temporal.as_ref().expect("configured");
                    Leak::Temporal { column: t.features[rng.below(t.features.len())].clone(), strength: rng.range(t.strength) }
                }
                "contamination" => Leak::Contamination {
                    fraction: rng.range(d.contamination.as_ref().expect("configured").strength),
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
        if let Some(s) = &d.serving_skew {
            pairs.extend(s.unit.keys().chain(&s.spelling).map(|f| ("serving_skew", f.clone())));
        }
        if d.prior_shift.is_some() {
            pairs.push(("prior_shift", crate::PREDICTION.to_string()));
        }
        // A feature measured too late in the extract is a leak, not a drift.
        let temporal = leaks.iter().find_map(|l| match l {
            Leak::Temporal { column, .. } => Some(column.clone()),
            _ => None,
        });
        pairs.retain(|(_, f)| Some(f) != temporal.as_ref());
        rng.shuffle(&mut pairs);
        // At least one drift per variant is a change of one column's
        // distribution that standard two-sample tests find (a missing rate
        // alone is invisible to tools that ignore nulls, a prior shift
        // shows in predictions): one such pair goes first.
        if let Some(i) = pairs.iter().position(|(k, _)| !matches!(*k, "missing_rate" | "prior_shift")) {
            let first = pairs.remove(i);
            pairs.insert(0, first);
        }
        let n_drifts = rng.count(d.drift_count);
        let mut drifts: Vec<Drift> = Vec::new();
        let mut prior_shift = None;
        for (kind, feature) in pairs {
            if drifts.len() + prior_shift.is_some() as usize == n_drifts {
                break;
            }
            if drifts.iter().any(|x| x.feature == feature) {
                continue;
            }
            if kind == "prior_shift" {
                // Upwards only: a fall of the same factor moves a low base
                // rate too little to show in a day's traffic.
                prior_shift = Some(rng.range(d.prior_shift.as_ref().expect("configured").strength));
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
                "serving_skew" => {
                    let s = d.serving_skew.as_ref().expect("configured");
                    match (s.unit.get(&feature), &spec.features[index].dist) {
                        (Some(factor), _) => DriftChange::ServingSkew { factor: Some(*factor), spelling: None },
                        (None, Distribution::Categorical { categories, .. }) => DriftChange::ServingSkew {
                            factor: None,
                            spelling: Some(categories.iter().map(|c| serving_spelling(c)).collect()),
                        },
                        (None, _) => unreachable!("validated: spelling skew hits categorical features"),
                    }
                }
                _ => {
                    let s = d.new_category.as_ref().expect("configured");
                    let names = &s.features[&feature];
                    DriftChange::NewCategory { category: names[rng.below(names.len())].clone(), share: rng.range(s.strength) }
                }
            };
            drifts.push(Drift { feature, index, change });
        }
        drifts.sort_by_key(|x| x.index);
        Plan { leaks, drifts, prior_shift }
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

    pub fn temporal(&self) -> Option<(&str, f64)> {
        self.leaks.iter().find_map(|l| match l {
            Leak::Temporal { column, strength } => Some((column.as_str(), *strength)),
            _ => None,
        })
    }

    pub fn contamination(&self) -> Option<f64> {
        self.leaks.iter().find_map(|l| match l {
            Leak::Contamination { fraction } => Some(*fraction),
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
    match drift {
        Some(Drift { change: DriftChange::NewCategory { category, .. }, .. }) => c.push(category.clone()),
        // Serving spellings follow the training categories: index i + n.
        Some(Drift { change: DriftChange::ServingSkew { spelling: Some(s), .. }, .. }) => c.extend(s.iter().cloned()),
        _ => {}
    }
    c
}
