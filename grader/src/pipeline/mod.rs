//! A grading, stage by stage: [`material`] (what it runs against: an
//! exercise and a seed, or a kit) → [`session`] (the submission built and
//! running, healthy, in the sandbox) → [`grading`] (probes, evaluation,
//! results). `grade`, `probe`, `batch`, `self-check` and `validate` all go
//! through it.

pub mod grading;
pub mod kit;
pub mod material;
pub mod session;
