//! Shared helpers: run the real binary, read what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (this file lives in `tests/e2e/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

pub fn churn() -> PathBuf {
    root().join("exercises/churn")
}

/// `grader ARGS…`, capturing output.
pub fn grader(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grader")).args(args).env_remove("GRADER_LOG").output().expect("run grader")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `grader variant` for a seed into `out`, asserting success.
pub fn variant(seed: u64, out: &Path) {
    let o = grader(&[
        "variant",
        "--exercise",
        churn().to_str().unwrap(),
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "grader variant failed: {}", stderr(&o));
}

/// Every file under `dir`, by relative path, with its bytes.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A CSV file as columns of optional strings (empty field = missing).
pub struct Csv {
    pub header: Vec<String>,
    pub columns: Vec<Vec<Option<String>>>,
}

impl Csv {
    pub fn read(path: &Path) -> Csv {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
        let mut columns = vec![Vec::new(); header.len()];
        for line in lines {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), header.len(), "ragged row in {}: {line}", path.display());
            for (c, f) in columns.iter_mut().zip(fields) {
                c.push(if f.is_empty() { None } else { Some(f.to_string()) });
            }
        }
        Csv { header, columns }
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    pub fn col(&self, name: &str) -> &[Option<String>] {
        let i = self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
        &self.columns[i]
    }

    pub fn num(&self, name: &str) -> Vec<Option<f64>> {
        self.col(name).iter().map(|v| v.as_ref().map(|s| s.parse::<f64>().unwrap())).collect()
    }

    pub fn labels(&self, name: &str) -> Vec<bool> {
        self.col(name).iter().map(|v| v.as_deref() == Some("1")).collect()
    }
}

pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A Parquet file in the same shape as [`Csv`] (values rendered as strings).
pub fn parquet(path: &Path) -> Csv {
    use polars::prelude::*;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let df = ParquetReader::new(file).finish().unwrap();
    let header: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let columns = df
        .columns()
        .iter()
        .map(|c| {
            let s = c.cast(&DataType::String).unwrap();
            s.str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
        })
        .collect();
    Csv { header, columns }
}

/// The Docker Engine, or a loud failure: tests that need Docker never skip.
pub async fn docker() -> bollard::Docker {
    match grader::sandbox::docker::connect(None).await {
        Ok(d) => d,
        Err(e) => panic!(
            "this test needs a Docker Engine and none answers: {e}. Run scripts/test (it starts one) or start Docker."
        ),
    }
}

/// The exercise's sandbox limits, checking the base image exists.
pub async fn limits(docker: &bollard::Docker) -> grader::sandbox::Limits {
    let ex = datasets::Exercise::load(&churn()).unwrap();
    let limits = grader::sandbox::Limits::from_contract(&ex.spec.contract);
    if docker.inspect_image(&limits.base_image).await.is_err() {
        panic!("base image {} is missing: build it with scripts/build-base-image", limits.base_image);
    }
    limits
}

/// A certified variant of the churn exercise, written to `dir/variant`.
pub fn variant_in(dir: &Path, seed: u64) -> PathBuf {
    let ex = datasets::Exercise::load(&churn()).unwrap();
    let mut v = datasets::generate(&ex, datasets::SeedSource::given(seed)).unwrap();
    let out = dir.join("variant");
    datasets::write_variant(&ex.spec, &mut v, &out).unwrap();
    out
}

/// Objects (containers, networks, images) still labelled with `run`.
pub async fn leftovers(docker: &bollard::Docker, run: &grader::sandbox::RunId) -> usize {
    use bollard::query_parameters::{ListContainersOptions, ListImagesOptions, ListNetworksOptions};
    let filters = Some(std::collections::HashMap::from([("label".to_string(), vec![run.filter()])]));
    let c = docker
        .list_containers(Some(ListContainersOptions { all: true, filters: filters.clone(), ..Default::default() }))
        .await
        .unwrap();
    let n = docker.list_networks(Some(ListNetworksOptions { filters: filters.clone() })).await.unwrap();
    let i = docker.list_images(Some(ListImagesOptions { filters, ..Default::default() })).await.unwrap();
    c.len() + n.len() + i.len()
}

/// This machine's own non-loopback IPv4 addresses (getifaddrs).
pub fn own_addresses() -> Vec<std::net::Ipv4Addr> {
    let mut out = Vec::new();
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        assert_eq!(libc::getifaddrs(&mut list), 0, "getifaddrs failed");
        let mut cur = list;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && (*addr).sa_family as i32 == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() {
                    out.push(ip);
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out.sort();
    out.dedup();
    out
}

/// A copy of a fixture submission in `dir`, to add test inputs to.
pub fn fixture_copy(name: &str, dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    let to = dir.join(name);
    copy(&root().join("fixtures/submissions").join(name), &to);
    to
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures/submissions").join(name)
}

/// The churn exercise with a short latency window (1 s warm-up, 4 s
/// measured), so a grade takes seconds, and latency SLOs loose enough that
/// a busy test machine cannot flip a test about something else (p50 150 ms,
/// p99 1 s, 5 % errors). Tests about latency use [`latency_exercise`].
pub fn quick_exercise(dir: &Path) -> PathBuf {
    let d = latency_exercise(dir);
    let p = d.join("exercise.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let relaxed = text
        .replace("p50_ms = 50", "p50_ms = 150")
        .replace("p99_ms = 200", "p99_ms = 1000")
        .replace("max_error_rate = 0.01", "max_error_rate = 0.05");
    assert_ne!(relaxed, text, "SLO settings not found in exercise.toml");
    std::fs::write(&p, relaxed).unwrap();
    d
}

/// The quick exercise with the SLOs as shipped.
pub fn latency_exercise(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(churn().join("exercise.toml")).unwrap();
    let fixtures = format!("{}/fixtures/", root().display());
    let quick = text
        .replace("latency_warmup_seconds = 5", "latency_warmup_seconds = 1")
        .replace("latency_duration_seconds = 20", "latency_duration_seconds = 4")
        .replace("../../fixtures/", &fixtures);
    assert_ne!(quick, text, "latency settings not found in exercise.toml");
    let d = dir.join("quick-churn");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("exercise.toml"), quick).unwrap();
    // The candidate's prompt: `grader kit` sends it.
    std::fs::copy(churn().join("README.md"), d.join("README.md")).unwrap();
    d
}

/// `grader grade SUBMISSION` on the quick exercise; returns result.json.
pub fn grade(submission: &Path, seed: u64, dir: &Path) -> (Output, Option<serde_json::Value>, PathBuf) {
    grade_on(submission, seed, dir, &quick_exercise(dir))
}

/// `grader grade SUBMISSION` on exercise `ex`; returns result.json.
pub fn grade_on(submission: &Path, seed: u64, dir: &Path, ex: &Path) -> (Output, Option<serde_json::Value>, PathBuf) {
    let out = dir.join(format!("results-{}", submission.file_name().unwrap().to_string_lossy()));
    let o = grader(&[
        "grade",
        submission.to_str().unwrap(),
        "--exercise",
        ex.to_str().unwrap(),
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let result = std::fs::read_to_string(out.join("result.json")).ok().map(|t| serde_json::from_str(&t).unwrap());
    (o, result, out)
}

/// Points of one check in a result.json.
pub fn check<'a>(result: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    result["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no check {id}"))
}

/// A second Docker engine on this machine: its own socket, data root, exec
/// root, containerd namespace and bridge (`--bridge=none` would not do:
/// dockerd then deletes the shared docker0 at start-up). Stopped, and its
/// bridge deleted, on drop.
pub struct SecondEngine {
    dir: tempfile::TempDir,
    child: std::process::Child,
    bridge: String,
}

fn ip(args: &[&str]) -> std::process::Output {
    std::process::Command::new("ip").args(args).output().expect("ip (iproute2) runs")
}

impl SecondEngine {
    pub fn start() -> SecondEngine {
        // Unique per engine: tests may run two at once.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let bridge = format!("gre2-{}-{n}", std::process::id() % 100_000);
        let subnet = format!("10.254.{}.1/24", (std::process::id() % 200 + n) % 250 + 1);
        for args in [
            vec!["link", "add", bridge.as_str(), "type", "bridge"],
            vec!["addr", "add", subnet.as_str(), "dev", bridge.as_str()],
            vec!["link", "set", bridge.as_str(), "up"],
        ] {
            let o = ip(&args);
            assert!(o.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
        let dir = tempfile::Builder::new().prefix("ge2-").tempdir_in("/tmp").unwrap();
        let p = dir.path();
        let child = std::process::Command::new("dockerd")
            .args([
                &format!("--host=unix://{}/d.sock", p.display()),
                &format!("--data-root={}/data", p.display()),
                &format!("--exec-root={}/exec", p.display()),
                &format!("--pidfile={}/d.pid", p.display()),
                &format!("--bridge={bridge}"),
                "--iptables=false",
                "--ip-masq=false",
                &format!("--containerd-namespace={bridge}"),
                &format!("--containerd-plugins-namespace={bridge}p"),
            ])
            .stdout(std::fs::File::create(p.join("log")).unwrap())
            .stderr(std::fs::File::create(p.join("log2")).unwrap())
            .spawn()
            .expect("this test starts a second dockerd (run as root, with Debian's docker.io installed)");
        let engine = SecondEngine { dir, child, bridge };
        let up = (0..60).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(500));
            std::process::Command::new("docker")
                .args(["-H", &engine.host(), "info"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        assert!(
            up,
            "second dockerd did not answer: {}",
            std::fs::read_to_string(engine.dir.path().join("log2")).unwrap_or_default()
        );
        engine
    }

    pub fn host(&self) -> String {
        format!("unix://{}/d.sock", self.dir.path().display())
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = self.child.wait();
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

impl SecondEngine {
    /// Loads `image` from the main engine into this one.
    pub fn load(&self, image: &str) {
        let load = std::process::Command::new("sh")
            .args(["-c", &format!("docker save {image} | docker -H {} load -q", self.host())])
            .output()
            .unwrap();
        assert!(load.status.success(), "loading {image}: {}", String::from_utf8_lossy(&load.stderr));
    }

    /// Stops the engine now (its containers go with it).
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = self.child.wait();
        }
    }
}

/// A context plan streamed into memory (what the engine would receive).
pub async fn streamed(plan: grader::sandbox::context::Plan, dockerfile: Vec<u8>) -> Vec<u8> {
    let (mut rx, _) = plan.stream(dockerfile);
    let mut out = Vec::new();
    while let Some(chunk) = rx.recv().await {
        out.extend_from_slice(&chunk.expect("context streams"));
    }
    out
}

/// A fixture built and started in the sandbox on seed 1's variant, for
/// tests of the library: the guard removes everything at the end.
pub struct Started {
    pub docker: bollard::Docker,
    pub run: grader::sandbox::RunId,
    pub guard: grader::sandbox::cleanup::RunGuard,
    pub svc: grader::sandbox::run::Service,
    _tmp: tempfile::TempDir,
}

pub async fn start_fixture(name: &str) -> Started {
    use grader::sandbox::run::{start, Access, RunConfig};
    let docker = docker().await;
    let limits = limits(&docker).await;
    let tmp = tempfile::TempDir::new().unwrap();
    let data = variant_in(tmp.path(), 1);
    let run = grader::sandbox::RunId::new();
    let guard = grader::sandbox::cleanup::RunGuard::new(&docker, &run, false).unwrap();
    let image = grader::sandbox::build::build(&docker, &fixture(name), &run, &limits).await.unwrap();
    let svc = start(
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
    .expect("starts");
    Started { docker, run, guard, svc, _tmp: tmp }
}

/// Debian's headless Chromium, started as the machine's probe starts it (no
/// sandbox as root, no background networking: this machine's network is
/// closed), with a fresh profile in `dir`; or a loud failure.
pub fn chromium(dir: &Path, args: &[String]) -> Output {
    let bin = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new("sh").args(["-c", &format!("command -v {c}")]).output().is_ok_and(|o| o.status.success())
        })
        .expect("this test needs Debian's chromium (scripts/test installs it): it renders a page and checks it");
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.join("chromium-profile").display()))
        .args(args)
        .output()
        .unwrap()
}

/// A screenshot of `html` at `size` (`W,H`): its pixels, and how many bytes each has.
pub fn screenshot(html: &Path, dir: &Path, size: &str) -> (Vec<u8>, usize) {
    let png = dir.join("screenshot.png");
    let o = chromium(
        dir,
        &[
            format!("--window-size={size}"),
            format!("--screenshot={}", png.display()),
            format!("file://{}", html.display()),
        ],
    );
    assert!(png.is_file(), "no screenshot: {}", String::from_utf8_lossy(&o.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    (buf, info.color_type.samples())
}

/// Pixels of exactly this colour.
pub fn pixels_of(pixels: &(Vec<u8>, usize), (r, g, b): (u8, u8, u8)) -> usize {
    pixels.0.chunks(pixels.1).filter(|p| p[0] == r && p[1] == g && p[2] == b).count()
}
