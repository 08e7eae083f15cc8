//! A sandbox session: exercise and seed → variant → image → running,
//! healthy service, with everything labelled and a guard that removes it.
//! `grader run` stops here; grading probes the service in between.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use datasets::{generate, write_variant, Exercise, SeedSource};
use tempfile::TempDir;

use crate::error::Result;
use crate::progress::Progress;
use crate::sandbox::build::{build_on, BuiltImage};
use crate::sandbox::cleanup::{install_interrupt_handler, RunGuard};
use crate::sandbox::run::{start, Access, RunConfig, Service};
use crate::sandbox::{docker, Limits, RunId, SandboxError};

/// Command-line overrides of the exercise's `[contract]` limits.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Memory limit of the candidate's container, MB (swap is the same).
    #[arg(long, value_name = "MB")]
    pub memory_mb: Option<u64>,
    /// CPU limit of the candidate's container.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Process limit of the candidate's container.
    #[arg(long)]
    pub pids: Option<i64>,
    /// Build deadline, seconds.
    #[arg(long, value_name = "SECONDS")]
    pub build_timeout: Option<u64>,
    /// Deadline for training and start-up until /health answers 200, seconds.
    #[arg(long, value_name = "SECONDS")]
    pub startup_timeout: Option<u64>,
    /// Per-request timeout, milliseconds.
    #[arg(long, value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// Docker endpoint (unix:///path or tcp://host:port); default DOCKER_HOST
    /// or the local socket. `grader batch` takes it several times and spreads
    /// the candidates over the engines.
    #[arg(long, value_name = "URL")]
    pub docker_host: Vec<String>,
    /// Keep the built image after the run (still labelled: `grader clean` removes it).
    #[arg(long)]
    pub keep_image: bool,
    /// Publish the port on 127.0.0.1 instead of the unix-socket relay: for
    /// Docker Desktop, on your own code only (the container gets a network).
    #[arg(long)]
    pub publish_loopback: bool,
    /// Build even where the grader cannot create the build's cgroup (not
    /// root, a remote engine): no process limit on the build. For your own
    /// code only.
    #[arg(long)]
    pub unconfined_build: bool,
}

impl Overrides {
    /// Every engine these overrides name (or DOCKER_HOST, or the local
    /// socket) shares this machine's filesystem.
    pub fn check_hosts(&self) -> std::result::Result<(), String> {
        if self.docker_host.is_empty() {
            return crate::sandbox::docker::shares_filesystem(&crate::sandbox::docker::endpoint(None));
        }
        self.docker_host.iter().try_for_each(|h| crate::sandbox::docker::shares_filesystem(h))
    }

