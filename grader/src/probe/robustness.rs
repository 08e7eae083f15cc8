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

/// A malformed request: its id, what it is, and its body.
pub struct BadRequest {
    pub id: String,
    pub title: String,
    pub body: Vec<u8>,
}

/// Shapes of a wrong value; each seed draws [`WRONG_TYPES`] of them.
const SHAPES: &[&str] = &["text", "boolean", "array", "object", "number_for_category", "nan", "infinity"];
pub const WRONG_TYPES: usize = 3;
/// Words a drawn text value is made of (any text in a numeric column is wrong).
const WORDS: &[&str] =
    &["n/a", "unknown", "twelve", "-", "1,5", "approx 3", "none", "?", "NULL", "high", "12abc", "€40"];
/// Suffixes and prefixes an unknown column's drawn name is made from.
const AFFIXES: &[&str] = &["_v2", "_raw", "_old", "_pct", "_flag", "_score", "_new", "_id"];

/// A bare JSON token the body carries where a value is due (`NaN` is not
/// JSON, but several parsers accept it).
const TOKEN: &str = "__grader_bare_token__";

/// Titles name no column: a report shows them, and a column's name there
/// could read as a hint about it.
///
/// The malformed requests for `seed`, built from `row` (a valid row): which
/// column goes missing, which unknown one is added, which values are wrong
/// and how, and which row of a batch is the bad one are drawn per seed, so
/// a service cannot pass by recognising literal cases. The contract says
/// what each must get (a 4xx with a JSON error), so the points measure the
/// same thing on every seed.
pub fn cases(row: &Row, max_rows: usize, seed: u64) -> Vec<BadRequest> {
    let mut rng = datasets::rng::Rng::stream(seed, 0, "robustness");
    let columns: Vec<&String> = row.keys().collect();
    let numeric: Vec<&String> = row.iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k).collect();
    let text: Vec<&String> = row.iter().filter(|(_, v)| v.is_string()).map(|(k, _)| k).collect();
    let pick = |rng: &mut datasets::rng::Rng, from: &[&String]| -> Option<String> {
        (!from.is_empty()).then(|| from[rng.below(from.len())].clone())
    };
    // A batch of 2 to 6 valid rows whose `bad`-th is replaced by `f(row)`.
    let batch = |rng: &mut datasets::rng::Rng, f: &dyn Fn(&Row) -> Row| -> (Vec<Row>, usize) {
        let n = 2 + rng.below(5);
        let bad = rng.below(n);
        let rows = (0..n).map(|i| if i == bad { f(row) } else { row.clone() }).collect();
        (rows, bad)
    };
    let at = |bad: usize, n: usize| format!("row {} of {n}", bad + 1);
    let unknown_name = |rng: &mut datasets::rng::Rng| -> String {
        loop {
            let base = columns[rng.below(columns.len().max(1))].clone();
            let affix = AFFIXES[rng.below(AFFIXES.len())];
            let name = if rng.bernoulli(0.5) { format!("{base}{affix}") } else { format!("{}_{base}", &affix[1..]) };
            if !row.contains_key(&name) {
                return name;
            }
        }
    };
    let mut out = vec![
        BadRequest {
            id: "not_json".into(),
            title: "a body that is not JSON".into(),
            body: b"{this is not json".to_vec(),
        },
        BadRequest {
            id: "null_row".into(),
            title: "a row that is null instead of an object".into(),
            body: serde_json::to_vec(&json!({ "rows": [Value::Null] })).unwrap(),
        },
        BadRequest {
            id: "empty_rows".into(),
            title: "an empty list of rows".into(),
            body: serde_json::to_vec(&json!({ "rows": [] })).unwrap(),
        },
        BadRequest {
            id: "too_many_rows".into(),
            title: "more rows than the contract allows".into(),
            body: predict_body(&vec![row.clone(); max_rows + 1]),
        },
    ];
    if let Some(gone) = pick(&mut rng, &columns) {
        let (rows, bad) = batch(&mut rng, &|r| {
            let mut r = r.clone();
            r.remove(&gone);
            r
        });
        out.push(BadRequest {
            id: "missing_column".into(),
            title: format!("a row missing a feature column ({})", at(bad, rows.len())),
            body: predict_body(&rows),
        });
    }
    let extra = unknown_name(&mut rng);
    let value = if rng.bernoulli(0.5) { json!(rng.below(100)) } else { json!(WORDS[rng.below(WORDS.len())]) };
    let (rows, bad) = batch(&mut rng, &|r| {
        let mut r = r.clone();
        r.insert(extra.clone(), value.clone());
        r
    });
    out.push(BadRequest {
        id: "unknown_column".into(),
        title: format!("an unknown extra column ({})", at(bad, rows.len())),
        body: predict_body(&rows),
    });
    // As many keys as a valid row: a service that only counts them passes.
    if let Some(old) = pick(&mut rng, &columns) {
        let new = unknown_name(&mut rng);
        let (rows, bad) = batch(&mut rng, &|r| {
            let mut r = r.clone();
            if let Some(v) = r.remove(&old) {
                r.insert(new.clone(), v);
            }
            r
        });
        out.push(BadRequest {
            id: "renamed_column".into(),
            title: format!("a row with a feature column renamed ({})", at(bad, rows.len())),
            body: predict_body(&rows),
        });
    }
    for shape in rng.choose(SHAPES, WRONG_TYPES) {
        let (target, value, what) = match shape {
            "number_for_category" => match pick(&mut rng, &text) {
                Some(c) => (c, json!(rng.below(10)), "a number in a category column".to_string()),
                None => continue,
            },
            _ => {
                let Some(c) = pick(&mut rng, &numeric) else { continue };
                let (value, what) = match shape {
                    "text" => (json!(WORDS[rng.below(WORDS.len())]), "text"),
                    "boolean" => (json!(rng.bernoulli(0.5)), "a boolean"),
                    "array" => (json!([rng.below(10), rng.below(10)]), "an array"),
                    "object" => (json!({ "value": rng.below(10) }), "an object"),
                    "nan" => (json!(TOKEN), "NaN"),
                    _ => (json!(TOKEN), "Infinity"),
                };
                (c, value, format!("{what} in a numeric column"))
            }
        };
        let (rows, bad) = batch(&mut rng, &|r| {
            let mut r = r.clone();
            r.insert(target.clone(), value.clone());
            r
        });
        let mut body = predict_body(&rows);
        if value == json!(TOKEN) {
            let bare = if shape == "nan" {
                "NaN"
            } else if rng.bernoulli(0.5) {
                "Infinity"
            } else {
                "-Infinity"
            };
            let quoted = format!("\"{TOKEN}\"");
            body = String::from_utf8(body).expect("JSON is UTF-8").replace(&quoted, bare).into_bytes();
        }
        out.push(BadRequest {
            id: format!("wrong_type.{shape}"),
            title: format!("{what} ({})", at(bad, rows.len())),
            body,
        });
    }
    out
}

