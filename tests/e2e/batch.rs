//! `grader batch`, `self-check` and `validate` end to end on the real engine.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{fixture_copy, grader, quick_exercise, stderr, SecondEngine};

/// Candidate folders: alice (reference), bob (naive), carol (fragile).
fn submissions(dir: &Path) -> PathBuf {
    let subs = dir.join("subs");
    for (who, what) in [("alice", "reference"), ("bob", "naive"), ("carol", "fragile")] {
        let copied = fixture_copy(what, &subs);
        std::fs::rename(copied, subs.join(who)).unwrap();
    }
    subs
}

fn batch_args<'a>(subs: &'a str, ex: &'a str, secret: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["batch", subs, "--exercise", ex, "--secret", secret, "--out", out, "--jobs", "2"]
}

#[test]
fn an_interrupted_batch_resumes_keeping_finished_results() {
    let t = TempDir::new().unwrap();
    let subs = submissions(t.path());
    let ex = quick_exercise(t.path());
    let secret = t.path().join("secret");
    std::fs::write(&secret, b"0123456789abcdef-team-secret").unwrap();
    let out = t.path().join("out");
    let (s, e, k, o) = (subs.to_str().unwrap(), ex.to_str().unwrap(), secret.to_str().unwrap(), out.to_str().unwrap());

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_grader"))
        .args(batch_args(s, e, k, o))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first candidate is finished.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().expect("a candidate line").unwrap();
    let done = first.split(':').next().unwrap().to_string();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(status.code(), Some(130), "{first}\n{rest:?}");
    // Every run that was in progress was cleaned up.
    let runs: Vec<String> = rest
        .iter()
        .filter_map(|l| l.trim().strip_prefix("run ").and_then(|r| r.split(':').next()).map(String::from))
        .collect();
    for run in &runs {
        let left = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label=org.grader.run={run}")])
            .output()
            .unwrap();
        assert!(left.stdout.is_empty(), "run {run} left containers");
    }
    // What finished before the interrupt landed (at least the first one).
    let finished: Vec<(String, Vec<u8>)> = ["alice", "bob", "carol"]
        .iter()
        .filter_map(|c| {
            std::fs::read(out.join("candidates").join(c).join("result.json")).ok().map(|b| (c.to_string(), b))
        })
        .collect();
    assert!(finished.iter().any(|(c, _)| *c == done), "finished results are kept");
    assert!(finished.len() < 3, "the interrupt came too late to test resuming");
    assert!(!std::fs::read_dir(&out).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));

    // Resume: finished candidates are not graded again; the others are.
    let o2 = grader(&[batch_args(s, e, k, o), vec!["--json"]].concat());
    assert!(o2.status.success(), "{}", stderr(&o2));
    let summary: Value = serde_json::from_slice(&o2.stdout).unwrap();
    let cands = summary["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 3);
    for c in cands {
        assert_ne!(c["state"], "ungraded", "{c}");
        let was_finished = finished.iter().any(|(n, _)| c["name"] == n.as_str());
        assert_eq!(c["reused"], was_finished, "{c}");
    }
    for (who, bytes) in &finished {
        assert_eq!(
            &std::fs::read(out.join("candidates").join(who).join("result.json")).unwrap(),
            bytes,
            "{who}'s finished result was rewritten"
        );
    }
    // A third run changes nothing: everything is reused, results identical.
    let before: Vec<Vec<u8>> = ["alice", "bob", "carol"]
        .iter()
        .map(|c| std::fs::read(out.join("candidates").join(c).join("result.json")).unwrap())
        .collect();
    let o3 = grader(&[batch_args(s, e, k, o), vec!["--json"]].concat());
    assert!(o3.status.success());
    let after: Vec<Vec<u8>> = ["alice", "bob", "carol"]
        .iter()
        .map(|c| std::fs::read(out.join("candidates").join(c).join("result.json")).unwrap())
        .collect();
    assert_eq!(before, after);

    // Each candidate got their own variant, derived from name and secret.
    let seeds: BTreeSet<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|c| crate::support::json(&out.join("candidates").join(c).join("result.json"))["seed"]["value"].to_string())
        .collect();
    assert_eq!(seeds.len(), 3);
    let csv = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
    let first_row = csv.lines().nth(1).unwrap();
    assert!(first_row.starts_with("1,alice,graded,"), "{csv}");
    assert!(csv.lines().next().unwrap().contains("findings.leakage"), "per-check columns");
    assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("| 1 | alice |"));
    render_and_check_summary(&out.join("summary.html"), t.path());
}

/// Renders summary.html in headless Chromium and checks the screenshot shows
/// the table (its header colour, pass/fail cells) and the charts (bar colour).
fn render_and_check_summary(html: &Path, dir: &Path) {
    let text = std::fs::read_to_string(html).unwrap();
    assert!(
        !text.contains("http://") && !text.contains("https://") && !text.contains("src="),
        "external assets in summary.html"
    );
    let shot = crate::support::screenshot(html, dir, "1400,1400");
    let count = |rgb| crate::support::pixels_of(&shot, rgb);
    use grader::report::palette::{BAR_RGB, FAIL_RGB, HEADER_RGB, PASS_RGB};
    assert!(count(HEADER_RGB) > 2000, "no table header visible ({} px)", count(HEADER_RGB));
    assert!(count(PASS_RGB) > 1000 && count(FAIL_RGB) > 500, "no pass/fail matrix visible");
    assert!(count(BAR_RGB) > 500, "no latency chart visible ({} px)", count(BAR_RGB));
}

