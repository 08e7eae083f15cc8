//! `[lifecycle]` of exercise.toml: the production replay's days, its label
//! delay, and the pools and strengths of the three events it plants.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::{ExerciseSpec, Range};

/// `[lifecycle]`: present in an exercise served under contract v2.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleSpec {
    /// Simulated days after launch.
    pub days: u32,
    /// Rows sent through `/predict` each day.
    pub rows_per_day: usize,
    /// Labels of a day's rows arrive this many days later ...
    pub label_lag_days: u32,
    /// ... for this share of them.
    pub label_fraction: f64,
    /// A concept drift reported this many days after the first day its
    /// labels allow earns nothing.
    pub max_delay_days: u32,
    /// How long `/feedback` may take (the service may retrain inside it).
    pub feedback_timeout_ms: u64,
    /// How long the decoy drift and the pipeline break last.
    pub event_days: u32,
    /// Quiet days before each event, `[min, max]`, drawn per seed.
    pub quiet_days: [u32; 2],
    /// Days after a concept drift's scoring window, at least, over which
    /// the served AUC (recovery) is measured.
    pub recovery_days: u32,
    pub concept_drift: ConceptDriftSpec,
    pub decoy_drift: DecoyDriftSpec,
    pub pipeline_break: PipelineBreakSpec,
}

/// `[lifecycle.concept_drift]`: from its day on, one numeric feature's
/// effect on the label reverses while every input keeps its distribution.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConceptDriftSpec {
    /// Numeric features whose effect may reverse (one with an effect in the
    /// variant's model is drawn).
    pub features: Vec<String>,
    /// The new linear coefficient is `-strength` times the old one.
    pub strength: Range,
    /// The new concept's generating model must beat the old one on the new
    /// concept's rows by at least this much AUC: retraining is measurable.
    pub min_recovery_gap: f64,
}

/// `[lifecycle.decoy_drift]`: a low-effect feature shifts for a while.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DecoyDriftSpec {
    /// Numeric features it may shift: the one with the least effect in the
    /// variant's model is taken.
    pub features: Vec<String>,
    /// Latent SDs the feature's score moves (sign drawn per seed).
    pub strength: Range,
    /// The generating model's AUC may fall by at most this much (ε).
    pub max_auc_loss: f64,
}

/// `[lifecycle.pipeline_break]`: one numeric feature arrives broken.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineBreakSpec {
    pub features: Vec<String>,
    /// Ways it breaks, one drawn per seed (`unit` only where `unit` names
    /// the feature).
    pub modes: Vec<BreakMode>,
    /// Factor a feature's values carry when a unit change breaks it.
    #[serde(default)]
    pub unit: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakMode {
    /// Every value null.
    Null,
    /// Every value the training median.
    Constant,
    /// Every value times the feature's `unit` factor.
    Unit,
}

crate::word_enum!(BreakMode { Null => "null", Constant => "constant", Unit => "unit" });

impl LifecycleSpec {
    /// Days the concept drift keeps every other event out: from its day to
    /// the last day its scoring allows.
    pub fn concept_window(&self) -> u32 {
        self.label_lag_days + self.max_delay_days + 1
    }

    /// The fewest days any schedule needs: the longest quiet gaps, both
    /// timed events, the concept drift's window and the recovery days.
    pub fn days_needed(&self) -> u32 {
        3 * self.quiet_days[1] + 2 * self.event_days + self.concept_window() + self.recovery_days
    }
}

type Invalid = std::result::Result<(), (String, String)>;

fn bad(field: &str, message: String) -> Invalid {
    Err((format!("lifecycle.{field}"), message))
}

