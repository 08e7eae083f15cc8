//! Every planted defect, one module per kind: its `[defects.<kind>]` fields
//! and their checks, how a variant draws its parameters, how it is applied
//! to the rows, and its certificate. [`kind`] names the kinds once;
//! [`catalog`] is `[defects]` as a whole; [`plan`] draws a variant's mix.
//!
//! Adding a kind: its module here, one variant in [`kind::LeakKind`] or
//! [`kind::DriftKind`] (and in [`plan::Leak`] / [`plan::DriftChange`]), its
//! field in [`catalog::DefectCatalog`], and a call where the draw applies it.
//!
//! | kind | module | report name |
//! |---|---|---|
//! | post-outcome column | [`post_outcome`] | `target_leakage` |
//! | identifier | [`identifier`] | `identifier` |
//! | duplicated rows | [`duplicate_rows`] | `duplicate_rows` |
//! | temporal leakage | [`temporal`] | `temporal` |
//! | contamination | [`contamination`] | `contamination` |
//! | mean shift, scale change, missing rate | [`column_drift`] | `mean_shift`, `scale_change`, `missing_rate` |
//! | new category | [`new_category`] | `new_category` |
//! | train/serving skew | [`serving_skew`] | `serving_skew` |
//! | prior shift | [`prior_shift`] | `prior_shift` |

pub mod catalog;
pub mod column_drift;
pub mod contamination;
pub mod duplicate_rows;
pub mod identifier;
pub mod kind;
pub mod level;
pub mod new_category;
pub mod plan;
pub mod post_outcome;
pub mod prior_shift;
pub mod serving_skew;
pub mod temporal;

pub use kind::{ColumnType, DriftKind, LeakKind};
pub use level::Level;

/// A check's failure: the field (`defects.temporal.features`) and why.
pub(crate) type Invalid = (String, String);

/// An error on `defects.<field>`.
pub(crate) fn invalid<T>(field: &str, msg: String) -> Result<T, Invalid> {
    Err((format!("defects.{field}"), msg))
}
