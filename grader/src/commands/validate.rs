//! `grader validate`: the exercises repository's CI. Generates certified
//! variants for the declared seeds, grades every declared fixture on each,
//! and checks each score against the fixture's band.

use std::path::PathBuf;
use std::sync::Arc;

use datasets::{generate, Exercise, SeedSource};
use tokio::sync::Semaphore;

use crate::pipeline::grading::{grade, GradeRequest};
use crate::pipeline::material::Source;
use crate::pipeline::session::Overrides;
pub use crate::schema::{BandResult, Parity, ParitySeed, Validation};
use crate::support::error::{GraderError, Result};
use crate::support::progress::Progress;

pub struct ValidateRequest {
    pub exercise: PathBuf,
    pub jobs: usize,
    pub overrides: Overrides,
    /// Also grade `[validate.parity]`'s careful and careless fixtures on
    /// this many seeds and bound the spread of their scores.
    pub parity: Option<usize>,
}

/// Sample standard deviation (NaN when any value is, 0 for one value).
fn sd(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

fn spread(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = xs.clone().fold(f64::MIN, f64::max);
    let min = xs.fold(f64::MAX, f64::min);
    if max < min {
        0.0
    } else {
        ((max - min) * 10.0).round() / 10.0
    }
}

/// Grades `dir` on `seed`.
async fn grade_fixture(
    exercise_path: PathBuf,
    dir: PathBuf,
    seed: u64,
    overrides: Overrides,
    gate: Option<Arc<crate::fairness::turns::QuietGate>>,
) -> Result<crate::report::GradeResult> {
    let tmp = tempfile::tempdir().map_err(|source| GraderError::Io { path: std::env::temp_dir(), source })?;
    grade(
        GradeRequest {
            submission: dir,
            intake: Default::default(),
            staged: None,
            source: Source::Exercise { path: exercise_path, seed: SeedSource::given(seed) },
            out: tmp.path().join("r"),
            overrides,
            candidate: None,
            gate,
            blind: false,
        },
        &Progress::new(false),
    )
    .await
}

/// The score without the latency checks: parity compares what a seed makes
/// hard, and latency measures the host of the moment as much as the
/// submission.
pub fn percent_without_latency(checks: &[crate::evaluate::score::Check]) -> f64 {
    let kept: Vec<&crate::evaluate::score::Check> = checks.iter().filter(|c| c.group != "latency").collect();
    let (p, m): (f64, f64) = kept.iter().fold((0.0, 0.0), |(p, m), c| (p + c.points, m + c.max_points));
    if m > 0.0 {
        (1000.0 * p / m).round() / 10.0
    } else {
        0.0
    }
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
    // Fixtures graded at once take turns for their latency windows, as in a
    // batch: a band must not depend on which fixtures ran beside it.
    let gate = Some(crate::fairness::turns::QuietGate::new());
    let mut tasks = Vec::new();
    for &seed in &v.seeds {
        for band in &v.fixtures {
            let (jobs, band, overrides, exercise_path, gate) =
                (jobs.clone(), band.clone(), req.overrides.clone(), req.exercise.clone(), gate.clone());
            let dir = exercise.dir().join(&band.path);
            let progress = progress.clone();
            tasks.push(tokio::spawn(async move {
                let _slot = jobs.acquire_owned().await.expect("never closed");
                progress.phase(format!("grading {} on seed {seed}", band.path));
                let r = grade_fixture(exercise_path, dir, seed, overrides, gate).await?;
                let ungraded: Vec<&str> = r
                    .checks
                    .iter()
                    .filter(|c| c.status == crate::evaluate::score::Status::Ungraded)
                    .map(|c| c.id.as_str())
                    .collect();
                let mut note = r.failure.as_ref().map(|f| format!("{:?}", f.class)).unwrap_or_default();
                if !ungraded.is_empty() {
                    // The band is judged on what could be graded; say what could not.
                    note = format!(
                        "{note}{}not graded on a busy host: {}",
                        if note.is_empty() { "" } else { "; " },
                        ungraded.join(", ")
                    );
                }
                let percent = r.score.percent;
                let within = (band.min_percent..=band.max_percent).contains(&percent);
                Ok::<_, GraderError>(BandResult {
                    fixture: band.path.clone(),
                    seed,
                    percent: Some(percent),
                    min_percent: band.min_percent,
                    max_percent: band.max_percent,
                    within,
                    note,
                })
            }));
        }
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.map_err(|e| GraderError::Infrastructure(format!("a grading task failed: {e}")))??);
    }
    let mut violations = results.iter().filter(|r| !r.within).count();
    let mut seeds_certified = v.seeds.clone();
    let parity = match req.parity {
        None => None,
        Some(n) => {
            let Some(p) = v.parity.clone() else {
                return Err(GraderError::Usage(format!(
                    "--parity needs a [validate.parity] section in {}",
                    exercise.path.display()
                )));
            };
            let seeds: Vec<u64> = (0..n.max(2) as u64).map(|i| p.first_seed + i).collect();
            for &seed in &seeds {
                progress.phase(format!("certifying the variant of seed {seed} (parity)"));
                generate(&exercise, SeedSource::given(seed))?;
            }
            seeds_certified.extend(&seeds);
            let mut tasks = Vec::new();
            for &seed in &seeds {
                for fixture in [&p.careful, &p.careless] {
                    let (jobs, overrides, exercise_path, dir, gate) = (
                        jobs.clone(),
                        req.overrides.clone(),
                        req.exercise.clone(),
                        exercise.dir().join(fixture),
                        gate.clone(),
                    );
                    let progress = progress.clone();
                    let fixture = fixture.clone();
                    tasks.push(tokio::spawn(async move {
                        let _slot = jobs.acquire_owned().await.expect("never closed");
                        progress.phase(format!("parity: grading {fixture} on seed {seed}"));
                        grade_fixture(exercise_path, dir, seed, overrides, gate).await.map(|r| {
                            let auc = r.metrics.correctness.ran().map(|c| c.serving.auc);
                            (percent_without_latency(&r.checks), auc)
                        })
                    }));
                }
            }
            let mut scores = Vec::new();
            for t in tasks {
                scores.push(t.await.map_err(|e| GraderError::Infrastructure(format!("a grading task failed: {e}")))??);
            }
            let per_seed: Vec<ParitySeed> = seeds
                .iter()
                .zip(scores.chunks(2))
                .map(|(&seed, s)| ParitySeed {
                    seed,
                    careful: s[0].0,
                    careless: s[1].0,
                    gap: ((s[0].0 - s[1].0) * 10.0).round() / 10.0,
                    careless_auc: s[1].1,
                })
                .collect();
            let score_spread = spread(per_seed.iter().map(|s| s.careful));
            let gap_spread = spread(per_seed.iter().map(|s| s.gap));
            // The careless model's served AUC varies as little across seeds
            // (issue 24: SD at most 0.03); a seed it could not be measured
            // on counts as unbounded.
            let aucs: Vec<f64> = per_seed.iter().map(|s| s.careless_auc.unwrap_or(f64::NAN)).collect();
            let careless_auc_sd = sd(&aucs);
            let within = score_spread <= p.max_score_spread
                && gap_spread <= p.max_gap_spread
                && p.max_careless_auc_sd.is_none_or(|m| careless_auc_sd <= m);
            if !within {
                violations += 1;
            }
            Some(Parity {
                seeds: per_seed,
                score_spread,
                gap_spread,
                max_score_spread: p.max_score_spread,
                max_gap_spread: p.max_gap_spread,
                careless_auc_sd,
                max_careless_auc_sd: p.max_careless_auc_sd,
                within,
            })
        }
    };
    Ok(Validation {
        schema_version: crate::schema::VALIDATION_VERSION,
        exercise: exercise.spec.exercise.id.clone(),
        seeds_certified,
        results,
        parity,
        violations,
    })
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
        if let Some(p) = &self.parity {
            s += &format!("  parity over {} seeds (careful, careless, gap; scores without latency):\n", p.seeds.len());
            for x in &p.seeds {
                s += &format!(
                    "    seed {:<8} {:>6.1}%  {:>6.1}%  {:>+6.1}  careless served AUC {}\n",
                    x.seed,
                    x.careful,
                    x.careless,
                    x.gap,
                    x.careless_auc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "not measured".into())
                );
            }
            s += &format!(
                "  {} careful score spread {:.1} points (at most {}), gap spread {:.1} points (at most {})\n",
                if p.within { "ok  " } else { "FAIL" },
                p.score_spread,
                p.max_score_spread,
                p.gap_spread,
                p.max_gap_spread
            );
            s += &format!(
                "  careless served AUC SD {:.3}{}\n",
                p.careless_auc_sd,
                p.max_careless_auc_sd.map(|m| format!(" (at most {m})")).unwrap_or_default()
            );
        }
        if self.violations > 0 {
            s += &format!("{} score band(s) violated\n", self.violations);
        }
        s
    }
}

