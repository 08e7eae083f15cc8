//! Building a submission's image. Before anything reaches the engine: the
//! Dockerfile policy ([`super::dockerfile`]), the context caps, and the base
//! image resolved on the engine. While it builds: no network, memory, CPU
//! and process limits on every step (a cgroup parent binds the whole build),
//! a watcher that stops a step writing past the disk cap, a deadline and a
//! capped log. Every image it makes, intermediate ones included, carries the
//! run's labels, so cleanup by label leaves nothing behind.
//!
//! The request is made here rather than through bollard's typed options,
//! which have no `cgroupparent`; the engine's answer is the same stream of
//! JSON messages either way.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::{KillContainerOptions, ListContainersOptions, RemoveContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;

use super::cgroup::BuildCgroup;
use super::logbuf::LogBuffer;
use super::{context, docker, dockerfile, Limits, RunId, SandboxError};

/// A built image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub id: String,
    pub tag: String,
    pub log: String,
    /// The base image as named in the Dockerfile, and its id on the engine.
    pub base: Option<(String, String)>,
    /// Bytes the build added on top of its base.
    pub added_bytes: u64,
    /// Whether the process and whole-build memory limits were enforced
    /// (a cgroup parent); false only with `--unconfined-build`.
    pub build_cgroup: bool,
    /// SHA-256 of the context exactly as sent.
    pub context_sha256: Option<String>,
}

/// The Dockerfile as the candidate wrote it, capped and without following links.
fn read_dockerfile(dir: &Path) -> Result<String, SandboxError> {
    let path = dir.join("Dockerfile");
    let bytes = crate::support::fs::read_no_follow(&path, 1 << 20)
        .map_err(|source| SandboxError::Unreadable { path: path.clone(), source })?;
    if bytes.len() >= 1 << 20 {
        return Err(SandboxError::Rejected("Dockerfile is larger than 1 MB".into()));
    }
    String::from_utf8(bytes).map_err(|_| SandboxError::Rejected("Dockerfile is not UTF-8 text".into()))
}

/// Checks the Dockerfile and context of `dir` without an engine: what
/// `build` refuses before sending anything. Returns the rewritten
/// Dockerfile (labels after every `FROM`) and the context plan.
pub fn prepare(dir: &Path, run: &RunId, limits: &Limits) -> Result<(String, context::Plan, Vec<String>), SandboxError> {
    let plan =
        context::scan(dir, context::Caps { bytes: limits.max_context_bytes, entries: limits.max_context_entries })?;
    let text = read_dockerfile(dir)?;
    let df = dockerfile::parse(&text);
    let violations = dockerfile::check(&df, &dockerfile::Policy { base_images: &limits.base_images });
    if !violations.is_empty() {
        let lines: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
        return Err(SandboxError::Rejected(lines.join("; ")));
    }
    let bases: Vec<String> = df
        .instructions
        .iter()
        .filter(|i| i.keyword == "FROM")
        .filter_map(|i| i.rest.split_whitespace().next().map(str::to_string))
        .filter(|img| limits.base_images.contains(img))
        .collect();
    let labels: Vec<(String, String)> =
        run.labels("image").into_iter().collect::<std::collections::BTreeMap<_, _>>().into_iter().collect();
    Ok((dockerfile::with_labels(&text, &df, &labels), plan, bases))
}

/// Packs and builds `dir` on the default engine (`DOCKER_HOST` or the local socket).
pub async fn build(docker: &Docker, dir: &Path, run: &RunId, limits: &Limits) -> Result<BuiltImage, SandboxError> {
    build_on(docker, &docker::endpoint(None), dir, run, limits).await
}

