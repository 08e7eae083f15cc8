//! `exercise.toml`: everything about an exercise that is not code.
//!
//! Parsing is strict (unknown fields are errors, so a typo never silently
//! falls back to a default) and [`ExerciseSpec::load`] validates every value,
//! naming the offending field in its error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExerciseSpec {
    pub exercise: ExerciseMeta,
    pub rows: Rows,
    pub label: LabelSpec,
    pub features: Vec<FeatureSpec>,
    pub defects: DefectCatalog,
    pub certificate: CertificateSpec,
    pub contract: ContractSpec,
    pub probes: ProbeSpec,
    pub slo: SloSpec,
    pub rubric: Rubric,
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
    /// Log-odds of the label when every feature sits at its effect's centre.
    pub intercept: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    pub dist: Distribution,
    /// Share of values missing completely at random (after the label is drawn).
    #[serde(default)]
    pub missing_rate: f64,
    /// Numeric values are clipped to `[low, high]`.
    pub clip: Option<[f64; 2]>,
    /// Numeric rounding; 0 makes an integer column. Default 2.
    pub decimals: Option<u32>,
    /// Numeric contribution to the label's log-odds:
    /// `coef * z + quadratic * z^2` with `z = (x - center) / scale`.
    pub effect: Option<Effect>,
    /// Categorical contribution to the log-odds, per category (others add 0).
    #[serde(default)]
    pub effects: BTreeMap<String, f64>,
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
    pub coef: f64,
    pub center: f64,
    pub scale: f64,
    #[serde(default)]
    pub quadratic: f64,
}

/// A `[low, high]` range a defect's strength is drawn from uniformly.
pub type Range = [f64; 2];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DefectCatalog {
    /// How many leakage defects a variant plants, `[min, max]`.
    pub leak_count: [u32; 2],
    /// How many drifted features a variant plants, `[min, max]`.
    pub drift_count: [u32; 2],
    pub post_outcome: Option<PostOutcomeSpec>,
    pub identifier: Option<IdentifierSpec>,
    pub duplicate_rows: Option<DuplicateRowsSpec>,
    pub mean_shift: Option<FeatureDriftSpec>,
    pub scale_change: Option<FeatureDriftSpec>,
    pub missing_rate: Option<FeatureDriftSpec>,
    pub new_category: Option<NewCategorySpec>,
    pub temporal: Option<TemporalSpec>,
    pub contamination: Option<ContaminationSpec>,
    pub serving_skew: Option<ServingSkewSpec>,
    pub prior_shift: Option<PriorShiftSpec>,
}

/// A real feature that the extract measured after the prediction time: for
/// positives it already carries the outcome's trace (logins counted after
/// the customer left). At serving time it is measured when it should be.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemporalSpec {
    /// Numeric features with an effect on the label that it may hit.
    pub features: Vec<String>,
    /// How far positives' values move in the extract, in training SDs, in
    /// the direction their effect already points.
    pub strength: Range,
}

/// Rows of the recent (production) period that the extract also holds,
/// with their outcomes: a careless evaluation or drift test on them is
/// flattered.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContaminationSpec {
    /// Share of production rows copied into train.
    pub strength: Range,
}

/// A feature that the serving pipeline computes or encodes differently from
/// the training extract.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSkewSpec {
    /// Numeric feature -> factor its values carry at serving time (a unit
    /// change: 100 for dollars to cents).
    #[serde(default)]
    pub unit: BTreeMap<String, f64>,
    /// Categorical features whose categories are spelled differently at
    /// serving time (upper case, `-` and spaces as `_`).
    #[serde(default)]
    pub spelling: Vec<String>,
}

/// The live traffic's share of positives differs from training (label
/// shift): each class looks as before, so the features move only as far
/// as the label explains, and the model's own predictions move most.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriorShiftSpec {
    /// Factor on the training positive rate at serving time (upwards).
    pub strength: Range,
}

/// A column recorded after the outcome (a careless extract joins it in).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostOutcomeSpec {
    /// Plausible names; each variant draws one.
    pub names: Vec<String>,
    /// How far positives' values sit above negatives', in noise SDs.
    pub strength: Range,
    /// Typical value and spread of the column before the outcome.
    pub center: f64,
    pub spread: f64,
    #[serde(default = "default_decimals")]
    pub decimals: u32,
}

