//! How a row's features depend on each other: `[dependence]` (a Gaussian
//! copula: correlations between the features' latent normal scores) and
//! `[[constraints]]` (what no real row can be: a customer who joined
//! before 16, a card-present online purchase).
//!
//! A row is drawn as one correlated latent score per feature; each feature
//! turns its score into a value through its own distribution
//! ([`marginal::render`]), truncated to its range and to every bound a
//! constraint puts on it given the values already drawn for the row.
//! Columns a constraint reads are rendered first, so a bound is always
//! known, and no row can break a constraint: nothing is rejected and
//! redrawn, which would bend the other columns.
//!
//! Drift and the temporal leak act on the latent scores and render again
//! ([`Joint::rerender`]): a shifted column keeps its domain and its bounds,
//! and the columns bounded by it follow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::draw::Values;
use crate::rng::Rng;
use crate::spec::{Distribution, ExerciseSpec, FeatureSpec};

pub mod marginal;
mod validate;

pub(crate) use validate::validate;

/// `[dependence]`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DependenceSpec {
    /// `[feature, feature, rho]`: the correlation of the two features'
    /// latent normal scores (about their rank correlation in the data).
    /// A pair not listed has latent correlation 0 (the matrix still makes
    /// it dependent through pairs listed with a third feature).
    #[serde(default)]
    pub correlations: Vec<(String, String, f64)>,
}

/// One `[[constraints]]` entry: a bound on a numeric column, or the
/// categories a categorical column may take, when the row's categories
/// match `when`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintSpec {
    /// The column the constraint bounds (drawn after the columns it reads).
    pub column: String,
    /// `column >= at_least + sum(plus[c] * c)`.
    pub at_least: Option<f64>,
    /// `column <= at_most + sum(plus[c] * c)`.
    pub at_most: Option<f64>,
    /// Numeric columns the bound moves with, and by how much per unit.
    #[serde(default)]
    pub plus: BTreeMap<String, f64>,
    /// The categories `column` may take (a categorical column).
    pub allowed: Option<Vec<String>>,
    /// The constraint holds for rows whose categorical columns take one of
    /// these categories (every row when empty).
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
}

/// A constraint, compiled against the feature order.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    column: usize,
    when: Vec<(usize, Cats)>,
    kind: RuleKind,
}

#[derive(Debug, Clone, PartialEq)]
enum RuleKind {
    AtLeast { constant: f64, plus: Vec<(usize, f64)> },
    AtMost { constant: f64, plus: Vec<(usize, f64)> },
    Allowed(Cats),
}

/// Categories a constraint names: training categories by code, and names
/// from the feature's new-category pool (which code they get depends on
/// the variant: see [`Joint::admit`]).
#[derive(Debug, Clone, PartialEq)]
struct Cats {
    codes: Vec<u32>,
    pool: Vec<String>,
}

/// The exercise's joint distribution of one row's features, compiled.
#[derive(Debug, Clone)]
pub struct Joint {
    /// Lower Cholesky factor of the latent correlation matrix.
    chol: Vec<Vec<f64>>,
    /// Features in the order a row is rendered: columns a constraint reads
    /// before the column it bounds.
    order: Vec<usize>,
    rules: Vec<Rule>,
    /// Features whose values a constraint reads from feature `i`, directly
    /// or through others.
    dependents: Vec<Vec<usize>>,
    features: Vec<FeatureSpec>,
    /// Per feature, the category beyond the training ones this variant
    /// plants (a new category, or a decoy one): its code and name.
    admitted: Vec<Option<(u32, String)>>,
}

/// Rows drawn and rendered as one block (see [`Joint::sample`]).
const BLOCK_ROWS: usize = 16_384;

/// A change of one feature's latent score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shift {
    /// The score moves by this many latent SDs.
    Mean(f64),
    /// The score's deviations from its centre grow by this factor.
    Scale(f64),
}

impl Shift {
    fn apply(self, z: f64) -> f64 {
        match self {
            Shift::Mean(d) => z + d,
            Shift::Scale(k) => z * k,
        }
    }
}

impl Joint {
    /// Compiles a validated spec (validation proved every name, the
    /// matrix's positive definiteness and the order acyclic).
    pub fn new(spec: &ExerciseSpec) -> Joint {
        validate::compile(spec).expect("validated when the exercise was loaded")
    }

    /// Lets feature `i`'s code `code` stand for the pool category `name` in
    /// the constraints (the new or decoy category this variant plants).
    pub fn admit(&mut self, i: usize, code: u32, name: &str) {
        self.admitted[i] = Some((code, name.to_string()));
    }