/// Packs and builds `dir` on the engine at `endpoint` (the one `docker` talks to).
pub async fn build_on(
    docker: &Docker,
    endpoint: &str,
    dir: &Path,
    run: &RunId,
    limits: &Limits,
) -> Result<BuiltImage, SandboxError> {
    let (dockerfile, plan, bases) = prepare(dir, run, limits)?;
    tracing::info!(files = plan.files, bytes = plan.bytes, "build context checked");
    // The base image must be on the engine: the builder would otherwise try
    // a registry. Its absence is the grader's set-up, not the candidate's.
    let mut base = None;
    for b in &bases {
        let img = docker.inspect_image(b).await.map_err(|e| {
            SandboxError::Setup(format!(
                "base image {b} is not on the engine at {endpoint} ({e}); build it with scripts/build-base-image"
            ))
        })?;
        base.get_or_insert((b.clone(), img.id.unwrap_or_default(), img.size.unwrap_or(0).max(0) as u64));
    }
    let cgroup = match BuildCgroup::create(run.as_str(), limits.build_memory_mb, limits.build_pids) {
        Ok(cg) => Some(cg),
        Err(e) if limits.unconfined_build => {
            tracing::warn!("build runs without a process limit: {e}");
            None
        }
        Err(e) => {
            return Err(SandboxError::Setup(format!(
                "cannot confine the build (process and memory limits need a cgroup of the grader's: {e}); run as root \
                 beside a local engine with the cgroupfs driver, or pass --unconfined-build for your own code only"
            )))
        }
    };
    let tag = format!("grader-submission:{run}");
    let mb = |m: u64| (m * 1024 * 1024).to_string();
    let period = 100_000u64;
    let mut query: Vec<(&str, String)> = vec![
        ("t", tag.clone()),
        ("dockerfile", "Dockerfile".into()),
        ("rm", "1".into()),
        ("forcerm", "1".into()),
        // No layer cache: one candidate's layers are never reused for
        // another's build, and a concurrent run's cleanup can never remove
        // a cached parent from under this build.
        ("nocache", "1".into()),
        // RUN steps reach no network; ADD of URLs is refused by the policy.
        ("networkmode", "none".into()),
        ("labels", serde_json::to_string(&run.labels("image")).expect("plain map")),
        ("memory", mb(limits.build_memory_mb)),
        ("memswap", mb(limits.build_memory_mb)),
        ("cpuperiod", period.to_string()),
        ("cpuquota", ((limits.build_cpus * period as f64) as u64).max(1000).to_string()),
    ];
    if let Some(cg) = &cgroup {
        query.push(("cgroupparent", cg.parent.clone()));
    }
    let (client, base_url) = http_client(endpoint)?;
    let (chunks, sent) = plan.stream(dockerfile.into_bytes());
    let body = reqwest::Body::wrap_stream(tokio_stream(chunks));
    let mut log = LogBuffer::new(limits.log_bytes as usize);
    let mut failure: Option<String> = None;
    let consume = async {
        let resp = client
            .post(format!("{base_url}/build"))
            .query(&query)
            .header("Content-Type", "application/x-tar")
            .body(body)
            .send()
            .await
            .map_err(|e| SandboxError::Setup(format!("build request to {endpoint} failed: {e}")))?;
        let status = resp.status().as_u16();
        if status >= 400 {
            let text = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or(text);
            log.push(format!("{message}\n").as_bytes());
            return if status < 500 {
                Err(SandboxError::BuildFailed { message, log: log.text() })
            } else {
                Err(SandboxError::Setup(format!("the engine answered {status} to the build: {message}")))
            };
        }
        let mut stream = resp.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| SandboxError::Setup(format!("build stream from {endpoint} broke: {e}")))?;
            pending.extend_from_slice(&chunk);
            while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                handle_message(&line, &mut log, &mut failure);
            }
            if pending.len() > 1 << 20 {
                log.push(b"[grader: an over-long build message was dropped]\n");
                pending.clear();
            }
        }
        handle_message(&pending, &mut log, &mut failure);
        Ok::<(), SandboxError>(())
    };
    let watch = watch_disk(docker, run, limits.build_disk_mb);
    let outcome = tokio::select! {
        r = tokio::time::timeout(limits.build_timeout, consume) => match r {
            Err(_) => Err(SandboxError::BuildTimeout(limits.build_timeout, log.text())),
            Ok(r) => r,
        },
        over = watch => Err(SandboxError::BuildFailed {
            message: format!("a build step wrote more than the {} MB build disk limit ({} MB) and was stopped", limits.build_disk_mb, over / (1024 * 1024)),
            log: log.text(),
        }),
    };
    if outcome.is_err() || failure.is_some() {
        // The step still running (a deadline, the disk cap) goes now, so the
        // build cgroup can be removed and nothing keeps writing.
        remove_build_containers(docker, run).await;
    }
    let confined = cgroup.is_some();
    drop(cgroup);
    outcome?;
    if let Some(message) = failure {
        let hint = if message.contains("code: 137") {
            format!(" (137: killed; the build's memory limit is {} MB)", limits.build_memory_mb)
        } else {
            String::new()
        };
        return Err(SandboxError::BuildFailed { message: format!("{message}{hint}"), log: log.text() });
    }
    let image = docker.inspect_image(&tag).await.map_err(SandboxError::docker("inspect built image"))?;
    let size = image.size.unwrap_or(0).max(0) as u64;
    let added = size.saturating_sub(base.as_ref().map_or(0, |b| b.2));
    if added > limits.max_image_mb * 1024 * 1024 {
        return Err(SandboxError::BuildFailed {
            message: format!(
                "the image adds {} MB to its base, over the {} MB limit",
                added / (1024 * 1024),
                limits.max_image_mb
            ),
            log: log.text(),
        });
    }
    Ok(BuiltImage {
        id: image.id.unwrap_or_default(),
        tag,
        log: log.text(),
        base: base.map(|(n, id, _)| (n, id)),
        added_bytes: added,
        build_cgroup: confined,
        context_sha256: sent.get().cloned(),
    })
}

