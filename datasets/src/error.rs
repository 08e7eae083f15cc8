//! Typed errors of the variant generator. The CLI maps each to an exit code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The exercise file could not be read at all.
    #[error("cannot read exercise file {path}: {source}")]
    ReadSpec {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The exercise file is not valid TOML or does not match the schema
    /// (unknown field, unknown distribution, wrong type). The message names
    /// the field and the line.
    #[error("invalid exercise file {path}: {message}")]
    ParseSpec { path: PathBuf, message: String },

    /// The exercise file parses but a value is impossible or inconsistent.
    #[error("invalid exercise file {path}: {field}: {message}")]
    InvalidSpec { path: PathBuf, field: String, message: String },

    /// Every deterministic redraw failed its certificate: the exercise asks
    /// for defects too weak (or too strong) to be proven on these row counts.
    #[error(
        "exercise {exercise}: no certified variant for seed {seed} after {attempts} draws; last draw failed: {reasons}"
    )]
    Uncertifiable { exercise: String, seed: u64, attempts: u32, reasons: String },

    /// The output directory exists and holds files: never overwritten.
    #[error("output directory {0} exists and is not empty; choose a new directory or empty it first")]
    OutputNotEmpty(PathBuf),

    /// The secret file for seed derivation is unreadable or empty.
    #[error("secret file {path}: {message}")]
    Secret { path: PathBuf, message: String },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {path}: {message}")]
    Frame { path: PathBuf, message: String },
}

pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
