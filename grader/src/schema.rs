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
//! | `grader merge --json` | [`MergeSummary`] | [`MERGE_SUMMARY_VERSION`] |
//! | a blind batch's `identities.json` | [`Identities`] | [`IDENTITIES_VERSION`] |
//! | a batch's `reviews.jsonl`, one record per line | [`ReviewRecord`] | [`REVIEW_VERSION`] |
//! | `grader review --stats --json` | [`ReviewStats`] | [`REVIEW_STATS_VERSION`] |
//! | `grader clean --json` | [`Removed`] | [`CLEAN_VERSION`] |
//!
//! Enums written as words (an outcome, a mode, a status, a failure class)
//! have `as_str()` giving the same word as their JSON, for text.
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
//!
//! result.json version 3: `submission` is an object ([`Submission`]: the
//! path, what was received, the archive's SHA-256, the git commit, the
//! build context's digest) instead of the path alone; `failure.class` may
//! be `intake_rejected`. Versions 1 and 2 (a path or null) still read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use datasets::SeedSource;
use serde::{Deserialize, Serialize};

/// One word per enum value, the JSON's (`datasets::word_enum`).
pub(crate) use datasets::word_enum as names;

pub use crate::evaluate::findings::{Findings, Matched, SectionScore};
pub use crate::evaluate::score::{Check, Outcome, ProbeResults, Status, Visibility};
pub use crate::probe::contract::{CandidateReport, ContractMetrics, DriftFlag, LeakFlag};
pub use crate::probe::correctness::{CorrectnessMetrics, Quality};
pub use crate::probe::drift::DriftMetrics;
pub use crate::probe::latency::{HostCheck, LatencyMetrics};
pub use crate::probe::robustness::{Case, RobustnessMetrics};

/// Version of `grader merge --json`'s summary.
pub const MERGE_SUMMARY_VERSION: u32 = 1;
/// Version of a blind batch's identities.json (the one file mapping
/// pseudonyms to candidates).
pub const IDENTITIES_VERSION: u32 = 1;
/// Version of `grader clean --json`. Added in this grader: before it the
/// output had no version (the same fields, without `schema_version`).
pub const CLEAN_VERSION: u32 = 1;

/// How a grading ended, whatever its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeOutcome {
    /// The probes ran (whatever the score).
    Graded,
    /// The submission never became a healthy service (see `failure`).
    Failed,
    /// The grader's side failed: nothing is charged.
    InfrastructureError,
}
names!(GradeOutcome { Graded => "graded", Failed => "failed", InfrastructureError => "infrastructure_error" });

/// How the service under test was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Built and run in the sandbox.
    Docker,
    /// A service already running (`grader probe --url`).
    Url,
}
names!(Mode { Docker => "docker", Url => "url" });

/// Where a batch's seeds come from, as batch.json writes it: `fixed:<seed>`
/// (one variant for everyone) or `secret:<fingerprint>` (a variant per
/// candidate from the team's secret; the fingerprint names the secret
/// without revealing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedPolicy {
    Fixed(u64),
    Secret(String),
}

impl std::fmt::Display for SeedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeedPolicy::Fixed(s) => write!(f, "fixed:{s}"),
            SeedPolicy::Secret(fp) => write!(f, "secret:{fp}"),
        }
    }
}

impl std::str::FromStr for SeedPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("fixed", n)) => {
                n.parse().map(SeedPolicy::Fixed).map_err(|_| format!("seed policy {s:?}: not a seed"))
            }
            Some(("secret", fp)) if !fp.is_empty() => Ok(SeedPolicy::Secret(fp.into())),
            _ => Err(format!("seed policy {s:?}: expected fixed:<seed> or secret:<fingerprint>")),
        }
    }
}

impl Serialize for SeedPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SeedPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

// ---- result.json (`grader grade`, `grader probe`, each candidate of a batch)

/// Version of result.json's schema; bumped on any breaking change, and the
/// fields below only ever grow within a version.
pub const RESULT_VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GradeResult {
    pub schema_version: u32,
    pub grader_version: String,
    pub exercise: ExerciseInfo,
    pub seed: SeedSource,
    /// `docker` (built and run in the sandbox) or `url` (`grader probe`).
    pub mode: Mode,
    /// The candidate's id as given (a batch's folder name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    /// What was graded: where it came from and which bytes (version 3;
    /// a path or null before, read as a [`Submission`] with the path only).
    #[serde(default, deserialize_with = "submission_any_version")]
    pub submission: Option<Submission>,
    pub image: Option<ImageInfo>,
    pub limits: Option<LimitsInfo>,
    pub timings: Timings,
    /// `graded`: the probes ran (whatever the score); `failed`: the
    /// submission never became a healthy service (see `failure`);
    /// `infrastructure_error`: the grader's side failed, nothing is charged.
    pub outcome: GradeOutcome,
    pub failure: Option<FailureInfo>,
    pub score: Score,
    pub checks: Vec<Check>,
    pub metrics: ProbeResults,
}

