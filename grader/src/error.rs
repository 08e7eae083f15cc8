//! Errors of the grader, each mapped to an exit code at the CLI edge.

use datasets::DatasetError;

use crate::exit::Exit;

#[derive(Debug, thiserror::Error)]
pub enum GraderError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),

    #[error("{0}")]
    Usage(String),
}

impl GraderError {
    pub fn exit(&self) -> Exit {
        match self {
            GraderError::Usage(_) => Exit::Usage,
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
