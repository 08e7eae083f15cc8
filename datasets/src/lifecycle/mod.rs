//! The production replay (issue 25): the days after launch, drawn from the
//! variant's own generating model and sealed, with three events planted on
//! days drawn per seed, each certified on the generated rows:
//! - a concept drift: from its day on, one feature's effect on the label
//!   reverses while every input keeps its training distribution (only the
//!   labels that arrive late show it);
//! - a decoy data drift: for `event_days`, the feature with the least
//!   effect shifts (harmless to the model, findable by an input test);
//! - a pipeline break: for `event_days`, one feature arrives all null, a
//!   constant, or in another unit.
//!
//! Every other day is quiet: drawn like the sealed holdout (the serving
//! encoding, none of production's covariate drift), and certified to pass
//! the clean-column test against train, so a service is never charged for
//! an alarm the rows give it cause for.
//!
//! | file | what |
//! |---|---|
//! | `spec` | `[lifecycle]` of exercise.toml, checked |
//! | `schedule` | which event falls on which days, per seed |
//! | `rows` | a day's rows, as served, under the events in force |
//! | `certify` | each event's proof, and the quiet days' |

mod certify;
mod rows;
mod schedule;
mod spec;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use certify::{DayTest, EventCertificate};
pub use schedule::Window;
pub(crate) use spec::validate;
pub use spec::{BreakMode, ConceptDriftSpec, DecoyDriftSpec, LifecycleSpec, PipelineBreakSpec};

use crate::draw::{Draw, Split};
use crate::model::{Model, Term};
use crate::spec::ExerciseSpec;

/// The three events a replay plants, one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ConceptDrift,
    DecoyDrift,
    PipelineBreak,
}

crate::word_enum!(EventKind {
    ConceptDrift => "concept_drift",
    DecoyDrift => "decoy_drift",
    PipelineBreak => "pipeline_break",
});

/// What an event changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum EventChange {
    /// The feature's linear coefficient goes from `coef_before` to
    /// `coef_after` = `-factor * coef_before`.
    Reversal { factor: f64, coef_before: f64, coef_after: f64 },
    /// The feature's latent score moves by `shift_sd` SDs.
    MeanShift { shift_sd: f64 },
    /// The feature as served: all null, `value` everywhere, or times `factor`.
    Break {
        mode: BreakMode,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        factor: Option<f64>,
    },
}

/// One planted event, as the answer key records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlantedEvent {
    pub kind: EventKind,
    /// First day it is in force (days count from 1).
    pub day: u32,
    /// Its window, inclusive: the decoy's and the break's last day; the
    /// concept drift's last day of scoring (`day + label_lag_days +
    /// max_delay_days`). The concept drift itself holds to the end.
    pub last_day: u32,
    pub feature: String,
    pub change: EventChange,
    pub certificate: EventCertificate,
}

/// The replay's part of the answer key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LifecycleKey {
    pub days: u32,
    pub rows_per_day: usize,
    pub label_lag_days: u32,
    pub label_fraction: f64,
    pub max_delay_days: u32,
    pub event_days: u32,
    /// How long `/feedback` may take.
    pub feedback_timeout_ms: u64,
    /// The events in the order of their days.
    pub events: Vec<PlantedEvent>,
    /// Days outside every event's window: a status other than `ok` there
    /// is a false alarm (after the concept drift's window, a `concept_drift`
    /// is not: the new concept still holds).
    pub quiet_days: Vec<u32>,
    /// Columns every day's inputs are tested on (each day's family, and
    /// the concept drift's days pooled), against train as published and
    /// deduplicated.
    pub tested_columns: Vec<String>,
    /// Every day's clean test, in day order.
    pub day_tests: Vec<DayTest>,
    /// Days redrawn because their inputs failed the clean test.
    pub day_redraws: u32,
    /// Rows whose labels `/feedback` delivers.
    pub feedback_rows: usize,
    /// Which replay draw of the variant's draw passed its certificate.
    pub attempt: u32,
    pub rejected_draws: Vec<crate::variant::RejectedDraw>,
}

/// The replay's rows, as served, with the day each is sent and the day its
/// label arrives (none for rows whose label never does).
#[derive(Debug, Clone)]
pub struct Stream {
    pub rows: Split,
    pub day: Vec<u32>,
    pub feedback_day: Vec<Option<u32>>,
    /// The launch model's probability of each row's label (`rows.probs`
    /// is the concept's in force on its day).
    pub stale_probs: Vec<f64>,
    pub key: LifecycleKey,
}