/// SHA-256 of the build context `dir` makes, with its Dockerfile as the
/// candidate wrote it: the same files, order and modes the engine gets
/// (only the grader's labels in the Dockerfile differ). None when there is
/// no context to build (no Dockerfile, over a cap).
pub fn context_digest(dir: &Path, caps: context::Caps) -> Option<String> {
    let plan = context::scan(dir, caps).ok()?;
    let dockerfile = crate::support::fs::read_no_follow(&dir.join("Dockerfile"), 1 << 20).ok()?;
    plan.digest(&dockerfile).ok()
}

/// One JSON message of the engine's build stream.
fn handle_message(line: &[u8], log: &mut LogBuffer, failure: &mut Option<String>) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
        log.push(line);
        return;
    };
    if let Some(s) = v["stream"].as_str() {
        log.push(s.as_bytes());
    }
    if let Some(e) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
        log.push(format!("{e}\n").as_bytes());
        *failure = Some(e.to_string());
    }
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// An HTTP client for the engine's API, and the URL prefix to use.
fn http_client(endpoint: &str) -> Result<(reqwest::Client, String), SandboxError> {
    let b = reqwest::Client::builder().no_proxy();
    let (b, base) = if let Some(path) = endpoint.strip_prefix("unix://") {
        (b.unix_socket(path), "http://engine".to_string())
    } else if let Some(rest) = endpoint.strip_prefix("tcp://") {
        (b, format!("http://{rest}"))
    } else {
        (b, endpoint.trim_end_matches('/').to_string())
    };
    let client = b.build().map_err(|e| SandboxError::Setup(format!("HTTP client for {endpoint}: {e}")))?;
    Ok((client, base))
}

/// Resolves when a running build step of `run` has written more than `mb`
/// MB to its layer, after killing it; the size it reached. Polls twice a
/// second (the engine reports each container's writable-layer size).
async fn watch_disk(docker: &Docker, run: &RunId, mb: u64) -> u64 {
    let cap = (mb * 1024 * 1024) as i64;
    let filters = HashMap::from([("label".to_string(), vec![run.filter()])]);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let opts =
            ListContainersOptions { all: false, size: true, filters: Some(filters.clone()), ..Default::default() };
        let Ok(list) = docker.list_containers(Some(opts)).await else { continue };
        for c in list {
            let written = c.size_rw.unwrap_or(0);
            if written > cap {
                if let Some(id) = &c.id {
                    let _ = docker.kill_container(id, None::<KillContainerOptions>).await;
                }
                return written as u64;
            }
        }
    }
}

/// Removes the run's build containers (a step still running).
async fn remove_build_containers(docker: &Docker, run: &RunId) {
    let filters = HashMap::from([("label".to_string(), vec![run.filter()])]);
    let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    if let Ok(list) = docker.list_containers(Some(opts)).await {
        for c in list {
            if let Some(id) = c.id {
                let _ = docker
                    .remove_container(&id, Some(RemoveContainerOptions { force: true, v: true, ..Default::default() }))
                    .await;
            }
        }
    }
}
