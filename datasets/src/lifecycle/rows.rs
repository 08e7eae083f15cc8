//! A replay day's rows, as served: drawn like the sealed holdout (new
//! customers, the serving encoding, the post-outcome column as known at
//! prediction time, none of production's covariate drift), labelled by
//! the concept in force, with the decoy's shift and the break applied on
//! their days. A day whose inputs fail the clean-column test is drawn
//! again (its own stream per try), so no quiet day gives cause for alarm.

use super::certify::{day_test, DayTest, References};
use super::schedule::Window;
use super::{BreakMode, EventChange, EventKind, LifecycleSpec, MAX_DAY_REDRAWS};
use crate::defects::plan::DriftChange;
use crate::defects::{identifier, new_category, post_outcome, serving_skew};
use crate::draw::{blank, Draw, Split, Values};
use crate::joint::Shift;
use crate::model::Model;
use crate::rng::{round_to, Rng};
use crate::spec::{Distribution, ExerciseSpec};

/// What each day draws under.
pub(super) struct DayPlan<'a> {
    pub windows: &'a [Window],
    /// The concept drift's feature and the new concept's model.
    pub concept: (usize, &'a Model),
    /// The decoy's feature and its latent shift.
    pub decoy: (usize, f64),
    /// The broken feature and how it breaks.
    pub broken: (usize, &'a EventChange),
}

impl DayPlan<'_> {
    fn window(&self, kind: EventKind) -> &Window {
        self.windows.iter().find(|w| w.kind == kind).expect("one window per kind")
    }
}

/// Every day's rows, in day order.
pub(super) struct Built {
    pub rows: Split,
    pub day: Vec<u32>,
    pub feedback_day: Vec<Option<u32>>,
    /// The launch model's probability of each row's label.
    pub stale_probs: Vec<f64>,
    /// The probability under the concept in force before the decoy's shift
    /// (on other days, `rows.probs`): what the shift costs the model.
    pub unshifted_probs: Vec<f64>,
    /// Features every day's clean test covers.
    pub tested: Vec<usize>,
    pub day_tests: Vec<DayTest>,
    pub redraws: u32,
}

/// How the break's feature breaks: a mode drawn among those that apply to it.
pub(super) fn draw_break(spec: &ExerciseSpec, l: &LifecycleSpec, draw: &Draw, i: usize, rng: &mut Rng) -> EventChange {
    let f = &spec.features[i];
    let unit = l.pipeline_break.unit.get(&f.name).copied();
    let modes: Vec<BreakMode> =
        l.pipeline_break.modes.iter().copied().filter(|m| *m != BreakMode::Unit || unit.is_some()).collect();
    // Validation leaves null or constant beside unit, or unit with a factor.
    let mode = if modes.is_empty() { BreakMode::Null } else { modes[rng.below(modes.len())] };
    match mode {
        BreakMode::Null => EventChange::Break { mode, value: None, factor: None },
        BreakMode::Constant => {
            let Values::Num(v) = &draw.train_base.features[i] else { unreachable!("validated numeric") };
            let mut x: Vec<f64> = v.iter().flatten().copied().collect();
            x.sort_unstable_by(f64::total_cmp);
            let median = x.get(x.len() / 2).copied().unwrap_or(0.0);
            EventChange::Break { mode, value: Some(round_to(median, f.decimals())), factor: None }
        }
        BreakMode::Unit => EventChange::Break { mode, value: None, factor: unit },
    }
}

