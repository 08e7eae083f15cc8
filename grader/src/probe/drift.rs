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
}

/// `planted`: drifted features; `neutral`: columns whose flag is neither
/// right nor wrong (identifiers, leak columns: they differ by design).
pub async fn probe(
    target: &Target,
    traffic: &[Row],
    batch: usize,
    planted: &BTreeSet<String>,
    neutral: &BTreeSet<String>,
) -> Result<DriftMetrics, String> {
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
    let judged: BTreeSet<String> = flagged.difference(neutral).cloned().collect();
    let tp: Vec<String> = judged.intersection(planted).cloned().collect();
    let fp: Vec<String> = judged.difference(planted).cloned().collect();
    let missed: Vec<String> = planted.difference(&judged).cloned().collect();
    let precision = if judged.is_empty() { 0.0 } else { tp.len() as f64 / judged.len() as f64 };
    let recall = if planted.is_empty() { 1.0 } else { tp.len() as f64 / planted.len() as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    Ok(DriftMetrics {
        rows_sent: traffic.len(),
        batches_failed: failed,
        flagged: flagged.into_iter().collect(),
        planted: planted.iter().cloned().collect(),
        true_positives: tp,
        false_positives: fp,
        missed,
        precision,
        recall,
        f1,
    })
}
