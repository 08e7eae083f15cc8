//! File names of a variant directory; the grader reads them from here.

pub const PUBLIC: &str = "public";
pub const SEALED: &str = "sealed";
pub const TRAIN_PARQUET: &str = "train.parquet";
pub const TRAIN_CSV: &str = "train.csv";
pub const PRODUCTION_PARQUET: &str = "production.parquet";
pub const PRODUCTION_CSV: &str = "production.csv";
pub const SCHEMA: &str = "schema.json";
pub const HOLDOUT_SERVING: &str = "holdout_serving.parquet";
pub const HOLDOUT_OFFLINE: &str = "holdout_offline.parquet";
pub const HOLDOUT_TRUTH: &str = "holdout_truth.parquet";
pub const TRAFFIC: &str = "traffic.parquet";
/// Rows for the latency windows alone (never sent by another probe).
pub const LATENCY: &str = "latency.parquet";
pub const ANSWER_KEY: &str = "answer_key.json";
/// The production replay's rows (exercises with `[lifecycle]`): the day
/// each is sent, the day its label arrives, the public columns as served,
/// the label and its probability under the concept in force.
pub const STREAM: &str = "stream.parquet";
/// Columns of `stream.parquet` beside the public ones.
pub const STREAM_DAY: &str = "day";
pub const STREAM_FEEDBACK_DAY: &str = "feedback_day";
/// Column of `holdout_truth.parquet` with the generating model's probability.
pub const TRUE_PROBABILITY: &str = "true_probability";
/// The public formula's probability (the family's centre; `model::Model::centre`).
pub const PUBLIC_PROBABILITY: &str = "public_probability";
