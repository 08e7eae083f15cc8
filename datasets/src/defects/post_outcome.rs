//! A column recorded after the outcome (report name `target_leakage`): a
//! careless extract joins it in. In the extract positives sit `strength`
//! noise SDs higher; at prediction time the outcome has not happened, so
//! the served value carries no signal.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::level::{Level, Strength};
use super::plan::Leak;
use super::{invalid, Invalid};
use crate::certify::{column_leak, LeakCertificate};
use crate::draw::{Draw, Split};
use crate::rng::{round_to, Rng};
use crate::spec::{default_decimals, CertificateSpec};

/// `[defects.post_outcome]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostOutcomeSpec {
    /// Plausible names; each variant draws one.
    pub names: Vec<String>,
    /// How far positives' values sit above negatives', in noise SDs.
    pub strength: Strength,
    /// Typical value and spread of the column before the outcome.
    pub center: f64,
    pub spread: f64,
    #[serde(default = "default_decimals")]
    pub decimals: u32,
}

/// `taken`: the feature, label and id names, which a pool name must not reuse.
pub(crate) fn validate(p: &PostOutcomeSpec, taken: &BTreeSet<String>) -> Result<(), Invalid> {
    p.strength.check("post_outcome.strength", 0.5, 20.0)?;
    if p.names.is_empty() {
        return invalid("post_outcome.names", "needs at least one name".into());
    }
    for n in &p.names {
        if taken.contains(n) {
            return invalid("post_outcome.names", format!("`{n}` clashes with a feature, the label or the id column"));
        }
    }
    if !(p.spread.is_finite() && p.spread > 0.0 && p.center.is_finite()) {
        return invalid("post_outcome.spread", format!("{} must be positive (and center finite)", p.spread));
    }
    Ok(())
}

/// Its name, strength and place among the `n_features` feature columns.
pub(crate) fn draw(p: &PostOutcomeSpec, level: Level, n_features: usize, rng: &mut Rng) -> Leak {
    Leak::PostOutcome {
        column: p.names[rng.below(p.names.len())].clone(),
        strength: rng.range(p.strength.band(level)),
        position: rng.below(n_features + 1),
    }
}

/// The column in every split: label-dependent in the extract (train and the
/// offline holdout), pre-outcome as served. Returns the offline holdout's.
pub(crate) fn plant(
    p: &PostOutcomeSpec,
    strength: f64,
    rng: &mut Rng,
    train: &mut Split,
    holdout: &mut Split,
    production: &mut Split,
    traffic: &mut Split,
) -> Vec<f64> {
    let col = |labels: &[bool], known: bool, rng: &mut Rng| -> Vec<f64> {
        labels
            .iter()
            .map(|&y| {
                let z = rng.normal() + if known && y { strength } else { 0.0 };
                round_to((p.center + p.spread * z).max(0.0), p.decimals)
            })
            .collect()
    };
    train.leak = Some(col(&train.labels, true, rng));
    let offline = col(&holdout.labels, true, rng);
    holdout.leak = Some(col(&holdout.labels, false, rng));
    production.leak = Some(col(&production.labels, false, rng));
    traffic.leak = Some(col(&traffic.labels, false, rng));
    offline
}

/// The column as served in a batch drawn later (the latency rows): the
/// outcome has not happened, so it carries no signal.
pub(crate) fn serve(p: &PostOutcomeSpec, rng: &mut Rng, split: &mut Split) {
    split.leak = Some(noise(p, split.len(), rng));
}

/// `n` values as the column has them before any outcome: no signal.
pub(crate) fn noise(p: &PostOutcomeSpec, n: usize, rng: &mut Rng) -> Vec<f64> {
    (0..n).map(|_| round_to((p.center + p.spread * rng.normal()).max(0.0), p.decimals)).collect()
}

/// It separates the labels in the extract and not as served.
pub(crate) fn certify(c: &CertificateSpec, draw: &Draw) -> LeakCertificate {
    column_leak(c, draw, |s| s.leak.clone().unwrap_or_default())
}
