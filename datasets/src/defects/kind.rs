//! The defect vocabulary: every kind of leak and drift, once. The answer
//! key, the plan, the contract's validation of report.json and `/drift`, and
//! the grader's findings all use these; the JSON names are contract v1's.

use serde::{Deserialize, Serialize};

/// A kind of leakage, as a candidate's report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakKind {
    /// A column recorded after the outcome (`defects.post_outcome`).
    TargetLeakage,
    /// Ids that encode the label in the extract.
    Identifier,
    /// Rows repeated in train by a fan-out join.
    DuplicateRows,
    /// A real feature measured after the prediction time.
    Temporal,
    /// Production rows also in train, with their outcomes.
    Contamination,
}
crate::word_enum!(LeakKind {
    TargetLeakage => "target_leakage",
    Identifier => "identifier",
    DuplicateRows => "duplicate_rows",
    Temporal => "temporal",
    Contamination => "contamination",
});

impl LeakKind {
    /// About rows, not a column: the report's `feature` may be null.
    pub fn is_about_rows(self) -> bool {
        matches!(self, LeakKind::DuplicateRows | LeakKind::Contamination)
    }

    /// Information from after the prediction time in a column: from the
    /// files alone a post-outcome column and a feature measured too late
    /// look alike, so either name is right for either.
    pub fn is_after_prediction(self) -> bool {
        matches!(self, LeakKind::TargetLeakage | LeakKind::Temporal)
    }
}

/// A kind of drift, as a candidate's report and `/drift` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    MeanShift,
    ScaleChange,
    NewCategory,
    MissingRate,
    /// The serving pipeline encodes the column differently.
    ServingSkew,
    /// The share of positives moved (named [`crate::PREDICTION`]).
    PriorShift,
}
crate::word_enum!(DriftKind {
    MeanShift => "mean_shift",
    ScaleChange => "scale_change",
    NewCategory => "new_category",
    MissingRate => "missing_rate",
    ServingSkew => "serving_skew",
    PriorShift => "prior_shift",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_its_json_and_parses_back() {
        for k in LeakKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(k.as_str().parse::<LeakKind>(), Ok(*k));
        }
        for k in DriftKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(k.as_str().parse::<DriftKind>(), Ok(*k));
        }
        assert!("other".parse::<LeakKind>().is_err() && "other".parse::<DriftKind>().is_err());
    }
}

/// What a report's flag can name: a column's type decides which drift
/// kinds can apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Numeric,
    Categorical,
    /// [`crate::PREDICTION`]: the model's own predictions.
    Prediction,
}

impl DriftKind {
    /// Whether this kind can happen to a column of type `t`: a new category
    /// in a numeric column, or a mean shift of categories, cannot.
    pub fn applies_to(self, t: ColumnType) -> bool {
        use ColumnType::*;
        match self {
            DriftKind::MeanShift | DriftKind::ScaleChange => t == Numeric,
            DriftKind::NewCategory => t == Categorical,
            DriftKind::MissingRate | DriftKind::ServingSkew => t != Prediction,
            DriftKind::PriorShift => t == Prediction,
        }
    }
}
