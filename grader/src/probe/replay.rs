//! The production replay (contract v2): the sealed stream's days through
//! `/predict`, the labels that arrive through `/feedback`, and `GET
//! /monitor` at the end of each day (after one unscored call before the
//! first). Every answer is recorded with its day; judging them against the
//! key is the evaluation's (`evaluate::lifecycle`). The replay never stalls
//! past its deadline, and stops after days on which nothing answered.

use std::collections::BTreeSet;
use std::time::Duration;

use datasets::sealed::Replay;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{excerpt, parse_predictions, predict_body, Target};

/// The service's diagnosis of the traffic and labels since its last call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorStatus {
    Ok,
    DataDrift,
    ConceptDrift,
    PipelineBreak,
}

crate::schema::names!(MonitorStatus {
    Ok => "ok",
    DataDrift => "data_drift",
    ConceptDrift => "concept_drift",
    PipelineBreak => "pipeline_break",
});

/// At most this many names of `features` are kept from one answer, each
/// cut to [`MAX_NAME_CHARS`]: an answer is the candidate's, and reaches
/// the reports.
pub const MAX_FEATURES: usize = 64;
pub const MAX_NAME_CHARS: usize = 128;
/// Days in a row with no answer at all before the replay stops (a crashed
/// service is not waited on for every remaining day).
pub const DEAD_DAYS: u32 = 2;

/// One replay day, as the service answered it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayRecord {
    pub day: u32,
    pub rows_sent: usize,
    /// `/predict` batches not answered in the contract's shape.
    pub batches_failed: usize,
    /// Labels sent through `/feedback` at the end of the day.
    pub labels_sent: usize,
    /// What `/feedback` said it accepted (summed over its calls); none when
    /// a call got no answer in the contract's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_accepted: Option<usize>,
    /// `GET /monitor`'s status; none when it answered out of contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MonitorStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// What was out of contract that day, first problem first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// What the replay observed: every day, and the probability served for
/// every row (none where its batch failed), for the evaluation.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub days: Vec<DayRecord>,
    pub served: Vec<Option<f64>>,
    /// Why the replay ended before its last day.
    pub stopped: Option<String>,
    /// How long the replay took, from its first request to its last answer.
    pub elapsed_ms: u64,
}

/// `GET /monitor`'s answer: status, features (capped) and model version.
pub fn parse_monitor(answer: &super::Answer) -> Result<(MonitorStatus, Vec<String>, String), String> {
    if answer.status != 200 {
        return Err(format!("GET /monitor answered {}: {}", answer.status, excerpt(&answer.body)));
    }
    let v = answer.json().ok_or_else(|| format!("GET /monitor: body is not JSON: {}", excerpt(&answer.body)))?;
    let status = v.get("status").and_then(Value::as_str).ok_or("GET /monitor: no `status` string")?;
    let status: MonitorStatus = status.parse().map_err(|_| {
        format!(
            "GET /monitor: status {:?} is none of ok, data_drift, concept_drift, pipeline_break",
            status.chars().take(MAX_NAME_CHARS).collect::<String>()
        )
    })?;
    let features = match v.get("features") {
        Some(Value::Array(a)) => a
            .iter()
            .take(MAX_FEATURES)
            .map(|f| f.as_str().map(|s| s.chars().take(MAX_NAME_CHARS).collect()))
            .collect::<Option<Vec<String>>>()
            .ok_or("GET /monitor: `features` holds a value that is not a string")?,
        _ => return Err("GET /monitor: no `features` list".into()),
    };
    let version = v.get("model_version").and_then(Value::as_str).ok_or("GET /monitor: no `model_version` string")?;
    Ok((status, features, version.chars().take(MAX_NAME_CHARS).collect()))
}

/// `/feedback`'s answer: how many labels it accepted.
pub fn parse_feedback(answer: &super::Answer, sent: usize) -> Result<usize, String> {
    if answer.status != 200 {
        return Err(format!("POST /feedback answered {}: {}", answer.status, excerpt(&answer.body)));
    }
    let n = answer
        .json()
        .and_then(|v| v.get("accepted").and_then(Value::as_u64))
        .ok_or_else(|| format!("POST /feedback: no `accepted` count in {}", excerpt(&answer.body)))?;
    if n as usize > sent {
        return Err(format!("POST /feedback: accepted {n} of {sent} labels"));
    }
    Ok(n as usize)
}

/// `{"labels": [{id_column: id, label: 0 or 1}, ...]}` as bytes.
pub fn feedback_body(id_column: &str, label: &str, labels: &[(i64, bool)]) -> Vec<u8> {
    let entries: Vec<Value> = labels
        .iter()
        .map(|(id, y)| {
            let mut m = serde_json::Map::new();
            m.insert(id_column.into(), json!(id));
            m.insert(label.into(), json!(*y as u8));
            Value::Object(m)
        })
        .collect();
    serde_json::to_vec(&json!({ "labels": entries })).expect("labels serialise")
}

/// What the replay sends with, beside the stream.
pub struct Settings<'a> {
    pub id_column: &'a str,
    pub label: &'a str,
    /// Rows per `/predict` request and labels per `/feedback` request.
    pub batch: usize,
    pub feedback_timeout: Duration,
    /// The whole replay's deadline.
    pub deadline: tokio::time::Instant,
}

