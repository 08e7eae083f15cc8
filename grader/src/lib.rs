//! grader: an automated grader for MLOps take-home exercises.
//!
//! The tree follows the pipeline. `cli` parses arguments once into
//! validated requests; `commands` holds one module per subcommand; a
//! grading flows `pipeline::material` (exercise and seed, or a kit) →
//! `pipeline::session` (the `sandbox`: image, container, healthy service)
//! → `probe` → `evaluate` (findings, checks, score: pure) → `report`; `batch`
//! runs many gradings, `fairness` keeps their latency windows apart, and
//! `schema` names every document written for machines. `support` holds
//! what every stage uses (errors and exit codes, sanitising, files,
//! progress, shutdown). Only `main` turns a [`support::error::GraderError`]
//! into the exit codes of [`support::exit::Exit`].

pub mod batch;
pub mod cli;
pub mod commands;
pub mod evaluate;
pub mod fairness;
pub mod intake;
pub mod pipeline;
pub mod probe;
pub mod report;
pub mod review;
pub mod sandbox;
pub mod schema;
pub mod support;
