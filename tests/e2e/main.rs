//! End-to-end tests of the `grader` binary and library: one test binary, one
//! module per area, per-test temporary directories, helpers in `support`.
//! Tests that need Docker fail loudly when it is missing; none skips.

mod arguments;
mod batch;
mod build_policy;
mod grade;
mod hostile;
mod intake;
mod kit;
mod lifecycle;
mod neighbours;
mod review;
mod runtime;
mod sandbox;
mod shards;
mod support;
mod variant;
mod verdict;