/// Runs the replay: one unscored `GET /monitor`, then each day's rows,
/// the labels due that day, and `GET /monitor`.
pub async fn probe(target: &Target, replay: &Replay, s: &Settings<'_>) -> Observed {
    let started = tokio::time::Instant::now();
    let mut out = Observed { served: vec![None; replay.rows.len()], ..Observed::default() };
    let days: BTreeSet<u32> = replay.day.iter().copied().collect();
    // The first call opens the first day (its answer is not scored).
    let _ = target.get("/monitor").await;
    let mut silent = 0;
    for day in days {
        if tokio::time::Instant::now() >= s.deadline {
            out.stopped = Some(format!("day {day}: the replay's deadline passed"));
            break;
        }
        let mut rec = DayRecord { day, ..DayRecord::default() };
        let mut answered = false;
        let rows: Vec<usize> = (0..replay.rows.len()).filter(|&r| replay.day[r] == day).collect();
        for chunk in rows.chunks(s.batch.max(1)) {
            let batch: Vec<datasets::sealed::Row> = chunk.iter().map(|&r| replay.rows[r].clone()).collect();
            rec.rows_sent += batch.len();
            match target.post("/predict", predict_body(&batch)).await {
                Ok(a) => {
                    answered = true;
                    match parse_predictions(&a, batch.len()) {
                        Ok(p) => chunk.iter().zip(p).for_each(|(&r, p)| out.served[r] = Some(p)),
                        Err(e) => {
                            rec.batches_failed += 1;
                            push(&mut rec.problems, format!("POST /predict: {e}"));
                        }
                    }
                }
                Err(e) => {
                    rec.batches_failed += 1;
                    push(&mut rec.problems, format!("POST /predict: {e}"));
                }
            }
        }
        let due: Vec<(i64, bool)> = (0..replay.rows.len())
            .filter(|&r| replay.feedback_day[r] == Some(day))
            .map(|r| (replay.ids[r], replay.labels[r]))
            .collect();
        let mut accepted = Some(0);
        for chunk in due.chunks(s.batch.max(1)) {
            rec.labels_sent += chunk.len();
            let req = target
                .client
                .post(target.url("/feedback"))
                .header("content-type", "application/json")
                .timeout(s.feedback_timeout)
                .body(feedback_body(s.id_column, s.label, chunk));
            let feedback = Target { timeout: s.feedback_timeout, ..target.clone() };
            match feedback.send(req).await {
                Ok(a) => {
                    answered = true;
                    match parse_feedback(&a, chunk.len()) {
                        Ok(n) => accepted = accepted.map(|t| t + n),
                        Err(e) => {
                            accepted = None;
                            push(&mut rec.problems, e);
                        }
                    }
                }
                Err(e) => {
                    accepted = None;
                    push(&mut rec.problems, format!("POST /feedback: {e}"));
                }
            }
        }
        rec.labels_accepted = accepted;
        match target.get("/monitor").await {
            Ok(a) => {
                answered = true;
                match parse_monitor(&a) {
                    Ok((status, features, version)) => {
                        rec.status = Some(status);
                        rec.features = features;
                        rec.model_version = Some(version);
                    }
                    Err(e) => push(&mut rec.problems, e),
                }
            }
            Err(e) => push(&mut rec.problems, format!("GET /monitor: {e}")),
        }
        out.days.push(rec);
        silent = if answered { 0 } else { silent + 1 };
        if silent >= DEAD_DAYS {
            out.stopped = Some(format!("day {day}: nothing answered for {DEAD_DAYS} days"));
            break;
        }
    }
    out.elapsed_ms = started.elapsed().as_millis() as u64;
    out
}

/// Keeps the first few problems of a day (the evidence names them).
fn push(problems: &mut Vec<String>, p: String) {
    if problems.len() < 3 {
        problems.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Answer;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn a_monitor_answer_in_contract_parses_and_unknown_keys_are_ignored() {
        let a = answer(200, r#"{"status":"data_drift","features":["age"],"model_version":"v2","extra":1}"#);
        assert_eq!(parse_monitor(&a).unwrap(), (MonitorStatus::DataDrift, vec!["age".to_string()], "v2".to_string()));
        for (body, why) in [
            (r#"{"status":"drifting","features":[],"model_version":"1"}"#, "none of"),
            (r#"{"features":[],"model_version":"1"}"#, "no `status`"),
            (r#"{"status":"ok","model_version":"1"}"#, "no `features`"),
            (r#"{"status":"ok","features":[3],"model_version":"1"}"#, "not a string"),
            (r#"{"status":"ok","features":[]}"#, "no `model_version`"),
            ("not json", "not JSON"),
        ] {
            let e = parse_monitor(&answer(200, body)).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
        assert!(parse_monitor(&answer(404, "{}")).unwrap_err().contains("404"));
    }

    #[test]
    fn a_hostile_monitor_answer_is_capped() {
        let long = "x".repeat(10_000);
        let names: Vec<String> = (0..1000).map(|i| format!("\"{long}{i}\"")).collect();
        let body =
            format!(r#"{{"status":"pipeline_break","features":[{}],"model_version":"{long}"}}"#, names.join(","));
        let (_, features, version) = parse_monitor(&answer(200, &body)).unwrap();
        assert_eq!(features.len(), MAX_FEATURES);
        assert!(features.iter().all(|f| f.chars().count() == MAX_NAME_CHARS));
        assert_eq!(version.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn feedback_answers_and_bodies_follow_the_contract() {
        assert_eq!(parse_feedback(&answer(200, r#"{"accepted": 3}"#), 5).unwrap(), 3);
        assert!(parse_feedback(&answer(200, r#"{"accepted": 9}"#), 5).is_err(), "more than sent");
        assert!(parse_feedback(&answer(200, r#"{"ok": true}"#), 5).is_err());
        assert!(parse_feedback(&answer(404, "no route"), 5).unwrap_err().contains("404"));
        let body: Value =
            serde_json::from_slice(&feedback_body("customer_id", "churned", &[(7, true), (9, false)])).unwrap();
        assert_eq!(body, json!({"labels": [{"customer_id": 7, "churned": 1}, {"customer_id": 9, "churned": 0}]}));
    }
}
