//! What every stage uses: typed errors and the exit-code contract,
//! sanitising of candidate-controlled text, staged files, progress lines,
//! and the shutdown on signals.

pub mod error;
pub mod exit;
pub mod fs;
pub mod health;
pub mod progress;
pub mod sanitize;
pub mod shutdown;
