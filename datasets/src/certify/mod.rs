//! The certificate: proof, computed on the generated rows, that every planted
//! defect is there and strong enough, and that nothing else is.

use serde::{Deserialize, Serialize};

use crate::defects::plan::{categories_with_new, DriftChange, Leak, Plan};
use crate::defects::{
    contamination, duplicate_rows, identifier, post_outcome, prior_shift, serving_skew, temporal, LeakKind, Level,
};
use crate::draw::{Draw, Split, Values};
use crate::joint::Joint;
use crate::model::Model;
use crate::rng::Rng;
use crate::spec::{CertificateSpec, ExerciseSpec};
use crate::stats::{self, TestResult};

/// Which two-sample test fits a column aspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Kolmogorov–Smirnov on present numeric values.
    Ks,
    /// Pearson chi-square on category counts.
    ChiSquare,
    /// Two-proportion z on the missing rate.
    MissingRateZ,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriftCertificate {
    pub test: TestKind,
    /// Train (duplicates removed) against the public production batch.
    pub production: TestResult,
    /// Train against the sealed monitoring traffic.
    pub traffic: TestResult,
    /// The same tests against train.csv as published (duplicates included):
    /// a candidate who tests before deduplicating finds the drift too.
    pub production_published: TestResult,
    pub traffic_published: TestResult,
    /// A mean shift or scale change: how many more points of production's
    /// values sit on the column's clip bounds than of training's (at most
    /// [`MAX_BOUND_EXCESS`]: a drift stays in the column's domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_excess: Option<f64>,
    pub passed: bool,
}

/// How findable a drift is by the tests a candidate runs: against train.csv
/// as published, at the Bonferroni level of the whole family of columns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Detectability {
    /// Population stability index of production against train.csv as
    /// published (numeric columns and the prediction): what a glance sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    /// The fitting test's p-value, production.csv against train.csv as
    /// published (resampled to the serving rate under a prior shift): what
    /// a subtle drift's band judges.
    #[serde(default)]
    pub p_value: f64,
    /// `clean_alpha` over every test of a candidate's family (each clean
    /// column and aspect, and each planted drift).
    pub alpha: f64,
    /// Share of batches resampled from production, and from the live
    /// traffic, whose test reaches `alpha` (subtle drifts; an obvious one
    /// is beyond doubt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_production: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_traffic: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resamples: Option<usize>,
}

/// Batches resampled for a subtle drift's power.
pub const POWER_RESAMPLES: usize = 200;

/// How far a temporal leak's single-feature AUC stands above
/// `honest_max_auc`, at least.
pub const LEAK_MARGIN: f64 = 0.03;

/// A drift or a temporal leak puts at most this share more of a column's
/// values on its clip bounds than the clean rows have there.
pub const MAX_BOUND_EXCESS: f64 = 0.02;

