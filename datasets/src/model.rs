//! The generating model of one variant, drawn from the family that
//! exercise.toml declares.
//!
//! exercise.toml is public. If it gave the label's formula, a candidate
//! could serve that formula without training anything (measured: 20 of 20
//! correctness points). So it gives a family: a range per effect (its sign
//! fixed where the business fixes it), a chance that a feature carries no
//! signal at all in a variant, and ranges per category. Each variant draws
//! its own model from the seed; the model is written only to the sealed
//! answer key. [`Model::centre`] is what reading the repository gives: the
//! middle of every range. The grader scores signal from there, not from the
//! base rate, so copying it earns nothing.

use serde::{Deserialize, Serialize};

use crate::draw::Values;
use crate::rng::Rng;
use crate::spec::{Distribution, ExerciseSpec, FeatureSpec, Span};

/// One feature's part of the log-odds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "term", rename_all = "snake_case")]
pub enum Term {
    /// No signal in this variant.
    Silent,
    /// `coef * z + quadratic * z^2`, `z = (x - center) / scale`.
    Numeric { coef: f64, center: f64, scale: f64, quadratic: f64 },
    /// A log-odds shift per category, in the exercise's category order.
    Categorical { effects: Vec<f64> },
}

/// The log-odds of the label: `intercept` plus one term per feature, in
/// the exercise's feature order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub intercept: f64,
    pub terms: Vec<Term>,
}

/// The sealed record of a variant's model, by feature name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub intercept: f64,
    pub features: Vec<(String, Term)>,
    /// Draws of the family rejected before this one (the public formula
    /// too close to it, or too far: equal difficulty).
    pub rejected_draws: u32,
}

impl Model {
    /// The middle of every range, every feature carrying its effect: the
    /// formula a reader of exercise.toml would copy.
    pub fn centre(spec: &ExerciseSpec) -> Model {
        Model {
            intercept: spec.label.intercept.centre(),
            terms: spec.features.iter().map(|f| term(f, |s| s.centre(), true)).collect(),
        }
    }

    /// One model of the family.
    pub fn draw(spec: &ExerciseSpec, rng: &mut Rng) -> Model {
        let intercept = spec.label.intercept.draw(rng);
        let terms = spec
            .features
            .iter()
            .map(|f| {
                // Drawn first and always, so a feature's chance does not
                // shift the other features' draws.
                let carries = rng.uniform() < f.signal_chance();
                term(f, |s| s.draw(rng), carries)
            })
            .collect();
        Model { intercept, terms }
    }

    /// Adds feature `i`'s term to `logits` (missing values and categories
    /// the term does not know add nothing).
    pub fn add(&self, i: usize, values: &Values, logits: &mut [f64]) {
        match (&self.terms[i], values) {
            (Term::Numeric { coef, center, scale, quadratic }, Values::Num(v)) => {
                for (l, x) in logits.iter_mut().zip(v) {
                    if let Some(x) = x {
                        let z = (x - center) / scale;
                        *l += coef * z + quadratic * z * z;
                    }
                }
            }
            (Term::Categorical { effects }, Values::Cat(v)) => {
                for (l, c) in logits.iter_mut().zip(v) {
                    if let Some(e) = c.and_then(|c| effects.get(c as usize)) {
                        *l += e;
                    }
                }
            }
            _ => {}
        }
    }

    /// Probabilities of the label for rows with the given feature columns.
    pub fn probabilities(&self, features: &[Values]) -> Vec<f64> {
        let n = features.first().map(Values::len).unwrap_or(0);
        let mut logits = vec![self.intercept; n];
        for (i, v) in features.iter().enumerate() {
            self.add(i, v, &mut logits);
        }
        logits.iter().map(|l| 1.0 / (1.0 + libm::exp(-l))).collect()
    }

