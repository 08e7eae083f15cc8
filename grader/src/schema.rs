//! Every document the grader writes for machines, in one place, each with
//! its version (like cargo-nextest's `nextest-metadata`): what a hiring
//! team's scripts, CI and the grader's own resume read back. A version is
//! bumped on any change a reader could trip on (a field removed or retyped,
//! a new enum value); within a version fields only grow, with serde
//! defaults so older files still read.
//!
//! | document | type | version |
//! |---|---|---|
//! | `result.json` | [`GradeResult`] | [`RESULT_VERSION`] |
//! | `batch.json` | [`Manifest`] | [`MANIFEST_VERSION`] |
//! | `grader batch --json` | [`BatchSummary`] | [`BATCH_SUMMARY_VERSION`] |
//! | `grader validate --json` | [`Validation`] | [`VALIDATION_VERSION`] |
//! | `grader self-check --json`, `grader probe --kit` | [`SelfCheck`] | [`SELF_CHECK_VERSION`] |
//! | a candidate's kit: `kit.json` | [`KitManifest`] | [`KIT_VERSION`] |
//! | `grader run --json` | [`RunSummary`] | [`RUN_SUMMARY_VERSION`] |
//! | `grader variant --json` | [`VariantSummary`] | [`VARIANT_SUMMARY_VERSION`] |
//!
//! result.json embeds the checks ([`Check`], [`Status`]) and every probe's
//! metrics ([`ProbeResults`]); those types live beside the code that fills
//! them and are re-exported here, so this module names every serialized
//! type. `gradescope.json` and `junit.xml` follow their tools' formats.
//!
//! result.json version 2 (this grader): checks may be `ungraded` (the host
//! was too busy for a fair latency window: no points, no maximum);
//! `metrics.latency.value.host` (the grader's own delay beside the window);
//! `timings.shared` and `timings.exclusive` (turns in a batch). Version 1
//! files still read.

use std::path::PathBuf;

use datasets::SeedSource;
use serde::{Deserialize, Serialize};

use crate::sandbox::FailureClass;

pub use crate::findings::{Findings, Matched, SectionScore};
pub use crate::probe::contract::{CandidateReport, ContractMetrics, DriftFlag, LeakFlag};
pub use crate::probe::correctness::{CorrectnessMetrics, Quality};
pub use crate::probe::drift::DriftMetrics;
pub use crate::probe::latency::{HostCheck, LatencyMetrics};
pub use crate::probe::robustness::{Case, RobustnessMetrics};
pub use crate::score::{Check, Outcome, ProbeResults, Status, Visibility};

// ---- result.json (`grader grade`, `grader probe`, each candidate of a batch)

