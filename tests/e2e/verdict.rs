//! `grader review` (issue 26, item 3): the reviewer's verdict beside the
//! machine's evidence, on a batch's results directory. No engine is
//! needed: the results are written here as a batch writes them.

use std::path::{Path, PathBuf};

use grader::report::{GradeResult, Logs, Score};
use grader::schema::{Manifest, SeedPolicy, MANIFEST_VERSION};
use tempfile::TempDir;

use crate::support::{grader, root, stderr};

fn golden() -> GradeResult {
    let path = root().join("fixtures/schema/result-v3.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A batch's results directory: each candidate's result with the share
/// `keep` of every check's points, written by the grader's own writer.
fn batch(dir: &Path, who: &[(&str, f64)], blind: bool) -> PathBuf {
    let out = dir.join("results");
    for (name, keep) in who {
        let mut r = golden();
        r.candidate = Some(name.to_string());
        for c in &mut r.checks {
            c.points = (c.max_points * keep * 100.0).round() / 100.0;
        }
        r.score = Score::of(&r.checks);
        let folder = out.join("candidates").join(grader::batch::encode_id(std::ffi::OsStr::new(name)));
        grader::report::write(&folder, &r, &Logs { build: None, container: None, notes: None }).unwrap();
    }
    let m = Manifest {
        schema_version: MANIFEST_VERSION,
        exercise: "churn".into(),
        spec_sha256: "s".into(),
        seeds: SeedPolicy::Fixed(1),
        shard: None,
        candidates: who.iter().map(|(n, _)| n.to_string()).collect(),
        merged_from: vec![],
        blind,
    };
    std::fs::write(out.join("batch.json"), serde_json::to_string(&m).unwrap()).unwrap();
    let cands: Vec<grader::schema::Candidate> = grader::review::candidates_of(&out).unwrap().1;
    grader::batch::summary::write(&out, "churn", &cands, None).unwrap();
    out
}

fn review(out: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["review", out.to_str().unwrap()];
    all.extend_from_slice(args);
    grader(&all)
}

fn log(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("reviews.jsonl")).unwrap_or_default()
}

#[test]
fn decisions_and_overrides_show_beside_the_evidence_and_bad_input_leaves_the_log_alone() {
    let t = TempDir::new().unwrap();
    let out = batch(t.path(), &[("alice", 0.9), ("bob", 0.5), ("carol", 0.7), ("dave", 0.3)], false);
    let check = golden().checks.iter().find(|c| c.max_points > 0.0).unwrap().clone();
    let ok = |o: std::process::Output| assert!(o.status.success(), "{}", stderr(&o));
    ok(review(&out, &["alice", "--decision", "advance", "--note", "strong drift work", "--reviewer", "ann"]));
    ok(review(&out, &["alice", "--decision", "hold", "--note", "<script>alert(1)</script>", "--reviewer", "bo"]));
    let set = format!("{}={}", check.id, check.max_points);
    ok(review(
        &out,
        &[
            "bob",
            "--decision",
            "advance",
            "--override",
            &set,
            "--why",
            "the monitor is right: read its log",
            "--reviewer",
            "ann",
        ],
    ));
    ok(review(&out, &["carol", "--decision", "reject", "--reviewer", "ann"]));
    ok(review(&out, &["dave", "--decision", "reject", "--reviewer", "bo"]));

    // report.html: the override with its reason beside the check's evidence.
    let page = std::fs::read_to_string(out.join("candidates/bob/report.html")).unwrap();
    assert!(page.contains("the monitor is right: read its log"), "the reason is shown");
    assert!(page.contains(
        &check.evidence.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")[..20.min(check.evidence.len())]
    ));
    assert!(page.contains("id=\"score-after\""), "the score after overrides is shown");
    let alice = std::fs::read_to_string(out.join("candidates/alice/report.html")).unwrap();
    assert!(alice.contains("reviewers disagree") && !alice.contains("<script>alert"), "escaped, and the split shown");
    // The batch's pages and leaderboard.
    let summary = std::fs::read_to_string(out.join("summary.html")).unwrap();
    assert!(summary.contains("id=\"review-table\"") && summary.contains("advance, hold"), "decisions in summary.html");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("## Reviews") && md.contains("**yes**"), "{md}");
    let csv = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[header.len() - 3..], ["percent_after_overrides", "decisions", "reviewers_disagree"]);
    let bob = csv.lines().find(|l| l.contains(",bob,")).unwrap();
    assert!(bob.ends_with(",advance,"), "{bob}");
    let alice_row = csv.lines().find(|l| l.contains(",alice,")).unwrap();
    assert!(alice_row.ends_with(",\"advance, hold\",yes"), "{alice_row}");

    // Stats: advances at 90 % and 50 %, rejects at 70 % and 30 %, a hold at 90 %.
    let s = review(&out, &["--stats", "--json"]);
    assert!(s.status.success(), "{}", stderr(&s));
    let st: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!((st["decisions"].as_u64(), st["advance"].as_u64()), (Some(5), Some(2)));
    // Pairs (advance vs other): 90>70,90>30,90=90 (½), 50<70, 50>30, 50<90: 3.5 of 6.
    assert!((st["auc"].as_f64().unwrap() - 3.5 / 6.0).abs() < 1e-9, "{st}");
    assert_eq!(
        (st["candidates_with_two_or_more_reviewers"].as_u64(), st["disagreements"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(st["threshold"].is_number());
    let human = review(&out, &["--stats"]);
    assert!(stderr(&human).contains("AUC of the automated score against advance"), "{}", stderr(&human));

    // Bad input: exit 2, a message naming it, and the log byte for byte as it was.
    let before = log(&out);
    for (args, wanted) in [
        (vec!["erin", "--decision", "advance", "--reviewer", "ann"], "unknown candidate"),
        (vec!["bob", "--override", "no.such.check=1", "--why", "x", "--reviewer", "ann"], "no such check"),
        (
            vec![
                "bob",
                "--override",
                &format!("{}={}", check.id, check.max_points + 1.0),
                "--why",
                "x",
                "--reviewer",
                "ann",
            ],
            "0 to its maximum",
        ),
        (vec!["bob", "--override", &set, "--reviewer", "ann"], "needs its --why"),
        (vec!["bob", "--decision", "maybe", "--reviewer", "ann"], "maybe"),
        (vec!["bob", "--reviewer", "ann"], "nothing to record"),
    ] {
        let o = review(&out, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(wanted), "{args:?}: {}", stderr(&o));
        assert_eq!(log(&out), before, "{args:?} touched the log");
    }

    // Graded again: the earlier records are kept, stale, and not counted.
    let p = out.join("candidates/carol/result.json");
    let mut r: GradeResult = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    r.timings.total_ms += 1;
    std::fs::write(&p, serde_json::to_string_pretty(&r).unwrap()).unwrap();
    let st: serde_json::Value = serde_json::from_slice(&review(&out, &["--stats", "--json"]).stdout).unwrap();
    assert_eq!((st["decisions"].as_u64(), st["stale_records"].as_u64()), (Some(4), Some(1)), "{st}");
    ok(review(&out, &["carol", "--decision", "advance", "--reviewer", "ann"]));
    let page = std::fs::read_to_string(out.join("candidates/carol/report.html")).unwrap();
    assert!(page.contains("id=\"stale\"") && page.contains("ann at"), "the stale record is shown as stale");
    assert_eq!(String::from_utf8(log(&out)).unwrap().lines().count(), 6, "append-only: every record kept");
}

#[test]
fn two_reviewers_writing_at_once_lose_nothing() {
    let t = TempDir::new().unwrap();
    let out = batch(t.path(), &[("alice", 0.8)], false);
    let bin = env!("CARGO_BIN_EXE_grader");
    let children: Vec<_> = (0..24)
        .map(|i| {
            std::process::Command::new(bin)
                .args(["review", out.to_str().unwrap(), "alice", "--decision", "hold"])
                .args(["--note", &format!("note {i} {}", "x".repeat(2000)), "--reviewer", &format!("r{i}")])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let text = String::from_utf8(log(&out)).unwrap();
    let mut reviewers: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("every line a whole record")["reviewer"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    reviewers.sort();
    reviewers.dedup();
    assert_eq!(reviewers.len(), 24, "a record was lost or torn");
}

#[test]
fn a_blind_batch_is_reviewed_by_pseudonym_and_merge_carries_reviews() {
    let t = TempDir::new().unwrap();
    let out = batch(t.path(), &[("candidate-7f3a", 0.8)], true);
    let o = review(&out, &["alice", "--decision", "advance", "--reviewer", "ann"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("blind batch: name candidates by pseudonym"), "{}", stderr(&o));
    let o = review(&out, &["candidate-7f3a", "--decision", "advance", "--reviewer", "ann"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(out.join("summary.html")).unwrap();
    assert!(page.contains("candidate-7f3a") && !page.contains("alice"));

    // A shard's reviews come along in a merge, and stay current.
    let m = grader::schema::Manifest {
        shard: Some(grader::schema::Shard { index: 1, count: 1 }),
        ..serde_json::from_str(&std::fs::read_to_string(out.join("batch.json")).unwrap()).unwrap()
    };
    std::fs::write(out.join("batch.json"), serde_json::to_string(&m).unwrap()).unwrap();
    let merged = t.path().join("merged");
    let o = grader(&["merge", out.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(log(&merged), log(&out));
    let st: serde_json::Value = serde_json::from_slice(&review(&merged, &["--stats", "--json"]).stdout).unwrap();
    assert_eq!((st["decisions"].as_u64(), st["stale_records"].as_u64()), (Some(1), Some(0)), "{st}");
}
