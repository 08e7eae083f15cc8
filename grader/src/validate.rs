//! `grader validate`: the exercises repository's CI. Generates certified
//! variants for the declared seeds, grades every declared fixture on each,
//! and checks each score against the fixture's band.

use std::path::PathBuf;
use std::sync::Arc;

use datasets::{generate, Exercise, SeedSource};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::{GraderError, Result};
use crate::grade::{grade, GradeRequest};
use crate::progress::Progress;
use crate::session::Overrides;

pub struct ValidateRequest {
    pub exercise: PathBuf,
    pub jobs: usize,
    pub overrides: Overrides,
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

#[derive(Debug, Serialize)]
pub struct Validation {
    pub schema_version: u32,
    pub exercise: String,
    pub seeds_certified: Vec<u64>,
    pub results: Vec<BandResult>,
    pub violations: usize,
}

pub async fn run(req: ValidateRequest, progress: &Progress) -> Result<Validation> {
    let exercise = Arc::new(Exercise::load(&req.exercise)?);
    let Some(v) = exercise.spec.validate.clone() else {
        return Err(GraderError::Usage(format!("{} declares no [validate] section", exercise.path.display())));
    };
    // Every seed must certify (exit 3 otherwise): the exercise is unfair if not.
    for &seed in &v.seeds {
        progress.phase(format!("certifying the variant of seed {seed}"));
        generate(&exercise, SeedSource::given(seed))?;
    }
    let jobs = Arc::new(Semaphore::new(req.jobs.max(1)));
    let mut tasks = Vec::new();
    for &seed in &v.seeds {
        for band in &v.fixtures {
            let (jobs, band, overrides, exercise_path) = (jobs.clone(), band.clone(), req.overrides.clone(), req.exercise.clone());
            let dir = exercise.dir().join(&band.path);
            let progress = progress.clone();
            tasks.push(tokio::spawn(async move {
                let _slot = jobs.acquire_owned().await.expect("never closed");
                progress.phase(format!("grading {} on seed {seed}", band.path));
                let tmp = tempfile::tempdir().map_err(|source| GraderError::Io { path: std::env::temp_dir(), source })?;
                let r = grade(
                    GradeRequest { submission: dir, exercise: exercise_path, seed: SeedSource::given(seed), out: tmp.path().join("r"), overrides },
                    &Progress::new(false),
                )
                .await?;
                let within = (band.min_percent..=band.max_percent).contains(&r.score.percent);
                Ok::<_, GraderError>(BandResult {
                    fixture: band.path.clone(),
                    seed,
                    percent: Some(r.score.percent),
                    min_percent: band.min_percent,
                    max_percent: band.max_percent,
                    within,
                    note: r.failure.map(|f| format!("{:?}", f.class)).unwrap_or_default(),
                })
            }));
        }
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.map_err(|e| GraderError::Infrastructure(format!("a grading task failed: {e}")))??);
    }
    let violations = results.iter().filter(|r| !r.within).count();
    Ok(Validation { schema_version: 1, exercise: exercise.spec.exercise.id.clone(), seeds_certified: v.seeds.clone(), results, violations })
}

impl Validation {
    pub fn human(&self) -> String {
        let mut s = format!("validate {}: {} seed(s) certified\n", self.exercise, self.seeds_certified.len());
        for r in &self.results {
            s += &format!(
                "  {} {:<45} seed {:<6} {:>6.1}%  band [{}, {}] {}\n",
                if r.within { "ok  " } else { "FAIL" },
                r.fixture,
                r.seed,
                r.percent.unwrap_or(f64::NAN),
                r.min_percent,
                r.max_percent,
                r.note
            );
        }
        if self.violations > 0 {
            s += &format!("{} score band(s) violated\n", self.violations);
        }
        s
    }
}
