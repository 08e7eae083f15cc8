//! `exercise.toml`: everything about an exercise that is not code.
//!
//! Parsing is strict (unknown fields are errors, so a typo never silently
//! falls back to a default) and [`ExerciseSpec::load`] validates every value,
//! naming the offending field in its error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

mod validate;

pub use crate::defects::catalog::DefectCatalog;
pub use crate::defects::column_drift::FeatureDriftSpec;
pub use crate::defects::contamination::ContaminationSpec;
pub use crate::defects::duplicate_rows::DuplicateRowsSpec;
pub use crate::defects::identifier::IdentifierSpec;
pub use crate::defects::new_category::NewCategorySpec;
pub use crate::defects::post_outcome::PostOutcomeSpec;
pub use crate::defects::prior_shift::PriorShiftSpec;
pub use crate::defects::serving_skew::ServingSkewSpec;
pub use crate::defects::temporal::TemporalSpec;
pub(crate) use validate::check_range;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExerciseSpec {
    pub exercise: ExerciseMeta,
    pub rows: Rows,
    pub label: LabelSpec,
    pub features: Vec<FeatureSpec>,
    /// How the features depend on each other (a Gaussian copula).
    #[serde(default)]
    pub dependence: Option<crate::joint::DependenceSpec>,
    /// What no row may be: bounds between columns, categories that exclude
    /// each other.
    #[serde(default)]
    pub constraints: Vec<crate::joint::ConstraintSpec>,
    pub defects: DefectCatalog,
    pub certificate: CertificateSpec,
    pub contract: ContractSpec,
    pub probes: ProbeSpec,
    pub slo: SloSpec,
    pub rubric: Rubric,
    /// The production replay (contract v2): days after launch, late
    /// labels, and the events planted in them.
    #[serde(default)]
    pub lifecycle: Option<crate::lifecycle::LifecycleSpec>,
    /// Score bands `grader validate` checks each fixture against.
    #[serde(default)]
    pub validate: Option<ValidateSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateSpec {
    /// Seeds whose variants every fixture is graded on.
    pub seeds: Vec<u64>,
    pub fixtures: Vec<FixtureBand>,
    /// `grader validate --parity N`: equal difficulty across seeds.
    #[serde(default)]
    pub parity: Option<ParitySpec>,
}

/// Two candidates on different seeds face the same difficulty: the careful
/// fixture's score, and its gap to the careless one, vary across seeds by
/// at most these many percentage points.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParitySpec {
    /// The careful submission, relative to the exercise's directory.
    pub careful: String,
    /// The careless one (trusts every column).
    pub careless: String,
    /// Seeds tried are `first_seed`, `first_seed + 1`, … (N of them).
    pub first_seed: u64,
    pub max_score_spread: f64,
    pub max_gap_spread: f64,
    /// The careless fixture's served AUC may vary across the seeds by at
    /// most this sample SD (optional).
    #[serde(default)]
    pub max_careless_auc_sd: Option<f64>,
}

/// A fixture submission and the score band it must land in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureBand {
    /// Submission directory, relative to the exercise's directory.
    pub path: String,
    pub min_percent: f64,
    pub max_percent: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExerciseMeta {
    pub id: String,
    pub title: String,
    pub version: u32,
    /// Seed of the public practice variant used by `grader self-check`.
    pub practice_seed: u64,
    /// Name of the always-present identifier column.
    pub id_column: String,
    /// First identifier handed out; ids grow from here.
    pub id_start: i64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rows {
    pub train: usize,
    pub production: usize,
    pub holdout: usize,
    /// Drifted rows the live monitoring probe sends through `/predict`.
    pub traffic: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    pub name: String,
    /// Log-odds of the label when every feature sits at its effect's centre
    /// (a range: each variant draws its own).
    pub intercept: Span,
    /// A variant's model is redrawn until its positive rate (expected, on
    /// a check sample) lies here: silent features and drawn effects move
    /// the rate, and a business knows its own rate within a range.
    #[serde(default)]
    pub positive_rate: Option<Range>,
}

/// A number, or a `[low, high]` range that each variant draws from
/// uniformly. exercise.toml is public: a range is a family, not a formula.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Span {
    Fixed(f64),
    Range([f64; 2]),
}