/// Draws every day (redrawing days that fail the clean test) and the
/// labels `/feedback` delivers.
pub(super) fn build(
    spec: &ExerciseSpec,
    l: &LifecycleSpec,
    draw: &Draw,
    refs: &References,
    plan: &DayPlan,
    stream: &dyn Fn(&str) -> Rng,
) -> Result<Built, Vec<String>> {
    let tested = crate::certify::clean_columns(spec, &draw.plan, &draw.joint);
    let (concept, decoy, broken) = (
        plan.window(EventKind::ConceptDrift),
        plan.window(EventKind::DecoyDrift),
        plan.window(EventKind::PipelineBreak),
    );
    // New customers: ids after every id the variant has handed out.
    let mut next_id = [&draw.train, &draw.holdout_serving, &draw.production, &draw.traffic, &draw.latency]
        .iter()
        .flat_map(|s| s.ids.iter().copied())
        .max()
        .unwrap_or(spec.exercise.id_start)
        + 4;
    let n = l.rows_per_day;
    let mut out: Option<Split> = None;
    let (mut day, mut feedback_day, mut stale_probs, mut unshifted_probs) = (vec![], vec![], vec![], vec![]);
    let (mut day_tests, mut redraws) = (Vec::new(), 0);
    for d in 1..=l.days {
        let model = if d >= concept.first { plan.concept.1 } else { &draw.model };
        let shift = decoy.holds(d).then_some(plan.decoy);
        let brk = broken.holds(d).then_some(plan.broken);
        // The event's own column is what moves on its days: the rest must not.
        let cols: Vec<usize> = tested
            .iter()
            .copied()
            .filter(|&i| shift.is_none_or(|(c, _)| !draw.joint.moved_by(c).contains(&i)))
            .filter(|&i| brk.is_none_or(|(c, _)| c != i))
            .collect();
        let mut accepted = None;
        for attempt in 0..MAX_DAY_REDRAWS {
            let mut rng = stream(&format!("day/{d}/{attempt}"));
            let rows = one_day(spec, draw, model, n, shift, brk, next_id, &mut rng);
            let test = day_test(spec, refs, &rows.0, &cols, d);
            if test.min_corrected_p >= spec.certificate.clean_alpha {
                accepted = Some((rows, test));
                break;
            }
            redraws += 1;
        }
        let Some(((rows, stale, unshifted), test)) = accepted else {
            return Err(vec![format!(
                "lifecycle day {d}: no draw of {MAX_DAY_REDRAWS} passed the clean-column test at clean_alpha"
            )]);
        };
        next_id += 4 * n as i64 + 4;
        let mut rng = stream(&format!("feedback/{d}"));
        for _ in 0..n {
            let delivered = d + l.label_lag_days <= l.days && rng.bernoulli(l.label_fraction);
            feedback_day.push(delivered.then_some(d + l.label_lag_days));
            day.push(d);
        }
        stale_probs.extend(stale);
        unshifted_probs.extend(unshifted);
        day_tests.push(test);
        match &mut out {
            None => out = Some(rows),
            Some(all) => all.append(&rows),
        }
    }
    Ok(Built {
        rows: out.expect("at least one day"),
        day,
        feedback_day,
        stale_probs,
        unshifted_probs,
        tested,
        day_tests,
        redraws,
    })
}

/// One day's `n` rows as served, with the launch model's probabilities
/// and those before the decoy's shift.
#[allow(clippy::too_many_arguments)]
fn one_day(
    spec: &ExerciseSpec,
    draw: &Draw,
    model: &Model,
    n: usize,
    shift: Option<(usize, f64)>,
    brk: Option<(usize, &EventChange)>,
    first_id: i64,
    rng: &mut Rng,
) -> (Split, Vec<f64>, Vec<f64>) {
    let joint = &draw.joint;
    let (mut features, mut latent) = joint.sample(n, rng);
    let unshifted = model.probabilities(&features);
    // A covariate shift: the label follows the shifted inputs.
    if let Some((i, s)) = shift {
        let all: Vec<usize> = (0..n).collect();
        joint.rerender(&mut features, &mut latent, &[(i, Shift::Mean(s))], &all);
    }
    let probs = if shift.is_some() { model.probabilities(&features) } else { unshifted.clone() };
    let stale = draw.model.probabilities(&features);
    let labels: Vec<bool> = probs.iter().map(|&p| rng.bernoulli(p)).collect();
    for (f, values) in spec.features.iter().zip(&mut features) {
        if f.missing_rate > 0.0 {
            blank(values, f.missing_rate, rng);
        }
    }
    let ids = identifier::serving_ids(first_id, n, rng);
    // As the holdout is served: the post-outcome column before any
    // outcome, the decoy column's noise, the decoy category.
    let p = spec.defects.post_outcome.as_ref();
    let leak = draw.plan.post_outcome().and(p).map(|p| post_outcome::noise(p, n, rng));
    let decoy = draw.decoy.as_ref().and(p).map(|p| post_outcome::noise(p, n, rng));
    if let Some(dc) = &draw.decoy_category {
        if let Distribution::Categorical { categories, .. } = &spec.features[dc.index].dist {
            new_category::replace(dc.index, categories.len() as u32, dc.share, joint, &mut features, rng);
        }
    }
    let public = Model::centre(spec).probabilities(&features);
    for d in draw.plan.drifts.iter().filter(|d| matches!(d.change, DriftChange::ServingSkew { .. })) {
        serving_skew::apply(&spec.features[d.index], &d.change, &mut features[d.index], &ids);
    }
    if let Some((i, EventChange::Break { mode, value, factor })) = brk {
        let Values::Num(v) = &mut features[i] else { unreachable!("validated numeric") };
        let decimals = spec.features[i].decimals();
        match mode {
            BreakMode::Null => v.iter_mut().for_each(|x| *x = None),
            BreakMode::Constant => v.iter_mut().for_each(|x| *x = *value),
            BreakMode::Unit => {
                let k = factor.expect("a unit break has its factor");
                v.iter_mut().flatten().for_each(|x| *x = round_to(*x * k, decimals));
            }
        }
    }
    let split = Split { ids, features, leak, decoy, labels, probs, public, latent: Vec::new() };
    (split, stale, unshifted)
}
