//! Rows of one draw: clean samples from the exercise's generating model,
//! then the planned leaks and drifts applied to them, in a fixed order
//! (each kind's application lives in its `defects` module; each step
//! draws from a random stream of its own, so the order of the code is the
//! order of the draw).

use crate::defects::plan::{DriftChange, Leak, Plan};
use crate::defects::Level;
use crate::defects::{
    column_drift, contamination, duplicate_rows, identifier, new_category, post_outcome, prior_shift, serving_skew,
    temporal,
};
use crate::joint::{Joint, Shift};
use crate::model::Model;
use crate::rng::Rng;
use crate::spec::{Distribution, ExerciseSpec};

/// One feature column. Categorical values are indices into the feature's
/// categories (the planted new category, if any, comes last).
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Num(Vec<Option<f64>>),
    Cat(Vec<Option<u32>>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Num(v) => v.len(),
            Values::Cat(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends `other`'s values (the same type of column).
    pub(crate) fn extend(&mut self, other: Values) {
        match (self, other) {
            (Values::Num(a), Values::Num(b)) => a.extend(b),
            (Values::Cat(a), Values::Cat(b)) => a.extend(b),
            _ => unreachable!("same columns"),
        }
    }

    pub(crate) fn take(&self, idx: &[usize]) -> Values {
        match self {
            Values::Num(v) => Values::Num(idx.iter().map(|&i| v[i]).collect()),
            Values::Cat(v) => Values::Cat(idx.iter().map(|&i| v[i]).collect()),
        }
    }
    pub fn missing(&self) -> usize {
        match self {
            Values::Num(v) => v.iter().filter(|x| x.is_none()).count(),
            Values::Cat(v) => v.iter().filter(|x| x.is_none()).count(),
        }
    }
}

/// Rows of one split. `features` follows the exercise's feature order.
#[derive(Debug, Clone)]
pub struct Split {
    pub ids: Vec<i64>,
    pub features: Vec<Values>,
    /// The post-outcome column, when planted.
    pub leak: Option<Vec<f64>>,
    /// The decoy: an honest column named from the post-outcome pool, noise
    /// in every split (see [`Decoy`]).
    pub decoy: Option<Vec<f64>>,
    pub labels: Vec<bool>,
    /// The generating model's probability of the label.
    pub probs: Vec<f64>,
    /// The public formula's ([`Model::centre`]): what reading
    /// exercise.toml alone would answer (on a served batch, from its values
    /// as served, missing ones at the centre).
    pub public: Vec<f64>,
    /// Each feature's latent normal score per row ([`Joint`]): drift and
    /// the temporal leak move these and render the values again (train
    /// drops them once every defect is planted).
    pub latent: Vec<Vec<f64>>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub(crate) fn append(&mut self, other: &Split) {
        self.ids.extend(&other.ids);
        for (a, b) in self.features.iter_mut().zip(&other.features) {
            match (a, b) {
                (Values::Num(a), Values::Num(b)) => a.extend(b),
                (Values::Cat(a), Values::Cat(b)) => a.extend(b),
                _ => unreachable!("same columns"),
            }
        }
        if let (Some(a), Some(b)) = (self.leak.as_mut(), &other.leak) {
            a.extend(b);
        }
        if let (Some(a), Some(b)) = (self.decoy.as_mut(), &other.decoy) {
            a.extend(b);
        }
        self.labels.extend(&other.labels);
        self.probs.extend(&other.probs);
        self.public.extend(&other.public);
        for (a, b) in self.latent.iter_mut().zip(&other.latent) {
            a.extend(b);
        }
    }
    pub(crate) fn take(&self, idx: &[usize]) -> Split {
        Split {
            ids: idx.iter().map(|&i| self.ids[i]).collect(),
            features: self.features.iter().map(|f| f.take(idx)).collect(),
            leak: self.leak.as_ref().map(|l| idx.iter().map(|&i| l[i]).collect()),
            decoy: self.decoy.as_ref().map(|l| idx.iter().map(|&i| l[i]).collect()),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            probs: idx.iter().map(|&i| self.probs[i]).collect(),
            public: idx.iter().map(|&i| self.public[i]).collect(),
            latent: self.latent.iter().map(|z| idx.iter().map(|&i| z[i]).collect()).collect(),
        }
    }
}

/// Everything one draw produces, before certification.
#[derive(Debug, Clone)]
pub struct Draw {
    pub plan: Plan,
    /// How the features depend on each other, with this variant's planted
    /// categories admitted to the constraints.
    pub joint: Joint,
    /// This variant's generating model, drawn from the exercise's family.
    pub model: Model,
    /// Family draws rejected before `model` (see [`draw_model`]).
    pub model_rejected: u32,
    /// The honest column named like a leak, if the pool has a name to spare.
    pub decoy: Option<Decoy>,
    /// An honest category named from a new-category pool, in every split
    /// of an undrifted feature (index: the feature's categories' count).
    pub decoy_category: Option<DecoyCategory>,
    /// Published train rows: defects applied, duplicates included, shuffled.
    pub train: Split,
    /// Train rows before duplication (the reference for drift tests).
    pub train_base: Split,
    /// Holdout as served: leak columns as known at prediction time.
    pub holdout_serving: Split,
    /// Holdout as the training extract has it.
    pub holdout_offline: Split,
    pub production: Split,
    pub traffic: Split,
    /// Rows for the latency windows alone, drawn like the holdout as served
    /// and never sent by another probe: a cache keyed on the request cannot
    /// stand in for the model ([`latency_rows`] of them).
    pub latency: Split,
    pub duplicated_rows: usize,
    /// Production rows also in train (contamination).
    pub contaminated_rows: usize,
    /// Positive rate of the clean training rows and of the serving batches
    /// (production, traffic): equal unless a prior shift is planted.
    pub train_rate: f64,
    pub serving_rate: f64,
}

/// What a subtle drift's strength is solved against: train, or under a
/// prior shift train at the serving rate (the label's share of a column's
/// move is not the drift's).
fn calibration_reference(train: &Split, prior_shift: Option<f64>, serving_rate: f64) -> std::borrow::Cow<'_, Split> {
    match prior_shift {
        Some(_) => std::borrow::Cow::Owned(prior_shift::reference_at_rate(train, serving_rate)),
        None => std::borrow::Cow::Borrowed(train),
    }
}