/// Every value of `[lifecycle]`, naming the field.
pub(crate) fn validate(spec: &ExerciseSpec, l: &LifecycleSpec) -> Invalid {
    if l.rows_per_day < 50 {
        return bad(
            "rows_per_day",
            format!("{} rows a day is too few to test a day's inputs (at least 50)", l.rows_per_day),
        );
    }
    if !(l.label_fraction > 0.0 && l.label_fraction <= 1.0) {
        return bad("label_fraction", format!("{} is outside (0, 1]", l.label_fraction));
    }
    if l.event_days == 0 {
        return bad("event_days", "an event lasts at least one day".into());
    }
    let [lo, hi] = l.quiet_days;
    if lo == 0 || lo > hi {
        return bad("quiet_days", format!("[{lo}, {hi}] is not a range of at least one day with min <= max"));
    }
    if l.recovery_days == 0 {
        return bad("recovery_days", "recovery is measured over at least one day".into());
    }
    if l.feedback_timeout_ms == 0 {
        return bad("feedback_timeout_ms", "must be positive".into());
    }
    if l.days < l.days_needed() {
        return bad(
            "days",
            format!(
                "{} days cannot hold the longest schedule: 3 quiet gaps of {hi}, 2 events of {}, the concept drift's \
                 window of {} (label_lag_days + max_delay_days + 1) and {} recovery days need {}",
                l.days,
                l.event_days,
                l.concept_window(),
                l.recovery_days,
                l.days_needed()
            ),
        );
    }
    if l.days > 365 {
        return bad("days", format!("{} days is more than a year of replay", l.days));
    }
    let numeric = |field: &str, names: &[String]| -> Invalid {
        if names.is_empty() {
            return bad(field, "needs at least one feature".into());
        }
        for n in names {
            match spec.feature(n) {
                None => return bad(field, format!("`{n}` is not a feature of this exercise")),
                Some(f) if f.dist.is_categorical() => {
                    return bad(field, format!("`{n}` is categorical; this event applies to numeric features"))
                }
                Some(_) => {}
            }
        }
        Ok(())
    };
    let range = |field: &str, [lo, hi]: Range, min: f64, max: f64| -> Invalid {
        if !(lo.is_finite() && hi.is_finite() && lo <= hi && lo >= min && hi <= max) {
            return bad(field, format!("[{lo}, {hi}] is not a range with low <= high inside [{min}, {max}]"));
        }
        Ok(())
    };
    let c = &l.concept_drift;
    numeric("concept_drift.features", &c.features)?;
    for n in &c.features {
        if spec.feature(n).is_some_and(|f| f.effect.is_none()) {
            return bad("concept_drift.features", format!("`{n}` has no effect on the label to reverse"));
        }
    }
    range("concept_drift.strength", c.strength, 0.1, 3.0)?;
    if !(c.min_recovery_gap > 0.0 && c.min_recovery_gap < 0.5) {
        return bad("concept_drift.min_recovery_gap", format!("{} is outside (0, 0.5)", c.min_recovery_gap));
    }
    let d = &l.decoy_drift;
    numeric("decoy_drift.features", &d.features)?;
    range("decoy_drift.strength", d.strength, 0.05, 5.0)?;
    if !(d.max_auc_loss > 0.0 && d.max_auc_loss < 0.2) {
        return bad("decoy_drift.max_auc_loss", format!("{} is outside (0, 0.2)", d.max_auc_loss));
    }
    let b = &l.pipeline_break;
    numeric("pipeline_break.features", &b.features)?;
    if b.modes.is_empty() {
        return bad("pipeline_break.modes", "needs at least one of null, constant, unit".into());
    }
    for (name, k) in &b.unit {
        if !b.features.contains(name) {
            return bad("pipeline_break.unit", format!("`{name}` is not in pipeline_break.features"));
        }
        if !(k.is_finite() && *k > 0.0 && (k.log10().abs() >= 1.0)) {
            return bad(
                &format!("pipeline_break.unit.{name}"),
                format!("{k} is no unit change (a positive factor at least 10 times up or down)"),
            );
        }
    }
    if b.modes.contains(&BreakMode::Unit) && b.unit.is_empty() {
        return bad("pipeline_break.modes", "`unit` needs pipeline_break.unit to name a feature and its factor".into());
    }
    // Three events on three distinct features: each pool must leave one.
    let all: std::collections::BTreeSet<&String> = c.features.iter().chain(&d.features).chain(&b.features).collect();
    if all.len() < 3 {
        return bad("concept_drift.features", "the three events need three distinct features among their pools".into());
    }
    Ok(())
}
