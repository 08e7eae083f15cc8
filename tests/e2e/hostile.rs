//! Hostile and broken submissions (fixtures/submissions/{hostile,broken}):
//! each is contained, classified, and cleaned up; results are still written.

use std::time::{Duration, Instant};

use grader::sandbox::build::build;
use grader::sandbox::cleanup::RunGuard;
use grader::sandbox::run::{start, Access, RunConfig};
use grader::sandbox::{FailureClass, RunId};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{
    check, churn, docker, fixture, fixture_copy, grader, leftovers, limits, own_addresses, quick_exercise, stderr,
    variant_in,
};

/// `grader grade` on the quick exercise with extra flags; result.json.
fn grade_with(submission: &std::path::Path, dir: &std::path::Path, extra: &[&str]) -> (std::process::Output, Value) {
    let out = dir.join("results");
    let ex = quick_exercise(dir);
    let mut args = vec![
        "grade",
        submission.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = grader(&args);
    let r = std::fs::read_to_string(out.join("result.json"))
        .unwrap_or_else(|e| panic!("no result.json ({e}): {}", stderr(&o)));
    (o, serde_json::from_str(&r).unwrap())
}

/// Peak RSS of any child this test process has waited for, in MB.
fn children_peak_rss_mb() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_hits_the_pids_cap_and_the_host_stays_responsive() {
    let docker = docker().await;
    let mut limits = limits(&docker).await;
    limits.pids = 64;
    limits.startup_timeout = Duration::from_secs(8);
    let t = TempDir::new().unwrap();
    let data = variant_in(t.path(), 1);
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let image = build(&docker, &fixture("hostile/fork-bomb"), &run, &limits).await.unwrap();
    let service = start(
        &docker,
        &RunConfig {
            image: &image.tag,
            data_dir: &data.join("public"),
            limits: &limits,
            run: &run,
            access: Access::Socket,
        },
    )
    .await
    .unwrap();
    let mut most = 0;
    let mut slowest_spawn = Duration::ZERO;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if let Ok(top) = docker.top_processes(&service.candidate, None::<bollard::query_parameters::TopOptions>).await {
            most = most.max(top.processes.map_or(0, |p| p.len()));
        }
        let t0 = Instant::now();
        std::process::Command::new("true").status().unwrap();
        slowest_spawn = slowest_spawn.max(t0.elapsed());
    }
    let err = service.wait_ready(&docker).await.expect_err("a fork bomb never becomes healthy");
    guard.cleanup().await;
    assert!(most > 10, "the bomb did not fork ({most} processes seen)");
    assert!(most <= 64, "{most} processes under a cap of 64");
    assert!(slowest_spawn < Duration::from_secs(1), "the host took {slowest_spawn:?} to start a process");
    assert!(matches!(err.class(), FailureClass::StartupTimeout | FailureClass::Crashed), "{err}");
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[test]
fn a_memory_hog_is_oom_killed_and_reported_with_the_limit() {
    let t = TempDir::new().unwrap();
    let (o, r) = grade_with(&fixture("hostile/memory-hog"), t.path(), &["--memory-mb", "256"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["outcome"], "failed");
    assert_eq!(r["failure"]["class"], "oom_killed", "{}", r["failure"]);
    assert!(r["failure"]["message"].as_str().unwrap().contains("256 MB"), "{}", r["failure"]);
    assert_eq!(r["limits"]["memory_mb"], 256);
}

#[test]
fn a_service_that_never_gets_ready_times_out_at_the_deadline() {
    let t = TempDir::new().unwrap();
    let started = Instant::now();
    let (o, r) = grade_with(&fixture("broken/never-ready"), t.path(), &["--startup-timeout", "6"]);
    let took = started.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["failure"]["class"], "startup_timeout", "{}", r["failure"]);
    assert!(r["failure"]["log_excerpt"].as_str().unwrap().contains("training..."), "{}", r["failure"]);
    assert!(took >= Duration::from_secs(6) && took < Duration::from_secs(40), "took {took:?} for a 6 s deadline");
}

#[test]
fn a_log_flood_is_capped_and_the_grader_stays_small() {
    let t = TempDir::new().unwrap();
    let (o, r) = grade_with(&fixture("hostile/log-flood"), t.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(check(&r, "contract.health")["status"], "pass", "it serves while flooding");
    // The engine rotates at the cap (json-file, one file), the grader keeps
    // at most the cap: whatever the flood wrote, the kept log fits.
    let cap = r["limits"]["log_bytes"].as_u64().unwrap();
    let log = std::fs::read_to_string(t.path().join("results/logs/container.log")).unwrap();
    assert!(log.len() as u64 <= cap + 200, "container.log is {} bytes for a {cap}-byte cap", log.len());
    assert!(log.contains("DEBUG xxxx"), "the flood is in the log");
    let peak = children_peak_rss_mb();
    assert!(peak < 400.0, "a child of this test (the grader) peaked at {peak:.0} MB");
}

#[test]
fn a_crash_mid_probe_is_classified_and_the_rest_marked_error() {
    let t = TempDir::new().unwrap();
    let (o, r) = grade_with(&fixture("broken/crash-mid-probe"), t.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["outcome"], "graded", "probes ran until the crash");
    assert_eq!(r["failure"]["class"], "crashed", "{}", r["failure"]);
    assert!(r["failure"]["message"].as_str().unwrap().contains("code 4"), "{}", r["failure"]);
    assert_eq!(check(&r, "contract.health")["status"], "pass");
    let seen: Vec<String> = ["contract", "drift", "correctness", "latency", "robustness"]
        .iter()
        .map(|k| {
            format!(
                "{k}: {} {}",
                r["metrics"][k]["outcome"],
                r["metrics"][k]["value"].to_string().chars().take(160).collect::<String>()
            )
        })
        .collect();
    for id in ["latency.p50", "latency.errors"] {
        assert_eq!(check(&r, id)["status"], "error", "{}\n{seen:#?}", check(&r, id));
        assert!(check(&r, id)["evidence"].as_str().unwrap().contains("code 4"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dockerfile_that_needs_the_network_fails_to_build_with_its_log() {
    // The build tries a listener on this machine's own address: it must
    // neither get through nor send anything there.
    let hosts = own_addresses();
    let l = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while l.accept().await.is_ok() {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let t = TempDir::new().unwrap();
    let sub = fixture_copy("broken/needs-network", t.path());
    std::fs::write(sub.join("model-url.txt"), format!("http://{}:{port}/model.bin\n", hosts[0])).unwrap();
    let r = tokio::task::spawn_blocking(move || {
        let (o, r) = grade_with(&sub, t.path(), &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        r
    })
    .await
    .unwrap();
    assert_eq!(r["failure"]["class"], "build_failed", "{}", r["failure"]);
    assert!(
        r["failure"]["log_excerpt"].as_str().unwrap().contains("Network is unreachable"),
        "{}",
        r["failure"]["log_excerpt"]
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "the build reached this machine");
}

#[test]
fn a_symlink_leaving_the_submission_is_rejected_before_any_build() {
    let t = TempDir::new().unwrap();
    let sub = fixture_copy("reference", t.path());
    std::os::unix::fs::symlink("../../../../etc/shadow", sub.join("app/secrets.txt")).unwrap();
    let (o, r) = grade_with(&sub, t.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["failure"]["class"], "build_rejected", "{}", r["failure"]);
    assert!(r["failure"]["message"].as_str().unwrap().contains("app/secrets.txt"), "{}", r["failure"]);
    assert!(r["image"].is_null(), "nothing was built");
}

#[test]
fn endless_and_trickled_responses_hit_caps_and_timeouts() {
    let t = TempDir::new().unwrap();
    let started = Instant::now();
    let (o, r) = grade_with(&fixture("hostile/bad-responses"), t.path(), &["--request-timeout-ms", "2000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(150), "took {:?}", started.elapsed());
    let predict = check(&r, "contract.predict")["evidence"].as_str().unwrap().to_string();
    assert!(predict.contains("larger than"), "{predict}");
    let drift = check(&r, "contract.drift_endpoint")["evidence"].as_str().unwrap().to_string();
    assert!(drift.contains("timed out"), "{drift}");
    let host_busy = r["metrics"]["latency"]["value"]["host"]["fair"] == false;
    let errors = check(&r, "latency.errors");
    assert!(errors["status"] == "fail" || (host_busy && errors["status"] == "ungraded"), "{errors}");
    let peak = children_peak_rss_mb();
    assert!(peak < 400.0, "a child of this test (the grader) peaked at {peak:.0} MB");
}

#[test]
fn sigint_during_grade_removes_everything_and_writes_nothing_half() {
    use std::io::{BufRead, BufReader};
    let t = TempDir::new().unwrap();
    let out = t.path().join("results");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_grader"))
        .args([
            "grade",
            fixture("broken/never-ready").to_str().unwrap(),
            "--exercise",
            churn().to_str().unwrap(),
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--startup-timeout",
            "120",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut run = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("(run ").nth(1) {
            run = rest.split(',').next().map(String::from);
        }
        if line.contains("starting:") {
            break;
        }
    }
    let run = run.expect("the grade names its run");
    std::thread::sleep(Duration::from_secs(2)); // containers are up
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    let left = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=org.grader.run={run}")])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "containers left after SIGINT");
    let images = std::process::Command::new("docker")
        .args(["images", "-q", "--filter", &format!("label=org.grader.run={run}")])
        .output()
        .unwrap();
    assert!(images.stdout.is_empty(), "image left after SIGINT");
    assert!(!out.exists(), "no half-written results");
}

#[test]
fn an_engine_that_dies_mid_run_is_an_infrastructure_error_not_a_score() {
    use std::io::{BufRead, BufReader};
    let mut engine = crate::support::SecondEngine::start();
    engine.load(&datasets::Exercise::load(&churn()).unwrap().spec.contract.base_image);
    let t = TempDir::new().unwrap();
    let ex = quick_exercise(t.path());
    let out = t.path().join("results");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_grader"))
        .args([
            "grade",
            fixture("trivial").to_str().unwrap(),
            "--exercise",
            ex.to_str().unwrap(),
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--docker-host",
            &engine.host(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("latency:") {
            break; // probing, mid-run
        }
    }
    engine.kill();
    let status = child.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(status.code(), Some(5), "{rest:?}");
    let r = crate::support::json(&out.join("result.json"));
    assert_eq!(r["outcome"], "infrastructure_error", "{}", r["failure"]);
    assert_eq!(r["failure"]["class"], "infrastructure");
}
