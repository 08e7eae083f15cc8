//! Latency that does not depend on neighbours (issue 11): in a batch, a
//! latency window runs alone (no other grading works meanwhile) and the
//! other candidates' idle containers are frozen, then thawed.

use std::path::Path;
use std::time::Duration;

use grader::fairness::turns::{QuietGate, Turns};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{fixture_copy, grader, json, leftovers, quick_exercise, start_fixture, stderr, Started};

async fn paused(docker: &bollard::Docker, id: &str) -> bool {
    docker.inspect_container(id, None).await.unwrap().state.and_then(|s| s.paused).unwrap_or(false)
}

fn overlaps(a: &[u64], b: &[u64]) -> bool {
    a[0] < b[1] && b[0] < a[1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_freezes_the_other_idle_services_and_thaws_them() {
    let Started { docker, run, guard, svc, .. } = start_fixture("trivial").await;
    svc.wait_ready(&docker).await.unwrap();
    let id = svc.candidate.clone();

    let gate = QuietGate::new();
    // `a` owns the service; `b` is another grading that wants its window.
    let mut a = Turns::start(Some(gate.clone())).await;
    a.register(&docker, &id);
    let mut b = Turns::start(Some(gate.clone())).await;
    let (d2, id2) = (docker.clone(), id.clone());
    let b_task = tokio::spawn(async move {
        let seen = b.exclusive(async { paused(&d2, &id2).await }).await;
        b.finish();
        (seen, b)
    });
    // `b` waits for `a`'s shared turn; `a` then queues for its own window.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!b_task.is_finished(), "a window started while another grading worked");
    let own = a.exclusive(async { paused(&docker, &id).await }).await;
    let (b_saw, b) = b_task.await.unwrap();
    a.finish();
    let still_paused = paused(&docker, &id).await;
    let health = svc.client().get(svc.url("/health")).send().await.map(|r| r.status().as_u16());
    svc.stop(&docker).await.unwrap();
    guard.cleanup().await;

    assert!(b_saw, "another grading's window ran while this idle service was not frozen");
    assert!(!own, "a window froze its own service");
    assert!(!still_paused, "the service was left frozen");
    assert_eq!(health.ok(), Some(200), "the thawed service answers");
    for w in &b.exclusive_ms {
        for s in &a.shared_ms {
            assert!(!overlaps(w, s), "b's window {w:?} overlaps a's work {s:?}");
        }
    }
    assert_eq!(b.exclusive_ms.len(), 1);
    assert_eq!(leftovers(&docker, &run).await, 0);
}

/// A neighbour whose build burns CPU for `seconds` (the shipped fixture
/// burns 40, for the benchmark).
fn neighbour(dir: &Path, seconds: u32) -> std::path::PathBuf {
    let copy = fixture_copy("busy-neighbour", dir);
    let file = copy.join("Dockerfile");
    let text = std::fs::read_to_string(&file).unwrap();
    let shorter = text.replace("\"--build-seconds\", \"40\"", &format!("\"--build-seconds\", \"{seconds}\""));
    assert_ne!(text, shorter);
    std::fs::write(&file, shorter).unwrap();
    copy
}

#[test]
fn in_a_batch_no_latency_window_overlaps_another_gradings_work() {
    let t = TempDir::new().unwrap();
    let subs = t.path().join("subs");
    std::fs::create_dir_all(&subs).unwrap();
    for who in ["ann", "ben"] {
        std::fs::rename(fixture_copy("trivial", &subs), subs.join(who)).unwrap();
    }
    std::fs::rename(neighbour(&subs, 15), subs.join("zed")).unwrap();
    let ex = quick_exercise(t.path());
    let out = t.path().join("results");
    let o = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "3",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results: Vec<(String, Value)> = ["ann", "ben", "zed"]
        .iter()
        .map(|w| (w.to_string(), json(&out.join("candidates").join(w).join("result.json"))))
        .collect();
    let spans = |r: &Value, k: &str| -> Vec<Vec<u64>> {
        r["timings"][k]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| p.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect())
            .collect()
    };
    for (who, r) in &results {
        assert_eq!(r["outcome"], "graded", "{who}: {}", r["failure"]);
        let windows = spans(r, "exclusive");
        assert!(!windows.is_empty(), "{who} recorded no latency window");
        assert!(!spans(r, "shared").is_empty(), "{who} recorded no shared work");
        let host = &r["metrics"]["latency"]["value"]["host"];
        assert!(host["calibration_p99_ms"].as_f64().is_some(), "{who}: no calibration beside the window: {host}");
        for (other, r2) in &results {
            if other == who {
                continue;
            }
            for w in &windows {
                for s in spans(r2, "shared").iter().chain(spans(r2, "exclusive").iter()) {
                    assert!(!overlaps(w, s), "{who}'s latency window {w:?} overlaps {other}'s work {s:?}");
                }
            }
        }
    }
}