/// No generated row breaks a declared constraint, in any split, before or
/// after the defects (serving encodings undone first).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ConstraintCertificate {
    /// `[[constraints]]` entries checked.
    pub constraints: usize,
    /// Rows breaking one, per split.
    pub violations: std::collections::BTreeMap<String, usize>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeakCertificate {
    /// Single-feature AUC of the leak column against the label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_offline_auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_serving_auc: Option<f64>,
    /// Duplicated rows found in the published train.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_rows: Option<usize>,
    /// Label rate of the published train vs the same rows deduplicated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_positive_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplicated_positive_rate: Option<f64>,
    /// Temporal leak: Kolmogorov–Smirnov of the column, train.csv against
    /// production.csv (the extract's values are not the served ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_vs_production: Option<TestResult>,
    /// Contamination: production's customers found in train (same id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contaminated_rows: Option<usize>,
    /// Temporal leak: how many more points of train's values sit on the
    /// column's clip bounds than of the holdout as served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_excess: Option<f64>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlantedLeak {
    /// The kind a candidate's report should name (contract v1).
    pub kind: LeakKind,
    /// The column, or none for row-level defects.
    pub feature: Option<String>,
    /// Which defect, and the parameters it was drawn with.
    #[serde(flatten)]
    pub params: Leak,
    /// How hard it was made to find.
    #[serde(default)]
    pub level: Level,
    pub certificate: LeakCertificate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlantedDrift {
    pub feature: String,
    /// The kind as a report names it (contract v1), and its parameters.
    #[serde(flatten)]
    pub change: DriftChange,
    /// How hard it was made to find.
    #[serde(default)]
    pub level: Level,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detectability: Option<Detectability>,
    pub certificate: DriftCertificate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CleanTest {
    pub feature: String,
    pub test: TestKind,
    /// Against the deduplicated train rows.
    pub production: TestResult,
    pub traffic: TestResult,
    /// Against train.csv as published (duplicates included).
    pub production_published: TestResult,
    pub traffic_published: TestResult,
}

impl CleanTest {
    fn min_p(&self) -> f64 {
        [self.production, self.traffic, self.production_published, self.traffic_published]
            .iter()
            .map(|t| t.p_value)
            .fold(1.0, f64::min)
    }
}

/// Every undrifted column tested like a drifted one, Bonferroni-corrected
/// as a candidate's family is: every column × aspect, of one batch
/// (production, traffic) against one reference (train.csv as published,
/// or deduplicated); each of the four families holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CleanCertificate {
    pub alpha: f64,
    /// Column aspects tested (each in four tests).
    pub tests_per_batch: usize,
    /// Tests in one family (one batch against one reference): `tests_per_batch`.
    pub family_size: usize,
    /// Smallest p-value of the family times its size.
    pub min_corrected_p: f64,
    pub tests: Vec<CleanTest>,
    /// Under a prior shift, each class looks as in training, so every
    /// column is tested against train resampled to the serving positive
    /// rate; these columns also move against train as published, as far
    /// as the label explains (a flag on them is neither right nor wrong).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label_shift_consequences: Vec<String>,
    /// Columns a declared constraint bounds by a drifted column (or by the
    /// temporal leak's): they move with it, as far as the bound moves, so
    /// they are not tested as clean and a flag on them is neither right
    /// nor wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraint_consequences: Vec<String>,
    /// The strongest honest numeric feature's single-feature AUC in the
    /// deduplicated train (either direction): at most `honest_max_auc`, so
    /// every column leak stands out above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honest_max_auc: Option<f64>,
    /// The decoy's single-feature AUC in train: it must separate nothing
    /// (within 0.5 ± `leak_max_serving_gap`), like an honest column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoy_train_auc: Option<f64>,
    pub passed: bool,
}

/// How well the generating model itself does on the holdout: the ceiling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BayesCertificate {
    pub holdout_auc: f64,
    pub holdout_log_loss: f64,
    pub holdout_brier: f64,
    pub holdout_accuracy: f64,
    pub holdout_positive_rate: f64,
    /// The public formula (the family's centre) on the same rows: what
    /// reading exercise.toml alone earns, the floor skill counts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_auc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_log_loss: Option<f64>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    pub leakage: Vec<PlantedLeak>,
    pub drift: Vec<PlantedDrift>,
    pub clean: CleanCertificate,
    pub bayes: BayesCertificate,
    pub constraints: ConstraintCertificate,
}

impl Certificate {
    /// Why this draw must not ship; empty when it passes.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in &self.leakage {
            if !l.certificate.passed {
                out.push(format!(
                    "{} leak {} on {} not certified: {:?}",
                    l.level,
                    l.kind,
                    l.feature.as_deref().unwrap_or("rows"),
                    l.certificate
                ));
            }
        }
        for d in &self.drift {
            if !d.certificate.passed {
                out.push(format!(
                    "{} drift {} on {} not certified: p = {:e} (production), {:e} (traffic), {:e} / {:e} against \
                     train.csv as published; bound excess {:?}; {:?}",
                    d.level,
                    d.change.kind(),
                    d.feature,
                    d.certificate.production.p_value,
                    d.certificate.traffic.p_value,
                    d.certificate.production_published.p_value,
                    d.certificate.traffic_published.p_value,
                    d.certificate.bound_excess,
                    d.detectability
                ));
            }
        }
        if !self.clean.passed {
            let worst = self
                .clean
                .tests
                .iter()
                .min_by(|a, b| a.min_p().total_cmp(&b.min_p()))
                .map(|t| t.feature.as_str())
                .unwrap_or("?");
            out.push(format!(
                "clean column {worst} drifts by chance (corrected p = {:.4} < {}), or an honest feature separates \
                 the label like a leak (single-feature AUC {:?}), or the decoy does (AUC {:?})",
                self.clean.min_corrected_p, self.clean.alpha, self.clean.honest_max_auc, self.clean.decoy_train_auc
            ));
        }
        if !self.constraints.passed {
            out.push(format!("rows break a declared constraint: {:?}", self.constraints.violations));
        }
        if !self.bayes.passed {
            out.push(format!("Bayes AUC {:.4} outside the exercise's range", self.bayes.holdout_auc));
        }
        out
    }
}

pub fn certify(spec: &ExerciseSpec, draw: &Draw) -> Certificate {
    // The leaks and constraints read the draw alone: judged beside the columns.
    let ((leakage, constraints), (drift, clean, bayes)) = crate::par::both(
        || {
            let leakage = draw.plan.leaks_with_levels().map(|(l, level)| certify_leak(spec, draw, l, level)).collect();
            (leakage, certify_constraints(spec, draw))
        },
        || certify_columns(spec, draw),
    );
    Certificate { leakage, drift, clean, bayes, constraints }
}