/// Most draws of one day before the replay's attempt fails.
pub const MAX_DAY_REDRAWS: u32 = 40;

/// The replay of a certified draw: the first of up to `max_attempts` replay
/// draws (each on streams of its own, so the variant's other files do not
/// depend on it) whose events all pass their certificate; or the last
/// draw's reasons (the variant then tries its next attempt).
pub fn generate(
    spec: &ExerciseSpec,
    l: &LifecycleSpec,
    draw: &Draw,
    seed: u64,
    attempt: u32,
) -> Result<Stream, Vec<String>> {
    let mut rejected = Vec::new();
    for k in 0..spec.certificate.max_attempts {
        match generate_once(spec, l, draw, seed, attempt, k) {
            Ok(mut s) => {
                s.key.attempt = k;
                s.key.rejected_draws = rejected;
                return Ok(s);
            }
            Err(reasons) => rejected.push(crate::variant::RejectedDraw { attempt: k, reasons }),
        }
    }
    Err(rejected.pop().map(|r| r.reasons).unwrap_or_default())
}

fn generate_once(
    spec: &ExerciseSpec,
    l: &LifecycleSpec,
    draw: &Draw,
    seed: u64,
    attempt: u32,
    k: u32,
) -> Result<Stream, Vec<String>> {
    let stream = |purpose: &str| crate::draw::stream(spec, seed, attempt, &format!("lifecycle/{k}/{purpose}"));
    let mut rng = stream("events");
    let windows = schedule::draw(l, &mut rng);
    let features = choose_features(spec, l, draw, &mut rng)?;
    let concept = concept_model(l, &draw.model, features.concept, &mut rng);
    let shift_sd = rng.range(l.decoy_drift.strength) * if rng.bernoulli(0.5) { 1.0 } else { -1.0 };
    let break_change = rows::draw_break(spec, l, draw, features.broken, &mut rng);
    let plan = rows::DayPlan {
        windows: &windows,
        concept: (features.concept, &concept.1),
        decoy: (features.decoy, shift_sd),
        broken: (features.broken, &break_change),
    };
    let refs = certify::References::new(draw);
    let built = rows::build(spec, l, draw, &refs, &plan, &stream)?;
    let events = windows
        .iter()
        .map(|w| {
            let (feature, change) = match w.kind {
                EventKind::ConceptDrift => (features.concept, concept.0.clone()),
                EventKind::DecoyDrift => {
                    (features.decoy, EventChange::MeanShift { shift_sd: crate::rng::round_to(shift_sd, 4) })
                }
                EventKind::PipelineBreak => (features.broken, break_change.clone()),
            };
            let certificate = certify::event(spec, l, draw, &refs, &built, &windows, (w, feature, &change));
            PlantedEvent {
                kind: w.kind,
                day: w.first,
                last_day: w.last,
                feature: spec.features[feature].name.clone(),
                change,
                certificate,
            }
        })
        .collect::<Vec<_>>();
    let failures: Vec<String> = events
        .iter()
        .filter(|e| !e.certificate.passed)
        .map(|e| format!("lifecycle {} on day {} ({}): {}", e.kind, e.day, e.feature, e.certificate.failed_because))
        .collect();
    if !failures.is_empty() {
        return Err(failures);
    }
    let quiet_days = (1..=l.days).filter(|d| !windows.iter().any(|w| w.holds(*d))).collect();
    let key = LifecycleKey {
        days: l.days,
        rows_per_day: l.rows_per_day,
        label_lag_days: l.label_lag_days,
        label_fraction: l.label_fraction,
        max_delay_days: l.max_delay_days,
        event_days: l.event_days,
        feedback_timeout_ms: l.feedback_timeout_ms,
        events,
        quiet_days,
        tested_columns: built.tested.iter().map(|&i| spec.features[i].name.clone()).collect(),
        day_tests: built.day_tests.clone(),
        day_redraws: built.redraws,
        feedback_rows: built.feedback_day.iter().flatten().count(),
        attempt: 0,
        rejected_draws: Vec::new(),
    };
    Ok(Stream {
        rows: built.rows,
        day: built.day,
        feedback_day: built.feedback_day,
        stale_probs: built.stale_probs,
        key,
    })
}

/// The feature of each event: three distinct ones.
#[derive(Debug, Clone, Copy)]
struct EventFeatures {
    concept: usize,
    decoy: usize,
    broken: usize,
}