/// What a submission arrived as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    #[default]
    Folder,
    Zip,
    Tar,
    TarGz,
    GitBundle,
    /// A folder that is a git repository, graded at a commit.
    GitRepository,
    /// `grader probe`: a service already running, at this URL.
    Url,
}
names!(SourceKind {
    Folder => "folder",
    Zip => "zip",
    Tar => "tar",
    TarGz => "tar_gz",
    GitBundle => "git_bundle",
    GitRepository => "git_repository",
    Url => "url",
});

/// The commit a git submission was graded at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    /// The commit's full object id.
    pub commit: String,
    /// The reference asked for (`HEAD` unless `--ref`).
    pub reference: String,
    /// Whether the repository's working tree differed from that commit
    /// (tracked files changed, or files git does not ignore added): what
    /// was graded is the commit, not the working tree. Unknown for a
    /// bundle, which has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
}

/// Which bytes were graded, so two gradings of one candidate can be told
/// apart (a batch's resume and `merge` compare [`Submission::digest`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The path as given (absent in a blind batch: it names the candidate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub kind: SourceKind,
    /// SHA-256 of the archive or bundle file as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfo>,
    /// SHA-256 of the build context the submission makes: the tar the
    /// grader sends, with the candidate's own Dockerfile (the engine gets
    /// the same tar with the grader's labels added to the Dockerfile;
    /// `image.context_sha256` is that one). Absent when there is no
    /// context to build (the intake or the context check refused it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_sha256: Option<String>,
}

impl Submission {
    /// The bytes graded, as one comparable word: the archive's digest,
    /// else the commit, else the context's digest (None: nothing known,
    /// e.g. a result written before version 3).
    pub fn digest(&self) -> Option<String> {
        if let Some(a) = &self.archive_sha256 {
            return Some(format!("sha256:{a}"));
        }
        if let Some(g) = &self.git {
            return Some(format!("git:{}", g.commit));
        }
        self.context_sha256.as_ref().map(|c| format!("context:{c}"))
    }
}

/// `submission` of any version: a path (1, 2), null, or an object (3).
fn submission_any_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Submission>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        Path(String),
        Object(Submission),
    }
    Ok(match Option::<Any>::deserialize(d)? {
        None => None,
        Some(Any::Path(p)) => Some(Submission { path: Some(p), ..Default::default() }),
        Some(Any::Object(s)) => Some(s),
    })
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
    /// SHA-256 of the build context exactly as sent to the engine (the
    /// Dockerfile with the grader's labels in it; differs per run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_sha256: Option<String>,
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
    pub seeds: SeedPolicy,
    /// `grader batch --shard`: the part of the candidates this directory holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
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
names!(State { Graded => "graded", Failed => "failed", Ungraded => "ungraded" });

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
    /// Why earlier results were not reused (the bytes changed, or the
    /// earlier result recorded none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
    /// The careless fixture's served AUC on the holdout (absent when its
    /// correctness probe did not run).
    pub careless_auc: Option<f64>,
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
    /// Sample SD of the careless fixture's served AUC across the seeds.
    pub careless_auc_sd: f64,
    pub max_careless_auc_sd: Option<f64>,
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

pub const SELF_CHECK_VERSION: u32 = 3;

/// What a candidate sees (also `--json`): visible checks in full with their
/// points, hidden ones only as a count. Version 3: `replay`, the production
/// replay's shape (exercises with `[lifecycle]`). Version 2: points of the visible
/// checks (`visible_points`, `visible_max_points`), `hidden_max_points`, and
/// `hidden_passed` is absent when the hidden checks were not evaluated (a
/// kit carries no answer key: they are graded on the candidate's own
/// variant only).
#[derive(Debug, Serialize)]
pub struct SelfCheck {
    pub schema_version: u32,
    pub exercise: String,
    pub practice_seed: u64,
    pub outcome: GradeOutcome,
    pub failure: Option<FailureInfo>,
    pub checks: Vec<Check>,
    pub visible_points: f64,
    pub visible_max_points: f64,
    /// How many hidden checks passed; `None` when they were not evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_passed: Option<usize>,
    pub hidden_total: usize,
    pub hidden_max_points: f64,
    /// The production replay's shape (contract v2), when it ran (version 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::evaluate::lifecycle::ReplayShape>,
    pub next_steps: Vec<String>,
}