/// The drift, clean-column and Bayes parts of the certificate.
fn certify_columns(spec: &ExerciseSpec, draw: &Draw) -> (Vec<PlantedDrift>, CleanCertificate, BayesCertificate) {
    let c = &spec.certificate;
    // Under a prior shift, train resampled to the serving positive rate:
    // what a column looks like under the new base rate alone. Resampled
    // only when a prior shift is planted; otherwise the tests use train.
    let shifted = draw.plan.prior_shift.is_some();
    let reweighted = shifted.then(|| {
        crate::par::both(
            || prior_shift::reference_at_rate(&draw.train_base, draw.serving_rate),
            || prior_shift::reference_at_rate(&draw.train, draw.serving_rate),
        )
    });
    // Every reference a batch is tested against, its numeric columns
    // sorted once: the deduplicated rows and train.csv as published, and
    // both at the serving rate under a prior shift.
    let ((base, published), at_rate) = crate::par::both(
        || crate::par::both(|| Reference::new(&draw.train_base), || Reference::new(&draw.train)),
        || reweighted.as_ref().map(|(b, p)| crate::par::both(|| Reference::new(b), || Reference::new(p))),
    );
    let against_train = |test: TestKind, i: usize, batch: &Values| base.test(test, i, batch);
    let against_published = |test: TestKind, i: usize, batch: &Values| published.test(test, i, batch);
    // The reference a subtle drift is judged against, train.csv as
    // published (resampled to the serving rate under a prior shift: a
    // careful candidate takes the new base rate out before judging a
    // column, and the label's share of the move is not the drift's).
    let subtle_reference = at_rate.as_ref().map_or(&published, |(_, p)| p);
    let psi_of = |i: usize| match (&published.sorted[i], &draw.production.features[i]) {
        (Some(a), Values::Num(b)) => Some(stats::psi(a, &b.iter().flatten().copied().collect::<Vec<f64>>())),
        _ => None,
    };
    let drift: Vec<PlantedDrift> = draw
        .plan
        .drifts
        .iter()
        .map(|d| {
            let test = fitting_test(&d.change);
            let production = against_train(test, d.index, &draw.production.features[d.index]);
            let traffic = against_train(test, d.index, &draw.traffic.features[d.index]);
            let production_published = against_published(test, d.index, &draw.production.features[d.index]);
            let traffic_published = against_published(test, d.index, &draw.traffic.features[d.index]);
            let bound_excess = matches!(d.change, DriftChange::MeanShift { .. } | DriftChange::ScaleChange { .. })
                .then(|| spec.features[d.index].clip)
                .flatten()
                .map(|clip| {
                    bound_share(&draw.production.features[d.index], clip)
                        - bound_share(&draw.train_base.features[d.index], clip)
                });
            let psi = psi_of(d.index);
            let judged = subtle_reference.test(test, d.index, &draw.production.features[d.index]);
            let passed = strong_enough(c, d.level, &d.change, [production, traffic, judged, traffic_published], psi)
                && bound_excess.is_none_or(|x| x <= MAX_BOUND_EXCESS);
            PlantedDrift {
                feature: d.feature.clone(),
                change: d.change.clone(),
                level: d.level,
                detectability: Some(Detectability {
                    psi,
                    p_value: judged.p_value,
                    alpha: 0.0,
                    power_production: None,
                    power_traffic: None,
                    resamples: None,
                }),
                certificate: DriftCertificate {
                    test,
                    production,
                    traffic,
                    production_published,
                    traffic_published,
                    bound_excess,
                    passed,
                },
            }
        })
        .collect::<Vec<PlantedDrift>>();

    // The generating model's score over the columns that stay clean at
    // serving time: what a model's predictions show of a prior shift.
    let temporal = draw.plan.temporal().map(|(c, _)| c.to_string());
    let consequences = constraint_consequences(spec, &draw.plan, &draw.joint);
    let clean_cols = clean_columns(spec, &draw.plan, &draw.joint);
    // Scored once: train's (deduplicated) sorted, for every test against it.
    let score = |s: &Split| partial_score(&draw.model, s, &clean_cols);
    let mut train_score = score(&draw.train_base);
    train_score.sort_unstable_by(f64::total_cmp);
    let (production_score, traffic_score) = (score(&draw.production), score(&draw.traffic));
    let score_test = |batch: &[f64]| stats::ks_presorted(&train_score, batch);
    let mut drift = drift;
    if let Some(factor) = draw.plan.prior_shift {
        let production = score_test(&production_score);
        let traffic = score_test(&traffic_score);
        // Against the deduplicated rows: duplicates, mostly positives,
        // raise train.csv's scores by design (the duplicate-rows leak).
        let (production_published, traffic_published) = (production, traffic);
        let change = DriftChange::PriorShift { factor, train_rate: draw.train_rate, serving_rate: draw.serving_rate };
        let psi = Some(stats::psi(&train_score, &production_score));
        let level = draw.plan.prior_level;
        let passed =
            strong_enough(c, level, &change, [production, traffic, production_published, traffic_published], psi);
        drift.push(PlantedDrift {
            feature: crate::PREDICTION.into(),
            change,
            level,
            detectability: Some(Detectability {
                psi,
                p_value: production.p_value,
                alpha: 0.0,
                power_production: None,
                power_traffic: None,
                resamples: None,
            }),
            certificate: DriftCertificate {
                test: TestKind::Ks,
                production,
                traffic,
                production_published,
                traffic_published,
                bound_excess: None,
                passed,
            },
        });
    }

    // Clean family: every aspect of every undrifted feature that can vary,
    // against train resampled to the serving positive rate (the same rows
    // unless a prior shift is planted). Without a prior shift, the score
    // over the clean columns is one more aspect: it must not move either.
    let (clean_base, clean_published) = at_rate.as_ref().map_or((&base, &published), |(b, p)| (b, p));
    let clean_against = |test: TestKind, i: usize, batch: &Values, as_published: bool| {
        if as_published { clean_published } else { clean_base }.test(test, i, batch)
    };
    let mut tests = Vec::new();
    let mut label_shift_consequences = Vec::new();
    for &i in &clean_cols {
        let f = &spec.features[i];
        let base = &draw.train_base.features[i];
        let mut kinds = vec![if f.dist.is_categorical() { TestKind::ChiSquare } else { TestKind::Ks }];
        if base.missing() > 0 || draw.production.features[i].missing() > 0 || draw.traffic.features[i].missing() > 0 {
            kinds.push(TestKind::MissingRateZ);
        }
        for test in kinds {
            let (production, traffic) = (&draw.production.features[i], &draw.traffic.features[i]);
            tests.push(CleanTest {
                feature: f.name.clone(),
                test,
                production: clean_against(test, i, production, false),
                traffic: clean_against(test, i, traffic, false),
                production_published: clean_against(test, i, production, true),
                traffic_published: clean_against(test, i, traffic, true),
            });
        }
    }
    if !shifted {
        // Judged against the deduplicated rows alone: duplicated rows,
        // mostly positives, raise train.csv's scores by design (that is
        // the duplicate-rows leak, which a careful candidate removes first).
        let (production, traffic) = (score_test(&production_score), score_test(&traffic_score));
        tests.push(CleanTest {
            feature: crate::PREDICTION.into(),
            test: TestKind::Ks,
            production,
            traffic,
            production_published: production,
            traffic_published: traffic,
        });
    }
    // The decoy is a clean column too: it must not move either.
    let decoy_col = |s: &Split| Values::Num(s.decoy.iter().flatten().map(|x| Some(*x)).collect());
    if let Some(d) = &draw.decoy {
        let (base, published) = (decoy_col(&draw.train_base), decoy_col(&draw.train));
        let (production, traffic) = (decoy_col(&draw.production), decoy_col(&draw.traffic));
        tests.push(CleanTest {
            feature: d.column.clone(),
            test: TestKind::Ks,
            production: column_test(TestKind::Ks, &base, &production),
            traffic: column_test(TestKind::Ks, &base, &traffic),
            production_published: column_test(TestKind::Ks, &published, &production),
            traffic_published: column_test(TestKind::Ks, &published, &traffic),
        });
    }
    let decoy_train_auc = draw.decoy.as_ref().and_then(|_| {
        stats::auc(&median_filled(draw.train_base.decoy.clone().unwrap_or_default()), &draw.train_base.labels)
    });
    // Bonferroni over one batch against one reference, as a candidate tests:
    // each of the four (production, traffic) x (train.csv as published,
    // deduplicated) families must raise no false alarm at `clean_alpha`.
    let family_size = tests.len().max(1);
    if shifted {
        // Which columns a test against train as published finds moved.
        for &i in &clean_cols {
            let f = &spec.features[i];
            let test = if f.dist.is_categorical() { TestKind::ChiSquare } else { TestKind::Ks };
            let p = [&draw.production, &draw.traffic]
                .iter()
                .flat_map(|b| [against_train(test, i, &b.features[i]), against_published(test, i, &b.features[i])])
                .map(|t| t.p_value)
                .fold(1.0f64, f64::min);
            if p * family_size as f64 <= c.clean_alpha {
                label_shift_consequences.push(f.name.clone());
            }
        }
    }
    // Honest features: every numeric one but the temporal leak's column.
    let honest_max_auc = (0..spec.features.len())
        .filter(|&i| temporal.as_deref() != Some(spec.features[i].name.as_str()))
        .filter_map(|i| match &draw.train_base.features[i] {
            Values::Num(v) => {
                let x = median_filled(v.iter().map(|x| x.unwrap_or(f64::NAN)).collect());
                stats::auc(&x, &draw.train_base.labels).map(|a| a.max(1.0 - a))
            }
            Values::Cat(_) => None,
        })
        .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))));
    let min_p = tests.iter().map(CleanTest::min_p).fold(1.0f64, f64::min);
    let min_corrected_p = (min_p * family_size as f64).min(1.0);
    let clean = CleanCertificate {
        alpha: c.clean_alpha,
        tests_per_batch: tests.len(),
        family_size,
        min_corrected_p,
        passed: min_corrected_p >= c.clean_alpha
            && decoy_train_auc.is_none_or(|a| (a - 0.5).abs() <= c.leak_max_serving_gap)
            && c.honest_max_auc.is_none_or(|m| honest_max_auc.is_none_or(|a| a <= m)),
        tests,
        label_shift_consequences,
        constraint_consequences: consequences.iter().map(|&i| spec.features[i].name.clone()).collect(),
        honest_max_auc,
        decoy_train_auc,
    };

    // A subtle drift's power at the level of a candidate's whole family:
    // every clean column and aspect, and each planted drift.
    let alpha = c.clean_alpha / (clean.family_size + drift.len()) as f64;
    for (n, d) in drift.iter_mut().enumerate() {
        // A batch, and the generating model's score of it.
        let found_by = |(batch, batch_score): (&Split, &[f64]), rng: &mut Rng| -> f64 {
            match (&d.change, draw.plan.drifts.iter().find(|p| p.feature == d.feature)) {
                (DriftChange::PriorShift { .. }, _) => {
                    let scores = Values::Num(batch_score.iter().map(|x| Some(*x)).collect());
                    power(TestKind::Ks, &Values::Num(Vec::new()), Some(&train_score), &scores, alpha, rng)
                }
                (change, Some(p)) => {
                    let (reference, sorted) =
                        (&subtle_reference.split.features[p.index], &subtle_reference.sorted[p.index]);
                    power(fitting_test(change), reference, sorted.as_deref(), &batch.features[p.index], alpha, rng)
                }
                (_, None) => unreachable!("every planted drift but the prior shift is in the plan"),
            }
        };
        let det = d.detectability.get_or_insert(Detectability {
            psi: None,
            p_value: d.certificate.production_published.p_value,
            alpha,
            power_production: None,
            power_traffic: None,
            resamples: None,
        });
        det.alpha = alpha;
        if d.level == Level::Subtle && subtle_by_p(&d.change) {
            let mut rng = Rng::stream(n as u64, 0, &format!("power/{}", d.feature));
            let prod = found_by((&draw.production, &production_score), &mut rng);
            let traffic = found_by((&draw.traffic, &traffic_score), &mut rng);
            det.power_production = Some(prod);
            det.power_traffic = Some(traffic);
            det.resamples = Some(POWER_RESAMPLES);
            d.certificate.passed &= prod >= c.subtle_min_power && traffic >= c.subtle_min_power;
        }
    }

    let h = &draw.holdout_serving;
    let holdout_auc = stats::auc(&h.probs, &h.labels).unwrap_or(0.5);
    let preds: Vec<bool> = h.probs.iter().map(|p| *p >= 0.5).collect();
    let bayes = BayesCertificate {
        holdout_auc,
        holdout_log_loss: stats::log_loss(&h.probs, &h.labels),
        holdout_brier: stats::brier(&h.probs, &h.labels),
        holdout_accuracy: stats::accuracy(&preds, &h.labels),
        holdout_positive_rate: positive_rate(&h.labels),
        public_auc: stats::auc(&h.public, &h.labels),
        public_log_loss: Some(stats::log_loss(&h.public, &h.labels)),
        passed: (c.bayes_auc[0]..=c.bayes_auc[1]).contains(&holdout_auc),
    };
    (drift, clean, bayes)
}

