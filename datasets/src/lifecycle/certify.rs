//! Each replay event proven on the generated rows:
//! - the concept drift is invisible to input tests (every day's inputs,
//!   and its days pooled, pass the clean-column test against train at
//!   `clean_alpha`), visible in the labels that arrive in time (the launch
//!   model's errors before against after: its mean log loss per row by a
//!   one-sided Welch test, or its residuals' correlation with the changed
//!   feature by Fisher's z; the better p, times 2, at most `drift_max_p`), and worth a retrain (the new concept's model beats the
//!   launch model by `min_recovery_gap` AUC on the rows after its window);
//! - the decoy costs the generating model at most `max_auc_loss` of AUC,
//!   and its column's test on its first day reaches `drift_max_p`;
//! - the break's column's test on its first day reaches `drift_max_p`.

use serde::{Deserialize, Serialize};

use super::rows::Built;
use super::schedule::Window;
use super::{BreakMode, EventChange, EventKind, LifecycleSpec};
use crate::certify::{column_test, Reference, TestKind};
use crate::draw::{Draw, Split, Values};
use crate::spec::ExerciseSpec;
use crate::stats;

/// One day's inputs against train: every tested column and aspect, one
/// Bonferroni family per reference (train.csv as published, deduplicated).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DayTest {
    pub day: u32,
    pub family_size: usize,
    /// The smallest p of either family times its size (capped at 1).
    pub min_corrected_p: f64,
}

/// What proves one event; the fields of its kind are set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventCertificate {
    /// Concept drift: the smallest corrected p of the day tests of its days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_min_corrected_p: Option<f64>,
    /// Concept drift: its days' inputs pooled, corrected p.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_pooled_corrected_p: Option<f64>,
    /// Concept drift: labelled rows before its day, and after it with labels
    /// delivered by its window's last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_rows: Option<[usize; 2]>,
    /// Concept drift: the better of two tests on the launch model's errors,
    /// before against after, times 2: a one-sided Welch test that its mean
    /// log loss per row grew, and Fisher's z on the change of the
    /// correlation between its residuals and the changed feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_p: Option<f64>,
    /// Concept drift: AUC on the rows after its window (labels as drawn) of
    /// the launch model and of the new concept's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_auc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_auc: Option<f64>,
    /// Decoy: the generating model's expected AUC on its rows before the
    /// shift minus after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc_loss: Option<f64>,
    /// Decoy, break: the column's test on the first day against train.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_day_test: Option<TestKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_day_p: Option<f64>,
    pub passed: bool,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failed_because: String,
}

/// Records the first reason a certificate fails.
fn fail(cert: &mut EventCertificate, why: String) {
    if cert.failed_because.is_empty() {
        cert.failed_because = why;
    }
}

/// Train as published and deduplicated, sorted once.
pub(super) struct References<'a> {
    base: Reference<'a>,
    published: Reference<'a>,
    decoy: Option<[Vec<f64>; 2]>,
}

