//! The production replay on the real engine (issue 25): the reference
//! earns at least 90 % of the lifecycle points on two seeds; naive,
//! always-alarm and inputs-only earn what the rules give them, exactly;
//! result.json records the replay day by day.

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{fixture, grade_on, quick_exercise, stderr};

fn points(r: &Value, id: &str) -> f64 {
    r["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no {id}"))["points"]
        .as_f64()
        .unwrap()
}

fn group(r: &Value) -> f64 {
    ["concept_drift", "diagnosis", "false_alarms", "recovery"]
        .iter()
        .map(|c| points(r, &format!("lifecycle.{c}")))
        .sum()
}

#[test]
fn the_reference_earns_the_lifecycle_group_and_shortcuts_earn_what_the_rules_give() {
    let t = TempDir::new().unwrap();
    let ex = quick_exercise(t.path());
    let graded: Vec<(String, u64, Value)> = std::thread::scope(|s| {
        let runs: Vec<_> = [("reference", 2), ("reference", 5), ("naive", 2), ("always-alarm", 2), ("inputs-only", 5)]
            .into_iter()
            .map(|(name, seed)| {
                let (ex, dir) = (ex.clone(), t.path().join(format!("{name}-{seed}")));
                s.spawn(move || {
                    std::fs::create_dir_all(&dir).unwrap();
                    let (o, r, out) = grade_on(&fixture(name), seed, &dir, &ex);
                    assert!(o.status.success(), "{name} seed {seed}: {}", stderr(&o));
                    // The timeline: a row per day in report.md and report.html.
                    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
                    let table = md.split("## Production replay").nth(1).expect("report.md has the timeline");
                    let rows = table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| day")).count();
                    assert!(rows >= 32, "{name} seed {seed}: {rows} timeline rows");
                    assert!(table.contains("concept drift begins"), "{table}");
                    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
                    assert!(html.contains("id=\"timeline\"") && html.contains("pipeline break of "));
                    (name.to_string(), seed, r.unwrap())
                })
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (name, seed, r) in &graded {
        let m = &r["metrics"]["lifecycle"]["value"];
        assert_eq!(r["metrics"]["lifecycle"]["outcome"], "ran", "{name} {seed}: {:#}", r["metrics"]["lifecycle"]);
        let days = m["days"].as_array().unwrap();
        assert_eq!(days.len(), 32, "{name} {seed}: every day recorded");
        assert!(days.iter().all(|d| d["rows_sent"] == 400 && d["status"].is_string()), "{name} {seed}");
        assert!(m.get("stopped").is_none(), "{name} {seed}: {m:#}");
        let elapsed = m["elapsed_ms"].as_u64().unwrap();
        assert!(elapsed > 0, "{name} {seed}: the replay's time is recorded");
        eprintln!("{name} seed {seed}: the replay took {elapsed} ms");
        let evidence: Vec<&str> = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["group"] == "lifecycle")
            .map(|c| c["evidence"].as_str().unwrap())
            .collect();
        let got = group(r);
        match name.as_str() {
            "reference" => {
                assert!(got >= 9.0, "reference seed {seed}: {got} of 10: {evidence:#?}");
                assert!(m["recovery"]["retrained"].as_bool().unwrap());
                assert!(m["false_alarm_days"].as_array().unwrap().is_empty(), "{evidence:#?}");
            }
            // Ok forever, never retrained: the quiet days' share alone.
            "naive" => {
                assert_eq!(got, 1.5, "{evidence:#?}");
                assert_eq!(m["quiet_ok_share"], 1.0);
            }
            // Every day an alarm: nothing, whatever it caught.
            "always-alarm" => {
                assert_eq!(got, 0.0, "{evidence:#?}");
                assert_eq!(m["quiet_ok_share"], 0.0);
            }
            // The decoy named, the break as data drift (half), no concept
            // drift, no retrain, no false alarm.
            "inputs-only" => {
                assert_eq!(m["decoy"]["credit"], 1.0, "{evidence:#?}");
                assert_eq!(m["break"]["credit"], 0.5, "{evidence:#?}");
                assert_eq!(got, 2.5 * 0.75 + 1.5, "{evidence:#?}");
            }
            _ => unreachable!(),
        }
    }
}
