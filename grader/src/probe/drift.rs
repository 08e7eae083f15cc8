//! Drift monitoring: drifted traffic through `/predict`, then `GET /drift`,
//! flags compared with the planted drift.

use std::collections::BTreeSet;

use datasets::sealed::Row;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{excerpt, predict_body, Target};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriftMetrics {
    pub rows_sent: usize,
    pub batches_failed: usize,
    pub flagged: Vec<String>,
    pub planted: Vec<String>,
    pub true_positives: Vec<String>,
    pub false_positives: Vec<String>,
    pub missed: Vec<String>,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// `(found − cost × false alarms) / planted` (`evaluate::monitoring`);
    /// absent in results written before it, which were scored by `f1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// What `/drift` named after the traffic: the features, the rows sent and
/// the batches that failed. Judging them is the evaluation's.
pub struct Observed {
    pub flagged: BTreeSet<String>,
    pub rows_sent: usize,
    pub batches_failed: usize,
}

/// Sends the drifted traffic through `/predict`, then asks `GET /drift`.
pub async fn probe(target: &Target, traffic: &[Row], batch: usize) -> Result<Observed, String> {
    let mut failed = 0;
    for chunk in traffic.chunks(batch.max(1)) {
        match target.post("/predict", predict_body(chunk)).await {
            Ok(a) if a.status == 200 => {}
            _ => failed += 1,
        }
    }
    let answer = target.get("/drift").await.map_err(|e| format!("/drift: {e}"))?;
    let flagged: BTreeSet<String> = answer
        .json()
        .and_then(|v| v.get("drifted_features").and_then(Value::as_array).cloned())
        .ok_or_else(|| format!("/drift answered {} {}", answer.status, excerpt(&answer.body)))?
        .iter()
        .filter_map(|f| f.as_str().map(String::from))
        .collect();
    Ok(Observed { flagged, rows_sent: traffic.len(), batches_failed: failed })
}
