//! Sandbox errors, and the failure classes they map to in results.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::schema::FailureClass;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "Docker Engine unreachable at {endpoint}: {message}. Start Docker, or set DOCKER_HOST to a running engine"
    )]
    Unreachable { endpoint: String, message: String },

    #[error("Docker Engine failed during {during}: {source}")]
    Docker {
        during: &'static str,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("submission {0} has no Dockerfile at its top level")]
    NoDockerfile(PathBuf),

    #[error("cannot read submission {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("submission refused before building: {0}")]
    Rejected(String),

    #[error("build failed: {message}")]
    BuildFailed { message: String, log: String },

    #[error("build did not finish within {0:?}")]
    BuildTimeout(Duration, String),

    #[error("service not ready within {0:?}")]
    StartupTimeout(Duration),

    #[error("/health answered {status} instead of 200 until the {after:?} deadline")]
    Unhealthy { status: u16, after: Duration },

    #[error("container was killed for using more than its {limit_mb} MB memory limit")]
    OomKilled { limit_mb: u64 },

    #[error("container exited with code {0} before it was ready")]
    Exited(i64),

    /// The grader's own set-up (a missing base image, a build cgroup it
    /// cannot create, the relay): infrastructure, never the candidate's.
    #[error("{0}")]
    Setup(String),

    #[error("the engine could not start the container: {0}")]
    StartFailed(String),

    #[error("grader-side I/O failed at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SandboxError {
    pub fn class(&self) -> FailureClass {
        match self {
            SandboxError::Unreachable { .. }
            | SandboxError::Docker { .. }
            | SandboxError::Io { .. }
            | SandboxError::Setup(_) => FailureClass::Infrastructure,
            SandboxError::NoDockerfile(_) | SandboxError::Unreadable { .. } | SandboxError::Rejected(_) => {
                FailureClass::BuildRejected
            }
            SandboxError::BuildFailed { .. } => FailureClass::BuildFailed,
            SandboxError::BuildTimeout(..) => FailureClass::BuildTimeout,
            SandboxError::StartupTimeout(_) => FailureClass::StartupTimeout,
            SandboxError::Unhealthy { .. } => FailureClass::Unhealthy,
            SandboxError::OomKilled { .. } => FailureClass::OomKilled,
            SandboxError::Exited(_) => FailureClass::Crashed,
            SandboxError::StartFailed(_) => FailureClass::StartFailed,
        }
    }

    pub(crate) fn docker(during: &'static str) -> impl FnOnce(bollard::errors::Error) -> SandboxError {
        move |source| SandboxError::Docker { during, source }
    }
}
