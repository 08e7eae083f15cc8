//! A certified variant of an exercise for one seed, and its answer key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::certify::{
    certify, feature_categories, BayesCertificate, CleanCertificate, ConstraintCertificate, PlantedDrift, PlantedLeak,
};
use crate::draw::{draw, Draw};
use crate::error::{DatasetError, Result};
use crate::seed::SeedSource;
use crate::spec::{Exercise, ExerciseSpec, Rows};

/// Version of the answer key's layout; bumped on any breaking change.
/// 2: the defect kinds temporal, contamination, serving_skew and
/// prior_shift, and the clean certificate's label-shift consequences.
/// 3: the drawn model, decoys. 4: `constraints`, the clean certificate's
/// `constraint_consequences` and `honest_max_auc`, `family_size` per batch
/// and reference, a mean shift's `shift_sd` in latent SDs and `shift` as
/// it came out, `bound_excess`. 5: each defect's `level` (obvious, subtle) and a
/// drift's `detectability` (PSI, the family's Bonferroni level, resampled power).
/// 6: `lifecycle`, the production replay's events (exercises with `[lifecycle]`).
pub const ANSWER_KEY_VERSION: u32 = 6;

/// The sealed truth about a variant. Never enters a candidate's container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerKey {
    pub schema_version: u32,
    /// `grader-datasets <version>`: who generated this.
    pub generator: String,
    pub exercise: ExerciseRef,
    pub seed: SeedSource,
    /// Which deterministic draw of the seed passed its certificate.
    pub attempt: u32,
    pub rejected_draws: Vec<RejectedDraw>,
    pub label: String,
    pub id_column: String,
    /// Columns of the public files, in order, without the label.
    pub columns: Vec<String>,
    /// Columns whose production distribution differs by design (identifiers,
    /// leak columns, and under a prior shift the columns that move with the
    /// label): flagging their drift is neither right nor wrong.
    pub drift_neutral_columns: Vec<String>,
    pub rows: Rows,
    pub leakage: Vec<PlantedLeak>,
    pub drift: Vec<PlantedDrift>,
    pub clean: CleanCertificate,
    pub bayes: BayesCertificate,
    /// No row breaks a declared constraint (`[[constraints]]`).
    #[serde(default)]
    pub constraints: ConstraintCertificate,
    /// Public columns of categories (every other column is numeric): which
    /// drift kinds can apply where.
    #[serde(default)]
    pub categorical_columns: Vec<String>,
    /// Honest columns named like leaks (from a leak's name pool): a flag on
    /// one is a false flag.
    #[serde(default)]
    pub decoys: Vec<String>,
    /// Honest categories named from a new-category pool, as (feature,
    /// category): in train as in production, so no new category.
    #[serde(default)]
    pub decoy_categories: Vec<(String, String)>,
    /// This variant's generating model, drawn from the exercise's family
    /// (sealed: the reason copying exercise.toml earns nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::model::ModelRecord>,
    /// The production replay's events and days (exercises with `[lifecycle]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<crate::lifecycle::LifecycleKey>,
    /// SHA-256 of every data file of the variant, by path under its directory.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExerciseRef {
    pub id: String,
    pub version: u32,
    /// SHA-256 of exercise.toml's bytes: the variant depends on them and the seed.
    pub spec_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedDraw {
    pub attempt: u32,
    pub reasons: Vec<String>,
}

pub struct Variant {
    pub key: AnswerKey,
    pub draw: Draw,
    /// Category names per feature (with a planted new one), for writing.
    pub categories: Vec<Vec<String>>,
    /// The production replay (exercises with `[lifecycle]`).
    pub stream: Option<crate::lifecycle::Stream>,
}