/// The concept drift's feature is drawn among its pool's features with a
/// strong effect in this variant's model; the decoy is the pool's feature with
/// the least effect; the break's is drawn from the rest. The decoy and the
/// break avoid columns production's drift or a temporal leak already moves
/// (their names would say nothing new).
fn choose_features(
    spec: &ExerciseSpec,
    l: &LifecycleSpec,
    draw: &Draw,
    rng: &mut crate::rng::Rng,
) -> Result<EventFeatures, Vec<String>> {
    let index = |n: &String| spec.features.iter().position(|f| f.name == *n).expect("validated");
    // A feature's linear effect as the logit feels it: |coef| times the SD
    // of its z on rows as served (a rare count's large coefficient
    // moves few rows; its reversal is neither certifiable nor worth a
    // retrain).
    let effect = |i: usize| match (&draw.model.terms[i], &draw.holdout_serving.features[i]) {
        (Term::Numeric { coef, scale, .. }, crate::draw::Values::Num(v)) => {
            let x: Vec<f64> = v.iter().flatten().copied().collect();
            let n = x.len().max(1) as f64;
            let mean = x.iter().sum::<f64>() / n;
            let sd = (x.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            (coef / scale).abs() * sd
        }
        _ => 0.0,
    };
    let moved = |i: usize| {
        draw.plan.drift_of(i).is_some() || draw.plan.temporal().is_some_and(|(c, _)| c == spec.features[i].name)
    };
    // The break's candidates once `taken` are out, and the decoy (the
    // pool's feature with the least effect) that leaves the break one.
    let breakable = |taken: &[usize]| -> Vec<usize> {
        l.pipeline_break.features.iter().map(index).filter(|&i| !taken.contains(&i) && !moved(i)).collect()
    };
    let decoy_for = |concept: usize| -> Option<usize> {
        l.decoy_drift
            .features
            .iter()
            .map(index)
            .filter(|&i| i != concept && !moved(i) && !breakable(&[concept, i]).is_empty())
            .min_by(|&a, &b| effect(a).total_cmp(&effect(b)))
    };
    // Among the pool's features with an effect, those at least half as
    // strong as the strongest (a weak effect's reversal is rarely
    // certifiable from the labels in time) that leave a decoy and a break.
    let strongest = l.concept_drift.features.iter().map(index).map(effect).fold(0.0, f64::max);
    let carriers: Vec<usize> = l
        .concept_drift
        .features
        .iter()
        .map(index)
        .filter(|&i| effect(i) > 0.0 && effect(i) >= strongest / 2.0 && decoy_for(i).is_some())
        .collect();
    if carriers.is_empty() {
        return Err(vec![
            "lifecycle: no feature of concept_drift.features has an effect in this model and leaves a decoy and a break free"
                .into(),
        ]);
    }
    let concept = carriers[rng.below(carriers.len())];
    let decoy = decoy_for(concept).expect("a carrier leaves a decoy");
    let free = breakable(&[concept, decoy]);
    Ok(EventFeatures { concept, decoy, broken: free[rng.below(free.len())] })
}

/// The new concept: feature `i`'s coefficient reversed by a factor drawn
/// from the strength range.
fn concept_model(l: &LifecycleSpec, model: &Model, i: usize, rng: &mut crate::rng::Rng) -> (EventChange, Model) {
    let factor = crate::rng::round_to(rng.range(l.concept_drift.strength), 4);
    let mut new = model.clone();
    let Term::Numeric { coef, .. } = &mut new.terms[i] else { unreachable!("a carrier has a numeric term") };
    let before = *coef;
    *coef = -factor * before;
    (EventChange::Reversal { factor, coef_before: before, coef_after: *coef }, new)
}

/// An exercise.toml's text without its production replay: the
/// `[lifecycle*]` sections, the group's weight in `[rubric]`, and contract
/// v1, as an exercise without one declares. The tests compare a variant
/// with and without its replay (the v1 files must not change) and score
/// v1's groups alone with it. `None` for a text with no replay.
pub fn without_lifecycle(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut inside = false;
    for line in raw.lines() {
        if line.starts_with('[') {
            inside = line.starts_with("[lifecycle");
        }
        if !inside && !line.starts_with("lifecycle = ") {
            out.push_str(line);
            out.push('\n');
        }
    }
    let v1 = out.replacen("[contract]\nversion = 2\n", "[contract]\nversion = 1\n", 1);
    (v1 != out && !v1.contains("[lifecycle")).then_some(v1)
}
