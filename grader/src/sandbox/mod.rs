//! The sandbox: build and run an untrusted submission on the real Docker
//! Engine, reachable only through a unix socket, and always cleaned up.
//!
//! Flow: [`context::pack`] (tar the submission, refusing what must not be
//! sent) → [`build::build`] (no network, deadline, labelled image) →
//! [`run::start`] (locked-down container with no network, plus a relay
//! container in its network namespace exposing the port as a unix socket) →
//! [`run::Service::wait_ready`] → probes → [`run::Service::stop`] (logs, final
//! state) → [`cleanup::RunGuard::cleanup`] (everything labelled with the run).

pub mod build;
pub mod cgroup;
pub mod cleanup;
pub mod context;
pub mod docker;
pub mod dockerfile;
pub mod error;
pub mod logbuf;
pub mod run;

use std::collections::HashMap;
use std::time::Duration;

use datasets::spec::ContractSpec;

pub use error::{FailureClass, SandboxError};

/// Every object the grader creates carries this label (value `true`).
pub const LABEL_MANAGED: &str = "org.grader.managed";
/// The run an object belongs to.
pub const LABEL_RUN: &str = "org.grader.run";
/// What the object is: `image`, `candidate` or `relay`.
pub const LABEL_ROLE: &str = "org.grader.role";

/// The unprivileged user candidates' code runs as (also in the base image).
pub const CANDIDATE_USER: &str = "10001:10001";

/// Resource limits and deadlines of one run, from exercise.toml's
/// `[contract]`, possibly overridden on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub port: u16,
    /// The image the relay runs on (the contract's base image).
    pub base_image: String,
    /// Images a submission's `FROM` may name.
    pub base_images: Vec<String>,
    pub memory_mb: u64,
    pub cpus: f64,
    pub pids: i64,
    pub nofile: u64,
    pub log_bytes: u64,
    pub max_context_bytes: u64,
    pub max_context_entries: u64,
    pub build_memory_mb: u64,
    pub build_cpus: f64,
    pub build_pids: i64,
    pub build_disk_mb: u64,
    pub max_image_mb: u64,
    /// Size of the container's `/output` (a capped tmpfs).
    pub output_mb: u64,
    /// Build without the process limit when the grader cannot create a
    /// cgroup (not root, a remote engine): for one's own code only.
    pub unconfined_build: bool,
    pub build_timeout: Duration,
    pub startup_timeout: Duration,
    pub request_timeout: Duration,
}

impl Limits {
    pub fn from_contract(c: &ContractSpec) -> Limits {
        Limits {
            port: c.port,
            base_image: c.base_image.clone(),
            base_images: c.allowed_base_images(),
            memory_mb: c.memory_mb,
            cpus: c.cpus,
            pids: c.pids,
            nofile: c.nofile,
            log_bytes: c.log_bytes,
            max_context_bytes: c.max_context_mb * 1024 * 1024,
            max_context_entries: c.max_context_entries,
            build_memory_mb: c.build_memory_mb,
            build_cpus: c.build_cpus,
            build_pids: c.build_pids,
            build_disk_mb: c.build_disk_mb,
            max_image_mb: c.max_image_mb,
            output_mb: c.output_mb,
            unconfined_build: false,
            build_timeout: Duration::from_secs(c.build_timeout_seconds),
            startup_timeout: Duration::from_secs(c.startup_timeout_seconds),
            request_timeout: Duration::from_millis(c.request_timeout_ms),
        }
    }
}

/// Identifies one build-and-run; every object of the run is labelled with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunId(String);

impl RunId {
    /// A fresh id: 64 bits from the operating system's random source, so
    /// no candidate can guess another run's image or container names.
    pub fn new() -> RunId {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the operating system's random source");
        RunId(hex::encode(b))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Labels for an object of this run.
    pub fn labels(&self, role: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_RUN.to_string(), self.0.clone()),
            (LABEL_ROLE.to_string(), role.to_string()),
        ])
    }

    /// Docker filter selecting this run's objects.
    pub fn filter(&self) -> String {
        format!("{LABEL_RUN}={}", self.0)
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
