//! A sandbox session: exercise and seed → variant → image → running,
//! healthy service, with everything labelled and a guard that removes it.
//! `grader run` stops here; grading probes the service in between.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use tempfile::TempDir;

use crate::sandbox::build::{build_on, BuiltImage};
use crate::sandbox::cleanup::{install_interrupt_handler, RunGuard};
use crate::sandbox::run::{start, Access, RunConfig, Service};
use crate::sandbox::{docker, Limits, RunId, SandboxError};
use crate::support::error::Result;
use crate::support::progress::Progress;

/// Overrides of the exercise's `[contract]` limits and of how the sandbox
/// runs, already range-checked (`cli::OverrideArgs::validate`): applying
/// them cannot fail.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    pub build_timeout: Option<Duration>,
    pub startup_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
    /// Engines to use (empty: DOCKER_HOST or the local socket); each one
    /// shares this machine's filesystem.
    pub docker_host: Vec<String>,
    pub keep_image: bool,
    pub publish_loopback: bool,
    pub unconfined_build: bool,
}

impl Overrides {
    pub fn apply(&self, mut l: Limits) -> Limits {
        if let Some(v) = self.memory_mb {
            l.memory_mb = v;
        }
        if let Some(v) = self.cpus {
            l.cpus = v;
        }
        if let Some(v) = self.pids {
            l.pids = v;
        }
        if let Some(v) = self.build_timeout {
            l.build_timeout = v;
        }
        if let Some(v) = self.startup_timeout {
            l.startup_timeout = v;
        }
        if let Some(v) = self.request_timeout {
            l.request_timeout = v;
        }
        l.unconfined_build = self.unconfined_build;
        l
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
        crate::support::sanitize::terminal_line(&submission.display().to_string()),
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