impl<'a> References<'a> {
    pub(super) fn new(draw: &'a Draw) -> References<'a> {
        let sorted = |s: &Split| {
            let mut v = s.decoy.clone().unwrap_or_default();
            v.sort_unstable_by(f64::total_cmp);
            v
        };
        References {
            base: Reference::new(&draw.train_base),
            published: Reference::new(&draw.train),
            decoy: draw.decoy.as_ref().map(|_| [sorted(&draw.train_base), sorted(&draw.train)]),
        }
    }
}

/// The clean-column test of `rows` on `cols` (and the decoy column), as
/// a candidate's family: each aspect against each reference.
pub(super) fn day_test(spec: &ExerciseSpec, refs: &References, rows: &Split, cols: &[usize], day: u32) -> DayTest {
    let mut p = Vec::new();
    for &i in cols {
        let batch = &rows.features[i];
        let mut kinds = vec![if spec.features[i].dist.is_categorical() { TestKind::ChiSquare } else { TestKind::Ks }];
        if refs.base.split.features[i].missing() > 0 || batch.missing() > 0 {
            kinds.push(TestKind::MissingRateZ);
        }
        for k in kinds {
            p.push(refs.base.test(k, i, batch).p_value.min(refs.published.test(k, i, batch).p_value));
        }
    }
    if let (Some([base, published]), Some(v)) = (&refs.decoy, &rows.decoy) {
        p.push(stats::ks_presorted(base, v).p_value.min(stats::ks_presorted(published, v).p_value));
    }
    let family_size = p.len().max(1);
    let min_p = p.iter().copied().fold(1.0f64, f64::min);
    DayTest { day, family_size, min_corrected_p: (min_p * family_size as f64).min(1.0) }
}

/// The certificate of the event in window `w`, on feature `feature`,
/// changed by `change`.
pub(super) fn event(
    spec: &ExerciseSpec,
    l: &LifecycleSpec,
    draw: &Draw,
    refs: &References,
    built: &Built,
    windows: &[Window],
    (w, feature, change): (&Window, usize, &EventChange),
) -> EventCertificate {
    let c = &spec.certificate;
    let other = |d: u32| windows.iter().any(|o| o.kind != w.kind && o.holds(d));
    let rows_where =
        |keep: &dyn Fn(usize) -> bool| -> Vec<usize> { (0..built.day.len()).filter(|&r| keep(r)).collect() };
    let mut cert = EventCertificate::default();
    match w.kind {
        EventKind::ConceptDrift => {
            let days = |d: u32| d >= w.first && !other(d);
            let day_min = built.day_tests.iter().filter(|t| days(t.day)).map(|t| t.min_corrected_p).fold(1.0, f64::min);
            cert.inputs_min_corrected_p = Some(day_min);
            let pooled = built.rows.take(&rows_where(&|r| days(built.day[r])));
            let pooled_p = day_test(spec, refs, &pooled, &built.tested, w.first).min_corrected_p;
            cert.inputs_pooled_corrected_p = Some(pooled_p);
            if pooled_p < c.clean_alpha {
                fail(&mut cert, format!("its days' inputs pooled move (corrected p {pooled_p:.2e} < clean_alpha)"));
            }
            // The launch model's errors, before and after, from labels in time.
            let loss = |r: usize| {
                let p = built.stale_probs[r].clamp(1e-12, 1.0 - 1e-12);
                if built.rows.labels[r] {
                    -p.ln()
                } else {
                    -(1.0 - p).ln()
                }
            };
            let labelled = |r: usize| built.feedback_day[r].is_some_and(|f| f <= w.last) && !other(built.day[r]);
            let (before_rows, after_rows) = (
                rows_where(&|r| labelled(r) && built.day[r] < w.first),
                rows_where(&|r| labelled(r) && built.day[r] >= w.first),
            );
            cert.label_rows = Some([before_rows.len(), after_rows.len()]);
            let label_p = if before_rows.len() < 20 || after_rows.len() < 20 {
                1.0
            } else {
                // Two two-window tests on the launch model's errors, the
                // better one Bonferroni-corrected: its mean log loss rose
                // (one-sided Welch), or its residuals follow the feature
                // whose effect changed as they did not before (Fisher's z
                // on the two correlations): with rare positives (fraud)
                // the second sees a reversal long before the first.
                let losses = |rows: &[usize]| rows.iter().map(|&r| loss(r)).collect::<Vec<f64>>();
                let welch = stats::welch_greater(&losses(&before_rows), &losses(&after_rows)).p_value;
                let fisher = residual_shift(built, feature, &before_rows, &after_rows);
                (2.0 * welch.min(fisher)).min(1.0)
            };
            cert.label_p = Some(label_p);
            if label_p > c.drift_max_p {
                fail(&mut cert, format!("the labels in time show it at p {label_p:.2e} > drift_max_p"));
            }
            // Recovery: on the rows after its window, bar broken days.
            let broken = |d: u32| windows.iter().any(|o| o.kind == EventKind::PipelineBreak && o.holds(d));
            let after_window = rows_where(&|r| built.day[r] > w.last && !broken(built.day[r]));
            let labels: Vec<bool> = after_window.iter().map(|&r| built.rows.labels[r]).collect();
            let pick = |v: &[f64]| after_window.iter().map(|&r| v[r]).collect::<Vec<f64>>();
            let stale = stats::auc(&pick(&built.stale_probs), &labels).unwrap_or(0.5);
            let new = stats::auc(&pick(&built.rows.probs), &labels).unwrap_or(0.5);
            cert.stale_auc = Some(stale);
            cert.new_auc = Some(new);
            if new - stale < l.concept_drift.min_recovery_gap {
                fail(&mut cert, format!("a retrain gains {:.3} AUC < min_recovery_gap", new - stale));
            }
        }
        EventKind::DecoyDrift => {
            let rows = rows_where(&|r| w.holds(built.day[r]));
            let pick = |v: &[f64]| rows.iter().map(|&r| v[r]).collect::<Vec<f64>>();
            let (before, after) = (pick(&built.unshifted_probs), pick(&built.rows.probs));
            let loss = stats::expected_auc(&before, &before).unwrap_or(0.5)
                - stats::expected_auc(&after, &after).unwrap_or(0.5);
            cert.auc_loss = Some(loss);
            if loss > l.decoy_drift.max_auc_loss {
                fail(&mut cert, format!("it costs the model {loss:.4} AUC > max_auc_loss"));
            }
            first_day(draw, built, w, feature, TestKind::Ks, c.drift_max_p, &mut cert);
        }
        EventKind::PipelineBreak => {
            // All null is a missing rate; a constant or a unit moves the values.
            let test = match change {
                EventChange::Break { mode: BreakMode::Null, .. } => TestKind::MissingRateZ,
                _ => TestKind::Ks,
            };
            first_day(draw, built, w, feature, test, c.drift_max_p, &mut cert);
        }
    }
    cert.passed = cert.failed_because.is_empty();
    cert
}

/// Two-sided p of Fisher's z on the change of the correlation between the
/// launch model's residual (label minus probability) and `feature`'s
/// values (rows where it is present), `before` against `after`.
fn residual_shift(built: &Built, feature: usize, before: &[usize], after: &[usize]) -> f64 {
    let corr = |rows: &[usize]| -> Option<(f64, usize)> {
        let Values::Num(v) = &built.rows.features[feature] else { return None };
        let (x, residual): (Vec<f64>, Vec<f64>) = rows
            .iter()
            .filter_map(|&r| v[r].map(|x| (x, built.rows.labels[r] as u8 as f64 - built.stale_probs[r])))
            .unzip();
        (x.len() >= 20).then(|| (stats::pearson(&x, &residual).clamp(-0.999, 0.999), x.len()))
    };
    match (corr(before), corr(after)) {
        (Some((ra, na)), Some((rb, nb))) => {
            let z = (rb.atanh() - ra.atanh()) / (1.0 / (na as f64 - 3.0) + 1.0 / (nb as f64 - 3.0)).sqrt();
            stats::two_sided_normal_p(z)
        }
        _ => 1.0,
    }
}

#[allow(clippy::too_many_arguments)]
fn first_day(
    draw: &Draw,
    built: &Built,
    w: &Window,
    feature: usize,
    test: TestKind,
    max_p: f64,
    cert: &mut EventCertificate,
) {
    let rows: Vec<usize> = (0..built.day.len()).filter(|&r| built.day[r] == w.first).collect();
    let batch = built.rows.features[feature].take(&rows);
    let p = column_test(test, &draw.train_base.features[feature], &batch).p_value;
    cert.first_day_test = Some(test);
    cert.first_day_p = Some(p);
    if p > max_p {
        fail(cert, format!("its column's test on day {} has p {p:.2e} > drift_max_p", w.first));
    }
}
