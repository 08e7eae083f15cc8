//! Latency verdicts that are the candidate's own: [`turns`] gives each
//! latency window the host alone in a batch, [`host`] measures what else
//! the host ran during a window.

pub mod host;
pub mod turns;
