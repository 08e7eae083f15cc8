//! Run-time and batch hardening (issue 16): capped disk, a relay the
//! candidate cannot exhaust, blame by evidence in both directions, batch
//! inputs of any name, and signals that clean up without half results.

use std::path::Path;
use std::time::Duration;

use grader::sandbox::build::build;
use grader::sandbox::cleanup::RunGuard;
use grader::sandbox::run::{start, Access, RunConfig, Service};
use grader::sandbox::{FailureClass, RunId};
use tempfile::TempDir;

use crate::support::{
    churn, docker, fixture, grader, leftovers, limits, quick_exercise, start_fixture, stderr, variant_in, Started,
};

async fn started(
    docker: &bollard::Docker,
    limits: &grader::sandbox::Limits,
    run: &RunId,
    image: &str,
    data: &Path,
) -> Service {
    start(docker, &RunConfig { image, data_dir: &data.join("public"), limits, run, access: Access::Socket })
        .await
        .expect("starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_a_capped_tmpfs_and_nothing_of_it_remains() {
    let docker = docker().await;
    let mut limits = limits(&docker).await;
    limits.output_mb = 32;
    limits.startup_timeout = Duration::from_secs(120);
    let t = TempDir::new().unwrap();
    let data = variant_in(t.path(), 1);
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let image = build(&docker, &fixture("hostile/output-filler"), &run, &limits).await.unwrap();
    let svc = started(&docker, &limits, &run, &image.tag, &data).await;
    let ready = svc.wait_ready(&docker).await;
    let report = svc.read_output(&docker, "report.json", 1 << 20).await;
    let stopped = svc.stop(&docker).await.unwrap();
    let removed = guard.cleanup().await;
    ready.unwrap_or_else(|e| panic!("{e}\n{}", stopped.logs));
    assert!(report.is_ok(), "report.json read through the engine: {report:?}");
    let filled: u64 = stopped
        .logs
        .lines()
        .find_map(|l| l.strip_prefix("filled ")?.strip_suffix(" bytes")?.parse().ok())
        .expect("fill result logged");
    assert!(filled <= 32 << 20, "wrote {filled} bytes into a 32 MB /output");
    assert!(stopped.logs.contains("No space left"), "{}", stopped.logs);
    assert!(stopped.logs.contains("tree depth"), "{}", stopped.logs);
    assert_eq!(removed.volumes, 1, "{removed:?}");
    assert_eq!(leftovers(&docker, &run).await, 0);
    let vols = std::process::Command::new("docker")
        .args(["volume", "ls", "-q", "--filter", &format!("label=org.grader.run={run}")])
        .output()
        .unwrap();
    assert!(vols.stdout.is_empty(), "the /output volume remains");
    assert!(
        !Path::new(&format!("/var/lib/docker/volumes/grader-{run}-output")).exists(),
        "its tree remains on the host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_declared_by_an_image_gets_a_small_tmpfs_not_the_host_disk() {
    // The policy refuses VOLUME (tested with the build policy); an image
    // could still declare one, so the run covers it with a capped tmpfs.
    let docker = docker().await;
    let limits = limits(&docker).await;
    let t = TempDir::new().unwrap();
    let data = variant_in(t.path(), 1);
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let ctx = t.path().join("img");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::copy(fixture("trivial").join("serve.py"), ctx.join("serve.py")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), format!(
        "FROM {}\nCOPY serve.py /app/serve.py\nVOLUME /scratch\nCMD [\"python3\", \"-c\", \"import runpy\\nn=0\\ntry:\\n  f=open('/scratch/x','wb')\\n  [f.write(b'x'*(1<<20)) or None for _ in range(1024)]\\n  f.flush()\\nexcept OSError as e: print('scratch stopped', e, flush=True)\\nprint('scratch done', flush=True)\\nrunpy.run_path('/app/serve.py', run_name='__main__')\"]\n",
        limits.base_image
    )).unwrap();
    let tag = format!("grader-submission:{run}");
    let b = std::process::Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args([
            "build",
            "-q",
            "--network",
            "none",
            "-t",
            &tag,
            "--label",
            "org.grader.managed=true",
            "--label",
            &format!("org.grader.run={run}"),
            ctx.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let svc = started(&docker, &limits, &run, &tag, &data).await;
    let ready = svc.wait_ready(&docker).await;
    let mounts = docker.inspect_container(&svc.candidate, None).await.unwrap().mounts.unwrap_or_default();
    let stopped = svc.stop(&docker).await.unwrap();
    guard.cleanup().await;
    ready.unwrap_or_else(|e| panic!("{e}\n{}", stopped.logs));
    assert!(stopped.logs.contains("scratch stopped") && stopped.logs.contains("No space left"), "{}", stopped.logs);
    let anonymous: Vec<_> = mounts.iter().filter(|m| m.destination.as_deref() == Some("/scratch")).collect();
    assert!(anonymous.is_empty(), "an anonymous volume was mounted at /scratch: {anonymous:?}");
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_survives_a_service_that_never_answers() {
    let Started { docker, run, guard, svc, .. } = start_fixture("hostile/never-answers").await;
    svc.wait_ready(&docker).await.expect("answers /health");
    // Rounds of requests the service holds, far more than the relay's
    // container has processes (256), each given up after 3 s.
    let client = svc.client().clone();
    for _round in 0..4 {
        let held: Vec<_> = (0..400)
            .map(|_| {
                let (c, url) = (client.clone(), svc.url("/predict"));
                tokio::spawn(async move {
                    c.post(url).body("{\"rows\": []}").timeout(Duration::from_secs(3)).send().await.is_err()
                })
            })
            .collect();
        for h in held {
            assert!(h.await.unwrap(), "the service never answers /predict");
        }
    }
    let relay_alive = svc.relay_alive(&docker).await;
    let health = client.get(svc.url("/health")).send().await.map(|r| r.status().as_u16());
    let relay_procs = docker
        .top_processes(svc.relay.as_ref().unwrap(), None::<bollard::query_parameters::TopOptions>)
        .await
        .unwrap()
        .processes
        .map_or(0, |p| p.len());
    let stopped = svc.stop(&docker).await.unwrap();
    guard.cleanup().await;
    assert!(relay_alive, "the relay died\n{}", stopped.logs);
    assert_eq!(health.ok(), Some(200));
    assert!(relay_procs <= 2, "the relay runs {relay_procs} processes");
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_relay_is_infrastructure_never_the_candidate() {
    let Started { docker, guard, svc, .. } = start_fixture("trivial").await;
    docker
        .kill_container(svc.relay.as_ref().unwrap(), None::<bollard::query_parameters::KillContainerOptions>)
        .await
        .unwrap();
    let err = svc.wait_ready(&docker).await.expect_err("nothing answers through a dead relay");
    guard.cleanup().await;
    assert_eq!(err.class(), FailureClass::Infrastructure, "{err}");
    assert!(err.to_string().contains("relay"), "{err}");
}

#[test]
fn a_command_that_cannot_start_or_exits_at_once_is_the_candidates() {
    let t = TempDir::new().unwrap();
    let ex = quick_exercise(t.path());
    for (name, class, says) in
        [("broken/no-such-command", "start_failed", "start-server"), ("broken/exits-at-once", "crashed", "code 3")]
    {
        let out = t.path().join(name.replace('/', "-"));
        let o = grader(&[
            "grade",
            fixture(name).to_str().unwrap(),
            "--exercise",
            ex.to_str().unwrap(),
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: graded, not an infrastructure failure: {}", stderr(&o));
        let r = crate::support::json(&out.join("result.json"));
        assert_eq!(r["outcome"], "failed", "{name}");
        assert_eq!(r["failure"]["class"], class, "{name}: {}", r["failure"]);
        assert!(r["failure"]["message"].as_str().unwrap().contains(says), "{name}: {}", r["failure"]);
    }
}

#[test]
fn a_batch_of_hostile_folder_names_writes_every_output() {
    let t = TempDir::new().unwrap();
    let subs = t.path().join("subs");
    let names: Vec<String> = vec![
        "leaderboard.csv".into(),
        "summary.html".into(),
        "a".repeat(200),
        "zoë".into(),
        "..dots".into(),
        "=HYPERLINK(\"x\")".into(),
        "a|b".into(),
        "line\nbreak".into(),
        "esc\x1b[31mred".into(),
    ];
    for n in &names {
        let d = subs.join(n);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["Dockerfile", "serve.py"] {
            std::fs::copy(fixture("trivial").join(f), d.join(f)).unwrap();
        }
    }
    std::fs::write(subs.join("notes.txt"), "not a candidate").unwrap();
    let ex = quick_exercise(t.path());
    let out = t.path().join("results");
    let o = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "3",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!o.stderr.contains(&0x1b), "a raw escape reached the terminal: {err:?}");
    assert!(err.contains("notes.txt") && err.contains("not a folder"), "{err}");
    for f in ["leaderboard.csv", "summary.md", "summary.html", "batch.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Every candidate has results, under a safe folder name, with its id.
    let dirs: Vec<_> = std::fs::read_dir(out.join("candidates")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), names.len(), "{dirs:?}");
    let mut ids = Vec::new();
    for d in &dirs {
        let folder = d.file_name().unwrap().to_str().unwrap();
        assert!(folder.len() <= 140 && !folder.starts_with('.'), "{folder}");
        let r = crate::support::json(&d.join("result.json"));
        assert_eq!(r["outcome"], "graded", "{folder}: {}", r["failure"]);
        let id = r["candidate"].as_str().unwrap().to_string();
        if let Some(decoded) = grader::batch::decode_id(folder) {
            assert_eq!(decoded.to_str().unwrap(), id, "the folder name decodes to the id");
        }
        ids.push(id);
    }
    ids.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(ids, want);
    // leaderboard.csv: one record per candidate, formulas neutralised.
    let mut rdr = csv::Reader::from_path(out.join("leaderboard.csv")).unwrap();
    let cells: Vec<String> = rdr.records().map(|r| r.unwrap()[1].to_string()).collect();
    assert_eq!(cells.len(), names.len(), "{cells:?}");
    assert!(cells.iter().any(|c| c.starts_with("'=HYPERLINK")), "{cells:?}");
    assert!(!cells.iter().any(|c| c.starts_with('=')), "{cells:?}");
    // summary.md: one table row per candidate, each with its six cell borders.
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let borders =
        |r: &str| r.char_indices().filter(|&(i, c)| c == '|' && (i == 0 || r.as_bytes()[i - 1] != b'\\')).count();
    // Identical submissions: the leaderboard, then every pair under "Please review".
    let (board, review) = md.split_once("## Please review").expect("nine copies of one submission look alike");
    let rows: Vec<&str> = board.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| rank")).collect();
    assert_eq!(rows.len(), names.len(), "{md}");
    for r in rows {
        assert_eq!(borders(r), 6, "{r}");
    }
    let pairs: Vec<&str> = review.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| candidate")).collect();
    assert_eq!(pairs.len(), names.len() * (names.len() - 1) / 2, "{review}");
    for r in pairs {
        assert_eq!(borders(r), 5, "{r}");
    }
    assert!(!md.contains('\x1b'));
}

#[test]
fn a_graded_result_that_cannot_be_moved_into_place_is_kept_and_named() {
    let t = TempDir::new().unwrap();
    let subs = t.path().join("subs");
    std::fs::create_dir_all(subs.join("alice")).unwrap();
    for f in ["Dockerfile", "serve.py"] {
        std::fs::copy(fixture("trivial").join(f), subs.join("alice").join(f)).unwrap();
    }
    let ex = quick_exercise(t.path());
    let out = t.path().join("results");
    // A first batch claims the directory; then `candidates` becomes a file,
    // so the move into place fails.
    let args = [
        "batch",
        subs.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--regrade",
    ];
    let o = grader(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_dir_all(out.join("candidates")).unwrap();
    std::fs::write(out.join("candidates"), "in the way").unwrap();
    let o = grader(&args);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    let staging = out.join(".staging/alice");
    assert!(err.contains(staging.to_str().unwrap()), "the error names where the result is kept: {err}");
    assert_eq!(crate::support::json(&staging.join("result.json"))["outcome"], "graded");
}

/// Starts `grader grade` on `trivial`, waits until it is probing (or, with
/// `at = "starting:"`, starting), sends `signal`; returns exit code, run,
/// and whether results appeared.
fn interrupt_grade(signal: i32, at: &str, ex: &Path, dir: &Path) -> (Option<i32>, String, bool) {
    use std::io::{BufRead, BufReader};
    let out = dir.join(format!("results-{signal}-{}", RunId::new()));
    let tmp = dir.join(format!("tmp-{signal}-{}", RunId::new()));
    std::fs::create_dir(&tmp).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_grader"))
        .env("TMPDIR", &tmp)
        .args([
            "grade",
            fixture("trivial").to_str().unwrap(),
            "--exercise",
            ex.to_str().unwrap(),
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
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
        if line.contains(at) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    let _rest: Vec<String> = lines.map_while(Result::ok).collect();
    // The variant, the intake area and the relay's sockets go too: the
    // handler exits without running destructors.
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "signal {signal}: temporary directories left: {left:?}");
    (status.code(), run.expect("the grade names its run"), out.exists())
}

fn labelled(kind: &[&str], run: &str) -> usize {
    let mut args = kind.to_vec();
    let filter = format!("label=org.grader.run={run}");
    args.extend(["-q", "--filter", &filter]);
    let o = std::process::Command::new("docker").args(&args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).lines().count()
}

#[test]
fn sigterm_sighup_and_sigint_mid_probe_remove_everything_and_publish_nothing() {
    let t = TempDir::new().unwrap();
    let ex = quick_exercise(t.path());
    for round in 0..2 {
        for (signal, code) in [(libc::SIGTERM, 143), (libc::SIGHUP, 129), (libc::SIGINT, 130)] {
            // Mid-probe: the handler's removal must not let the grade, which
            // sees its service vanish, write a result.
            let (status, run, published) =
                interrupt_grade(signal, if round == 0 { "correctness:" } else { "latency:" }, &ex, t.path());
            assert_eq!(status, Some(code), "signal {signal}, round {round}");
            assert!(!published, "signal {signal}: a result was published after cleanup began");
            assert_eq!(labelled(&["ps", "-a"], &run), 0, "signal {signal}: containers left");
            assert_eq!(labelled(&["images", "-a"], &run), 0, "signal {signal}: images left");
            assert_eq!(labelled(&["volume", "ls"], &run), 0, "signal {signal}: volumes left");
        }
    }
    let _ = churn();
}

/// A service on loopback that answers a body that is not JSON with a 500
/// and then drops the connection without saying so (as some servers do
/// after an error), and every other bad request correctly.
const CLOSES_AFTER_500: &str = r#"
import json, math, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, status, body, close=False):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = close
    def do_GET(self):
        self.reply(200, {"status": "ok"})
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            rows = json.loads(raw)["rows"]
        except Exception:
            return self.reply(500, {"error": "boom"}, close=True)
        number = lambda v: v is None or (type(v) in (int, float) and math.isfinite(v))
        text = lambda v: v is None or isinstance(v, str)
        ok = isinstance(rows, list) and 0 < len(rows) <= 1000 and all(isinstance(r, dict) and set(r) == {"a", "b"} and number(r["a"]) and text(r["b"]) for r in rows)
        if not ok:
            return self.reply(422, {"error": "bad rows"})
        self.reply(200, {"predictions": [0] * len(rows), "probabilities": [0.5] * len(rows)})
    def log_message(self, *a):
        pass

s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_that_closes_the_connection_does_not_fail_the_next_robustness_case() {
    use std::io::BufRead;
    let mut child = std::process::Command::new("python3")
        .args(["-c", CLOSES_AFTER_500])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = format!("http://127.0.0.1:{}", line.trim());
    let target = grader::probe::Target::for_url(&url, 1 << 20, Duration::from_secs(5)).unwrap();
    let row: datasets::sealed::Row = serde_json::from_value(serde_json::json!({"a": 1.5, "b": "x"})).unwrap();
    let m = grader::probe::robustness::probe(&target, &row, 1000, 7).await;
    let _ = child.kill();
    let _ = child.wait();
    let case = |id: &str| m.cases.iter().find(|c| c.id == id).unwrap();
    assert!(!case("not_json").passed, "the 500 is the service's failure: {:?}", case("not_json"));
    assert!(case("missing_column").passed, "the case after the 500 is judged on its own: {:?}", case("missing_column"));
    assert!(m.cases.iter().filter(|c| c.id != "not_json").all(|c| c.passed), "{:?}", m.cases);
}

/// A service whose `/predict` answers 500, then drops that connection when
/// the next request arrives on it, unanswered: what a candidate's uvicorn
/// behind the sandbox's relay does after an unhandled error. `/health` and
/// `/drift` work on any other connection.
const PREDICT_500_CLOSES: &str = r#"
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    broken = False
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def dropped(self):
        if self.broken:
            self.close_connection = True
            return True
        return False
    def do_GET(self):
        if self.dropped():
            return
        if self.path == "/drift":
            return self.reply(200, {"drifted_features": []})
        self.reply(200, {"status": "ok"})
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.dropped():
            return
        self.reply(500, {"error": "unhandled"})
        self.broken = True
    def log_message(self, *a):
        pass

s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_from_predict_that_closes_the_connection_does_not_fail_the_drift_check() {
    use std::io::BufRead;
    let mut child = std::process::Command::new("python3")
        .args(["-c", PREDICT_500_CLOSES])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = format!("http://127.0.0.1:{}", line.trim());
    let target = grader::probe::Target::for_url(&url, 1 << 20, Duration::from_secs(5)).unwrap();
    let row: datasets::sealed::Row = serde_json::from_value(serde_json::json!({"a": 1.5})).unwrap();
    let m = grader::probe::contract::probe(&target, &[row], None).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(m.predict_problem.is_some(), "the 500 is the service's failure");
    assert_eq!(m.drift_problem, None, "/drift works and is judged on its own: {m:?}");
    assert_eq!(m.health_problem, None);
}