/// The features that stay clean at serving time: not drifted, not the
/// temporal leak's, and not bounded by either through a constraint. The
/// generating model's score over them is what a prior shift moves.
pub(crate) fn clean_columns(spec: &ExerciseSpec, plan: &Plan, joint: &Joint) -> Vec<usize> {
    let temporal = plan.temporal().map(|(c, _)| c.to_string());
    let consequences = constraint_consequences(spec, plan, joint);
    (0..spec.features.len())
        .filter(|&i| {
            plan.drift_of(i).is_none()
                && temporal.as_deref() != Some(spec.features[i].name.as_str())
                && !consequences.contains(&i)
        })
        .collect()
}

/// Features a constraint bounds by a column whose values a drift or the
/// temporal leak moved (and not themselves drifted).
fn constraint_consequences(spec: &ExerciseSpec, plan: &Plan, joint: &Joint) -> Vec<usize> {
    let mut moved: Vec<usize> = plan
        .drifts
        .iter()
        .filter(|d| matches!(d.change, DriftChange::MeanShift { .. } | DriftChange::ScaleChange { .. }))
        .map(|d| d.index)
        .chain(plan.temporal().and_then(|(c, _)| spec.features.iter().position(|f| f.name == c)))
        .collect();
    moved.sort_unstable();
    let mut out: Vec<usize> = moved
        .iter()
        .flat_map(|&i| joint.moved_by(i))
        .filter(|i| !moved.contains(i) && plan.drift_of(*i).is_none())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Every split checked against the declared constraints, in the
/// extract's encoding (a served unit factor or spelling undone).
fn certify_constraints(spec: &ExerciseSpec, draw: &Draw) -> ConstraintCertificate {
    let decode = |split: &Split, served: bool| -> Vec<Values> {
        let mut v = split.features.clone();
        if served {
            for d in draw.plan.drifts.iter().filter(|d| matches!(d.change, DriftChange::ServingSkew { .. })) {
                serving_skew::undo(&spec.features[d.index], &d.change, &mut v[d.index], &split.ids);
            }
        }
        v
    };
    let splits = [
        ("train", &draw.train, false),
        ("holdout_serving", &draw.holdout_serving, true),
        ("holdout_offline", &draw.holdout_offline, false),
        ("production", &draw.production, true),
        ("traffic", &draw.traffic, true),
        ("latency", &draw.latency, true),
    ];
    let violations: std::collections::BTreeMap<String, usize> =
        splits.iter().map(|(name, s, served)| (name.to_string(), draw.joint.violations(&decode(s, *served)))).collect();
    ConstraintCertificate {
        constraints: spec.constraints.len(),
        passed: violations.values().all(|v| *v == 0),
        violations,
    }
}

/// Share of a column's present values on either clip bound.
pub(crate) fn bound_share(values: &Values, [lo, hi]: [f64; 2]) -> f64 {
    let Values::Num(v) = values else { return 0.0 };
    let present: Vec<f64> = v.iter().flatten().copied().collect();
    present.iter().filter(|x| **x <= lo || **x >= hi).count() as f64 / present.len().max(1) as f64
}

fn certify_leak(spec: &ExerciseSpec, draw: &Draw, leak: &Leak, level: Level) -> PlantedLeak {
    let c = &spec.certificate;
    let (feature, mut certificate) = match leak {
        Leak::DuplicateRows { .. } => (None, duplicate_rows::certify(draw)),
        Leak::PostOutcome { column, .. } => (Some(column.clone()), post_outcome::certify(c, draw)),
        Leak::Identifier { .. } => (Some(spec.exercise.id_column.clone()), identifier::certify(c, draw)),
        Leak::Temporal { column, .. } => {
            let i = spec.features.iter().position(|f| &f.name == column).expect("validated");
            (Some(column.clone()), temporal::certify(c, draw, i, spec.features[i].clip))
        }
        Leak::Contamination { .. } => (None, contamination::certify(draw)),
    };
    // A column leak's level is its single-feature AUC in train: a subtle
    // one just above the strongest honest feature, an obvious one beyond.
    if let (Some(auc), Some([lo, hi])) = (certificate.train_auc, c.subtle_leak_auc) {
        let auc = (auc - 0.5).abs() + 0.5;
        certificate.passed &= match level {
            Level::Subtle => (lo..=hi).contains(&auc),
            Level::Obvious => auc > hi,
        };
    }
    PlantedLeak { kind: leak.kind(), feature, params: leak.clone(), level, certificate }
}

/// Whether a drift's tests show it at its level: obvious, at
/// `drift_max_p` in every batch and against either reference; subtle
/// (where a p-value measures it), production against train.csv as
/// published within `subtle_drift_p`, below the PSI a glance flags, and
/// its power checked once the family's size is known.
fn strong_enough(
    c: &CertificateSpec,
    level: Level,
    change: &DriftChange,
    tests: [TestResult; 4],
    psi: Option<f64>,
) -> bool {
    match (level, c.subtle_drift_p) {
        (Level::Subtle, Some([lo, hi])) if subtle_by_p(change) => {
            let p = tests[2].p_value;
            (lo..=hi).contains(&p) && psi.is_none_or(|x| x <= c.subtle_max_psi)
        }
        _ => tests.iter().all(|t| t.p_value <= c.drift_max_p),
    }
}

/// Kinds whose subtlety is a p-value: a new category is found by a set
/// difference at any share, so its subtle level is its share alone; a
/// unit change on a share of the rows is measured like a column drift.
fn subtle_by_p(change: &DriftChange) -> bool {
    matches!(
        change,
        DriftChange::MeanShift { .. }
            | DriftChange::ScaleChange { .. }
            | DriftChange::MissingRate { .. }
            | DriftChange::PriorShift { .. }
            | DriftChange::ServingSkew { factor: Some(_), share: Some(_), .. }
    )
}

/// Share of `RESAMPLES` batches drawn with replacement from `batch` whose
/// test against `reference` (numeric: `sorted`) reaches `alpha`.
fn power(test: TestKind, reference: &Values, sorted: Option<&[f64]>, batch: &Values, alpha: f64, rng: &mut Rng) -> f64 {
    let n = batch.len();
    if let (TestKind::Ks, Some(a), Values::Num(v)) = (test, sorted, batch) {
        // A resample is a count per present value of the batch, sorted:
        // tested without being built or sorted (the draws, and so every
        // figure, are the ones `take` and a sort would give).
        let mut present: Vec<(f64, usize)> = v.iter().enumerate().filter_map(|(i, x)| x.map(|x| (x, i))).collect();
        present.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut position = vec![usize::MAX; n];
        present.iter().enumerate().for_each(|(k, &(_, i))| position[i] = k);
        let ks = stats::KsResampler::new(a, present.iter().map(|&(x, _)| x).collect());
        let hits = resampled_hits(rng, n, |rng, resamples| {
            let mut counts = vec![0u32; present.len()];
            (0..resamples)
                .filter(|_| {
                    counts.fill(0);
                    for _ in 0..n {
                        // A missing value drawn is no value of the resample.
                        if let Some(c) = counts.get_mut(position[rng.below(n)]) {
                            *c += 1;
                        }
                    }
                    ks.test(&counts).p_value <= alpha
                })
                .count()
        });
        return hits as f64 / POWER_RESAMPLES as f64;
    }
    let hits = resampled_hits(rng, n, |rng, resamples| {
        (0..resamples)
            .filter(|_| {
                let idx: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
                column_test(test, reference, &batch.take(&idx)).p_value <= alpha
            })
            .count()
    });
    hits as f64 / POWER_RESAMPLES as f64
}

/// The hits of [`POWER_RESAMPLES`] resamples of `n` rows, where
/// `part(rng, k)` runs `k` resamples from `rng` and counts its hits, each
/// resample taking `n` draws of `rng.below(n)`. Spread over the cores:
/// each part starts where the stream stands after the resamples before it
/// ([`Rng::ahead`]), so the count, and where `rng` is left, are those of one
/// pass. `below` takes one draw per value but for a rejection (chance
/// about n in 2^64 per draw); a part that did not end where the next began
/// shows one, and then the whole runs again in one pass.
fn resampled_hits(rng: &mut Rng, n: usize, part: impl Fn(&mut Rng, usize) -> usize + Sync) -> usize {
    let per = POWER_RESAMPLES.div_ceil(crate::par::cores());
    let parts: Vec<(usize, usize)> =
        (0..POWER_RESAMPLES).step_by(per).map(|a| (a, (a + per).min(POWER_RESAMPLES))).collect();
    let start = rng.clone();
    let draws = |resamples: usize| (resamples * n) as u64;
    let done = crate::par::each(parts.clone(), |(a, b)| {
        let mut r = start.ahead(draws(a));
        let hits = part(&mut r, b - a);
        (hits, r.word_pos())
    });
    let whole = start.ahead(draws(POWER_RESAMPLES));
    let aligned = done.iter().zip(&parts).all(|((_, end), (_, b))| *end == start.ahead(draws(*b)).word_pos());
    if aligned {
        *rng = whole;
        done.iter().map(|(hits, _)| hits).sum()
    } else {
        part(rng, POWER_RESAMPLES)
    }
}

impl LeakCertificate {
    /// No evidence yet, not passed: each kind fills in its own.
    pub(crate) fn none() -> LeakCertificate {
        LeakCertificate {
            train_auc: None,
            holdout_offline_auc: None,
            holdout_serving_auc: None,
            duplicate_rows: None,
            train_positive_rate: None,
            deduplicated_positive_rate: None,
            train_vs_production: None,
            contaminated_rows: None,
            bound_excess: None,
            passed: false,
        }
    }
}

/// A leak column must separate the labels in the extract and not at serving.
pub(crate) fn column_leak(c: &CertificateSpec, draw: &Draw, values: impl Fn(&Split) -> Vec<f64>) -> LeakCertificate {
    let auc_of = |s: &Split| stats::auc(&values(s), &s.labels).unwrap_or(0.5);
    let train_auc = auc_of(&draw.train);
    let serving = auc_of(&draw.holdout_serving);
    LeakCertificate {
        train_auc: Some(train_auc),
        holdout_offline_auc: Some(auc_of(&draw.holdout_offline)),
        holdout_serving_auc: Some(serving),
        duplicate_rows: None,
        train_positive_rate: None,
        deduplicated_positive_rate: None,
        train_vs_production: None,
        contaminated_rows: None,
        bound_excess: None,
        passed: (train_auc - 0.5).abs() + 0.5 >= c.leak_min_train_auc
            && (serving - 0.5).abs() <= c.leak_max_serving_gap,
    }
}

fn fitting_test(change: &DriftChange) -> TestKind {
    match change {
        DriftChange::MeanShift { .. } | DriftChange::ScaleChange { .. } => TestKind::Ks,
        DriftChange::NewCategory { .. } | DriftChange::ServingSkew { factor: None, .. } => TestKind::ChiSquare,
        DriftChange::ServingSkew { factor: Some(_), .. } => TestKind::Ks,
        DriftChange::MissingRate { .. } => TestKind::MissingRateZ,
        DriftChange::PriorShift { .. } => TestKind::Ks,
    }
}

/// Missing values at the median, for single-feature AUCs.
pub(crate) fn median_filled(mut v: Vec<f64>) -> Vec<f64> {
    let mut present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    let half = present.len() / 2;
    let median = if present.is_empty() { 0.0 } else { *present.select_nth_unstable_by(half, f64::total_cmp).1 };
    v.iter_mut().filter(|x| x.is_nan()).for_each(|x| *x = median);
    v
}

/// The generating model's log-odds from the columns `cols` alone (missing
/// values and unseen categories add nothing).
pub fn partial_score(model: &Model, split: &Split, cols: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; split.len()];
    for &i in cols {
        model.add(i, &split.features[i], &mut out);
    }
    out
}