/// Version of result.json's schema; bumped on any breaking change, and the
/// fields below only ever grow within a version.
pub const RESULT_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GradeResult {
    pub schema_version: u32,
    pub grader_version: String,
    pub exercise: ExerciseInfo,
    pub seed: SeedSource,
    /// `docker` (built and run in the sandbox) or `url` (`grader probe`).
    pub mode: String,
    /// The candidate's id as given (a batch's folder name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    pub submission: Option<String>,
    pub image: Option<ImageInfo>,
    pub limits: Option<LimitsInfo>,
    pub timings: Timings,
    /// `graded`: the probes ran (whatever the score); `failed`: the
    /// submission never became a healthy service (see `failure`);
    /// `infrastructure_error`: the grader's side failed, nothing is charged.
    pub outcome: String,
    pub failure: Option<FailureInfo>,
    pub score: Score,
    pub checks: Vec<Check>,
    pub metrics: ProbeResults,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExerciseInfo {
    pub id: String,
    pub version: u32,
    pub spec_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageInfo {
    pub tag: String,
    pub id: String,
    /// The base image as the Dockerfile names it, and its id on the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_id: Option<String>,
    /// Bytes the build added to its base.
    #[serde(default)]
    pub added_bytes: u64,
    /// Whether the build ran under the grader's process and memory cgroup.
    #[serde(default)]
    pub build_confined: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitsInfo {
    pub memory_mb: u64,
    pub cpus: f64,
    pub pids: i64,
    pub nofile: u64,
    pub log_bytes: u64,
    pub build_timeout_s: u64,
    #[serde(default)]
    pub build_memory_mb: u64,
    #[serde(default)]
    pub build_pids: i64,
    #[serde(default)]
    pub build_disk_mb: u64,
    #[serde(default)]
    pub output_mb: u64,
    pub startup_timeout_s: u64,
    pub request_timeout_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub variant_ms: u128,
    pub build_ms: Option<u128>,
    /// From container start until /health answered 200 (training included).
    pub ready_ms: Option<u128>,
    pub probes_ms: Option<u128>,
    pub total_ms: u128,
    /// When this grading worked beside others ([Unix ms from, to] pairs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<[u64; 2]>,
    /// Its latency windows, each alone on the host in a batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusive: Vec<[u64; 2]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureInfo {
    pub class: FailureClass,
    pub message: String,
    /// The last lines of the build or container log.
    pub log_excerpt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Score {
    pub points: f64,
    pub max_points: f64,
    pub percent: f64,
}

// ---- batch.json (the results directory's manifest) and `grader batch --json`

/// Version 2: candidates' results under `candidates/<encoded id>/`.
pub const MANIFEST_VERSION: u32 = 2;

/// `batch.json`: which exercise and seeds a results directory belongs to,
/// so a resumed batch never mixes two exercises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub exercise: String,
    pub spec_sha256: String,
    /// `fixed:<seed>` or `secret:<fingerprint>`.
    pub seeds: String,
    /// `grader batch --shard`: the part of the candidates this directory holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::batch::shard::Shard>,
    /// The candidates this directory is for (folder names, lossy UTF-8), as
    /// of the last run: what `grader merge` expects to find graded.
    #[serde(default)]
    pub candidates: Vec<String>,
    /// `grader merge`: the shard directories merged here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// `grader batch --blind`: candidates are named by pseudonyms here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blind: bool,
}

impl Manifest {
    /// Same exercise, file, seeds and shard: results that may be mixed.
    pub fn same_batch(&self, other: &Manifest) -> bool {
        (self.schema_version, &self.exercise, &self.spec_sha256, &self.seeds, self.shard, self.blind)
            == (other.schema_version, &other.exercise, &other.spec_sha256, &other.seeds, other.shard, other.blind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Probed and scored (the score may be anything).
    Graded,
    /// Never became a healthy service: scored, with a failure class.
    Failed,
    /// The grader's side failed after every retry: no score.
    Ungraded,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub name: String,
    pub state: State,
    /// Results from an earlier run, kept (resume).
    pub reused: bool,
    pub attempts: u32,
    pub host: Option<String>,
    pub error: Option<String>,
    /// The score, when graded or failed (never for the ungraded).
    pub score: Option<Score>,
    /// The grade finished but could not be moved into place (its staging
    /// folder is named in `error`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub publish_failed: bool,
    #[serde(skip)]
    pub result: Option<GradeResult>,
}

pub const BATCH_SUMMARY_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub schema_version: u32,
    pub out: PathBuf,
    pub candidates: Vec<Candidate>,
}

// ---- `grader validate --json`

/// One seed of the parity run (scores without the latency checks).
#[derive(Debug, Clone, Serialize)]
pub struct ParitySeed {
    pub seed: u64,
    pub careful: f64,
    pub careless: f64,
    pub gap: f64,
}

/// Equal difficulty across seeds: how much the careful fixture's score and
/// its gap to the careless one vary.
#[derive(Debug, Clone, Serialize)]
pub struct Parity {
    pub seeds: Vec<ParitySeed>,
    pub score_spread: f64,
    pub gap_spread: f64,
    pub max_score_spread: f64,
    pub max_gap_spread: f64,
    pub within: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BandResult {
    pub fixture: String,
    pub seed: u64,
    pub percent: Option<f64>,
    pub min_percent: f64,
    pub max_percent: f64,
    pub within: bool,
    pub note: String,
}

pub const VALIDATION_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Validation {
    pub schema_version: u32,
    pub exercise: String,
    pub seeds_certified: Vec<u64>,
    pub results: Vec<BandResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parity: Option<Parity>,
    pub violations: usize,
}

// ---- `grader run --json`

pub const RUN_SUMMARY_VERSION: u32 = 1;

/// What `grader run --json` prints.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub schema_version: u32,
    pub run: Option<String>,
    pub ready: bool,
    pub ready_after_ms: Option<u128>,
    pub failure_class: Option<FailureClass>,
    pub error: Option<String>,
    /// The candidate's /output/report.json, if it parsed as JSON.
    pub report: Option<serde_json::Value>,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub log_tail: String,
}

// ---- `grader self-check --json` (the candidate's view)

pub const SELF_CHECK_VERSION: u32 = 2;

/// What a candidate sees (also `--json`): visible checks in full with their
/// points, hidden ones only as a count. Version 2: points of the visible
/// checks (`visible_points`, `visible_max_points`), `hidden_max_points`, and
/// `hidden_passed` is absent when the hidden checks were not evaluated (a
/// kit carries no answer key: they are graded on the candidate's own
/// variant only).
#[derive(Debug, Serialize)]
pub struct SelfCheck {
    pub schema_version: u32,
    pub exercise: String,
    pub practice_seed: u64,
    pub outcome: String,
    pub failure: Option<FailureInfo>,
    pub checks: Vec<Check>,
    pub visible_points: f64,
    pub visible_max_points: f64,
    /// How many hidden checks passed; `None` when they were not evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_passed: Option<usize>,
    pub hidden_total: usize,
    pub hidden_max_points: f64,
    pub next_steps: Vec<String>,
}

// ---- a candidate's kit

pub const KIT_VERSION: u32 = 1;

/// `kit.json`: what the grader needs from a candidate's kit, and what the
/// candidate may read: the grading terms of `exercise.toml`, never its
/// features' generating model or its `[defects]` pools.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KitManifest {
    pub schema_version: u32,
    pub grader_version: String,
    pub exercise: KitExercise,
    pub practice_seed: u64,
    /// Container contract, probes' settings, SLOs and rubric weights.
    #[serde(flatten)]
    pub terms: datasets::Terms,
    pub practice: KitPractice,
    /// Every file of the kit but kit.json, by path relative to the kit:
    /// its SHA-256. The grader refuses a kit whose files differ.
    pub files: std::collections::BTreeMap<String, String>,
    /// With `grader kit --with-base-image`: the base image's archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image: Option<KitBaseImage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KitExercise {
    pub id: String,
    pub title: String,
    pub version: u32,
    /// SHA-256 of the exercise.toml the kit was made from.
    pub spec_sha256: String,
}

/// What the practice correctness check compares against, beside the
/// holdout's rows and labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KitPractice {
    /// The labelled holdout as served, relative to the kit.
    pub holdout: String,
    pub holdout_rows: usize,
    /// The generating model's quality on that holdout (the ceiling the
    /// served AUC is measured against): four numbers, not its
    /// probabilities, which would give the model away.
    pub bayes: Quality,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KitBaseImage {
    /// The image's name, as `FROM` names it.
    pub image: String,
    /// The image's id (`sha256:…` of its configuration): what
    /// `docker image inspect` shows after `docker load`.
    pub id: String,
    /// The `docker save` archive, relative to the kit.
    pub archive: String,
}

// ---- `grader variant --json`

pub const VARIANT_SUMMARY_VERSION: u32 = 1;

/// What `grader variant --json` prints (versioned with the answer key).
#[derive(Debug, Serialize)]
pub struct VariantSummary {
    pub schema_version: u32,
    pub exercise: String,
    pub out: PathBuf,
    pub seed_derived: bool,
    pub attempt: u32,
    pub rejected_draws: usize,
    pub train_rows: usize,
    pub production_rows: usize,
    pub leaks_planted: usize,
    pub drifts_planted: usize,
    pub answer_key: PathBuf,
    pub elapsed_ms: u128,
}