    /// The sign of feature `i`'s linear effect (0 when silent).
    pub fn direction(&self, i: usize) -> f64 {
        match self.terms[i] {
            Term::Numeric { coef, .. } if coef != 0.0 => coef.signum(),
            _ => 0.0,
        }
    }

    pub fn record(&self, spec: &ExerciseSpec, rejected_draws: u32) -> ModelRecord {
        ModelRecord {
            intercept: self.intercept,
            features: spec.features.iter().map(|f| f.name.clone()).zip(self.terms.iter().cloned()).collect(),
            rejected_draws,
        }
    }
}

fn term(f: &FeatureSpec, mut value: impl FnMut(&Span) -> f64, carries: bool) -> Term {
    match &f.dist {
        Distribution::Categorical { categories, .. } => {
            // Drawn for every category in order, so the draw does not
            // depend on which categories the TOML lists effects for.
            let effects: Vec<f64> =
                categories.iter().map(|c| f.effects.get(c).map(&mut value).unwrap_or(0.0)).collect();
            if carries && effects.iter().any(|e| *e != 0.0) {
                Term::Categorical { effects }
            } else {
                Term::Silent
            }
        }
        _ => match f.effect {
            Some(e) => {
                let (coef, quadratic) = (value(&e.coef), value(&e.quadratic));
                if carries {
                    Term::Numeric { coef, center: e.center, scale: e.scale, quadratic }
                } else {
                    Term::Silent
                }
            }
            None => Term::Silent,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ExerciseSpec {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises/churn");
        crate::Exercise::load(&dir).unwrap().spec
    }

    #[test]
    fn draws_stay_in_their_ranges_and_differ_by_seed() {
        let s = spec();
        let a = Model::draw(&s, &mut Rng::stream(1, 0, "model"));
        let b = Model::draw(&s, &mut Rng::stream(2, 0, "model"));
        assert_ne!(a, b, "two seeds, one model");
        assert_eq!(a, Model::draw(&s, &mut Rng::stream(1, 0, "model")), "a seed is one model");
        for m in [&a, &b] {
            let [lo, hi] = s.label.intercept.bounds();
            assert!((lo..=hi).contains(&m.intercept));
            for (f, t) in s.features.iter().zip(&m.terms) {
                if let (Term::Numeric { coef, .. }, Some(e)) = (t, f.effect) {
                    let [lo, hi] = e.coef.bounds();
                    assert!((lo..=hi).contains(coef), "{}: {coef} outside [{lo}, {hi}]", f.name);
                }
            }
        }
    }

    #[test]
    fn the_centre_is_the_middle_of_every_range() {
        let s = spec();
        let c = Model::centre(&s);
        let [lo, hi] = s.label.intercept.bounds();
        assert_eq!(c.intercept, (lo + hi) / 2.0);
        for (f, t) in s.features.iter().zip(&c.terms) {
            // Region's ranges are centred on 0: its centre says nothing.
            let declared = f.effect.is_some() || f.effects.values().any(|e| e.centre() != 0.0);
            assert_eq!(declared, *t != Term::Silent, "{}: the centre carries every declared effect", f.name);
        }
        let tenure = s.features.iter().position(|f| f.name == "tenure_months").unwrap();
        let [lo, hi] = s.features[tenure].effect.unwrap().coef.bounds();
        assert!(matches!(c.terms[tenure], Term::Numeric { coef, .. } if coef == (lo + hi) / 2.0));
    }

    #[test]
    fn some_features_are_silent_in_some_variants() {
        let s = spec();
        let silent = (0..40)
            .map(|seed| Model::draw(&s, &mut Rng::stream(seed, 0, "model")))
            .map(|m| m.terms.iter().filter(|t| **t == Term::Silent).count())
            .collect::<Vec<_>>();
        assert!(silent.iter().any(|n| *n > 1), "{silent:?}");
        assert!(silent.iter().collect::<std::collections::BTreeSet<_>>().len() > 1, "{silent:?}");
    }
}
