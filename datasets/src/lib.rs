//! Seeded exercise variants with planted, certified leakage and drift.
//!
//! Data flows one way: [`spec::Exercise`] (exercise.toml) → [`plan::Plan`]
//! (which defects, per seed) → [`generate::Draw`] (rows) →
//! [`certify::Certificate`] (proof) → [`variant::Variant`] (answer key) →
//! [`write::write_variant`] (files).

pub mod certify;
pub mod error;
pub mod generate;
pub mod plan;
pub mod rng;
pub mod sealed;
pub mod seed;
pub mod spec;
pub mod stats;
pub mod variant;
pub mod write;

/// The name `/drift` and report.json give to a shift of the label's base
/// rate (prior shift): it shows in the distribution of the model's own
/// predictions, not in one column.
pub const PREDICTION: &str = "__prediction__";

pub use error::{DatasetError, Result};
pub use seed::SeedSource;
pub use spec::{Exercise, ExerciseSpec, Terms};
pub use variant::{generate, AnswerKey, Variant};
pub use write::{layout, write_variant};