/// Identifiers handed out so that they encode the label in the extract.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierSpec {
    /// Share of positives whose id comes from the late block.
    pub strength: Range,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateRowsSpec {
    /// Share of train rows that are duplicated.
    pub strength: Range,
    /// Share of duplicated rows that are positives (a fan-out join on the
    /// positives' side inflates the base rate, too).
    pub positive_share: f64,
    /// Extra copies of each duplicated source row, `[min, max]`: a fan-out
    /// repeats the same rows several times, which a model then memorises.
    pub copies: [u32; 2],
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDriftSpec {
    /// Features this drift may hit.
    pub features: Vec<String>,
    /// mean_shift: shift in training SDs (sign drawn per variant);
    /// scale_change: factor on deviations from the mean;
    /// missing_rate: added share of missing values.
    pub strength: Range,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewCategorySpec {
    /// Categorical feature -> names its new category may take.
    pub features: BTreeMap<String, Vec<String>>,
    /// Share of production rows that carry the new category.
    pub strength: Range,
}

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
    /// A temporal leak's single-feature AUC must fall by at least this much
    /// from the extract to serving time.
    #[serde(default = "default_temporal_min_auc_drop")]
    pub temporal_min_auc_drop: f64,
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
    pub fn max_context_entries() -> u64 { 10_000 }
    pub fn build_memory_mb() -> u64 { 2048 }
    pub fn build_cpus() -> f64 { 1.0 }
    pub fn build_pids() -> i64 { 512 }
    pub fn build_disk_mb() -> u64 { 2048 }
    pub fn max_image_mb() -> u64 { 2048 }
    pub fn output_mb() -> u64 { 64 }
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
        Terms { contract: self.contract.clone(), probes: self.probes.clone(), slo: self.slo.clone(), rubric: self.rubric.clone() }
    }
}

fn default_decimals() -> u32 {
    2
}

impl FeatureSpec {
    pub fn decimals(&self) -> u32 {
        self.decimals.unwrap_or(2)
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
        let path = if path.is_dir() {
            path.join("exercise.toml")
        } else {
            path.to_path_buf()
        };
        let raw = std::fs::read_to_string(&path).map_err(|source| DatasetError::ReadSpec {
            path: path.clone(),
            source,
        })?;
        let spec = ExerciseSpec::parse(&raw, &path)?;
        Ok(Exercise { spec, path, raw })
    }