/// Each case on a connection of its own: a service that closes its
/// connection after a 500 must not make the next case fail for the wrong
/// reason.
pub async fn probe(target: &Target, row: &Row, max_rows: usize, seed: u64) -> RobustnessMetrics {
    let target = &target.fresh();
    let mut results = Vec::new();
    for BadRequest { id, title, body } in cases(row, max_rows, seed) {
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
        results.push(Case { id, title, status, passed, detail });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        serde_json::from_value(
            json!({"age": 41, "monthly_charges": 70.5, "contract_type": "one-year", "region": "north"}),
        )
        .unwrap()
    }

    fn rows_of(body: &[u8]) -> Vec<Value> {
        serde_json::from_slice::<Value>(body).unwrap()["rows"].as_array().unwrap().clone()
    }

    #[test]
    fn cases_are_drawn_per_seed_and_each_batch_has_one_bad_row() {
        let bodies = |seed| cases(&row(), 1000, seed).into_iter().map(|c| c.body).collect::<Vec<_>>();
        assert_eq!(bodies(3), bodies(3), "a seed is one set of cases");
        let distinct: std::collections::BTreeSet<Vec<Vec<u8>>> = (0..8).map(bodies).collect();
        assert_eq!(distinct.len(), 8, "cases repeat across seeds");
        // Which column goes missing varies too, and no title names one.
        let missing: std::collections::BTreeSet<String> = (0..20)
            .map(|s| {
                let c = cases(&row(), 1000, s).into_iter().find(|c| c.id == "missing_column").unwrap();
                let r = rows_of(&c.body).into_iter().find(|r| r.as_object().unwrap().len() < row().len()).unwrap();
                row().keys().find(|k| !r.as_object().unwrap().contains_key(*k)).unwrap().clone()
            })
            .collect();
        assert!(missing.len() > 2, "{missing:?}");
        for c in (0..20).flat_map(|s| cases(&row(), 1000, s)) {
            assert!(row().keys().all(|k| !c.title.contains(k.as_str())), "{} names a column", c.title);
        }
        let shapes: std::collections::BTreeSet<String> = (0..40)
            .flat_map(|s| cases(&row(), 1000, s))
            .filter_map(|c| c.id.strip_prefix("wrong_type.").map(String::from))
            .collect();
        assert_eq!(shapes.len(), SHAPES.len(), "every shape turns up: {shapes:?}");
        for seed in 0..20 {
            for c in cases(&row(), 1000, seed) {
                let Ok(v) = serde_json::from_slice::<Value>(&c.body) else { continue };
                let Some(rows) = v.get("rows").and_then(Value::as_array) else { continue };
                if ["too_many_rows", "empty_rows", "null_row"].contains(&c.id.as_str()) {
                    continue;
                }
                let bad = rows.iter().filter(|r| **r != Value::Object(row())).count();
                assert_eq!(bad, 1, "seed {seed} {}: {} bad rows", c.id, bad);
            }
        }
    }

    #[test]
    fn a_renamed_column_keeps_the_key_count_and_bare_tokens_are_not_json() {
        for seed in 0..20 {
            let all = cases(&row(), 1000, seed);
            let renamed = all.iter().find(|c| c.id == "renamed_column").unwrap();
            let rows = rows_of(&renamed.body);
            assert!(rows.iter().all(|r| r.as_object().unwrap().len() == row().len()), "{}", renamed.title);
            for c in all.iter().filter(|c| c.id == "wrong_type.nan" || c.id == "wrong_type.infinity") {
                let text = String::from_utf8(c.body.clone()).unwrap();
                assert!(text.contains("NaN") || text.contains("Infinity"), "{text}");
                assert!(serde_json::from_slice::<Value>(&c.body).is_err(), "strict JSON refuses a bare {}", c.id);
            }
        }
    }
}
