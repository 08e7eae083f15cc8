//! Errors of the grader, each mapped to an exit code at the CLI edge.

use datasets::DatasetError;

use crate::sandbox::{FailureClass, SandboxError};
use crate::support::exit::Exit;

#[derive(Debug, thiserror::Error)]
pub enum GraderError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),

    #[error(transparent)]
    Sandbox(#[from] SandboxError),

    #[error("{0}")]
    Usage(String),

    /// The submission did not become healthy (already reported in detail).
    #[error("the submission did not become healthy ({0:?})")]
    NotHealthy(FailureClass),

    /// `merge`: shards or candidates missing, or graded twice.
    #[error("{0}")]
    Incomplete(String),

    /// `probe --wait`: the service never answered `/health` with 200 in time.
    #[error("{0}")]
    NotReady(String),

    /// The grader's side failed mid-grade (results written, marked ungraded).
    #[error("infrastructure failure: {0}")]
    Infrastructure(String),

    #[error("cannot write results to {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `grader validate`: fixtures scored outside their declared bands.
    #[error("{0} score band(s) violated")]
    BandsViolated(usize),

    /// The score is below `--fail-under`.
    #[error("score {score}% is below --fail-under {threshold}%")]
    BelowThreshold { score: f64, threshold: f64 },

    /// `batch`: graded results that could not be moved into place (each
    /// message names the staging folder that keeps them).
    #[error("graded results could not be moved into place: {}", .0.join("; "))]
    Unpublished(Vec<String>),

    /// The engine refused to remove objects the grader created.
    #[error("could not remove: {}", .0.join("; "))]
    Cleanup(Vec<String>),
}

impl GraderError {
    pub fn exit(&self) -> Exit {
        match self {
            GraderError::Usage(_) => Exit::Usage,
            GraderError::Cleanup(_) | GraderError::Infrastructure(_) => Exit::Infrastructure,
            GraderError::Io { .. } | GraderError::Unpublished(_) => Exit::Io,
            GraderError::BelowThreshold { .. } | GraderError::BandsViolated(_) => Exit::Failed,
            GraderError::NotHealthy(FailureClass::BuildRejected | FailureClass::IntakeRejected) => Exit::Usage,
            GraderError::NotHealthy(_) | GraderError::NotReady(_) | GraderError::Incomplete(_) => Exit::Failed,
            GraderError::Sandbox(e) => match e.class() {
                FailureClass::Infrastructure => Exit::Infrastructure,
                FailureClass::BuildRejected => Exit::Usage,
                _ => Exit::Failed,
            },
            GraderError::Dataset(e) => match e {
                DatasetError::ReadSpec { .. }
                | DatasetError::ParseSpec { .. }
                | DatasetError::InvalidSpec { .. }
                | DatasetError::OutputNotEmpty(_)
                | DatasetError::Secret { .. } => Exit::Usage,
                DatasetError::Uncertifiable { .. } => Exit::Uncertifiable,
                DatasetError::Write { .. } | DatasetError::Frame { .. } => Exit::Io,
            },
        }
    }
}

pub type Result<T, E = GraderError> = std::result::Result<T, E>;