// ---- a candidate's kit

/// Version 2: `practice.replay`, the practice variant's production replay
/// (contract v2). A version-1 kit has none.
pub const KIT_VERSION: u32 = 2;

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
    /// The public formula's (exercise.toml's centre) on the same holdout:
    /// the floor that skill counts from. It is public by definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<Quality>,
    /// The practice variant's production replay (an exercise with
    /// `[lifecycle]`): the self-check plays it to show that `/feedback` and
    /// `/monitor` answer in shape. How a day works, not what it plants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<KitReplay>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KitReplay {
    /// The stream (day, feedback day, the columns as served, the label),
    /// relative to the kit.
    pub stream: String,
    pub rows: usize,
    pub days: u32,
    pub rows_per_day: usize,
    pub label_lag_days: u32,
    pub label_fraction: f64,
    pub feedback_timeout_ms: u64,
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

// ---- the sandbox's failure classes (result.json's `failure.class`)

/// Why a run did not produce a gradeable service. Part of result.json's
/// documented schema: values are only ever added, never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The submission's archive or repository was refused before anything
    /// was unpacked for good (an entry leaving the folder, a link, a
    /// device, over a cap, encrypted, corrupt): the candidate's.
    IntakeRejected,
    /// The submission was refused before building (symlink leaving the
    /// directory, context too large, no Dockerfile).
    BuildRejected,
    BuildFailed,
    BuildTimeout,
    /// Not healthy within the startup deadline.
    StartupTimeout,
    OomKilled,
    /// Exited on its own (before ready, or while being probed).
    Crashed,
    /// Running but `/health` never answered 200 (answered something else).
    Unhealthy,
    /// The engine could not start the candidate's container for a reason of
    /// the image's (its command does not exist, no command at all, …).
    StartFailed,
    /// The grader's side failed (Docker Engine unreachable, …): never the
    /// candidate's fault, never scored.
    Infrastructure,
}
names!(FailureClass {
    IntakeRejected => "intake_rejected",
    BuildRejected => "build_rejected",
    BuildFailed => "build_failed",
    BuildTimeout => "build_timeout",
    StartupTimeout => "startup_timeout",
    OomKilled => "oom_killed",
    Crashed => "crashed",
    Unhealthy => "unhealthy",
    StartFailed => "start_failed",
    Infrastructure => "infrastructure",
});

// ---- shards (batch.json's `shard`)

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

// ---- `grader merge --json`

/// What `grader merge` found (also `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct MergeSummary {
    pub schema_version: u32,
    pub out: PathBuf,
    pub exercise: String,
    pub shards: Vec<String>,
    pub candidates: usize,
    /// Shard numbers of the batch no directory holds.
    pub missing_shards: Vec<u32>,
    /// Candidates a shard was given and holds no result for.
    pub missing: Vec<String>,
    /// Candidates with results in more than one shard (the first is kept).
    pub duplicated: Vec<String>,
    pub ungraded: Vec<String>,
    /// Entries of the shards' `candidates/` not taken, each with why (a
    /// link, a FIFO or oversized result.json, a score that is not the sum
    /// of its checks, a folder another candidate already holds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

// ---- a blind batch's identities.json

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identities {
    pub schema_version: u32,
    pub note: String,
    /// `secret` (derived from the batch's secret: not stored) or `random`.
    pub key_source: String,
    /// The random key, hex; absent when derived from the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Pseudonym → candidate id (folder name, lossy UTF-8).
    pub candidates: BTreeMap<String, String>,
}

// ---- a batch's reviews.jsonl (`grader review`)

/// Version of a review record (one line of `reviews.jsonl`).
pub const REVIEW_VERSION: u32 = 1;
/// Version of `grader review --stats --json`.
pub const REVIEW_STATS_VERSION: u32 = 1;

/// A reviewer's decision about a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Advance,
    Hold,
    Reject,
}
names!(Decision {
    Advance => "advance",
    Hold => "hold",
    Reject => "reject",
});

/// A check's points set by a reviewer, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub check: String,
    pub points: f64,
    pub why: String,
}

/// One signed-off review: who, when, of which result (its SHA-256: a
/// record of a result graded again since is kept, and shown as stale).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewRecord {
    pub schema_version: u32,
    /// The candidate as the batch shows them (a pseudonym in a blind batch).
    pub candidate: String,
    pub reviewer: String,
    /// UTC, RFC 3339, to the second.
    pub at: String,
    /// SHA-256 of the candidate's result.json as the reviewer saw it.
    pub result_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
}

