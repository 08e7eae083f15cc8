//! Tests whose verdict is a latency measured on the real engine: here, not
//! in tests/e2e, so that they run after the Docker tests and one at a time
//! (a latency miss measured while other tests load the host is, by design,
//! not graded: README "Latency that is the candidate's").

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{check, fixture, grader, quick_exercise, stderr};

#[test]
fn a_slow_submission_fails_the_latency_slo() {
    let _alone = crate::alone();
    let t = TempDir::new().unwrap();
    let ex = crate::support::latency_exercise(t.path());
    let (o, r, _) = crate::support::grade_on(&fixture("slow"), 4, t.path(), &ex);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = r.unwrap();
    // Alone on the host, the window is fair, and what the rest of the host
    // did is measured and small: the miss is the candidate's.
    let host = &r["metrics"]["latency"]["value"]["host"];
    assert_eq!(host["fair"], true, "{host}");
    assert!(host["other_cores"].as_f64().unwrap() <= host["other_cores_limit"].as_f64().unwrap(), "{host}");
    assert_eq!(check(&r, "latency.p50")["status"], "fail", "{}", check(&r, "latency.p50"));
    assert_eq!(check(&r, "latency.p99")["status"], "fail", "{}", check(&r, "latency.p99"));
    let p50 = r["metrics"]["latency"]["value"]["p50_ms"].as_f64().unwrap();
    assert!((300.0..400.0).contains(&p50), "p50 {p50} ms for a 300 ms service");
    // Its validation is careful: every bad request got its 4xx (it serves
    // no model, so the points are not credited: the own-model gate).
    let cases = r["metrics"]["robustness"]["value"]["cases"].as_array().unwrap();
    assert!(cases.iter().all(|c| c["passed"] == true), "{cases:#?}");
}

/// `slow` behind a response cache keyed on the request: the latency windows
/// send rows of their own, none sent before and none twice, so the cache
/// answers nothing and the verdict is the model's.
#[test]
fn a_slow_submission_behind_a_response_cache_fails_the_latency_slo_too() {
    let _alone = crate::alone();
    let t = TempDir::new().unwrap();
    // A window long enough that 500 rows would repeat (1,250 requests): a
    // window that replayed the holdout's rows would be answered from cache.
    let ex = crate::support::latency_exercise(t.path());
    let toml = ex.join("exercise.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let longer = text.replace("latency_duration_seconds = 4", "latency_duration_seconds = 24");
    assert_ne!(longer, text);
    std::fs::write(&toml, longer).unwrap();
    let (o, r, _) = crate::support::grade_on(&fixture("slow-cached"), 4, t.path(), &ex);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = r.unwrap();
    assert_eq!(r["metrics"]["latency"]["value"]["host"]["fair"], true, "{}", r["metrics"]["latency"]);
    assert_eq!(check(&r, "latency.p50")["status"], "fail", "{}", check(&r, "latency.p50"));
    assert_eq!(check(&r, "latency.p99")["status"], "fail", "{}", check(&r, "latency.p99"));
    let p50 = r["metrics"]["latency"]["value"]["p50_ms"].as_f64().unwrap();
    assert!(p50 >= 300.0, "p50 {p50} ms: a cache answered for the model");
}

/// A slow service that floods its stdout during its window keeps the
/// engine's log pipeline busy, outside its cgroup: that work is done on its
/// behalf and counts as its own, so its misses stand instead of turning
/// into "ungraded" (no points, no maximum, a higher percentage).
#[test]
fn a_slow_submission_that_floods_its_logs_cannot_make_its_misses_ungraded() {
    let _alone = crate::alone();
    let t = TempDir::new().unwrap();
    let ex = crate::support::latency_exercise(t.path());
    let (o, r, _) = crate::support::grade_on(&fixture("hostile/slow-log-flood"), 4, t.path(), &ex);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = r.unwrap();
    let host = &r["metrics"]["latency"]["value"]["host"];
    assert_eq!(host["fair"], true, "the flood made the host look busy: {host}");
    assert_eq!(check(&r, "latency.p50")["status"], "fail", "{}", check(&r, "latency.p50"));
    assert_eq!(check(&r, "latency.p99")["status"], "fail", "{}", check(&r, "latency.p99"));
}

#[test]
fn validate_passes_on_the_shipped_fixtures_and_fails_a_tightened_band() {
    let _alone = crate::alone();
    let t = TempDir::new().unwrap();
    let ex = quick_exercise(t.path());
    let toml = ex.join("exercise.toml");
    let text = std::fs::read_to_string(&toml).unwrap().replace("seeds = [11, 12]", "seeds = [11]");
    std::fs::write(&toml, &text).unwrap();
    let o = grader(&["validate", ex.to_str().unwrap(), "--json", "--parity", "3"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["violations"], 0, "{v:#}");
    assert_eq!(v["results"].as_array().unwrap().len(), 6, "reference, constant, naive, slow, fragile, gamer");
    // Equal difficulty: the reference and its gap to naive barely move across seeds.
    let p = &v["parity"];
    assert_eq!(p["seeds"].as_array().unwrap().len(), 3, "{p:#}");
    assert_eq!(p["within"], true, "{p:#}");
    for s in p["seeds"].as_array().unwrap() {
        assert!(s["careful"].as_f64().unwrap() >= 90.0 && s["gap"].as_f64().unwrap() >= 40.0, "{s}");
    }

    // Tighten naive's band below what it scores.
    let naive_band = "naive\"\nmin_percent = 0\nmax_percent = 50";
    assert!(text.contains(naive_band));
    std::fs::write(&toml, text.replace(naive_band, "naive\"\nmin_percent = 0\nmax_percent = 5")).unwrap();
    let o = grader(&["validate", ex.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let failing: Vec<&str> = err.lines().filter(|l| l.trim_start().starts_with("FAIL")).collect();
    assert_eq!(failing.len(), 1, "{err}");
    assert!(failing[0].contains("naive") && failing[0].contains("[0, 5]"), "{err}");
    assert!(err.contains("1 score band(s) violated"), "{err}");
}

/// The second exercise, written in TOML alone (no Rust knows about fraud),
/// with a low base rate: its seeds certify, the same careful and careless
/// fixtures land in its bands, and its difficulty is equal across seeds.
#[test]
fn the_fraud_exercise_written_in_toml_alone_validates() {
    let _alone = crate::alone();
    let t = TempDir::new().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("exercises/fraud/exercise.toml")).unwrap();
    let quick = text
        .replace("latency_warmup_seconds = 5", "latency_warmup_seconds = 1")
        .replace("latency_duration_seconds = 20", "latency_duration_seconds = 4")
        .replace("../../fixtures/", &format!("{}/fixtures/", root.canonicalize().unwrap().display()));
    assert_ne!(quick, text);
    let ex = t.path().join("fraud");
    std::fs::create_dir_all(&ex).unwrap();
    std::fs::write(ex.join("exercise.toml"), quick).unwrap();
    let o = grader(&["validate", ex.to_str().unwrap(), "--json", "--parity", "3"]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["violations"], 0, "{v:#}");
    assert_eq!(v["results"].as_array().unwrap().len(), 6, "reference, naive and gamer on 2 seeds: {v:#}");
    assert_eq!(v["parity"]["within"], true, "{:#}", v["parity"]);
    for s in v["parity"]["seeds"].as_array().unwrap() {
        assert!(s["careful"].as_f64().unwrap() >= 90.0 && s["gap"].as_f64().unwrap() >= 40.0, "{s}");
    }
}
