//! Which defects a variant plants, drawn per seed from the exercise's
//! catalog: the mix here, each kind's parameters in its own module.

use serde::{Deserialize, Serialize};

use super::kind::{DriftKind, LeakKind};
use super::level::{self, Level};
use super::{
    column_drift, contamination, duplicate_rows, identifier, new_category, post_outcome, prior_shift, serving_skew,
    temporal,
};
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
    pub fn kind(&self) -> LeakKind {
        match self {
            Leak::PostOutcome { .. } => LeakKind::TargetLeakage,
            Leak::Identifier { .. } => LeakKind::Identifier,
            Leak::DuplicateRows { .. } => LeakKind::DuplicateRows,
            Leak::Temporal { .. } => LeakKind::Temporal,
            Leak::Contamination { .. } => LeakKind::Contamination,
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
    /// (in the order of the training categories); on every served row, or
    /// on a `share` of them picked by their id under `row_key`.
    ServingSkew {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        factor: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spelling: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        share: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        row_key: Option<u64>,
    },
    /// The share of positives at serving time is `serving_rate` instead of
    /// `train_rate` (feature [`crate::PREDICTION`]).
    PriorShift { factor: f64, train_rate: f64, serving_rate: f64 },
}

impl DriftChange {
    /// The kind as the candidate's report and `/drift` name it.
    pub fn kind(&self) -> DriftKind {
        match self {
            DriftChange::MeanShift { .. } => DriftKind::MeanShift,
            DriftChange::ScaleChange { .. } => DriftKind::ScaleChange,
            DriftChange::MissingRate { .. } => DriftKind::MissingRate,
            DriftChange::NewCategory { .. } => DriftKind::NewCategory,
            DriftChange::ServingSkew { .. } => DriftKind::ServingSkew,
            DriftChange::PriorShift { .. } => DriftKind::PriorShift,
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
    #[serde(default)]
    pub level: Level,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub leaks: Vec<Leak>,
    /// The level each of `leaks` was drawn at, in the same order.
    pub leak_levels: Vec<Level>,
    /// Drifted features, in feature order.
    pub drifts: Vec<Drift>,
    /// Prior shift: the factor on the positive rate at serving time.
    pub prior_shift: Option<f64>,
    pub prior_level: Level,
}

impl Plan {
    /// Draws the defects. `shift_sd` for mean shifts is resolved into column
    /// units later, once the training rows exist.
    pub fn draw(spec: &ExerciseSpec, rng: &mut Rng) -> Plan {
        let d = &spec.defects;
        let mix = d.mix.unwrap_or_default();
        // At least one column leak per variant, drawn first and kept obvious:
        // it is what collapses a careless model at serving time, while
        // duplicated rows, contamination or a temporal leak (a real feature
        // keeps some honest signal as served) hurt it less. Every seed thus
        // costs a careless model alike (`grader validate --parity`). The
        // post-outcome column when the exercise has one: on whole values it
        // separates the extract's classes with no value shared, so a tree
        // model's bins split them cleanly and it serves one constant on every
        // seed. An identifier block cannot: a quantile bin of the ids always
        // straddles its edge, and the few rows of both classes there let a
        // boosted model's late trees rank served rows by honest features,
        // forwards or backwards by seed (fraud seeds 511, 516, 529: careless
        // served AUC 0.60-0.64 against 0.50). The identifier then comes later.
        let configured = |k: LeakKind| d.leak_strength(k).is_some();
        let column_kinds: Vec<LeakKind> =
            [LeakKind::TargetLeakage, LeakKind::Identifier].into_iter().filter(|k| configured(*k)).take(1).collect();
        // Breadth: one kind a rule of thumb misses, drawn first.
        let hard = (!d.breadth.is_empty()).then(|| d.breadth[rng.below(d.breadth.len())].clone());
        let hard_leak = hard.as_deref().and_then(|h| h.parse::<LeakKind>().ok());
        let hard_drift = hard.as_deref().and_then(|h| h.parse::<DriftKind>().ok());
        let n_leaks = rng.count(d.leak_count);
        // Contaminated rows carry serving-time ids with their outcomes: beside
        // an identifier leak they teach a careless model that serving ids are
        // ordinary, and it keeps its ranking (parity). The two never meet.
        let apart = |a: LeakKind, b: LeakKind| {
            matches!(
                (a, b),
                (LeakKind::Identifier, LeakKind::Contamination) | (LeakKind::Contamination, LeakKind::Identifier)
            )
        };
        let mut chosen = Vec::new();
        match hard_leak {
            Some(k) if column_kinds.contains(&k) => chosen.push(k),
            _ => {
                let fits: Vec<LeakKind> =
                    column_kinds.iter().copied().filter(|k| hard_leak.is_none_or(|h| !apart(*k, h))).collect();
                let pool = if fits.is_empty() { &column_kinds } else { &fits };
                if !pool.is_empty() {
                    chosen.push(pool[rng.below(pool.len())]);
                }
            }
        }
        if let Some(k) = hard_leak.filter(|k| !chosen.contains(k)) {
            chosen.push(k);
        }
        let mut rest: Vec<LeakKind> = LeakKind::ALL
            .iter()
            .copied()
            .filter(|k| !chosen.contains(k) && configured(*k) && !chosen.iter().any(|c| apart(*c, *k)))
            .collect();
        rng.shuffle(&mut rest);
        chosen.extend(rest.into_iter().take(n_leaks.saturating_sub(chosen.len())));
        // The declared mix of levels, among the kinds that have a subtle band.
        // The column leak drawn first stays obvious while the mix allows:
        // it is what collapses a careless model as served on every seed.
        let subtle_able: Vec<bool> =
            chosen.iter().map(|k| d.leak_strength(*k).is_some_and(|s| s.has(Level::Subtle))).collect();
        let others = subtle_able.iter().skip(1).filter(|x| **x).count();
        let spare_first: Vec<bool> =
            subtle_able.iter().enumerate().map(|(i, x)| *x && (i > 0 || others < mix.leaks.subtle as usize)).collect();
        let leak_levels = level::assign(&spare_first, mix.leaks.subtle as usize, rng);
        let configured_spec = "planned from the catalog";
        let mut leaks: Vec<(Leak, Level)> = chosen
            .into_iter()
            .zip(leak_levels)
            .map(|(k, level)| {
                let leak = match k {
                    LeakKind::TargetLeakage => post_outcome::draw(
                        d.post_outcome.as_ref().expect(configured_spec),
                        level,
                        spec.features.len(),
                        rng,
                    ),
                    LeakKind::Identifier => identifier::draw(d.identifier.as_ref().expect(configured_spec), level, rng),
                    LeakKind::Temporal => temporal::draw(d.temporal.as_ref().expect(configured_spec), level, rng),
                    LeakKind::Contamination => {
                        contamination::draw(d.contamination.as_ref().expect(configured_spec), level, rng)
                    }
                    LeakKind::DuplicateRows => {
                        duplicate_rows::draw(d.duplicate_rows.as_ref().expect(configured_spec), level, rng)
                    }
                };
                (leak, level)
            })
            .collect();
        // A stable order (by report name) makes the answer key easy to read and diff.
        leaks.sort_by_key(|(l, _)| l.kind().as_str());
        let (leaks, leak_levels): (Vec<Leak>, Vec<Level>) = leaks.into_iter().unzip();

        // Every (kind, feature) pair the catalog allows, then distinct features.
        let mut pairs: Vec<(DriftKind, String)> = Vec::new();
        for kind in [DriftKind::MeanShift, DriftKind::ScaleChange, DriftKind::MissingRate] {
            if let Some(s) = d.column_drift(kind) {
                pairs.extend(s.features.iter().map(|f| (kind, f.clone())));
            }
        }
        if let Some(s) = &d.new_category {
            pairs.extend(s.features.keys().map(|f| (DriftKind::NewCategory, f.clone())));
        }
        if let Some(s) = &d.serving_skew {
            pairs.extend(s.unit.keys().chain(&s.spelling).map(|f| (DriftKind::ServingSkew, f.clone())));
        }
        if d.prior_shift.is_some() {
            pairs.push((DriftKind::PriorShift, crate::PREDICTION.to_string()));
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
        if let Some(i) = pairs.iter().position(|(k, _)| !matches!(k, DriftKind::MissingRate | DriftKind::PriorShift)) {
            let first = pairs.remove(i);
            pairs.insert(0, first);
        }
        // The breadth kind, if a drift, goes before everything (a prior
        // shift beside one change of distribution, still found first).
        if let Some(i) = hard_drift.and_then(|h| pairs.iter().position(|(k, _)| *k == h)) {
            let first = pairs.remove(i);
            pairs.insert(0, first);
        }
        let n_drifts = rng.count(d.drift_count);
        // A pair is subtle-able when its kind has a subtle band (a serving
        // skew only as a unit change): no more pairs without one than the
        // mix leaves obvious, so the mix always holds.
        let subtle_able = |k: DriftKind, f: &str| match k {
            DriftKind::ServingSkew => d.serving_skew.as_ref().is_some_and(|s| s.subtle_able(f)),
            // A column that had no nulls and now has some is never subtle.
            DriftKind::MissingRate => {
                d.drift_strength(k).is_some_and(|s| s.has(Level::Subtle))
                    && spec.feature(f).is_some_and(|f| f.missing_rate > 0.0)
            }
            k => d.drift_strength(k).is_some_and(|s| s.has(Level::Subtle)),
        };
        let obvious_only_max = n_drifts.saturating_sub(mix.drifts.subtle as usize);
        let mut picked: Vec<(DriftKind, String)> = Vec::new();
        for (kind, feature) in pairs {
            if picked.len() == n_drifts {
                break;
            }
            if picked.iter().any(|(_, f)| *f == feature) {
                continue;
            }
            let obvious_only = picked.iter().filter(|(k, f)| !subtle_able(*k, f)).count();
            if !subtle_able(kind, &feature) && obvious_only >= obvious_only_max {
                continue;
            }
            picked.push((kind, feature));
        }
        let able: Vec<bool> = picked.iter().map(|(k, f)| subtle_able(*k, f)).collect();
        let levels = level::assign(&able, mix.drifts.subtle as usize, rng);
        let mut drifts: Vec<Drift> = Vec::new();
        let mut prior_shift = None;
        let mut prior_level = Level::Obvious;
        for ((kind, feature), level) in picked.into_iter().zip(levels) {
            if kind == DriftKind::PriorShift {
                prior_shift = Some(prior_shift::draw(d.prior_shift.as_ref().expect(configured_spec), level, rng));
                prior_level = level;
                continue;
            }
            let index = spec.features.iter().position(|f| f.name == feature).expect("validated");
            let change = match kind {
                DriftKind::MeanShift | DriftKind::ScaleChange | DriftKind::MissingRate => {
                    column_drift::draw(kind, d.column_drift(kind).expect(configured_spec), level, rng)
                }
                DriftKind::ServingSkew => serving_skew::draw(
                    d.serving_skew.as_ref().expect(configured_spec),
                    &feature,
                    &spec.features[index],
                    level,
                    rng,
                ),
                DriftKind::NewCategory => {
                    new_category::draw(d.new_category.as_ref().expect(configured_spec), level, &feature, rng)
                }
                DriftKind::PriorShift => unreachable!("handled above"),
            };
            drifts.push(Drift { feature, index, change, level });
        }
        drifts.sort_by_key(|x| x.index);
        Plan { leaks, leak_levels, drifts, prior_shift, prior_level }
    }

    /// The level each leak was drawn at, beside it.
    pub fn leaks_with_levels(&self) -> impl Iterator<Item = (&Leak, Level)> {
        self.leaks.iter().zip(self.leak_levels.iter().copied())
    }

    /// The level of the leak of `kind`, if planted.
    pub fn leak_level(&self, kind: LeakKind) -> Option<Level> {
        self.leaks_with_levels().find(|(l, _)| l.kind() == kind).map(|(_, level)| level)
    }

    pub fn post_outcome(&self) -> Option<(&str, f64, usize)> {
        self.leaks.iter().find_map(|l| match l {
            Leak::PostOutcome { column, strength, position } => Some((column.as_str(), *strength, *position)),
            _ => None,
        })
    }

    /// The identifier leak's strength and level (a block of late ids, or
    /// a trend in the id's order).
    pub fn identifier(&self) -> Option<(f64, Level)> {
        self.leaks_with_levels().find_map(|(l, level)| match l {
            Leak::Identifier { strength } => Some((*strength, level)),
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
