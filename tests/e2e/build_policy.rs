//! Hostile Dockerfiles (issue 10): refused before the engine sees them, or
//! contained by the build limits, with the right failure class; no image of
//! any run remains, labelled or not; nothing from a build reaches the
//! operator's terminal raw.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grader::sandbox::build::build;
use grader::sandbox::cleanup::RunGuard;
use grader::sandbox::{FailureClass, RunId, SandboxError};
use tempfile::TempDir;

use crate::support::{docker, fixture, grader, leftovers, limits, own_addresses, quick_exercise, stderr};

/// A listener on one of this machine's own addresses that counts every
/// connection it receives until dropped.
struct Listener {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Listener {
    fn on_own_address() -> Listener {
        let ip = *own_addresses().first().expect("this machine has a non-loopback IPv4 address");
        let l = TcpListener::bind((ip, 0)).unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(120);
            while Instant::now() < until {
                match l.accept() {
                    Ok(_) => {
                        h.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Listener { addr, hits }
    }
}

fn submission(dir: &Path, name: &str, dockerfile: &str) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(d.join("x"), "x").unwrap();
    d
}

fn rejected(err: &SandboxError, line: usize, why: &str) {
    assert_eq!(err.class(), FailureClass::BuildRejected, "{err}");
    let s = err.to_string();
    assert!(s.contains(&format!("Dockerfile:{line}:")) && s.contains(why), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instructions_that_reach_the_network_or_other_images_are_refused_before_the_engine() {
    let docker = docker().await;
    let limits = limits(&docker).await;
    let t = TempDir::new().unwrap();
    let web = Listener::on_own_address();
    let registry = Listener::on_own_address();
    let base = &limits.base_image;
    // Another candidate's image on the same engine, for COPY --from to name.
    let tag =
        std::process::Command::new("docker").args(["tag", base, "grader-submission:other-candidate"]).status().unwrap();
    assert!(tag.success());
    let cases = [
        (
            submission(
                t.path(),
                "add-url",
                &format!("FROM {base}\nADD http://{}/weights.bin /w\nCMD [\"true\"]\n", web.addr),
            ),
            2,
            "URLs",
        ),
        (
            submission(
                t.path(),
                "from-registry",
                &format!("FROM {}/library/python:3.11\nCMD [\"true\"]\n", registry.addr),
            ),
            1,
            "only the base image",
        ),
        (fixture("hostile/copy-from-image"), 3, "earlier stage"),
        (fixture("hostile/from-local-image"), 2, "only the base image"),
        (fixture("hostile/volume"), 4, "VOLUME"),
        (submission(t.path(), "syntax", &format!("# syntax=docker/dockerfile:1\nFROM {base}\n")), 1, "syntax"),
        (
            submission(t.path(), "onbuild", &format!("FROM {base}\nONBUILD ADD http://{}/x /x\n", web.addr)),
            2,
            "ONBUILD",
        ),
        (
            submission(t.path(), "env-url", &format!("FROM {base}\nENV U=http://{}/x\nADD $U /x\n", web.addr)),
            3,
            "variables",
        ),
    ];
    for (dir, line, why) in &cases {
        let run = RunId::new();
        let err = build(&docker, dir, &run, &limits).await.err().unwrap_or_else(|| panic!("{} built", dir.display()));
        rejected(&err, *line, why);
        assert_eq!(leftovers(&docker, &run).await, 0);
    }
    let _ = std::process::Command::new("docker").args(["rmi", "grader-submission:other-candidate"]).output();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(web.hits.load(Ordering::SeqCst), 0, "the engine fetched a URL for a Dockerfile");
    assert_eq!(registry.hits.load(Ordering::SeqCst), 0, "the engine contacted a registry for a Dockerfile");

    // End to end: graded as build_rejected, with the line, score 0, exit 0.
    let out = t.path().join("r");
    let ex = quick_exercise(t.path());
    let o = grader(&[
        "grade",
        fixture("hostile/copy-from-image").to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = crate::support::json(&out.join("result.json"));
    assert_eq!(r["failure"]["class"], "build_rejected", "{}", r["failure"]);
    assert!(r["failure"]["message"].as_str().unwrap().contains("Dockerfile:3"), "{}", r["failure"]);
    assert_eq!(r["score"]["points"], 0.0);
}

/// Image ids a build's log names (` ---> 0123456789ab`) after each step
/// but `FROM` (whose id is the base's): every image it committed,
/// intermediate ones included.
fn committed_images(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_from = false;
    for l in log.lines() {
        if l.starts_with("Step ") {
            after_from = l.split(" : ").nth(1).is_some_and(|i| i.to_ascii_uppercase().starts_with("FROM "));
        } else if let Some(id) = l.trim().strip_prefix("---> ") {
            if !after_from && id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()) {
                out.push(id.to_string());
            }
        }
    }
    out
}

async fn exists(docker: &bollard::Docker, id: &str) -> bool {
    docker.inspect_image(id).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_multi_stage_builds_leave_no_image_labelled_or_not() {
    let docker = docker().await;
    let limits = limits(&docker).await;
    for (name, should_build) in [("broken/failed-build", false), ("multi-stage", true)] {
        let run = RunId::new();
        let guard = RunGuard::new(&docker, &run, false).unwrap();
        let log = match build(&docker, &fixture(name), &run, &limits).await {
            Ok(img) => {
                assert!(should_build, "{name} built");
                img.log
            }
            Err(SandboxError::BuildFailed { log, message }) => {
                assert!(!should_build, "{name}: {message}\n{log}");
                log
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let ids = committed_images(&log);
        assert!(ids.len() >= 3, "{name}: the build committed images: {ids:?}\n{log}");
        let removed = guard.cleanup().await;
        assert!(removed.errors.is_empty(), "{removed:?}");
        for id in &ids {
            assert!(!exists(&docker, id).await, "{name}: image {id} outlived its run\n{log}");
        }
        assert_eq!(leftovers(&docker, &run).await, 0);
    }
}

/// Max of a build cgroup's `pids.current` while `f` runs, and the slowest
/// start of a process on the host meanwhile.
async fn watch_build<F: std::future::Future>(run: &RunId, f: F) -> (F::Output, i64, Duration) {
    let path = format!("/sys/fs/cgroup/pids/grader-build-{run}/pids.current");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let watcher = std::thread::spawn(move || {
        let (mut most, mut slowest) = (0i64, Duration::ZERO);
        while !s.load(Ordering::SeqCst) {
            if let Ok(v) = std::fs::read_to_string(&path) {
                most = most.max(v.trim().parse().unwrap_or(0));
            }
            let t0 = Instant::now();
            std::process::Command::new("true").status().unwrap();
            slowest = slowest.max(t0.elapsed());
            std::thread::sleep(Duration::from_millis(100));
        }
        (most, slowest)
    });
    let out = f.await;
    stop.store(true, Ordering::SeqCst);
    let (most, slowest) = watcher.join().unwrap();
    (out, most, slowest)
}

fn cgroup_gone(run: &RunId) -> bool {
    ["pids", "memory"].iter().all(|c| !Path::new(&format!("/sys/fs/cgroup/{c}/grader-build-{run}")).exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_in_a_build_hits_the_build_process_cap() {
    let docker = docker().await;
    let mut limits = limits(&docker).await;
    limits.build_pids = 64;
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let (res, most, slowest) =
        watch_build(&run, build(&docker, &fixture("hostile/build-fork-bomb"), &run, &limits)).await;
    let err = res.expect_err("the bomb's build fails");
    guard.cleanup().await;
    assert_eq!(err.class(), FailureClass::BuildFailed, "{err}");
    let log = match &err {
        SandboxError::BuildFailed { log, .. } => log.clone(),
        _ => unreachable!(),
    };
    assert!(log.contains("refused"), "the bomb ran into the cap: {log}");
    assert!(most > 20, "the bomb forked ({most} processes seen)");
    assert!(most <= 64, "{most} processes under a build cap of 64");
    assert!(slowest < Duration::from_secs(1), "the host took {slowest:?} to start a process");
    assert!(cgroup_gone(&run), "the build cgroup was removed");
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hog_in_a_build_is_killed_at_the_build_memory_limit() {
    let docker = docker().await;
    let mut limits = limits(&docker).await;
    limits.build_memory_mb = 300;
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let err = build(&docker, &fixture("hostile/build-memory-hog"), &run, &limits).await.expect_err("killed");
    guard.cleanup().await;
    assert_eq!(err.class(), FailureClass::BuildFailed, "{err}");
    assert!(err.to_string().contains("137") && err.to_string().contains("300 MB"), "{err}");
    assert!(cgroup_gone(&run));
    assert_eq!(leftovers(&docker, &run).await, 0);
}

fn free_disk_mb(path: &str) -> u64 {
    let c = std::ffi::CString::new(path).unwrap();
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    s.f_bavail as u64 * s.f_frsize as u64 / (1024 * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_step_filling_the_disk_is_stopped_near_the_cap() {
    let docker = docker().await;
    let mut limits = limits(&docker).await;
    limits.build_disk_mb = 300;
    let before = free_disk_mb("/var/lib/docker");
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let mut lowest = u64::MAX;
    let dir = fixture("hostile/build-disk-filler");
    let fut = build(&docker, &dir, &run, &limits);
    tokio::pin!(fut);
    let err = loop {
        tokio::select! {
            r = &mut fut => break r.expect_err("stopped"),
            _ = tokio::time::sleep(Duration::from_millis(100)) => lowest = lowest.min(free_disk_mb("/var/lib/docker")),
        }
    };
    guard.cleanup().await;
    assert_eq!(err.class(), FailureClass::BuildFailed, "{err}");
    assert!(err.to_string().contains("300 MB build disk limit"), "{err}");
    // Other tests write too: the bound is loose, but far below 20 GB.
    assert!(before.saturating_sub(lowest) < 4096, "the build took {} MB of disk", before.saturating_sub(lowest));
    let after = free_disk_mb("/var/lib/docker");
    assert!(before.saturating_sub(after) < 500, "disk not given back: {before} MB free before, {after} after");
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_ending_build_stops_at_its_deadline_and_leaves_nothing() {
    let docker = docker().await;
    let mut limits = limits(&docker).await;
    limits.build_timeout = Duration::from_secs(8);
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let t0 = Instant::now();
    let err = build(&docker, &fixture("hostile/never-ending-build"), &run, &limits).await.expect_err("deadline");
    let log = match &err {
        SandboxError::BuildTimeout(_, log) => log.clone(),
        e => panic!("{e}"),
    };
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    let ids = committed_images(&log);
    guard.cleanup().await;
    assert!(!ids.is_empty(), "{log}");
    for id in &ids {
        assert!(!exists(&docker, id).await, "image {id} of a build killed at its deadline remains");
    }
    assert!(cgroup_gone(&run));
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[test]
fn a_context_of_many_empty_files_is_refused_before_the_engine_in_bounded_memory() {
    let t = TempDir::new().unwrap();
    let sub = t.path().join("many");
    std::fs::create_dir_all(sub.join("files")).unwrap();
    std::fs::copy(fixture("trivial").join("Dockerfile"), sub.join("Dockerfile")).unwrap();
    std::fs::copy(fixture("trivial").join("serve.py"), sub.join("serve.py")).unwrap();
    for i in 0..150_000 {
        std::fs::File::create(sub.join("files").join(i.to_string())).unwrap();
    }
    let ex = quick_exercise(t.path());
    let out = t.path().join("r");
    let o = grader(&[
        "grade",
        sub.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = crate::support::json(&out.join("result.json"));
    assert_eq!(r["failure"]["class"], "build_rejected");
    assert!(r["failure"]["message"].as_str().unwrap().contains("more than 10000 files"), "{}", r["failure"]);
    // With the entry cap lifted, tar headers alone (150,000 × 512 bytes) pass the size cap.
    let caps = grader::sandbox::context::Caps { bytes: 50 << 20, entries: 1_000_000 };
    let err = grader::sandbox::context::scan(&sub, caps).err().expect("over 50 MB of headers");
    assert!(err.to_string().contains("counting tar headers"), "{err}");
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    assert!(u.ru_maxrss < 400 * 1024, "a child used {} MB", u.ru_maxrss / 1024);
}

#[test]
fn escape_sequences_from_a_build_never_reach_the_terminal_or_the_report() {
    let t = TempDir::new().unwrap();
    let ex = quick_exercise(t.path());
    let o = grader(&[
        "run",
        fixture("hostile/escape-sequences").to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("pwned"), "the build log is shown: {err}");
    assert!(!o.stderr.contains(&0x1b) && !o.stderr.contains(&0x07), "raw escape bytes reached the terminal: {err:?}");
    assert!(err.contains("\\x1b"), "shown escaped: {err}");
    let out = t.path().join("r");
    let o = grader(&[
        "grade",
        fixture("hostile/escape-sequences").to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!o.stderr.contains(&0x1b), "{:?}", stderr(&o));
    let md = std::fs::read(out.join("report.md")).unwrap();
    assert!(!md.contains(&0x1b), "raw escapes in report.md");
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("pwned") && md.contains("build_failed"), "{md}");
}