/// The random stream for one purpose of one draw, keyed by the exercise
/// too: two exercises on one seed draw independent plans and rows.
pub fn stream(spec: &ExerciseSpec, seed: u64, attempt: u32, purpose: &str) -> Rng {
    Rng::stream(seed, attempt, &format!("{}/{purpose}", spec.exercise.id))
}

/// Draws attempt `attempt` of a seed.
pub fn draw(spec: &ExerciseSpec, seed: u64, attempt: u32) -> Draw {
    let stream = |purpose: &str| stream(spec, seed, attempt, purpose);
    let plan = Plan::draw(spec, &mut stream("plan"));
    let (model, model_rejected) = draw_model(spec, seed, attempt);
    // The planted new categories take their place in the constraints.
    let mut joint = Joint::new(spec);
    for d in &plan.drifts {
        if let (DriftChange::NewCategory { category, .. }, Distribution::Categorical { categories, .. }) =
            (&d.change, &spec.features[d.index].dist)
        {
            joint.admit(d.index, categories.len() as u32, category);
        }
    }
    let g = Generator { spec, model: &model, public: &Model::centre(spec), joint: &joint };
    let rows = spec.rows;
    let n_dup = plan.duplicates().map(|(f, _, _)| (f * rows.train as f64).round() as usize).unwrap_or(0);
    let n_contam = plan.contamination().map(|f| (f * rows.production as f64).round() as usize).unwrap_or(0);

    // Each split has a stream of its own: train draws beside the others.
    let (mut train, (mut holdout, mut latency)) = crate::par::both(
        || g.rows(rows.train - n_dup - n_contam, &mut stream("train")),
        || (g.rows(rows.holdout, &mut stream("holdout")), g.rows(latency_rows(spec), &mut stream("latency"))),
    );
    // A prior shift samples the serving batches at another positive rate:
    // each class looks as in training (label shift).
    let train_rate = train.labels.iter().filter(|y| **y).count() as f64 / train.len().max(1) as f64;
    let mut plan = plan;
    // A subtle prior shift's factor is solved so that the generating
    // model's score over the clean columns, production against train,
    // lands inside the certificate's band (see `prior_shift::calibrate`),
    // on batches of one pool of rows: production is the batch at the
    // solved factor.
    let mut subtle_serving = None;
    if let (Some(_), Level::Subtle, Some(p_band), Some(ps)) =
        (plan.prior_shift, plan.prior_level, spec.certificate.subtle_drift_p, &spec.defects.prior_shift)
    {
        let band = ps.strength.band(Level::Subtle);
        let rates = band.map(|f| prior_shift::serving_rate(train_rate, Some(f)));
        // Traffic's pool too, beside production's: traffic is the batch of
        // it at the same solved rate.
        let (pool, traffic_pool) = crate::par::both(
            || {
                prior_shift::pool_for(rows.production, train_rate, rates, |size| {
                    g.rows(size, &mut stream("production"))
                })
            },
            || prior_shift::pool_for(rows.traffic, train_rate, rates, |size| g.rows(size, &mut stream("traffic"))),
        );
        let clean = crate::certify::clean_columns(spec, &plan, &joint);
        let mut reference = crate::certify::partial_score(&model, &train, &clean);
        reference.sort_unstable_by(f64::total_cmp);
        // Scored once: a batch's scores are the pool's at its rows.
        let scores = crate::certify::partial_score(&model, &pool, &clean);
        let batch = |factor: f64| {
            let rate = prior_shift::serving_rate(train_rate, Some(factor));
            prior_shift::at_rate(&pool.labels, rows.production, rate).expect("the pool holds the band's every rate")
        };
        let p_at = |factor: f64| {
            let batch: Vec<f64> = batch(factor).into_iter().map(|i| scores[i]).collect();
            crate::stats::ks_presorted(&reference, &batch).p_value
        };
        let factor =
            crate::rng::round_to(prior_shift::calibrate(band, p_band, p_at, &mut stream("calibrate-prior")), 4);
        plan.prior_shift = Some(factor);
        let rate = prior_shift::serving_rate(train_rate, Some(factor));
        let traffic = prior_shift::at_rate(&traffic_pool.labels, rows.traffic, rate)
            .expect("the pool holds the band's every rate");
        subtle_serving = Some((pool.take(&batch(factor)), traffic_pool.take(&traffic)));
    }
    let serving_rate = prior_shift::serving_rate(train_rate, plan.prior_shift);
    let serving = |n: usize, name: &str| match plan.prior_shift {
        None => g.rows(n, &mut stream(name)),
        Some(_) => prior_shift::sample(n, train_rate, serving_rate, |size| g.rows(size, &mut stream(name))),
    };
    let (mut production, mut traffic) = match subtle_serving {
        Some(batches) => batches,
        None => crate::par::both(|| serving(rows.production, "production"), || serving(rows.traffic, "traffic")),
    };
    // Production as the extract records it, before the serving period's
    // drift: what a contaminated extract holds of these customers.
    let production_recorded = production.clone();

    // Drift at serving time. Mean shifts and scale changes move the latent
    // scores and render again (the column keeps its domain and bounds);
    // a new category and missing values replace values.
    // A subtle drift's strength is solved so its test lands inside the
    // certificate's band (see `column_drift::calibrate`).
    if let Some(p_band) = spec.certificate.subtle_drift_p {
        let mut rng = stream("calibrate");
        // Under a prior shift, against train at the serving rate: the
        // label's share of a column's move is not the drift's.
        let reference = calibration_reference(&train, plan.prior_shift, serving_rate);
        for d in plan.drifts.iter_mut().filter(|d| d.level == Level::Subtle) {
            if matches!(
                d.change,
                DriftChange::MeanShift { .. } | DriftChange::ScaleChange { .. } | DriftChange::MissingRate { .. }
            ) {
                let band =
                    spec.defects.drift_strength(d.change.kind()).expect("planned from the catalog").band(Level::Subtle);
                let f = &spec.features[d.index];
                column_drift::calibrate(d, (band, p_band), f, &joint, &reference, &production, &mut rng);
            }
        }
    }
    for (split, name) in [(&mut production, "production-drift"), (&mut traffic, "traffic-drift")] {
        let mut rng = stream(name);
        let shifts: Vec<(usize, Shift)> = plan.drifts.iter().filter_map(column_drift::latent_shift).collect();
        let all: Vec<usize> = (0..split.len()).collect();
        joint.rerender(&mut split.features, &mut split.latent, &shifts, &all);
        for d in &plan.drifts {
            match &d.change {
                DriftChange::NewCategory { share, .. } => {
                    new_category::apply(&spec.features[d.index], d.index, *share, &joint, &mut split.features, &mut rng)
                }
                DriftChange::MissingRate { added } => {
                    column_drift::add_missing(&spec.features[d.index], *added, &mut split.features[d.index], &mut rng)
                }
                _ => {}
            }
        }
    }
    // A mean shift's size in the column's units, as it came out.
    for d in &mut plan.drifts {
        column_drift::record_shift(
            &mut d.change,
            &production_recorded.features[d.index],
            &production.features[d.index],
        );
    }

    // Identifiers: the extract's ids for train and holdout, new ids at serving time.
    let mut id_rng = stream("ids");
    let (train_ids, holdout_offline_ids, next) =
        identifier::extract_ids(spec.exercise.id_start, &train.labels, &holdout.labels, plan.identifier(), &mut id_rng);
    train.ids = train_ids;
    let mut next = next;
    let mut serving_ids = |n: usize, rng: &mut Rng| {
        let ids = identifier::serving_ids(next, n, rng);
        next += 4 * n as i64 + 4;
        ids
    };
    holdout.ids = serving_ids(rows.holdout, &mut id_rng);
    production.ids = serving_ids(rows.production, &mut id_rng);
    traffic.ids = serving_ids(rows.traffic, &mut id_rng);
    latency.ids = serving_ids(latency.len(), &mut id_rng);

    // Contamination: production's customers also in the extract, with
    // their outcomes, as the extract records them: its encodings (before
    // the serving period's drift and the serving pipeline's skew), the
    // customers' own ids, and the leaks the extract plants below.
    // Pairs (train row, production row) of the same customer.
    let mut contaminated: Vec<(usize, usize)> = Vec::new();
    if n_contam > 0 {
        let mut recorded = production_recorded;
        recorded.ids = production.ids.clone();
        contaminated = contamination::plant(n_contam, &recorded, &mut train, &mut stream("contamination"));
    }
    let contaminated_rows = contaminated.len();

    // Post-outcome column: label-dependent in the extract, pre-outcome at serving.
    let mut holdout_offline_leak = None;
    if let Some((_, strength, _)) = plan.post_outcome() {
        let p = spec.defects.post_outcome.as_ref().expect("planned from the catalog");
        let mut rng = stream("post-outcome");
        holdout_offline_leak =
            Some(post_outcome::plant(p, strength, &mut rng, &mut train, &mut holdout, &mut production, &mut traffic));
        post_outcome::serve(p, &mut stream("post-outcome-latency"), &mut latency);
    }
    let mut holdout_offline = Split { ids: holdout_offline_ids, leak: holdout_offline_leak, ..holdout.clone() };

    // The decoy: a name from the same pool, honest noise everywhere, so a
    // pool name in the data says nothing; only behaviour does.
    let decoy = spec.defects.post_outcome.as_ref().and_then(|p| {
        let mut rng = stream("decoy");
        let planted = plan.post_outcome().map(|(c, _, _)| c);
        let spare: Vec<&String> = p.names.iter().filter(|n| Some(n.as_str()) != planted).collect();
        if spare.is_empty() {
            return None;
        }
        let column = spare[rng.below(spare.len())].clone();
        let position = rng.below(spec.features.len() + 2);
        for split in [&mut train, &mut holdout, &mut holdout_offline, &mut production, &mut traffic, &mut latency] {
            split.decoy = Some(post_outcome::noise(p, split.len(), &mut rng));
        }
        Some(Decoy { column, position })
    });

    // A decoy category: a name from a new-category pool that is an honest,
    // rare category of an undrifted feature in every split, train included,
    // so a pool name in production says nothing; only a category unseen in
    // training does.
    let decoy_category = spec.defects.new_category.as_ref().and_then(|nc| {
        let mut rng = stream("decoy-category");
        let eligible: Vec<(usize, &Vec<String>)> = spec
            .features
            .iter()
            .enumerate()
            .filter(|(i, _)| plan.drift_of(*i).is_none())
            .filter_map(|(i, f)| nc.features.get(&f.name).filter(|p| !p.is_empty()).map(|p| (i, p)))
            .collect();
        if eligible.is_empty() {
            return None;
        }
        let (index, pool) = eligible[rng.below(eligible.len())];
        let category = pool[rng.below(pool.len())].clone();
        let share = rng.range(DECOY_CATEGORY_SHARE);
        let Distribution::Categorical { categories, .. } = &spec.features[index].dist else { return None };
        let code = categories.len() as u32;
        joint.admit(index, code, &category);
        for split in [&mut train, &mut holdout, &mut production, &mut traffic, &mut latency] {
            new_category::replace(index, code, share, &joint, &mut split.features, &mut rng);
        }
        // The extract's view of the holdout is the same rows.
        holdout_offline.features[index] = holdout.features[index].clone();
        Some(DecoyCategory { index, category, share })
    });

    // What the extract knows of a contaminated customer before any outcome
    // is what production shows: the decoy's value, the decoy category.
    for &(t, p) in &contaminated {
        if let (Some(a), Some(b)) = (train.decoy.as_mut(), production.decoy.as_ref()) {
            a[t] = b[p];
        }
        if let Some(dc) = &decoy_category {
            if let (Values::Cat(a), Values::Cat(b)) = (&mut train.features[dc.index], &production.features[dc.index]) {
                a[t] = b[p];
            }
        }
    }

    // Temporal leak: in the extract, positives' values carry the outcome's
    // trace along the feature's own effect, in its latent score (the
    // column keeps its domain, and nothing piles onto a bound).
    if let Some((column, strength)) = plan.temporal() {
        let i = spec.features.iter().position(|f| f.name == column).expect("validated");
        let f = &spec.features[i];
        let mut strength = strength;
        // A subtle one's strength is solved so its AUC in train lands
        // inside the certificate's band, whatever this variant's own
        // effect of the feature adds (see `temporal::calibrate`).
        if let (Some(Level::Subtle), Some(auc_band), Some(t)) =
            (plan.leak_level(crate::LeakKind::Temporal), spec.certificate.subtle_leak_auc, &spec.defects.temporal)
        {
            strength = temporal::calibrate(
                f,
                i,
                t.strength.band(Level::Subtle),
                auc_band,
                &joint,
                &train,
                &mut stream("calibrate-temporal"),
            );
            for l in plan.leaks.iter_mut() {
                if let Leak::Temporal { strength: s, .. } = l {
                    *s = crate::rng::round_to(strength, 4);
                }
            }
        }
        temporal::plant(f, i, strength, &joint, [&mut train, &mut holdout_offline]);
    }

    // The public formula on the rows as a reader serves them: missing
    // values and a decoy category add nothing (their centre), the serving
    // encoding undone (a reader of the repository knows it). The floor a
    // grade counts from is this, not the formula on values nobody sees.
    let centre = Model::centre(spec);
    for split in [&mut holdout, &mut production, &mut traffic, &mut latency] {
        split.public = centre.probabilities(&split.features);
    }

    // Serving skew: the serving pipeline's encoding, in every batch served
    // (a subtle one on a share of the rows, solved as a subtle drift's
    // strength is, against train at the serving rate under a prior shift).
    if let Some(p_band) = spec.certificate.subtle_drift_p {
        let mut rng = stream("calibrate-skew");
        for d in plan.drifts.iter_mut().filter(|d| d.level == Level::Subtle) {
            if matches!(d.change, DriftChange::ServingSkew { factor: Some(_), .. }) {
                let band =
                    spec.defects.drift_strength(d.change.kind()).expect("planned from the catalog").band(Level::Subtle);
                let reference = calibration_reference(&train, plan.prior_shift, serving_rate);
                let (f, i) = (&spec.features[d.index], d.index);
                serving_skew::calibrate(
                    d,
                    (band, p_band),
                    f,
                    &reference.features[i],
                    (&production.features[i], &production.ids),
                    &mut rng,
                );
            }
        }
    }
    for d in plan.drifts.iter().filter(|d| matches!(d.change, DriftChange::ServingSkew { .. })) {
        for split in [&mut holdout, &mut production, &mut traffic, &mut latency] {
            serving_skew::apply(&spec.features[d.index], &d.change, &mut split.features[d.index], &split.ids);
        }
    }

    // Duplicated rows, mostly positives, then one shuffle of the published train.
    // The latent scores have done their work (drift and leaks are planted):
    // train does not carry them into its copies.
    let train_base = Split { latent: Vec::new(), ..train };
    let mut rng = stream("duplicates");
    let mut idx: Vec<usize> = (0..train_base.len()).collect();
    if let Some((_, positive_share, copies)) = plan.duplicates() {
        idx.extend(duplicate_rows::extra_rows(&train_base, n_dup, positive_share, copies, &mut rng));
    }
    let duplicated_rows = idx.len() - train_base.len();
    rng.shuffle(&mut idx);
    let train = train_base.take(&idx);

    Draw {
        plan,
        joint,
        model,
        model_rejected,
        decoy,
        decoy_category,
        train,
        train_base,
        holdout_serving: holdout,
        holdout_offline,
        production,
        traffic,
        latency,
        duplicated_rows,
        contaminated_rows,
        train_rate,
        serving_rate,
    }
}