    pub fn apply(&self, mut l: Limits) -> std::result::Result<Limits, String> {
        self.check_hosts()?;
        if let Some(v) = self.memory_mb {
            if v < 64 {
                return Err(format!("--memory-mb {v} is below 64"));
            }
            l.memory_mb = v;
        }
        if let Some(v) = self.cpus {
            if !(v > 0.0 && v <= 64.0) {
                return Err(format!("--cpus {v} is outside (0, 64]"));
            }
            l.cpus = v;
        }
        if let Some(v) = self.pids {
            if v < 16 {
                return Err(format!("--pids {v} is below 16"));
            }
            l.pids = v;
        }
        if let Some(v) = self.build_timeout {
            l.build_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = self.startup_timeout {
            l.startup_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = self.request_timeout_ms {
            l.request_timeout = Duration::from_millis(v.max(1));
        }
        l.unconfined_build = self.unconfined_build;
        Ok(l)
    }
}

/// A running, healthy service and everything needed to tear it down.
pub struct Session {
    pub docker: Docker,
    pub guard: RunGuard,
    pub run: RunId,
    pub limits: Limits,
    pub image: BuiltImage,
    pub service: Service,
    pub ready_after: Duration,
    /// What the container sees at `/data` (a variant's `public/`, or a
    /// kit's `data/`); a variant's `sealed/` never is.
    pub data: PathBuf,
    _variant_dir: Option<TempDir>,
}

/// Where a session stopped short of a healthy service, with what it has.
pub struct Failed {
    pub error: SandboxError,
    pub build_log: Option<String>,
    pub logs: Option<crate::sandbox::run::Stopped>,
}

/// Writes the variant for `seed` into a fresh temporary directory (its
/// `public/` is what the container gets) and hands the sealed data over in
/// memory: the grader never reads its answer key back from disk.
pub fn variant_for(exercise: &Exercise, seed: SeedSource) -> Result<(TempDir, PathBuf, datasets::sealed::Sealed)> {
    let tmp = tempfile::Builder::new()
        .prefix("grader-variant-")
        .tempdir()
        .map_err(|source| datasets::DatasetError::Write { path: std::env::temp_dir(), source })?;
    let mut v = generate(exercise, seed)?;
    let dir = tmp.path().join("variant");
    write_variant(&exercise.spec, &mut v, &dir)?;
    let sealed = datasets::sealed::Sealed::from_variant(&exercise.spec, &v)?;
    Ok((tmp, dir, sealed))
}

/// Builds and starts `submission` with `data` at `/data`, and
/// waits until it is healthy. The returned guard (in [`Session`] or
/// dropped with [`Failed`]) removes every object of the run.
pub async fn open(
    submission: &Path,
    data: PathBuf,
    variant_dir: Option<TempDir>,
    limits: Limits,
    overrides: &Overrides,
    progress: &Progress,
) -> Result<std::result::Result<Session, Failed>> {
    let host = overrides.docker_host.first().map(String::as_str);
    let docker = docker::connect(host).await?;
    install_interrupt_handler();
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, overrides.keep_image).map_err(|e| SandboxError::Setup(e.to_string()))?;
    progress.phase(format!(
        "building {} (run {run}, no network, {} MB, {} processes, {}s deadline)",
        crate::sanitize::terminal_line(&submission.display().to_string()),
        limits.build_memory_mb,
        limits.build_pids,
        limits.build_timeout.as_secs()
    ));
    let image = match build_on(&docker, &docker::endpoint(host), submission, &run, &limits).await {
        Ok(i) => i,
        Err(e) if e.class() == crate::sandbox::FailureClass::Infrastructure => return Err(e.into()),
        Err(error) => {
            let build_log = match &error {
                SandboxError::BuildFailed { log, .. } | SandboxError::BuildTimeout(_, log) => Some(log.clone()),
                _ => None,
            };
            guard.cleanup().await;
            return Ok(Err(Failed { error, build_log, logs: None }));
        }
    };
    progress.phase(format!(
        "starting: {} MB, {} CPU, {} processes, no network; training until /health answers (deadline {}s)",
        limits.memory_mb,
        limits.cpus,
        limits.pids,
        limits.startup_timeout.as_secs()
    ));
    let access = if overrides.publish_loopback { Access::LoopbackPort } else { Access::Socket };
    let config = RunConfig { image: &image.tag, data_dir: &data, limits: &limits, run: &run, access };
    let service = match start(&docker, &config).await {
        Ok(s) => s,
        Err(e) if e.class() == crate::sandbox::FailureClass::Infrastructure => return Err(e.into()),
        Err(error) => {
            guard.cleanup().await;
            return Ok(Err(Failed { error, build_log: Some(image.log), logs: None }));
        }
    };
    match service.wait_ready(&docker).await {
        Ok(ready_after) => {
            progress.phase(format!("healthy after {:.1}s", ready_after.as_secs_f64()));
            Ok(Ok(Session { docker, guard, run, limits, image, service, ready_after, data, _variant_dir: variant_dir }))
        }
        Err(e) if e.class() == crate::sandbox::FailureClass::Infrastructure => Err(e.into()),
        Err(error) => {
            let logs = service.stop(&docker).await.ok();
            guard.cleanup().await;
            Ok(Err(Failed { error, build_log: Some(image.log), logs }))
        }
    }
}
