//! Correctness on the sealed holdout as served, and leak reliance: the same
//! rows as the careless extract has them, side by side.

use datasets::sealed::Row;
use datasets::stats;
use serde::{Deserialize, Serialize};

use super::{parse_predictions, predict_body, Target};

/// Quality of probabilities against the sealed labels.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Quality {
    pub auc: f64,
    pub accuracy: f64,
    pub log_loss: f64,
    pub brier: f64,
}

impl Quality {
    /// Placeholder for results written before `base` existed.
    pub fn none() -> Quality {
        Quality { auc: 0.5, accuracy: f64::NAN, log_loss: f64::NAN, brier: f64::NAN }
    }

    /// The constant model that answers the base rate of `labels`.
    pub fn base_rate(labels: &[bool]) -> Quality {
        let p = labels.iter().filter(|l| **l).count() as f64 / labels.len().max(1) as f64;
        Quality::of(&vec![p; labels.len()], labels)
    }

    pub fn of(probs: &[f64], labels: &[bool]) -> Quality {
        let preds: Vec<bool> = probs.iter().map(|p| *p >= 0.5).collect();
        Quality {
            auc: stats::auc(probs, labels).unwrap_or(0.5),
            accuracy: stats::accuracy(&preds, labels),
            log_loss: stats::log_loss(probs, labels),
            brier: stats::brier(probs, labels),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorrectnessMetrics {
    pub rows: usize,
    /// As served: what production would see.
    pub serving: Quality,
    /// The same rows as the training extract has them; absent when the
    /// extract's view was not available (a candidate's practice kit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<Quality>,
    /// The generating model on the same rows: the ceiling.
    pub bayes: Quality,
    /// The best model with no signal: the holdout's base rate for every
    /// row (AUC 0.5): the floor skill scores count from.
    #[serde(default = "Quality::none")]
    pub base: Quality,
    /// The public formula (the centre of exercise.toml's family) on the
    /// same rows: what reading the repository alone earns. Skill counts
    /// from the better of it and `base`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<Quality>,
    /// Serving AUC / Bayes AUC.
    pub auc_fraction: f64,
    /// Offline minus serving: the "0.95 offline, fails in production" gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc_gap: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_loss_gap: Option<f64>,
}

/// What the correctness probe compares the service's answers with.
pub struct Holdout<'a> {
    /// The rows as served.
    pub serving: &'a [Row],
    /// The same rows as the careless extract has them (leak reliance);
    /// `None` in a practice kit.
    pub offline: Option<&'a [Row]>,
    pub labels: &'a [bool],
    /// The generating model's quality on these rows.
    pub bayes: Quality,
    /// The public formula's (see [`CorrectnessMetrics::public`]).
    pub public: Option<Quality>,
}

/// Sends each holdout view in batches; any failed batch fails the probe.
pub async fn probe(target: &Target, h: &Holdout<'_>, batch: usize) -> Result<CorrectnessMetrics, String> {
    let serving_probs = predict_all(target, h.serving, batch).await.map_err(|e| format!("serving view: {e}"))?;
    let offline = match h.offline {
        Some(rows) => Some(Quality::of(
            &predict_all(target, rows, batch).await.map_err(|e| format!("offline view: {e}"))?,
            h.labels,
        )),
        None => None,
    };
    let s = Quality::of(&serving_probs, h.labels);
    let b = h.bayes;
    Ok(CorrectnessMetrics {
        rows: h.labels.len(),
        serving: s,
        offline,
        bayes: b,
        base: Quality::base_rate(h.labels),
        public: h.public,
        auc_fraction: s.auc / b.auc,
        auc_gap: offline.map(|o| o.auc - s.auc),
        log_loss_gap: offline.map(|o| s.log_loss - o.log_loss),
    })
}

pub async fn predict_all(target: &Target, rows: &[Row], batch: usize) -> Result<Vec<f64>, String> {
    let mut out = Vec::with_capacity(rows.len());
    for (i, chunk) in rows.chunks(batch.max(1)).enumerate() {
        let answer = target
            .post("/predict", predict_body(chunk))
            .await
            .map_err(|e| format!("batch {i} ({} rows): {e}", chunk.len()))?;
        out.extend(parse_predictions(&answer, chunk.len()).map_err(|e| format!("batch {i}: {e}"))?);
    }
    Ok(out)
}