    /// SHA-256 of exercise.toml's bytes (hex): variants depend on them and the seed.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(self.raw.as_bytes()))
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
        spec.validate()
            .map_err(|(field, message)| DatasetError::InvalidSpec {
                path: path.to_path_buf(),
                field,
                message,
            })?;
        Ok(spec)
    }

    pub fn feature(&self, name: &str) -> Option<&FeatureSpec> {
        self.features.iter().find(|f| f.name == name)
    }

    /// Checks every value; the error names the field (`features.age.dist.sd`).
    pub fn validate(&self) -> std::result::Result<(), (String, String)> {
        let e = |field: String, msg: String| Err((field, msg));
        let r = &self.rows;
        for (name, n, min) in [
            ("rows.train", r.train, 200),
            ("rows.production", r.production, 100),
            ("rows.holdout", r.holdout, 100),
            ("rows.traffic", r.traffic, 100),
        ] {
            if n < min {
                return e(name.into(), format!("{n} rows is too few to certify defects (at least {min})"));
            }
        }
        if self.label.name.trim().is_empty() {
            return e("label.name".into(), "must not be empty".into());
        }
        if !self.label.intercept.is_finite() {
            return e("label.intercept".into(), "must be a finite number".into());
        }
        if self.features.is_empty() {
            return e("features".into(), "an exercise needs at least one feature".into());
        }
        let mut names = BTreeSet::new();
        names.insert(self.label.name.clone());
        if !names.insert(self.exercise.id_column.clone()) {
            return e("exercise.id_column".into(), "must differ from the label".into());
        }
        for f in &self.features {
            let at = format!("features.{}", f.name);
            if f.name.trim().is_empty() {
                return e("features.name".into(), "must not be empty".into());
            }
            if !names.insert(f.name.clone()) {
                return e(format!("{at}.name"), format!("`{}` is used twice (or clashes with the label or id column)", f.name));
            }
            validate_distribution(&f.dist).or_else(|(k, m)| e(format!("{at}.dist.{k}"), m))?;
            if !(0.0..0.9).contains(&f.missing_rate) {
                return e(format!("{at}.missing_rate"), format!("{} is outside [0, 0.9)", f.missing_rate));
            }
            if let Some([lo, hi]) = f.clip {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return e(format!("{at}.clip"), format!("[{lo}, {hi}] is not a range with low < high"));
                }
            }
            if f.decimals() > 6 {
                return e(format!("{at}.decimals"), format!("{} is more than 6", f.decimals()));
            }
            match &f.dist {
                Distribution::Categorical { categories, .. } => {
                    if f.effect.is_some() {
                        return e(format!("{at}.effect"), "a categorical feature takes `effects` per category, not `effect`".into());
                    }
                    if f.clip.is_some() || f.decimals.is_some() {
                        return e(format!("{at}.clip"), "clip and decimals apply to numeric features only".into());
                    }
                    for (cat, v) in &f.effects {
                        if !categories.contains(cat) {
                            return e(format!("{at}.effects.{cat}"), format!("`{cat}` is not one of the categories {categories:?}"));
                        }
                        if !v.is_finite() {
                            return e(format!("{at}.effects.{cat}"), "must be a finite number".into());
                        }
                    }
                }
                _ => {
                    if !f.effects.is_empty() {
                        return e(format!("{at}.effects"), "a numeric feature takes one `effect`, not per-category `effects`".into());
                    }
                    if let Some(ef) = f.effect {
                        if !(ef.scale.is_finite() && ef.scale > 0.0) {
                            return e(format!("{at}.effect.scale"), format!("{} must be positive", ef.scale));
                        }
                        if !(ef.coef.is_finite() && ef.center.is_finite() && ef.quadratic.is_finite()) {
                            return e(format!("{at}.effect"), "coef, center and quadratic must be finite".into());
                        }
                    }
                }
            }
        }
        self.validate_defects(&names)?;
        self.validate_certificate()?;
        if let Some(v) = &self.validate {
            if v.seeds.is_empty() {
                return e("validate.seeds".into(), "needs at least one seed".into());
            }
            for f in &v.fixtures {
                if !(0.0..=100.0).contains(&f.min_percent) || !(0.0..=100.0).contains(&f.max_percent) || f.min_percent > f.max_percent {
                    return e(format!("validate.fixtures.{}", f.path), format!("[{}, {}] is not a band within [0, 100]", f.min_percent, f.max_percent));
                }
            }
            if let Some(p) = &v.parity {
                for (field, value) in [("validate.parity.max_score_spread", p.max_score_spread), ("validate.parity.max_gap_spread", p.max_gap_spread)] {
                    if !(0.0..=100.0).contains(&value) {
                        return e(field.into(), format!("{value} is outside [0, 100] points"));
                    }
                }
            }
        }
        self.validate_operations()
    }

    fn validate_defects(&self, taken: &BTreeSet<String>) -> std::result::Result<(), (String, String)> {
        let d = &self.defects;
        let e = |field: &str, msg: String| Err((format!("defects.{field}"), msg));
        let leak_kinds = [d.post_outcome.is_some(), d.identifier.is_some(), d.duplicate_rows.is_some(), d.temporal.is_some(), d.contamination.is_some()]
            .iter()
            .filter(|x| **x)
            .count() as u32;
        let [lmin, lmax] = d.leak_count;
        if lmin > lmax || lmax > leak_kinds {
            return e("leak_count", format!("[{lmin}, {lmax}] needs min <= max <= {leak_kinds} (the leak kinds configured)"));
        }
        if let Some(p) = &d.post_outcome {
            check_range("post_outcome.strength", p.strength, 0.5, 20.0)?;
            if p.names.is_empty() {
                return e("post_outcome.names", "needs at least one name".into());
            }
            for n in &p.names {
                if taken.contains(n) {
                    return e("post_outcome.names", format!("`{n}` clashes with a feature, the label or the id column"));
                }
            }
            if !(p.spread.is_finite() && p.spread > 0.0 && p.center.is_finite()) {
                return e("post_outcome.spread", format!("{} must be positive (and center finite)", p.spread));
            }
        }
        if let Some(p) = &d.identifier {
            check_range("identifier.strength", p.strength, 0.05, 1.0)?;
        }
        if let Some(p) = &d.duplicate_rows {
            check_range("duplicate_rows.strength", p.strength, 0.005, 0.5)?;
            if !(0.0..=1.0).contains(&p.positive_share) {
                return e("duplicate_rows.positive_share", format!("{} is outside [0, 1]", p.positive_share));
            }
            let [cmin, cmax] = p.copies;
            if cmin < 1 || cmin > cmax || cmax > 50 {
                return e("duplicate_rows.copies", format!("[{cmin}, {cmax}] needs 1 <= min <= max <= 50"));
            }
        }
        if let Some(t) = &d.temporal {
            check_range("temporal.strength", t.strength, 0.2, 10.0)?;
            if t.features.is_empty() {
                return e("temporal.features", "needs at least one feature".into());
            }
            for name in &t.features {
                match self.feature(name) {
                    Some(f) if !f.dist.is_categorical() && f.effect.is_some_and(|x| x.coef != 0.0) => {}
                    Some(_) => return e("temporal.features", format!("`{name}` needs to be numeric with a nonzero `effect.coef` (the outcome's trace follows it)")),
                    None => return e("temporal.features", format!("`{name}` is not a feature of this exercise")),
                }
            }
        }
        if let Some(c) = &d.contamination {
            check_range("contamination.strength", c.strength, 0.005, 0.5)?;
        }
        let mut eligible = BTreeSet::new();
        if let Some(k) = &d.serving_skew {
            if k.unit.is_empty() && k.spelling.is_empty() {
                return e("serving_skew", "needs at least one feature in `unit` or `spelling`".into());
            }
            for (name, factor) in &k.unit {
                match self.feature(name) {
                    Some(f) if !f.dist.is_categorical() => {}
                    _ => return e(&format!("serving_skew.unit.{name}"), format!("`{name}` is not a numeric feature of this exercise")),
                }
                if !(factor.is_finite() && *factor > 0.0 && (factor.ln().abs() >= 2.0f64.ln())) {
                    return e(&format!("serving_skew.unit.{name}"), format!("{factor} must be a positive factor of at least 2 (or at most 1/2): a unit change"));
                }
                eligible.insert(name.clone());
            }
            for name in &k.spelling {
                let Some(Distribution::Categorical { categories, .. }) = self.feature(name).map(|f| &f.dist) else {
                    return e("serving_skew.spelling", format!("`{name}` is not a categorical feature of this exercise"));
                };
                if let Some(c) = categories.iter().find(|c| categories.contains(&crate::plan::serving_spelling(c))) {
                    return e("serving_skew.spelling", format!("`{name}`'s category `{c}` is spelled the same at serving time (lower-case names with `-` or spaces are respelled)"));
                }
                eligible.insert(name.clone());
            }
        }
        if let Some(p) = &d.prior_shift {
            check_range("prior_shift.strength", p.strength, 1.1, 4.0)?;
            eligible.insert(crate::PREDICTION.to_string());
        }
        for (kind, spec, lo, hi) in [
            ("mean_shift", &d.mean_shift, 0.05, 10.0),
            ("scale_change", &d.scale_change, 1.05, 10.0),
            ("missing_rate", &d.missing_rate, 0.01, 0.9),
        ] {
            let Some(s) = spec else { continue };
            check_range(&format!("{kind}.strength"), s.strength, lo, hi)?;
            if s.features.is_empty() {
                return e(&format!("{kind}.features"), "needs at least one feature".into());
            }
            for name in &s.features {
                let Some(f) = self.feature(name) else {
                    return e(&format!("{kind}.features"), format!("`{name}` is not a feature of this exercise"));
                };
                if kind != "missing_rate" && f.dist.is_categorical() {
                    return e(&format!("{kind}.features"), format!("`{name}` is categorical; {kind} needs a numeric feature"));
                }
                if kind == "missing_rate" && f.missing_rate + s.strength[1] >= 0.95 {
                    return e(
                        "missing_rate.strength",
                        format!(
                            "{} added to `{name}`'s base missing rate {} leaves almost no values: impossible defect strength",
                            s.strength[1], f.missing_rate
                        ),
                    );
                }
                eligible.insert(name.clone());
            }
        }
        if let Some(s) = &d.new_category {
            check_range("new_category.strength", s.strength, 0.01, 0.9)?;
            for (name, new) in &s.features {
                let Some(Distribution::Categorical { categories, .. }) = self.feature(name).map(|f| &f.dist) else {
                    return e("new_category.features", format!("`{name}` is not a categorical feature of this exercise"));
                };
                if new.is_empty() {
                    return e(&format!("new_category.features.{name}"), "needs at least one new category name".into());
                }
                if let Some(c) = new.iter().find(|c| categories.contains(c)) {
                    return e(&format!("new_category.features.{name}"), format!("`{c}` already is a category of `{name}`"));
                }
                eligible.insert(name.clone());
            }
        }
        let [dmin, dmax] = d.drift_count;
        // A temporal leak takes its feature out of the drift pool.
        let eligible_left = eligible.len() - d.temporal.as_ref().is_some_and(|t| t.features.iter().any(|f| eligible.contains(f))) as usize;
        if dmin < 1 || dmin > dmax || dmax as usize > eligible_left {
            return e(
                "drift_count",
                format!("[{dmin}, {dmax}] needs 1 <= min <= max <= {eligible_left} (the features any drift may hit)"),
            );
        }
        Ok(())
    }

    fn validate_certificate(&self) -> std::result::Result<(), (String, String)> {
        let c = &self.certificate;
        let e = |field: &str, msg: String| Err((format!("certificate.{field}"), msg));
        if !(c.drift_max_p > 0.0 && c.drift_max_p < 0.05) {
            return e("drift_max_p", format!("{} is outside (0, 0.05)", c.drift_max_p));
        }
        if !(c.clean_alpha > 0.0 && c.clean_alpha < 1.0) {
            return e("clean_alpha", format!("{} is outside (0, 1)", c.clean_alpha));
        }
        if !(0.5..=1.0).contains(&c.leak_min_train_auc) {
            return e("leak_min_train_auc", format!("{} is outside [0.5, 1]", c.leak_min_train_auc));
        }
        if !(0.0..0.5).contains(&c.leak_max_serving_gap) {
            return e("leak_max_serving_gap", format!("{} is outside [0, 0.5)", c.leak_max_serving_gap));
        }
        check_range("certificate.bayes_auc", c.bayes_auc, 0.5, 1.0).map_err(|(_, m)| ("certificate.bayes_auc".into(), m))?;
        if c.max_attempts == 0 || c.max_attempts > 1000 {
            return e("max_attempts", format!("{} is outside [1, 1000]", c.max_attempts));
        }
        Ok(())
    }

    fn validate_operations(&self) -> std::result::Result<(), (String, String)> {
        let c = &self.contract;
        let e = |field: &str, msg: String| Err((field.to_string(), msg));
        if c.version != 1 {
            return e("contract.version", format!("{} is unknown; this grader speaks contract v1", c.version));
        }
        if c.base_image.trim().is_empty() {
            return e("contract.base_image", "must name an image".into());
        }
        if c.max_rows_per_request == 0 {
            return e("contract.max_rows_per_request", "must be at least 1".into());
        }
        for (f, v) in [
            ("contract.build_timeout_seconds", c.build_timeout_seconds),
            ("contract.startup_timeout_seconds", c.startup_timeout_seconds),
            ("contract.request_timeout_ms", c.request_timeout_ms),
            ("contract.memory_mb", c.memory_mb),
            ("contract.nofile", c.nofile),
            ("contract.log_bytes", c.log_bytes),
            ("contract.max_context_mb", c.max_context_mb),
            ("contract.max_context_entries", c.max_context_entries),
            ("contract.build_memory_mb", c.build_memory_mb),
            ("contract.build_disk_mb", c.build_disk_mb),
            ("contract.max_image_mb", c.max_image_mb),
            ("contract.output_mb", c.output_mb),
            ("probes.latency_timeout_ms", self.probes.latency_timeout_ms),
        ] {
            if v == 0 {
                return e(f, "must be greater than 0".into());
            }
        }
        if c.build_pids < 16 {
            return e("contract.build_pids", format!("{} is below 16", c.build_pids));
        }
        if !(c.build_cpus > 0.0 && c.build_cpus <= 64.0) {
            return e("contract.build_cpus", format!("{} is outside (0, 64]", c.build_cpus));
        }
        if c.build_memory_mb > 2047 {
            return e("contract.build_memory_mb", format!("{} MB is over the engine's 2047 MB build limit", c.build_memory_mb));
        }
        if c.memory_mb < 64 {
            return e("contract.memory_mb", format!("{} MB is too little to run Python", c.memory_mb));
        }
        if !(c.cpus > 0.0 && c.cpus <= 64.0) {
            return e("contract.cpus", format!("{} is outside (0, 64]", c.cpus));
        }
        if c.pids < 16 {
            return e("contract.pids", format!("{} is below 16", c.pids));
        }
        let p = &self.probes;
        if p.correctness_batch_rows == 0 || p.correctness_batch_rows > c.max_rows_per_request {
            return e("probes.correctness_batch_rows", format!("{} must be in [1, contract.max_rows_per_request]", p.correctness_batch_rows));
        }
        if !(p.latency_rate_per_second > 0.0 && p.latency_rate_per_second <= 100_000.0) {
            return e("probes.latency_rate_per_second", format!("{} is outside (0, 100000]", p.latency_rate_per_second));
        }
        if !(p.latency_duration_seconds > 0.0) || !(p.latency_warmup_seconds >= 0.0) {
            return e("probes.latency_duration_seconds", "duration must be positive and warm-up not negative".into());
        }
        if p.max_response_bytes < 1024 {
            return e("probes.max_response_bytes", "must be at least 1024".into());
        }
        let s = &self.slo;
        if !(s.p50_ms > 0.0 && s.p99_ms >= s.p50_ms) {
            return e("slo.p99_ms", format!("needs 0 < p50_ms ({}) <= p99_ms ({})", s.p50_ms, s.p99_ms));
        }
        if !(0.0..=1.0).contains(&s.max_error_rate) {
            return e("slo.max_error_rate", format!("{} is outside [0, 1]", s.max_error_rate));
        }
        if !(0.0..=1.0).contains(&s.min_auc_fraction) {
            return e("slo.min_auc_fraction", format!("{} is outside [0, 1]", s.min_auc_fraction));
        }
        let r = &self.rubric;
        let weights = [r.contract, r.correctness, r.leak_reliance, r.latency, r.robustness, r.drift_monitoring, r.findings];
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || weights.iter().sum::<f64>() <= 0.0 {
            return e("rubric", "weights must be non-negative and not all zero".into());
        }
        Ok(())
    }
}

