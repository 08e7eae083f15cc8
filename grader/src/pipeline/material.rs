//! What a grading runs against, loaded once: the grading terms, the data
//! the container gets at `/data`, and what the probes send and compare.
//!
//! Two sources: an exercise and a seed (hiring teams, authors: a variant
//! generated in memory, with its answer key), or a candidate's kit (the
//! practice variant's public data and labelled holdout, and no answer key:
//! the hidden checks are not evaluated).

use std::path::{Path, PathBuf};

use datasets::sealed::{Row, Sealed};
use datasets::{AnswerKey, Exercise, SeedSource, Terms};
use tempfile::TempDir;

use crate::probe::correctness::{Holdout, Quality};
use crate::report::ExerciseInfo;
use crate::support::error::Result;

/// Where a grading's data comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An exercise directory (or its exercise.toml) and a seed.
    Exercise { path: PathBuf, seed: SeedSource },
    /// A candidate's kit directory, written by `grader kit`.
    Kit(PathBuf),
}

/// What only a grader with the answer key has: the hidden checks need it.
pub struct Hidden {
    pub key: AnswerKey,
    /// The holdout's rows as the careless extract has them.
    pub holdout_offline: Vec<Row>,
    /// Drifted rows for the live monitoring probe.
    pub traffic: Vec<Row>,
    /// Rows for the latency windows alone, never sent by another probe.
    pub latency: Vec<Row>,
}

/// The production replay (exercises with `[lifecycle]`): the variant's
/// sealed stream, or a kit's practice stream, and how to send it.
pub struct ReplayPlan {
    pub replay: datasets::sealed::Replay,
    pub id_column: String,
    pub label: String,
    pub days: u32,
    pub rows_per_day: usize,
    pub feedback_timeout_ms: u64,
}

pub struct Material {
    pub terms: Terms,
    pub exercise: ExerciseInfo,
    pub seed: SeedSource,
    /// Mounted read-only at `/data` (the variant's or the kit's public data).
    pub data: PathBuf,
    /// The labelled holdout as served.
    pub holdout_serving: Vec<Row>,
    pub labels: Vec<bool>,
    /// The generating model's quality on the holdout.
    pub bayes: Quality,
    /// The public formula's (exercise.toml's centre) on the same rows.
    pub public: Option<Quality>,
    /// `None` for a kit.
    pub hidden: Option<Hidden>,
    /// The production replay, from a variant or a kit (the key judges it
    /// only from a variant).
    pub replay: Option<ReplayPlan>,
    /// Holds a generated variant's files until the grading ends.
    pub tmp: Option<TempDir>,
}

impl Material {
    pub fn load(source: &Source) -> Result<Material> {
        match source {
            Source::Exercise { path, seed } => Material::generate(&Exercise::load(path)?, seed.clone()),
            Source::Kit(dir) => Material::from_kit(dir),
        }
    }

    /// The variant for `seed`, written to a temporary directory (its
    /// `public/` is what the container sees) with the sealed data in memory.
    pub fn generate(exercise: &Exercise, seed: SeedSource) -> Result<Material> {
        let (tmp, dir, sealed) = variant_for(exercise, seed.clone())?;
        let Sealed {
            key,
            holdout_serving,
            holdout_offline,
            labels,
            true_probabilities,
            public_probabilities,
            traffic,
            latency,
            replay,
        } = sealed;
        let e = &key.exercise;
        let replay = replay.zip(exercise.spec.lifecycle.as_ref()).map(|(replay, l)| ReplayPlan {
            replay,
            id_column: key.id_column.clone(),
            label: key.label.clone(),
            days: l.days,
            rows_per_day: l.rows_per_day,
            feedback_timeout_ms: l.feedback_timeout_ms,
        });
        Ok(Material {
            terms: exercise.spec.terms(),
            exercise: ExerciseInfo { id: e.id.clone(), version: e.version, spec_sha256: e.spec_sha256.clone() },
            seed,
            data: dir.join(datasets::layout::PUBLIC),
            bayes: Quality::of(&true_probabilities, &labels),
            public: public_probabilities.map(|p| Quality::of(&p, &labels)),
            holdout_serving,
            labels,
            hidden: Some(Hidden { key, holdout_offline, traffic, latency }),
            replay,
            tmp: Some(tmp),
        })
    }

    fn from_kit(dir: &Path) -> Result<Material> {
        let kit = crate::pipeline::kit::Kit::load(dir)?;
        let m = kit.manifest;
        Ok(Material {
            terms: m.terms,
            exercise: ExerciseInfo {
                id: m.exercise.id,
                version: m.exercise.version,
                spec_sha256: m.exercise.spec_sha256,
            },
            seed: SeedSource::given(m.practice_seed),
            data: kit.data,
            holdout_serving: kit.holdout_serving,
            labels: kit.labels,
            bayes: m.practice.bayes,
            public: m.practice.public,
            hidden: None,
            replay: kit.replay,
            tmp: None,
        })
    }

    /// The rows latency window `window` (1-based) sends: with the answer
    /// key, a slice of the sealed latency rows no other probe sends and no
    /// other window repeats (a response cache keyed on the request cannot
    /// answer for the model); from a kit, the practice holdout.
    pub fn latency_rows(&self, window: u32) -> &[Row] {
        match &self.hidden {
            Some(h) if !h.latency.is_empty() => {
                let per = (h.latency.len() / datasets::draw::LATENCY_WINDOWS).max(1);
                let start = (per * (window as usize).saturating_sub(1)).min(h.latency.len().saturating_sub(per));
                &h.latency[start..start + per.min(h.latency.len())]
            }
            _ => &self.holdout_serving[..self.holdout_serving.len().min(500)],
        }
    }

    pub fn key(&self) -> Option<&AnswerKey> {
        self.hidden.as_ref().map(|h| &h.key)
    }

    /// What the correctness probe needs.
    pub fn holdout(&self) -> Holdout<'_> {
        Holdout {
            serving: &self.holdout_serving,
            offline: self.hidden.as_ref().map(|h| h.holdout_offline.as_slice()),
            labels: &self.labels,
            bayes: self.bayes,
            public: self.public,
        }
    }
}

/// Writes the variant for `seed` into a fresh temporary directory (its
/// `public/` is what the container gets) and hands the sealed data over in
/// memory: the grader never reads its answer key back from disk.
pub fn variant_for(exercise: &Exercise, seed: SeedSource) -> Result<(TempDir, PathBuf, datasets::sealed::Sealed)> {
    let tmp = tempfile::Builder::new()
        .prefix("grader-variant-")
        .tempdir()
        .map_err(|source| datasets::DatasetError::Write { path: std::env::temp_dir(), source })?;
    let tmp = crate::sandbox::cleanup::removed_on_signal(tmp);
    let mut v = datasets::generate(exercise, seed)?;
    let dir = tmp.path().join("variant");
    datasets::write_variant(&exercise.spec, &mut v, &dir)?;
    let sealed = datasets::sealed::Sealed::from_variant(&exercise.spec, &v)?;
    Ok((tmp, dir, sealed))
}