pub fn execute(req: ValidateRequest, ui: super::Ui) -> Result<()> {
    let v = super::runtime()?.block_on(run(req, &ui.progress()))?;
    if ui.json {
        ui.print_json(&v);
    } else if !ui.quiet {
        eprint!("{}", v.human());
    }
    if v.violations > 0 {
        return Err(GraderError::BandsViolated(v.violations));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::score::{Check, Status, Visibility};

    fn check(group: &str, points: f64, max: f64) -> Check {
        Check {
            id: format!("{group}.x"),
            group: group.into(),
            title: String::new(),
            points,
            max_points: max,
            status: Status::Partial,
            evidence: String::new(),
            visibility: Visibility::Visible,
        }
    }

    #[test]
    fn parity_scores_leave_latency_out() {
        let checks = [check("correctness", 20.0, 20.0), check("latency", 0.0, 15.0), check("findings", 10.0, 20.0)];
        assert_eq!(percent_without_latency(&checks), 75.0);
    }

    #[test]
    fn sd_is_the_sample_deviation_and_nan_poisons_it() {
        assert!((sd(&[0.6, 0.62, 0.64]) - 0.02).abs() < 1e-12);
        assert_eq!(sd(&[0.7]), 0.0);
        assert!(sd(&[0.6, f64::NAN]).is_nan());
        // A NaN deviation is never within a bound.
        assert_eq!(sd(&[0.6, f64::NAN]).partial_cmp(&0.03), None);
    }

    #[test]
    fn spread_is_max_minus_min() {
        assert_eq!(spread([90.0, 100.0, 95.0].into_iter()), 10.0);
        assert_eq!(spread([84.3].into_iter()), 0.0);
        assert_eq!(spread(std::iter::empty()), 0.0);
    }
}
