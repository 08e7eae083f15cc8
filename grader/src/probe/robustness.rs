//! Robustness: malformed requests must get a 4xx with a JSON error, never a
//! 5xx, and the service must still answer afterwards.

use datasets::sealed::Row;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{excerpt, parse_predictions, predict_body, Target};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub title: String,
    pub status: Option<u16>,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RobustnessMetrics {
    pub cases: Vec<Case>,
    /// A row whose values are all null is valid under contract v1 (any value
    /// may be missing) and must get a 200.
    pub null_values_accepted: Option<String>,
    /// After every bad request: /health 200 and a valid /predict.
    pub still_serving: Result<(), String>,
}

/// The malformed requests, built from one valid row.
pub fn cases(row: &Row, max_rows: usize) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut missing = row.clone();
    let first = missing.keys().next().cloned().unwrap_or_default();
    missing.remove(&first);
    let mut wrong = row.clone();
    if let Some((k, _)) = row.iter().find(|(_, v)| v.is_number()) {
        wrong.insert(k.clone(), json!("not-a-number"));
    }
    let mut extra = row.clone();
    extra.insert("grader_unexpected_column".into(), json!(1));
    vec![
        ("not_json", "a body that is not JSON", b"{this is not json".to_vec()),
        ("missing_column", "a row missing a feature column", predict_body(&[missing])),
        ("wrong_type", "a text value in a numeric column", predict_body(&[wrong])),
        (
            "null_row",
            "a row that is null instead of an object",
            serde_json::to_vec(&json!({ "rows": [Value::Null] })).unwrap(),
        ),
        ("empty_rows", "an empty list of rows", serde_json::to_vec(&json!({ "rows": [] })).unwrap()),
        ("too_many_rows", "more rows than the contract allows", predict_body(&vec![row.clone(); max_rows + 1])),
        ("unknown_column", "an unknown extra column", predict_body(&[extra])),
    ]
}

/// Each case on a connection of its own: a service that closes its
/// connection after a 500 must not make the next case fail for the wrong
/// reason.
pub async fn probe(target: &Target, row: &Row, max_rows: usize) -> RobustnessMetrics {
    let target = &target.fresh();
    let mut results = Vec::new();
    for (id, title, body) in cases(row, max_rows) {
        let (status, passed, detail) = match target.post("/predict", body).await {
            Ok(a) => {
                let json_error = a.json().is_some_and(|v| v.get("error").is_some_and(Value::is_string));
                let ok = (400..500).contains(&a.status) && json_error;
                let detail = if ok {
                    format!("{} with a JSON error", a.status)
                } else if a.status >= 500 {
                    format!("server error {}: {}", a.status, excerpt(&a.body))
                } else if !(400..500).contains(&a.status) {
                    format!("status {} instead of a 4xx: {}", a.status, excerpt(&a.body))
                } else {
                    format!("{} but the body is not {{\"error\": \"...\"}}: {}", a.status, excerpt(&a.body))
                };
                (Some(a.status), ok, detail)
            }
            Err(e) => (None, false, e.to_string()),
        };
        results.push(Case { id: id.into(), title: title.into(), status, passed, detail });
    }
    let nulls: Row = row.keys().map(|k| (k.clone(), Value::Null)).collect();
    let null_values_accepted = match target.post("/predict", predict_body(&[nulls])).await {
        Ok(a) => parse_predictions(&a, 1).err(),
        Err(e) => Some(e.to_string()),
    };
    let still_serving = async {
        let h = target.get("/health").await.map_err(|e| format!("/health: {e}"))?;
        if h.status != 200 {
            return Err(format!("/health answered {}", h.status));
        }
        let a = target
            .post("/predict", predict_body(std::slice::from_ref(row)))
            .await
            .map_err(|e| format!("/predict: {e}"))?;
        parse_predictions(&a, 1).map(|_| ())
    }
    .await;
    RobustnessMetrics { cases: results, null_values_accepted, still_serving }
}