fn default_temporal_min_auc_drop() -> f64 {
    0.1
}

fn check_range(field: &str, [lo, hi]: Range, min: f64, max: f64) -> std::result::Result<(), (String, String)> {
    let field = if field.starts_with("certificate.") { field.to_string() } else { format!("defects.{field}") };
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return Err((field, format!("[{lo}, {hi}] is not a range with low <= high")));
    }
    if lo < min || hi > max {
        return Err((field, format!("[{lo}, {hi}] is outside the possible [{min}, {max}]: impossible defect strength")));
    }
    Ok(())
}

fn validate_distribution(d: &Distribution) -> std::result::Result<(), (String, String)> {
    let pos = |k: &str, v: f64| {
        if v.is_finite() && v > 0.0 { Ok(()) } else { Err((k.to_string(), format!("{v} must be a positive number"))) }
    };
    let fin = |k: &str, v: f64| {
        if v.is_finite() { Ok(()) } else { Err((k.to_string(), format!("{v} must be finite"))) }
    };
    match d {
        Distribution::Normal { mean, sd } => {
            fin("mean", *mean)?;
            pos("sd", *sd)
        }
        Distribution::Lognormal { mu, sigma } => {
            fin("mu", *mu)?;
            pos("sigma", *sigma)
        }
        Distribution::Uniform { low, high } => {
            fin("low", *low)?;
            fin("high", *high)?;
            if low < high { Ok(()) } else { Err(("high".into(), format!("{high} must exceed low {low}"))) }
        }
        Distribution::Exponential { mean } => pos("mean", *mean),
        Distribution::Poisson { lambda } => {
            pos("lambda", *lambda)?;
            if *lambda > 1e6 { Err(("lambda".into(), format!("{lambda} is too large"))) } else { Ok(()) }
        }
        Distribution::Categorical { categories, weights } => {
            if categories.len() < 2 {
                return Err(("categories".into(), "needs at least two categories".into()));
            }
            if categories.len() != weights.len() {
                return Err(("weights".into(), format!("{} weights for {} categories", weights.len(), categories.len())));
            }
            let unique: BTreeSet<_> = categories.iter().collect();
            if unique.len() != categories.len() || categories.iter().any(|c| c.is_empty()) {
                return Err(("categories".into(), "categories must be distinct and non-empty".into()));
            }
            if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
                return Err(("weights".into(), format!("{w} must be a positive number")));
            }
            Ok(())
        }
    }
}