impl Span {
    pub fn bounds(self) -> [f64; 2] {
        match self {
            Span::Fixed(x) => [x, x],
            Span::Range(r) => r,
        }
    }
    /// The middle of the range: what a reader of the file would copy.
    pub fn centre(self) -> f64 {
        let [lo, hi] = self.bounds();
        (lo + hi) / 2.0
    }
    pub fn draw(self, rng: &mut crate::rng::Rng) -> f64 {
        match self {
            Span::Fixed(x) => x,
            Span::Range(r) => rng.range(r),
        }
    }
    pub fn is_finite(self) -> bool {
        let [lo, hi] = self.bounds();
        lo.is_finite() && hi.is_finite() && lo <= hi
    }
}

impl Default for Span {
    fn default() -> Span {
        Span::Fixed(0.0)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    pub dist: Distribution,
    /// Share of values missing completely at random (after the label is drawn).
    #[serde(default)]
    pub missing_rate: f64,
    /// Numeric values lie in `[low, high]`: the distribution truncated
    /// there (no value piles up on a bound, before or after a drift).
    pub clip: Option<[f64; 2]>,
    /// Numeric rounding; 0 makes an integer column. Default 2.
    pub decimals: Option<u32>,
    /// Numeric contribution to the label's log-odds:
    /// `coef * z + quadratic * z^2` with `z = (x - center) / scale`.
    pub effect: Option<Effect>,
    /// Categorical contribution to the log-odds, per category (others add 0).
    #[serde(default)]
    pub effects: BTreeMap<String, Span>,
    /// Chance that the feature carries its effect in a variant at all
    /// (default 1): which features matter is part of what a candidate
    /// learns from the data, not from this file.
    pub signal_chance: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    Normal { mean: f64, sd: f64 },
    Lognormal { mu: f64, sigma: f64 },
    Uniform { low: f64, high: f64 },
    Exponential { mean: f64 },
    Poisson { lambda: f64 },
    Categorical { categories: Vec<String>, weights: Vec<f64> },
}

impl Distribution {
    pub fn is_categorical(&self) -> bool {
        matches!(self, Distribution::Categorical { .. })
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    /// A range (its sign fixed where the business fixes it), drawn per variant.
    pub coef: Span,
    pub center: f64,
    pub scale: f64,
    #[serde(default)]
    pub quadratic: Span,
}

/// A `[low, high]` range a defect's strength is drawn from uniformly.
pub type Range = [f64; 2];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSpec {
    /// A planted drift must reach at most this p-value, in production and in
    /// the monitoring traffic.
    pub drift_max_p: f64,
    /// Family-wise false-alarm level for clean columns (Bonferroni).
    pub clean_alpha: f64,
    /// A leak's single-feature AUC (either direction) in train, at least.
    pub leak_min_train_auc: f64,
    /// A leak's serving-view AUC must lie within 0.5 +- this.
    pub leak_max_serving_gap: f64,
    /// The generating model's holdout AUC must lie in this range.
    pub bayes_auc: Range,
    /// The family's centre (the formula a reader of this file would copy)
    /// must keep a share of the variant's own model's AUC skill over 0.5
    /// within this range, on a check sample: every variant sits as far
    /// from the public formula as every other (equal difficulty).
    #[serde(default)]
    pub public_skill: Option<Range>,
    /// Every honest numeric feature's single-feature AUC in train (either
    /// direction) at most this, and a temporal leak's at least
    /// [`crate::certify::LEAK_MARGIN`] more: a real feature measured too
    /// late stands out above every honest one (optional).
    #[serde(default)]
    pub honest_max_auc: Option<f64>,
    /// A temporal leak's single-feature AUC must fall by at least this much
    /// from the extract to serving time.
    #[serde(default = "default_temporal_min_auc_drop")]
    pub temporal_min_auc_drop: f64,
    /// A subtle drift's p-value, production.csv against train.csv as
    /// published, lies in this band: a careful test finds it, and it is
    /// not a wall (an obvious drift reaches `drift_max_p` everywhere).
    #[serde(default)]
    pub subtle_drift_p: Option<Range>,
    /// A subtle drift's power, at least: the share of batches resampled
    /// from production and from the live traffic whose test reaches the
    /// Bonferroni level of a candidate's family (`clean_alpha` over every
    /// column and aspect tested).
    #[serde(default = "default_subtle_min_power")]
    pub subtle_min_power: f64,
    /// A subtle numeric drift's population stability index, at most: what
    /// a glance at PSI computes misses it (rules of thumb start at 0.1).
    #[serde(default = "default_subtle_max_psi")]
    pub subtle_max_psi: f64,
    /// A subtle column leak's single-feature AUC in train lies in this band,
    /// just above the strongest honest feature; an obvious one reaches
    /// above its top.
    #[serde(default)]
    pub subtle_leak_auc: Option<Range>,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContractSpec {
    pub version: u32,
    pub base_image: String,
    pub port: u16,
    pub max_rows_per_request: usize,
    pub build_timeout_seconds: u64,
    pub startup_timeout_seconds: u64,
    pub request_timeout_ms: u64,
    pub memory_mb: u64,
    pub cpus: f64,
    pub pids: i64,
    pub nofile: u64,
    pub log_bytes: u64,
    pub max_context_mb: u64,
    /// Files, directories and links in the build context, at most.
    #[serde(default = "defaults::max_context_entries")]
    pub max_context_entries: u64,
    /// Images besides `base_image` that a submission's `FROM` may name.
    #[serde(default)]
    pub extra_base_images: Vec<String>,
    /// Memory of the whole build (every `RUN` step), MB; swap is the same.
    #[serde(default = "defaults::build_memory_mb")]
    pub build_memory_mb: u64,
    #[serde(default = "defaults::build_cpus")]
    pub build_cpus: f64,
    /// Processes of the whole build at once.
    #[serde(default = "defaults::build_pids")]
    pub build_pids: i64,
    /// What one build step may write to its layer, MB.
    #[serde(default = "defaults::build_disk_mb")]
    pub build_disk_mb: u64,
    /// What the image may add to its base, MB.
    #[serde(default = "defaults::max_image_mb")]
    pub max_image_mb: u64,
    /// Size of the container's `/output` (a capped tmpfs), MB.
    #[serde(default = "defaults::output_mb")]
    pub output_mb: u64,
}

impl ContractSpec {
    /// Every image a submission's `FROM` may name.
    pub fn allowed_base_images(&self) -> Vec<String> {
        std::iter::once(self.base_image.clone()).chain(self.extra_base_images.iter().cloned()).collect()
    }
}

/// Defaults of contract fields added after v1 shipped: exercise files
/// written before them keep loading, with these limits.
mod defaults {
    pub fn max_context_entries() -> u64 {
        10_000
    }
    pub fn build_memory_mb() -> u64 {
        2048
    }
    pub fn build_cpus() -> f64 {
        1.0
    }
    pub fn build_pids() -> i64 {
        512
    }
    pub fn build_disk_mb() -> u64 {
        2048
    }
    pub fn max_image_mb() -> u64 {
        2048
    }
    pub fn output_mb() -> u64 {
        64
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    pub correctness_batch_rows: usize,
    pub latency_rate_per_second: f64,
    pub latency_warmup_seconds: f64,
    pub latency_duration_seconds: f64,
    pub latency_timeout_ms: u64,
    pub max_response_bytes: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_error_rate: f64,
    /// Serving AUC as a fraction of the generator's Bayes AUC, at least.
    pub min_auc_fraction: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rubric {
    pub contract: f64,
    pub correctness: f64,
    pub leak_reliance: f64,
    pub latency: f64,
    pub robustness: f64,
    pub drift_monitoring: f64,
    pub findings: f64,
    /// The production replay's group (exercises with `[lifecycle]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<f64>,
}

/// What a grading is held to, apart from the data: the container contract,
/// the probes' settings, the SLOs and the rubric. A candidate's kit carries
/// these and nothing else of `exercise.toml` (no features' generating
/// model, no `[defects]` pools), so the grader's probes and scoring take
/// them, not the whole spec.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    pub contract: ContractSpec,
    pub probes: ProbeSpec,
    pub slo: SloSpec,
    pub rubric: Rubric,
}

impl ExerciseSpec {
    /// The grading terms of this exercise.
    pub fn terms(&self) -> Terms {
        Terms {
            contract: self.contract.clone(),
            probes: self.probes.clone(),
            slo: self.slo.clone(),
            rubric: self.rubric.clone(),
        }
    }
}

pub(crate) fn default_decimals() -> u32 {
    2
}

impl FeatureSpec {
    pub fn decimals(&self) -> u32 {
        self.decimals.unwrap_or(2)
    }
    pub fn signal_chance(&self) -> f64 {
        self.signal_chance.unwrap_or(1.0)
    }
    /// Integer-valued numeric columns are written as integers.
    pub fn is_integer(&self) -> bool {
        !self.dist.is_categorical() && self.decimals() == 0
    }
}

/// A parsed and validated exercise, with where it came from.
#[derive(Debug, Clone)]
pub struct Exercise {
    pub spec: ExerciseSpec,
    pub path: PathBuf,
    /// Exact bytes of the file: the variant depends on nothing else.
    pub raw: String,
}

impl Exercise {
    /// Loads `exercise.toml` from a directory or a file path.
    pub fn load(path: &Path) -> Result<Exercise> {
        let path = if path.is_dir() { path.join("exercise.toml") } else { path.to_path_buf() };
        let raw =
            std::fs::read_to_string(&path).map_err(|source| DatasetError::ReadSpec { path: path.clone(), source })?;
        let spec = ExerciseSpec::parse(&raw, &path)?;
        Ok(Exercise { spec, path, raw })
    }

    /// SHA-256 of exercise.toml's bytes (hex): variants depend on them and the seed.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.raw.as_bytes()))
    }

    /// The same exercise without its production replay (contract v1), or
    /// `None` when it has none: see [`crate::lifecycle::without_lifecycle`].
    pub fn without_lifecycle(&self) -> Option<Result<Exercise>> {
        let raw = crate::lifecycle::without_lifecycle(&self.raw)?;
        Some(ExerciseSpec::parse(&raw, &self.path).map(|spec| Exercise { spec, path: self.path.clone(), raw }))
    }

    /// The exercise's folder (holds README.md, fixtures' score bands, …).
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

impl ExerciseSpec {
    pub fn parse(raw: &str, path: &Path) -> Result<ExerciseSpec> {
        let spec: ExerciseSpec = toml::from_str(raw).map_err(|e| DatasetError::ParseSpec {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        spec.validate().map_err(|(field, message)| DatasetError::InvalidSpec {
            path: path.to_path_buf(),
            field,
            message,
        })?;
        Ok(spec)
    }

    pub fn feature(&self, name: &str) -> Option<&FeatureSpec> {
        self.features.iter().find(|f| f.name == name)
    }
}

fn default_temporal_min_auc_drop() -> f64 {
    0.1
}

fn default_subtle_min_power() -> f64 {
    0.9
}

fn default_subtle_max_psi() -> f64 {
    0.1
}