#[test]
fn self_check_names_no_planted_column_and_counts_hidden_checks() {
    let t = TempDir::new().unwrap();
    let ex = quick_exercise(t.path());
    let o =
        grader(&["self-check", crate::support::fixture("naive").to_str().unwrap(), "--exercise", ex.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    // The practice variant's answer key, generated independently here.
    let variant = t.path().join("practice");
    let seed = datasets::Exercise::load(&ex).unwrap().spec.exercise.practice_seed;
    let g = grader(&[
        "variant",
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        &seed.to_string(),
        "--out",
        variant.to_str().unwrap(),
    ]);
    assert!(g.status.success());
    let key = crate::support::json(&variant.join("sealed/answer_key.json"));
    let planted: Vec<String> = key["leakage"]
        .as_array()
        .unwrap()
        .iter()
        .chain(key["drift"].as_array().unwrap())
        .filter_map(|d| d["feature"].as_str().map(String::from))
        .collect();
    assert!(!planted.is_empty());
    let words: BTreeSet<&str> = text.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
    for p in &planted {
        assert!(!words.contains(p.as_str()), "self-check output names the planted column {p}:\n{text}");
    }
    // Naive passes one hidden check: it says `ok` on every quiet day of the
    // replay (lifecycle.false_alarms), and nothing else hidden.
    assert!(text.contains("hidden checks: 1 of 8 passed"), "{text}");
    assert!(text.contains("robustness") && text.contains("next steps"), "{text}");
}

/// Every check but latency (a measurement of the moment, not of the
/// submission alone): id, status, points.
fn checks_of(out: &Path, who: &str) -> Vec<(String, String, f64)> {
    let r = crate::support::json(&out.join("candidates").join(who).join("result.json"));
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["group"] != "latency")
        .map(|c| {
            (c["id"].as_str().unwrap().into(), c["status"].as_str().unwrap().into(), c["points"].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn a_batch_splits_across_two_engines_with_the_same_results_as_one() {
    let engine = SecondEngine::start();
    engine.load(&datasets::Exercise::load(&crate::support::churn()).unwrap().spec.contract.base_image);

    let t = TempDir::new().unwrap();
    let subs = submissions(t.path());
    let copied = fixture_copy("naive", &t.path().join("more"));
    std::fs::rename(copied, subs.join("dave")).unwrap();
    let ex = quick_exercise(t.path());
    let (two, one) = (t.path().join("two"), t.path().join("one"));
    let default_host = grader::sandbox::docker::endpoint(None);
    let host2 = engine.host();
    let o = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "5",
        "--out",
        two.to_str().unwrap(),
        "--jobs",
        "2",
        "--host-jobs",
        "1",
        "--docker-host",
        &default_host,
        "--docker-host",
        &host2,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    let hosts: Vec<&str> =
        summary["candidates"].as_array().unwrap().iter().map(|c| c["host"].as_str().unwrap()).collect();
    assert!(hosts.contains(&default_host.as_str()) && hosts.contains(&host2.as_str()), "work not split: {hosts:?}");

    let o = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "5",
        "--out",
        one.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for who in ["alice", "bob", "carol", "dave"] {
        let failure = |out: &Path| {
            crate::support::json(&out.join("candidates").join(who).join("result.json"))["failure"].to_string()
        };
        assert_eq!(
            checks_of(&two, who),
            checks_of(&one, who),
            "{who} graded differently on two engines (failures: {} / {})",
            failure(&two),
            failure(&one)
        );
    }
    let left = std::process::Command::new("docker")
        .args(["-H", &host2, "ps", "-aq", "--filter", "label=org.grader.managed=true"])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "the second engine kept containers");
}

#[test]
fn infrastructure_failures_are_retried_then_ungraded_never_zero() {
    let t = TempDir::new().unwrap();
    let subs = submissions(t.path());
    let ex = quick_exercise(t.path());
    let out = t.path().join("out");
    let dead = format!("unix://{}/no-engine.sock", t.path().display());
    let o = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--docker-host",
        &dead,
        "--retries",
        "1",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("ungraded after retries"), "{}", stderr(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    for c in summary["candidates"].as_array().unwrap() {
        assert_eq!(c["state"], "ungraded", "{c}");
        assert_eq!(c["attempts"], 2, "one retry: {c}");
        assert!(c["score"].is_null(), "an ungraded candidate has no score: {c}");
        let r = crate::support::json(&out.join("candidates").join(c["name"].as_str().unwrap()).join("result.json"));
        assert_eq!(r["outcome"], "infrastructure_error");
        assert_eq!(r["failure"]["class"], "infrastructure");
    }
    let csv = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!((f[0], f[2], f[3], f[5]), ("", "ungraded", "", ""), "no rank, no points, not a zero: {line}");
    }
}