/// A column named from the post-outcome pool that does not leak: the same
/// noise in the extract and at serving time, as the planted column is at
/// serving time.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoy {
    pub column: String,
    /// Its place among the public columns (after the id), once the
    /// post-outcome column, if any, has taken its own.
    pub position: usize,
}

/// Share of rows a decoy category takes, drawn per variant.
pub const DECOY_CATEGORY_SHARE: [f64; 2] = [0.02, 0.05];

/// A category named from a new-category pool that is no new category: it
/// is in train as much as in production (rows take it after their label is
/// drawn, like a missing value, so it says nothing about the label).
#[derive(Debug, Clone, PartialEq)]
pub struct DecoyCategory {
    pub index: usize,
    pub category: String,
    pub share: f64,
}

/// The most latency windows a grading measures (the grader's retries).
pub const LATENCY_WINDOWS: usize = 3;
/// More rows than this are not drawn; a window that needs more repeats them.
pub const MAX_LATENCY_ROWS: usize = 20_000;

/// Rows enough for every request of every latency window (warm-up
/// included) to carry a row of its own, as the exercise's probes set them.
pub fn latency_rows(spec: &ExerciseSpec) -> usize {
    let p = &spec.probes;
    let per_window = (p.latency_rate_per_second * (p.latency_warmup_seconds + p.latency_duration_seconds)).ceil();
    ((per_window.max(1.0) as usize).saturating_mul(LATENCY_WINDOWS) + 50).min(MAX_LATENCY_ROWS)
}