    /// Whether `code` of feature `i` is one of `cats`.
    fn names(&self, i: usize, cats: &Cats, code: u32) -> bool {
        cats.codes.contains(&code)
            || self.admitted[i].as_ref().is_some_and(|(c, name)| *c == code && cats.pool.contains(name))
    }

    /// `n` complete rows (values, and the latent scores they came from).
    pub fn sample(&self, n: usize, rng: &mut Rng) -> (Vec<Values>, Vec<Vec<f64>>) {
        let k = self.features.len();
        let all: Vec<usize> = (0..k).collect();
        // The scores are drawn in the stream's order, a block of rows at a
        // time; a row renders from its own scores alone, so each block
        // renders on another core while the next is drawn, and the values
        // come out as if rendered in one piece.
        let mut latent = vec![Vec::with_capacity(n); k];
        let blocks = crate::par::pipeline(
            |send| {
                let mut e = vec![0.0; k];
                for start in (0..n).step_by(BLOCK_ROWS) {
                    let rows = start..(start + BLOCK_ROWS).min(n);
                    for _ in rows.clone() {
                        e.iter_mut().for_each(|x| *x = rng.normal());
                        for (i, row) in self.chol.iter().enumerate() {
                            latent[i].push(row.iter().zip(&e).map(|(a, b)| a * b).sum());
                        }
                    }
                    send(latent.iter().map(|c| c[rows.clone()].to_vec()).collect::<Vec<Vec<f64>>>());
                }
            },
            |part: Vec<Vec<f64>>| {
                let m = part.first().map_or(0, Vec::len);
                let mut values = self.blank(m);
                let mut cache = vec![marginal::Truncation::default(); k];
                for r in 0..m {
                    self.render_row(&mut values, &part, r, &all, false, &mut cache);
                }
                values
            },
        );
        let mut values: Vec<Values> = self
            .features
            .iter()
            .map(|f| {
                if f.dist.is_categorical() {
                    Values::Cat(Vec::with_capacity(n))
                } else {
                    Values::Num(Vec::with_capacity(n))
                }
            })
            .collect();
        for block in blocks {
            for (column, part) in values.iter_mut().zip(block) {
                column.extend(part);
            }
        }
        (values, latent)
    }

    /// Empty columns of `n` rows, one per feature.
    fn blank(&self, n: usize) -> Vec<Values> {
        self.features
            .iter()
            .map(|f| if f.dist.is_categorical() { Values::Cat(vec![None; n]) } else { Values::Num(vec![None; n]) })
            .collect()
    }

    /// Applies `shifts` (feature, change) to the latent scores of `rows`
    /// and renders those features again, and every feature bounded by them
    /// (values missing stay missing).
    pub fn rerender(&self, values: &mut [Values], latent: &mut [Vec<f64>], shifts: &[(usize, Shift)], rows: &[usize]) {
        if shifts.is_empty() {
            return;
        }
        let mut touched: Vec<usize> = shifts.iter().flat_map(|(i, _)| self.moved_by(*i)).collect();
        touched.sort_unstable();
        touched.dedup();
        let mut cache = vec![marginal::Truncation::default(); self.features.len()];
        for &r in rows {
            for &(i, s) in shifts {
                latent[i][r] = s.apply(latent[i][r]);
            }
            self.render_row(values, latent, r, &touched, true, &mut cache);
        }
    }

    /// Feature `i` and every feature a constraint bounds by it, directly or
    /// through others: what moves when `i`'s values do.
    pub fn moved_by(&self, i: usize) -> Vec<usize> {
        std::iter::once(i).chain(self.dependents[i].iter().copied()).collect()
    }

    /// Renders, in dependency order, the features of row `r` listed in
    /// `which`, reading the row's other values as they are; with
    /// `keep_missing`, a missing value stays missing.
    fn render_row(
        &self,
        values: &mut [Values],
        latent: &[Vec<f64>],
        r: usize,
        which: &[usize],
        keep_missing: bool,
        cache: &mut [marginal::Truncation],
    ) {
        for &i in self.order.iter().filter(|i| which.contains(i)) {
            let f = &self.features[i];
            let z = latent[i][r];
            match (&f.dist, &values[i]) {
                (Distribution::Categorical { weights, .. }, Values::Cat(v)) => {
                    if keep_missing && v[r].is_none() {
                        continue;
                    }
                    let allowed = self.allowed(i, values, r);
                    let code = pick(weights, allowed.as_deref(), marginal::phi(z));
                    if let Values::Cat(v) = &mut values[i] {
                        v[r] = Some(code);
                    }
                }
                (d, Values::Num(v)) => {
                    if keep_missing && v[r].is_none() {
                        continue;
                    }
                    let (lo, hi) = self.bounds(i, values, r);
                    let x = marginal::render_truncated(d, z, lo, hi, f.decimals(), &mut cache[i]);
                    if let Values::Num(v) = &mut values[i] {
                        v[r] = Some(x);
                    }
                }
                _ => unreachable!("values follow the feature's type"),
            }
        }
    }

