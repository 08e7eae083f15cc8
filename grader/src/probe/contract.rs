//! Contract v1: `/health`, the shape of `/predict` and `/drift`, and
//! `report.json`'s schema.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{excerpt, parse_predictions, predict_body, Target};
use datasets::sealed::Row;
use datasets::{DriftKind, LeakKind};

/// A kind as a candidate's report names it: one of the taxonomy's
/// ([`LeakKind`], [`DriftKind`], defined once in `datasets`), or `other`.
/// Contract v1's kinds grew with the taxonomy (new values, no field
/// changed), so reports written for v1 stay valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported<K> {
    Kind(K),
    Other,
}

/// What a report may write for `kind`: every kind of the taxonomy, then `other`.
pub fn allowed<K: Copy + std::fmt::Display>(all: &[K]) -> Vec<String> {
    all.iter().map(|k| k.to_string()).chain(std::iter::once("other".to_string())).collect()
}

impl<K: Copy + PartialEq> Reported<K> {
    pub fn is(self, k: K) -> bool {
        self == Reported::Kind(k)
    }
    pub fn known(self) -> Option<K> {
        match self {
            Reported::Kind(k) => Some(k),
            Reported::Other => None,
        }
    }
}

impl<K: std::fmt::Display> std::fmt::Display for Reported<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reported::Kind(k) => k.fmt(f),
            Reported::Other => f.write_str("other"),
        }
    }
}

impl<K: std::str::FromStr> std::str::FromStr for Reported<K> {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "other" => Ok(Reported::Other),
            s => s.parse().map(Reported::Kind).map_err(|_| ()),
        }
    }
}

impl<K: std::fmt::Display> Serialize for Reported<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, K: std::str::FromStr> Deserialize<'de> for Reported<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::custom(format!("unknown kind {s:?}")))
    }
}