/// Family draws tried per attempt before the attempt fails.
pub const MODEL_DRAWS: u32 = 64;
/// Rows of the sample a family draw is checked on.
const MODEL_CHECK_ROWS: usize = 4000;

/// The first model of the family whose distance from the public formula
/// lies in `[certificate] public_skill` (the centre's expected AUC skill
/// over 0.5, as a share of the model's own), checked on a sample of its
/// own; with no such band, the first draw. Each try has a stream of its
/// own, so the plan and the rows of a seed do not depend on how many
/// tries it took. Returns the model and the number rejected.
pub fn draw_model(spec: &ExerciseSpec, seed: u64, attempt: u32) -> (Model, u32) {
    let draw = |k: u32| Model::draw(spec, &mut stream(spec, seed, attempt, &format!("model/{k}")));
    let (skill_band, rate_band) = (spec.certificate.public_skill, spec.label.positive_rate);
    if skill_band.is_none() && rate_band.is_none() {
        return (draw(0), 0);
    }
    let check = Joint::new(spec).sample(MODEL_CHECK_ROWS, &mut stream(spec, seed, attempt, "model-check")).0;
    let public = Model::centre(spec).probabilities(&check);
    let inside = |band: Option<[f64; 2]>, x: f64| band.is_none_or(|[lo, hi]| (lo..=hi).contains(&x));
    let mut last = None;
    for k in 0..MODEL_DRAWS {
        let m = draw(k);
        let own = m.probabilities(&check);
        let skill = |score: &[f64]| crate::stats::expected_auc(score, &own).unwrap_or(0.5) - 0.5;
        let own_skill = skill(&own);
        let share = skill(&public) / own_skill.max(1e-9);
        let rate = own.iter().sum::<f64>() / own.len().max(1) as f64;
        let [blo, bhi] = spec.certificate.bayes_auc;
        let bayes = 0.5 + own_skill;
        if inside(skill_band, share) && inside(rate_band, rate) && (blo..=bhi).contains(&bayes) {
            return (m, k);
        }
        last = Some(m);
    }
    // None fits: the last one, which the holdout's certificate then judges.
    (last.expect("MODEL_DRAWS > 0"), MODEL_DRAWS)
}