    /// The range feature `i` may take in row `r`: its clip, narrowed by
    /// every constraint that applies to the row.
    fn bounds(&self, i: usize, values: &[Values], r: usize) -> (f64, f64) {
        let (mut lo, mut hi) = self.features[i].clip.map(|[a, b]| (a, b)).unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
        for rule in self.rules.iter().filter(|x| x.column == i && self.applies(x, values, r)) {
            match &rule.kind {
                RuleKind::AtLeast { constant, plus } => {
                    if let Some(b) = linear(*constant, plus, values, r) {
                        lo = lo.max(b);
                    }
                }
                RuleKind::AtMost { constant, plus } => {
                    if let Some(b) = linear(*constant, plus, values, r) {
                        hi = hi.min(b);
                    }
                }
                RuleKind::Allowed(_) => {}
            }
        }
        (lo, hi.max(lo))
    }

    /// The categories feature `i` may take in row `r` (`None`: any).
    /// Only training categories are drawn; a planted category replaces
    /// values later, where the constraints let it.
    fn allowed(&self, i: usize, values: &[Values], r: usize) -> Option<Vec<u32>> {
        let mut out: Option<Vec<u32>> = None;
        for rule in self.rules.iter().filter(|x| x.column == i && self.applies(x, values, r)) {
            if let RuleKind::Allowed(a) = &rule.kind {
                out = Some(match out {
                    None => a.codes.clone(),
                    Some(o) => o.into_iter().filter(|c| a.codes.contains(c)).collect(),
                });
            }
        }
        out
    }

    fn applies(&self, rule: &Rule, values: &[Values], r: usize) -> bool {
        rule.when.iter().all(|(i, cats)| match &values[*i] {
            Values::Cat(v) => v[r].is_some_and(|c| self.names(*i, cats, c)),
            Values::Num(_) => false,
        })
    }

    /// Rows of `values` that break a constraint (values as the extract
    /// encodes them: the certificate undoes serving encodings first).
    pub fn violations(&self, values: &[Values]) -> usize {
        let n = values.first().map(Values::len).unwrap_or(0);
        (0..n).filter(|&r| self.breaks(values, r)).count()
    }

    /// Whether row `r` breaks a constraint (a rule reading a missing value,
    /// or bounding one, holds).
    pub fn breaks(&self, values: &[Values], r: usize) -> bool {
        self.rules.iter().filter(|x| self.applies(x, values, r)).any(|rule| match (&rule.kind, &values[rule.column]) {
            (RuleKind::AtLeast { constant, plus }, Values::Num(v)) => {
                matches!((v[r], linear(*constant, plus, values, r)), (Some(x), Some(b)) if x < b - 1e-9)
            }
            (RuleKind::AtMost { constant, plus }, Values::Num(v)) => {
                matches!((v[r], linear(*constant, plus, values, r)), (Some(x), Some(b)) if x > b + 1e-9)
            }
            (RuleKind::Allowed(a), Values::Cat(v)) => v[r].is_some_and(|c| !self.names(rule.column, a, c)),
            _ => false,
        })
    }
}

/// `constant + sum(w * x)`; `None` when a term is missing.
fn linear(constant: f64, plus: &[(usize, f64)], values: &[Values], r: usize) -> Option<f64> {
    plus.iter().try_fold(constant, |acc, (i, w)| match &values[*i] {
        Values::Num(v) => v[r].map(|x| acc + w * x),
        Values::Cat(_) => None,
    })
}

/// The category at quantile `u` of `weights` restricted to `allowed`.
fn pick(weights: &[f64], allowed: Option<&[u32]>, u: f64) -> u32 {
    let ok = |c: usize| allowed.is_none_or(|a| a.contains(&(c as u32)));
    let total: f64 = weights.iter().enumerate().filter(|(c, _)| ok(*c)).map(|(_, w)| w).sum();
    let mut x = u * total;
    let mut last = 0;
    for (c, w) in weights.iter().enumerate().filter(|(c, _)| ok(*c)) {
        last = c;
        if x < *w {
            return c as u32;
        }
        x -= w;
    }
    last as u32
}

#[cfg(test)]
mod tests;