/// A training split with each numeric column's present values sorted once,
/// for every KS test against it (the same figures as sorting per test).
pub(crate) struct Reference<'a> {
    pub(crate) split: &'a Split,
    pub(crate) sorted: Vec<Option<Vec<f64>>>,
}

impl<'a> Reference<'a> {
    pub(crate) fn new(split: &'a Split) -> Reference<'a> {
        let sorted = split
            .features
            .iter()
            .map(|v| match v {
                Values::Num(x) => {
                    let mut s: Vec<f64> = x.iter().flatten().copied().collect();
                    s.sort_unstable_by(f64::total_cmp);
                    Some(s)
                }
                Values::Cat(_) => None,
            })
            .collect();
        Reference { split, sorted }
    }

    /// `test` of column `i` of this reference against `batch`.
    pub(crate) fn test(&self, test: TestKind, i: usize, batch: &Values) -> TestResult {
        match (test, &self.sorted[i], batch) {
            (TestKind::Ks, Some(a), Values::Num(b)) => {
                stats::ks_presorted(a, &b.iter().flatten().copied().collect::<Vec<f64>>())
            }
            _ => column_test(test, &self.split.features[i], batch),
        }
    }
}

/// Runs one two-sample test of a column between two batches.
pub fn column_test(test: TestKind, a: &Values, b: &Values) -> TestResult {
    match (test, a, b) {
        (TestKind::Ks, Values::Num(x), Values::Num(y)) => {
            let x: Vec<f64> = x.iter().flatten().copied().collect();
            let y: Vec<f64> = y.iter().flatten().copied().collect();
            stats::ks_two_sample(&x, &y)
        }
        (TestKind::ChiSquare, Values::Cat(x), Values::Cat(y)) => {
            let k = x.iter().chain(y).flatten().max().map(|m| *m as usize + 1).unwrap_or(0);
            let counts = |v: &[Option<u32>]| {
                let mut c = vec![0u64; k];
                v.iter().flatten().for_each(|i| c[*i as usize] += 1);
                c
            };
            stats::chi_square_two_sample(&counts(x), &counts(y))
        }
        (TestKind::MissingRateZ, a, b) => {
            stats::two_proportion_z(a.missing() as u64, a.len() as u64, b.missing() as u64, b.len() as u64)
        }
        _ => unreachable!("test kind matches the column type"),
    }
}

pub(crate) fn positive_rate(labels: &[bool]) -> f64 {
    labels.iter().filter(|y| **y).count() as f64 / labels.len().max(1) as f64
}

pub(crate) fn distinct(ids: &[i64]) -> usize {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// Category names of every feature, as written (for readers of the key).
pub fn feature_categories(spec: &ExerciseSpec, draw: &Draw) -> Vec<Vec<String>> {
    spec.features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut c = categories_with_new(&f.dist, draw.plan.drift_of(i));
            // A decoy category's code follows the training categories (its
            // feature has no planted drift, so nothing else is there).
            if let Some(d) = draw.decoy_category.as_ref().filter(|d| d.index == i) {
                c.push(d.category.clone());
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests;
