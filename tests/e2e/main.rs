//! End-to-end tests of the `grader` binary: one test binary, one module per
//! command, per-test temporary directories, helpers in `support`.

mod support;
mod variant;