/// The generating model and the public formula, for drawing rows.
struct Generator<'a> {
    spec: &'a ExerciseSpec,
    model: &'a Model,
    public: &'a Model,
    joint: &'a Joint,
}

impl Generator<'_> {
    /// `n` rows from the generating model: features, label probability,
    /// label, then values missing completely at random.
    fn rows(&self, n: usize, rng: &mut Rng) -> Split {
        let (mut features, latent) = self.joint.sample(n, rng);
        let probs = self.model.probabilities(&features);
        let public = self.public.probabilities(&features);
        let labels: Vec<bool> = probs.iter().map(|&p| rng.bernoulli(p)).collect();
        for (f, values) in self.spec.features.iter().zip(&mut features) {
            if f.missing_rate > 0.0 {
                blank(values, f.missing_rate, rng);
            }
        }
        Split { ids: vec![0; n], features, leak: None, decoy: None, labels, probs, public, latent }
    }
}

/// Sets each present value missing with probability `p`.
pub(crate) fn blank(values: &mut Values, p: f64, rng: &mut Rng) {
    match values {
        Values::Num(v) => v.iter_mut().filter(|x| x.is_some()).for_each(|x| {
            if rng.bernoulli(p) {
                *x = None
            }
        }),
        Values::Cat(v) => v.iter_mut().filter(|x| x.is_some()).for_each(|x| {
            if rng.bernoulli(p) {
                *x = None
            }
        }),
    }
}

/// Mean and SD of the present values.
pub fn mean_sd(v: &[Option<f64>]) -> (f64, f64) {
    let xs: Vec<f64> = v.iter().flatten().copied().collect();
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}