/// Draws until a draw passes its certificate; every step is seeded, so the
/// same (exercise, seed) always ends at the same draw.
pub fn generate(exercise: &Exercise, seed: SeedSource) -> Result<Variant> {
    let spec = &exercise.spec;
    let mut rejected = Vec::new();
    for attempt in 0..spec.certificate.max_attempts {
        let d = draw(spec, seed.value, attempt);
        let cert = certify(spec, &d);
        let failures = cert.failures();
        if !failures.is_empty() {
            rejected.push(RejectedDraw { attempt, reasons: failures });
            continue;
        }
        // The production replay is certified with the draw it continues.
        let stream = match &spec.lifecycle {
            None => None,
            Some(l) => match crate::lifecycle::generate(spec, l, &d, seed.value, attempt) {
                Ok(s) => Some(s),
                Err(reasons) => {
                    rejected.push(RejectedDraw { attempt, reasons });
                    continue;
                }
            },
        };
        let key = AnswerKey {
            schema_version: ANSWER_KEY_VERSION,
            generator: format!("grader-datasets {}", env!("CARGO_PKG_VERSION")),
            exercise: ExerciseRef {
                id: spec.exercise.id.clone(),
                version: spec.exercise.version,
                spec_sha256: exercise.sha256(),
            },
            seed,
            attempt,
            rejected_draws: rejected,
            label: spec.label.name.clone(),
            id_column: spec.exercise.id_column.clone(),
            columns: public_columns(spec, &d),
            drift_neutral_columns: std::iter::once(spec.exercise.id_column.clone())
                .chain(d.plan.post_outcome().map(|(c, _, _)| c.to_string()))
                .chain(d.plan.temporal().map(|(c, _)| c.to_string()))
                .chain(cert.clean.label_shift_consequences.iter().cloned())
                .chain(cert.clean.constraint_consequences.iter().cloned())
                .collect(),
            rows: spec.rows,
            leakage: cert.leakage,
            drift: cert.drift,
            clean: cert.clean,
            bayes: cert.bayes,
            constraints: cert.constraints,
            categorical_columns: spec
                .features
                .iter()
                .filter(|f| f.dist.is_categorical())
                .map(|f| f.name.clone())
                .collect(),
            decoys: d.decoy.iter().map(|x| x.column.clone()).collect(),
            decoy_categories: d
                .decoy_category
                .iter()
                .map(|x| (spec.features[x.index].name.clone(), x.category.clone()))
                .collect(),
            model: Some(d.model.record(spec, d.model_rejected)),
            lifecycle: stream.as_ref().map(|s| s.key.clone()),
            files: BTreeMap::new(),
        };
        let categories = feature_categories(spec, &d);
        return Ok(Variant { key, draw: d, categories, stream });
    }
    Err(DatasetError::Uncertifiable {
        exercise: spec.exercise.id.clone(),
        seed: seed.value,
        attempts: spec.certificate.max_attempts,
        reasons: rejected.last().map(|r| r.reasons.join("; ")).unwrap_or_default(),
    })
}

/// Public column order: the id, then the features with the post-outcome
/// column (if planted) and the decoy at their drawn positions.
impl AnswerKey {
    /// The type of a column a report names; `None` for no such column.
    pub fn column_type(&self, name: &str) -> Option<crate::ColumnType> {
        if name == crate::PREDICTION {
            Some(crate::ColumnType::Prediction)
        } else if self.categorical_columns.iter().any(|c| c == name) {
            Some(crate::ColumnType::Categorical)
        } else {
            self.columns.iter().any(|c| c == name).then_some(crate::ColumnType::Numeric)
        }
    }
}

