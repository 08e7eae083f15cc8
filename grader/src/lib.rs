//! grader: an automated grader for MLOps take-home exercises.
//!
//! The binary is a thin layer over this library: `cli` parses arguments once
//! into validated requests, each command module does the work and returns
//! typed results or a [`error::GraderError`], and only `main` turns errors into
//! the exit codes of [`exit::Exit`].

pub mod cli;
pub mod error;
pub mod evaluate;
pub mod batch;
pub mod clean;
pub mod exit;
pub mod findings;
pub mod grade;
pub mod host;
pub mod kit;
pub mod material;
pub mod probe;
pub mod progress;
pub mod quiet;
pub mod report;
pub mod run_submission;
pub mod sanitize;
pub mod schema;
pub mod sandbox;
pub mod score;
pub mod selfcheck;
pub mod session;
pub mod shutdown;
pub mod validate;
pub mod variant;