/// How the automated score agrees with the reviewers (`grader review --stats`).
#[derive(Debug, Clone, Serialize)]
pub struct ReviewStats {
    pub schema_version: u32,
    /// Candidates with at least one current decision.
    pub candidates_decided: usize,
    /// Current decisions (each reviewer's latest per candidate).
    pub decisions: usize,
    pub advance: usize,
    pub hold: usize,
    pub reject: usize,
    /// AUC of the automated percent against `advance` (hold and reject the
    /// negatives), over every current decision; None without both kinds.
    pub auc: Option<f64>,
    /// The automated percent at or above which "advance" best matches the
    /// decisions (highest TPR − FPR; the lowest such score on a tie).
    pub threshold: Option<f64>,
    pub threshold_tpr: Option<f64>,
    pub threshold_fpr: Option<f64>,
    /// Candidates with decisions from two or more reviewers, and how many
    /// of them the reviewers disagree on.
    pub candidates_with_two_or_more_reviewers: usize,
    pub disagreements: usize,
    pub disagreement_rate: Option<f64>,
    /// Records of results graded again since (kept, not counted).
    pub stale_records: usize,
}

// ---- `grader clean --json`

/// What a cleanup removed (`grader clean --json`, with `schema_version`).
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Removed {
    /// [`CLEAN_VERSION`]; absent in output of graders before it.
    #[serde(default)]
    pub schema_version: u32,
    pub containers: usize,
    pub networks: usize,
    pub images: usize,
    #[serde(default)]
    pub volumes: usize,
    /// Objects that could not be removed, with the engine's reason.
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(version: u32) -> GradeResult {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/schema/result-v{version}.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The path result-v2.json records, read as text (not through the type).
    fn v2_path() -> Option<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/schema/result-v2.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["submission"].as_str().map(str::to_string)
    }

    #[test]
    fn result_json_of_every_version_reads_back() {
        let v1 = golden(1);
        assert_eq!((v1.schema_version, v1.mode, v1.outcome), (1, Mode::Docker, GradeOutcome::Graded));
        assert!(v1.timings.shared.is_empty() && v1.candidate.is_none());
        assert!(v1.metrics.latency.ran().is_some_and(|l| l.host.is_none()));
        let v2 = golden(2);
        assert_eq!(v2.schema_version, 2);
        // Before version 3 `submission` was the path alone.
        assert_eq!(v2.submission.as_ref().and_then(|s| s.path.clone()), v2_path());
        assert_eq!(v2.submission.as_ref().and_then(|s| s.digest()), None, "a path names no bytes");
        assert_eq!(v2.timings.exclusive, vec![[1764000030000, 1764000045000]]);
        assert!(v2.metrics.latency.ran().is_some_and(|l| l.host.is_some()));
        let v3 = golden(3);
        assert_eq!(v3.schema_version, RESULT_VERSION);
        let sub = v3.submission.clone().unwrap();
        assert_eq!((sub.kind, sub.path.as_deref()), (SourceKind::Zip, Some("inbox/alice.zip")));
        assert_eq!(sub.digest(), Some(format!("sha256:{}", "5d".repeat(32))));
        assert!(v3.image.as_ref().is_some_and(|i| i.context_sha256.is_some()));
        for r in [v1, v2, v3] {
            assert_eq!(r.checks.len(), 18);
            assert_eq!(r.score.points, crate::evaluate::score::total(&r.checks).0);
            // What this grader writes of it reads back the same.
            let again: GradeResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&r).unwrap());
        }
    }

    /// Every enum written as a word: its `as_str()` is its JSON.
    #[test]
    fn as_str_is_the_json_word() {
        fn same<T: Serialize + Copy>(all: &[T], name: impl Fn(T) -> &'static str) {
            for v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), name(*v));
            }
        }
        same(GradeOutcome::ALL, GradeOutcome::as_str);
        same(Mode::ALL, Mode::as_str);
        same(State::ALL, State::as_str);
        same(FailureClass::ALL, FailureClass::as_str);
        same(Status::ALL, Status::as_str);
    }

    #[test]
    fn seed_policies_read_and_write_as_batch_json_has_them() {
        for (text, policy) in
            [("fixed:42", SeedPolicy::Fixed(42)), ("secret:0011aabb", SeedPolicy::Secret("0011aabb".into()))]
        {
            assert_eq!(serde_json::to_value(&policy).unwrap(), text);
            assert_eq!(serde_json::from_value::<SeedPolicy>(text.into()).unwrap(), policy);
        }
        for bad in ["fixed:x", "secret:", "random:1", "42"] {
            assert!(serde_json::from_value::<SeedPolicy>(bad.into()).is_err(), "{bad}");
        }
    }
}
