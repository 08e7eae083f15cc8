//! Seeded exercise variants with planted, certified leakage and drift.
//!
//! Data flows one way: [`spec::Exercise`] (exercise.toml) →
//! [`defects::plan::Plan`] (which defects, per seed) → [`draw::Draw`] (rows,
//! each defect applied by its module in [`defects`]) →
//! [`certify::Certificate`] (proof) → [`variant::Variant`] (answer key) →
//! [`io::write::write_variant`] (files), read back by [`io::sealed`].
//!
//! | folder | what |
//! |---|---|
//! | `spec/` | exercise.toml: its types, and every value checked |
//! | `defects/` | the kinds (one vocabulary), `[defects]`, the plan, one module per kind |
//! | `joint/` | how a row's features depend on each other: copula, constraints, truncated marginals |
//! | `draw/` | rows from the generating model, defects applied |
//! | `certify/` | the certificate on the generated rows |
//! | `lifecycle/` | the production replay: days, late labels, concept drift, decoy, break (sealed) |
//! | `io/` | files on disk and back |
//! | `stats`, `rng`, `seed`, `par` | two-sample tests and AUC; seeded streams; seeds from a secret; pure work spread over the cores |

/// `ALL`, `as_str()`, `Display` and `FromStr` for an enum written as one
/// word in JSON, so text uses the word the JSON does (the defect kinds here;
/// the grader's outcomes, modes, states, statuses and failure classes).
/// The words are listed beside the variants; a test of each enum holds
/// them equal to its serde names.
#[macro_export]
macro_rules! word_enum {
    ($t:ident { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// Every value, in declaration order.
            pub const ALL: &'static [$t] = &[$($t::$v),*];
            /// The value's name as written in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),* }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                $t::ALL.iter().copied().find(|k| k.as_str() == s).ok_or(())
            }
        }
    };
}

pub mod certify;
pub mod defects;
pub mod draw;
pub mod error;
pub mod io;
pub mod joint;
pub mod lifecycle;
pub mod model;
mod par;
pub mod rng;
pub mod seed;
pub mod spec;
pub mod stats;
pub mod variant;

/// The name `/drift` and report.json give to a shift of the label's base
/// rate (prior shift): it shows in the distribution of the model's own
/// predictions, not in one column.
pub const PREDICTION: &str = "__prediction__";

pub use defects::{ColumnType, DriftKind, LeakKind, Level};
pub use error::{DatasetError, Result};
pub use io::write::write_variant;
pub use io::{layout, sealed};
pub use seed::SeedSource;
pub use spec::{Exercise, ExerciseSpec, Terms};
pub use variant::{generate, AnswerKey, Variant};