impl<K> From<K> for Reported<K> {
    fn from(k: K) -> Self {
        Reported::Kind(k)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeakFlag {
    pub feature: Option<String>,
    pub kind: Reported<LeakKind>,
    pub evidence: String,
}

impl LeakFlag {
    /// About rows, not a column (`feature` may be null).
    pub fn is_about_rows(&self) -> bool {
        self.kind.known().is_some_and(LeakKind::is_about_rows)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DriftFlag {
    pub feature: String,
    pub kind: Reported<DriftKind>,
    pub evidence: String,
}

/// The candidate's report, as far as it followed the schema.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CandidateReport {
    pub leakage: Vec<LeakFlag>,
    pub drift: Vec<DriftFlag>,
    pub excluded_features: Vec<String>,
}

/// Validates report.json: the parsed report (entries that do not follow the
/// schema are dropped) and every problem found, naming where.
pub fn parse_report(bytes: &[u8]) -> (Option<CandidateReport>, Vec<String>) {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return (None, vec![format!("report.json is not JSON: {e}")]),
    };
    let mut problems = Vec::new();
    let mut report = CandidateReport::default();
    let list = |key: &str, problems: &mut Vec<String>| -> Vec<Value> {
        match v.get(key) {
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                problems.push(format!("`{key}` is not a list"));
                Vec::new()
            }
            None => {
                problems.push(format!("`{key}` is missing"));
                Vec::new()
            }
        }
    };
    for (i, e) in list("leakage", &mut problems).iter().enumerate() {
        let feature = match e.get("feature") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => {
                problems.push(format!("leakage[{i}].feature is {other}, not a column name or null"));
                continue;
            }
        };
        let Some(kind) = e.get("kind").and_then(Value::as_str).and_then(|k| k.parse::<Reported<LeakKind>>().ok())
        else {
            problems.push(format!("leakage[{i}].kind must be one of {:?}", allowed(LeakKind::ALL)));
            continue;
        };
        let evidence = e.get("evidence").and_then(Value::as_str).unwrap_or_default().to_string();
        report.leakage.push(LeakFlag { feature, kind, evidence });
    }
    for (i, e) in list("drift", &mut problems).iter().enumerate() {
        let Some(feature) = e.get("feature").and_then(Value::as_str) else {
            problems.push(format!("drift[{i}].feature must be a column name"));
            continue;
        };
        let Some(kind) = e.get("kind").and_then(Value::as_str).and_then(|k| k.parse::<Reported<DriftKind>>().ok())
        else {
            problems.push(format!("drift[{i}].kind must be one of {:?}", allowed(DriftKind::ALL)));
            continue;
        };
        let evidence = e.get("evidence").and_then(Value::as_str).unwrap_or_default().to_string();
        report.drift.push(DriftFlag { feature: feature.into(), kind, evidence });
    }
    for (i, e) in list("excluded_features", &mut problems).iter().enumerate() {
        match e.as_str() {
            Some(s) => report.excluded_features.push(s.into()),
            None => problems.push(format!("excluded_features[{i}] is not a column name")),
        }
    }
    (Some(report), problems)
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ContractMetrics {
    /// `None` when /health got no answer at all.
    pub health_status: Option<u16>,
    pub health_problem: Option<String>,
    pub predict_problem: Option<String>,
    pub drift_problem: Option<String>,
    /// `None`: no report.json was available to read (e.g. `grader probe`
    /// without `--output`).
    pub report_present: Option<bool>,
    pub report_problems: Vec<String>,
    pub report: Option<CandidateReport>,
}

/// Probes /health, /predict (5 rows) and /drift's shape; `report_bytes` is
/// report.json as read from /output (or `None` when not available).
pub async fn probe(target: &Target, rows: &[Row], report_bytes: Option<Result<Vec<u8>, String>>) -> ContractMetrics {
    // Each check on a connection of its own: a service that drops its
    // keep-alive connection after an unhandled error (uvicorn after a 500)
    // must not fail the next route, which is judged on its own.
    let target = &target.fresh();
    let mut m = ContractMetrics::default();
    match target.get("/health").await {
        Ok(a) => {
            m.health_status = Some(a.status);
            if a.status != 200 {
                m.health_problem = Some(format!("/health answered {}: {}", a.status, excerpt(&a.body)));
            }
        }
        Err(e) => m.health_problem = Some(format!("/health: {e}")),
    }
    let sample = &rows[..rows.len().min(5)];
    m.predict_problem = match target.post("/predict", predict_body(sample)).await {
        Ok(a) => parse_predictions(&a, sample.len()).err(),
        Err(e) => Some(e.to_string()),
    };
    m.drift_problem = match target.get("/drift").await {
        Ok(a) if a.status == 200 => match a.json() {
            Some(v)
                if v.get("drifted_features")
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.iter().all(Value::is_string)) =>
            {
                None
            }
            _ => {
                Some(format!("/drift body is not {{\"drifted_features\": [\"<feature>\", ...]}}: {}", excerpt(&a.body)))
            }
        },
        Ok(a) => Some(format!("/drift answered {}", a.status)),
        Err(e) => Some(format!("/drift: {e}")),
    };
    match report_bytes {
        None => m.report_present = None,
        Some(Err(e)) => {
            m.report_present = Some(false);
            m.report_problems.push(format!("/output/report.json: {e}"));
        }
        Some(Ok(bytes)) => {
            m.report_present = Some(true);
            let (report, problems) = parse_report(&bytes);
            m.report = report;
            m.report_problems = problems;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_schema_problems_are_named() {
        let (r, p) = parse_report(
            br#"{"leakage": [{"feature": null, "kind": "duplicate_rows", "evidence": "x"},
            {"feature": "a", "kind": "guess"}], "drift": [{"feature": 3, "kind": "mean_shift"}], "extra": 1}"#,
        );
        let r = r.unwrap();
        assert_eq!(r.leakage.len(), 1);
        assert!(r.drift.is_empty());
        assert!(p.iter().any(|x| x.contains("leakage[1].kind")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("drift[0].feature")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("excluded_features` is missing")), "{p:?}");
        let (none, p) = parse_report(b"not json");
        assert!(none.is_none() && p[0].contains("not JSON"));
    }
}