pub fn public_columns(spec: &ExerciseSpec, d: &Draw) -> Vec<String> {
    let mut cols: Vec<String> = spec.features.iter().map(|f| f.name.clone()).collect();
    if let Some((name, _, position)) = d.plan.post_outcome() {
        cols.insert(position.min(cols.len()), name.to_string());
    }
    if let Some(decoy) = &d.decoy {
        cols.insert(decoy.position.min(cols.len()), decoy.column.clone());
    }
    cols.insert(0, spec.exercise.id_column.clone());
    cols
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::{Exercise, SeedSource};

    fn exercise(id: &str) -> Exercise {
        Exercise::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises").join(id))
            .expect("the exercise loads")
    }

    fn datasets_kinds() -> Vec<&'static str> {
        crate::LeakKind::ALL
            .iter()
            .map(|k| k.as_str())
            .chain(crate::DriftKind::ALL.iter().map(|k| k.as_str()))
            .collect()
    }

    /// Every kind of the taxonomy turns up in the keys of a few dozen seeds
    /// of both exercises, each certified, with the same load per seed.
    #[test]
    fn every_defect_kind_is_planted_and_certified_across_seeds() {
        for id in ["churn", "fraud"] {
            let ex = exercise(id);
            let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
            let mut attempts = 0;
            let mut decoy_categories = 0;
            let mut subtle: BTreeMap<crate::DriftKind, usize> = BTreeMap::new();
            for seed in 0..60 {
                let v =
                    super::generate(&ex, SeedSource::given(seed)).unwrap_or_else(|e| panic!("{id} seed {seed}: {e}"));
                attempts += v.key.attempt;
                assert_eq!(v.key.leakage.len(), 2, "{id} seed {seed}: equal load");
                // Names identify nothing: a decoy from the post-outcome
                // pool, and an honest category from a new-category pool in
                // train as in production.
                let pool = &ex.spec.defects.post_outcome.as_ref().unwrap().names;
                assert_eq!(v.key.decoys.len(), 1, "{id} seed {seed}");
                assert!(pool.contains(&v.key.decoys[0]) && v.key.columns.contains(&v.key.decoys[0]));
                assert!(v.key.leakage.iter().all(|l| l.feature.as_ref() != Some(&v.key.decoys[0])));
                assert!(v.key.clean.tests.iter().any(|t| t.feature == v.key.decoys[0]), "the decoy is certified clean");
                let pools = &ex.spec.defects.new_category.as_ref().unwrap().features;
                let eligible = ex
                    .spec
                    .features
                    .iter()
                    .enumerate()
                    .any(|(i, f)| pools.contains_key(&f.name) && v.draw.plan.drift_of(i).is_none());
                assert_eq!(v.draw.decoy_category.is_some(), eligible, "{id} seed {seed}");
                if let Some(dc) = v.draw.decoy_category.as_ref() {
                    decoy_categories += 1;
                    let code = (v.categories[dc.index].len() - 1) as u32;
                    let share = |s: &crate::draw::Split| match &s.features[dc.index] {
                        crate::draw::Values::Cat(c) => {
                            c.iter().filter(|x| **x == Some(code)).count() as f64 / s.len() as f64
                        }
                        _ => unreachable!(),
                    };
                    assert!(
                        share(&v.draw.train) > 0.01 && share(&v.draw.production) > 0.01,
                        "{id} seed {seed}: {dc:?}"
                    );
                    assert!(v.draw.plan.drift_of(dc.index).is_none());
                }
                assert_eq!(v.key.drift.len(), 2, "{id} seed {seed}: equal load");
                // Contamination never beside an identifier leak (parity), and a
                // column leak always obvious (it collapses a careless model).
                let has = |k: crate::LeakKind| v.key.leakage.iter().any(|l| l.kind == k);
                assert!(!(has(crate::LeakKind::Identifier) && has(crate::LeakKind::Contamination)), "{id} seed {seed}");
                assert!(
                    v.key
                        .leakage
                        .iter()
                        .any(|l| matches!(l.kind, crate::LeakKind::TargetLeakage | crate::LeakKind::Identifier)
                            && l.level == crate::Level::Obvious),
                    "{id} seed {seed}: no obvious column leak"
                );
                // The declared mix of levels, on every seed.
                let mix = ex.spec.defects.mix.expect("both exercises declare a mix");
                let count =
                    |levels: Vec<crate::Level>, l: crate::Level| levels.iter().filter(|x| **x == l).count() as u32;
                let leak_levels: Vec<crate::Level> = v.key.leakage.iter().map(|l| l.level).collect();
                let drift_levels: Vec<crate::Level> = v.key.drift.iter().map(|d| d.level).collect();
                assert_eq!(count(leak_levels.clone(), crate::Level::Subtle), mix.leaks.subtle, "{id} seed {seed}");
                assert_eq!(count(leak_levels, crate::Level::Obvious), mix.leaks.obvious, "{id} seed {seed}");
                assert_eq!(count(drift_levels.clone(), crate::Level::Subtle), mix.drifts.subtle, "{id} seed {seed}");
                assert_eq!(count(drift_levels, crate::Level::Obvious), mix.drifts.obvious, "{id} seed {seed}");
                // A subtle drift measured by a p-value sits in the band, found
                // by a careful test (power) and missed by a glance (PSI).
                let c = &ex.spec.certificate;
                for d in v.key.drift.iter().filter(|d| {
                    d.level == crate::Level::Subtle
                        && d.detectability.as_ref().is_some_and(|x| x.power_production.is_some())
                }) {
                    let [lo, hi] = c.subtle_drift_p.unwrap();
                    let det = d.detectability.as_ref().unwrap();
                    assert!((lo..=hi).contains(&det.p_value), "{id} seed {seed}: {d:?}");
                    assert!(
                        det.power_production.unwrap() >= c.subtle_min_power
                            && det.power_traffic.unwrap() >= c.subtle_min_power
                    );
                    assert!(det.psi.is_none_or(|x| x <= c.subtle_max_psi), "{id} seed {seed}: {det:?}");
                }
                for l in v.key.leakage.iter().filter(|l| l.certificate.train_auc.is_some()) {
                    let auc = (l.certificate.train_auc.unwrap() - 0.5).abs() + 0.5;
                    let [lo, hi] = c.subtle_leak_auc.unwrap();
                    match l.level {
                        crate::Level::Subtle => assert!((lo..=hi).contains(&auc), "{id} seed {seed}: {l:?}"),
                        crate::Level::Obvious => assert!(auc > hi, "{id} seed {seed}: {l:?}"),
                    }
                }
                // Breadth: one kind a rule of thumb misses, on every seed.
                let planted: Vec<String> = v
                    .key
                    .leakage
                    .iter()
                    .map(|l| l.kind.to_string())
                    .chain(v.key.drift.iter().map(|d| d.change.kind().to_string()))
                    .collect();
                assert!(
                    ex.spec.defects.breadth.iter().any(|k| planted.contains(k)),
                    "{id} seed {seed}: none of {:?} in {planted:?}",
                    ex.spec.defects.breadth
                );
                // No generated row breaks a declared constraint.
                assert!(v.key.constraints.passed && v.key.constraints.violations.values().all(|n| *n == 0));
                for l in &v.key.leakage {
                    assert!(l.certificate.passed);
                    *kinds.entry(l.kind.to_string()).or_default() += 1;
                }
                for d in &v.key.drift {
                    assert!(d.certificate.passed);
                    *kinds.entry(d.change.kind().to_string()).or_default() += 1;
                    if d.level == crate::Level::Subtle {
                        *subtle.entry(d.change.kind()).or_default() += 1;
                    }
                    // A skew on a share of the rows is a subtle one, and
                    // its rows are those its key picks, in every served batch.
                    if let crate::defects::plan::DriftChange::ServingSkew { share, .. } = &d.change {
                        assert_eq!(share.is_some(), d.level == crate::Level::Subtle, "{id} seed {seed}: {d:?}");
                    }
                }
            }
            // A prior shift and a serving skew come in both levels too (the
            // subtle one's factor or share solved into the band and its
            // power checked above).
            for kind in [crate::DriftKind::PriorShift, crate::DriftKind::ServingSkew] {
                let n = subtle.get(&kind).copied().unwrap_or(0);
                assert!(n >= 2, "{id}: a subtle {kind} in only {n} of 60 seeds");
            }
            eprintln!("{id}: {kinds:?}, {attempts} rejected draws in 60 seeds, {decoy_categories} decoy categories");
            assert!(decoy_categories >= 45, "{id}: a decoy category in only {decoy_categories} of 60 seeds");
            // Every kind turns up; duplicated rows are the rarest (the
            // breadth kind takes the second leak slot half the time, and on
            // fraud their positives shift train.csv's label-related columns).
            for kind in datasets_kinds() {
                let least = if kind == "duplicate_rows" { 1 } else { 2 };
                assert!(
                    kinds.get(kind).copied().unwrap_or(0) >= least,
                    "{id}: {kind} planted in fewer than {least} of 60 seeds: {kinds:?}"
                );
            }
        }
    }

    /// The latency windows' rows are served like the holdout and share no
    /// row with any batch another probe sends.
    #[test]
    fn latency_rows_are_new_rows_served_like_the_holdout() {
        let ex = exercise("churn");
        let v = super::generate(&ex, SeedSource::given(12)).unwrap();
        let d = &v.draw;
        assert_eq!(d.latency.len(), crate::draw::latency_rows(&ex.spec));
        assert!(d.latency.len() >= 3 * 50 * 25, "a row per request of every window");
        let others: std::collections::BTreeSet<i64> = d
            .holdout_serving
            .ids
            .iter()
            .chain(&d.production.ids)
            .chain(&d.traffic.ids)
            .chain(&d.train.ids)
            .copied()
            .collect();
        assert!(d.latency.ids.iter().all(|id| !others.contains(id)), "a latency row repeats another batch's id");
        // Seed 12 plants serving skew on monthly_charges (cents): served alike.
        let i = ex.spec.features.iter().position(|f| f.name == "monthly_charges").unwrap();
        let col = |s: &crate::draw::Split| match &s.features[i] {
            crate::draw::Values::Num(v) => v.iter().flatten().copied().collect::<Vec<f64>>(),
            _ => unreachable!(),
        };
        let ks = crate::stats::ks_two_sample(&col(&d.holdout_serving), &col(&d.latency));
        assert!(ks.p_value > 1e-3, "latency rows are not served like the holdout: {ks:?}");
        // The post-outcome column as served: no signal.
        let auc = crate::stats::auc(d.latency.leak.as_ref().unwrap(), &d.latency.labels).unwrap();
        assert!((0.4..0.6).contains(&auc), "{auc}");
    }
}
