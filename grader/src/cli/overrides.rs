//! The sandbox flags every grading command shares, and their ranges: turned
//! into a checked [`Overrides`] before any work, so a bad value exits 2
//! naming the flag and writes nothing.

use std::time::Duration;

use crate::pipeline::session::Overrides;
use crate::support::error::{GraderError, Result};

/// Command-line overrides of the exercise's `[contract]` limits.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OverrideArgs {
    /// Memory limit of the candidate's container, MB (swap is the same); at least 64.
    #[arg(long, value_name = "MB")]
    pub memory_mb: Option<u64>,
    /// CPU limit of the candidate's container, in (0, 64].
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Process limit of the candidate's container; at least 16.
    #[arg(long)]
    pub pids: Option<i64>,
    /// Build deadline, seconds (at least 1).
    #[arg(long, value_name = "SECONDS")]
    pub build_timeout: Option<u64>,
    /// Deadline for training and start-up until /health answers 200, seconds (at least 1).
    #[arg(long, value_name = "SECONDS")]
    pub startup_timeout: Option<u64>,
    /// Per-request timeout, milliseconds (at least 1).
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

/// The allowed ranges, one place: (flag, lowest, highest).
pub const MEMORY_MB: (&str, u64) = ("--memory-mb", 64);
pub const CPUS: (&str, f64, f64) = ("--cpus", 0.0, 64.0);
pub const PIDS: (&str, i64) = ("--pids", 16);

/// [`super::ranges::at_least`] of a flag that may be absent.
fn at_least<T: PartialOrd + std::fmt::Display>(flag: &str, v: Option<T>, min: T) -> Result<Option<T>> {
    v.map(|v| super::ranges::at_least(flag, v, min)).transpose()
}

impl OverrideArgs {
    /// Every value in range, every engine on this machine.
    pub fn validate(&self) -> Result<Overrides> {
        let memory_mb = at_least(MEMORY_MB.0, self.memory_mb, MEMORY_MB.1)?;
        let cpus = match self.cpus {
            Some(v) if !(v > CPUS.1 && v <= CPUS.2) => {
                return Err(GraderError::Usage(format!(
                    "{} {v} is outside (0, 64] (allowed: more than 0, at most 64)",
                    CPUS.0
                )));
            }
            v => v,
        };
        let pids = at_least(PIDS.0, self.pids, PIDS.1)?;
        let secs = |flag: &str, v: Option<u64>| Ok::<_, GraderError>(at_least(flag, v, 1)?.map(Duration::from_secs));
        let build_timeout = secs("--build-timeout", self.build_timeout)?;
        let startup_timeout = secs("--startup-timeout", self.startup_timeout)?;
        let request_timeout = at_least("--request-timeout-ms", self.request_timeout_ms, 1)?.map(Duration::from_millis);
        let hosts = if self.docker_host.is_empty() {
            vec![crate::sandbox::docker::endpoint(None)]
        } else {
            self.docker_host.clone()
        };
        for h in &hosts {
            crate::sandbox::docker::shares_filesystem(h).map_err(GraderError::Usage)?;
        }
        Ok(Overrides {
            memory_mb,
            cpus,
            pids,
            build_timeout,
            startup_timeout,
            request_timeout,
            docker_host: self.docker_host.clone(),
            keep_image: self.keep_image,
            publish_loopback: self.publish_loopback,
            unconfined_build: self.unconfined_build,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(a: OverrideArgs) -> String {
        a.validate().unwrap_err().to_string()
    }

    #[test]
    fn each_limit_out_of_range_names_its_flag_and_range() {
        let d = OverrideArgs::default;
        assert!(err(OverrideArgs { cpus: Some(0.0), ..d() }).contains("--cpus 0 is outside (0, 64]"));
        assert!(err(OverrideArgs { cpus: Some(65.0), ..d() }).contains("--cpus"));
        assert!(err(OverrideArgs { memory_mb: Some(63), ..d() }).contains("--memory-mb 63 is below 64"));
        assert!(err(OverrideArgs { pids: Some(15), ..d() }).contains("--pids 15 is below 16"));
        assert!(err(OverrideArgs { build_timeout: Some(0), ..d() }).contains("--build-timeout 0 is below 1"));
        assert!(err(OverrideArgs { startup_timeout: Some(0), ..d() }).contains("--startup-timeout"));
        assert!(err(OverrideArgs { request_timeout_ms: Some(0), ..d() }).contains("--request-timeout-ms"));
        assert!(err(OverrideArgs { docker_host: vec!["tcp://10.1.2.3:2375".into()], ..d() }).contains("--shard"));
        let ok = OverrideArgs { cpus: Some(0.5), memory_mb: Some(64), pids: Some(16), build_timeout: Some(1), ..d() }
            .validate()
            .unwrap();
        assert_eq!(
            (ok.cpus, ok.memory_mb, ok.pids, ok.build_timeout),
            (Some(0.5), Some(64), Some(16), Some(Duration::from_secs(1)))
        );
    }
}
