//! `grader variant`: write a certified exercise variant for a seed.

use std::path::PathBuf;
use std::time::Instant;

use datasets::{generate, write_variant, Exercise, SeedSource};

pub use crate::schema::VariantSummary;
use crate::support::error::Result;

/// A validated request for one variant.
#[derive(Debug, Clone)]
pub struct VariantRequest {
    pub exercise: PathBuf,
    pub seed: SeedSource,
    pub out: PathBuf,
}

pub fn run(req: &VariantRequest) -> Result<VariantSummary> {
    let started = Instant::now();
    let exercise = Exercise::load(&req.exercise)?;
    tracing::info!(exercise = %exercise.path.display(), "generating variant");
    let mut variant = generate(&exercise, req.seed.clone())?;
    write_variant(&exercise.spec, &mut variant, &req.out)?;
    let key = &variant.key;
    Ok(VariantSummary {
        schema_version: crate::schema::VARIANT_SUMMARY_VERSION,
        exercise: key.exercise.id.clone(),
        out: req.out.clone(),
        seed_derived: key.seed.derivation.is_some(),
        attempt: key.attempt,
        rejected_draws: key.rejected_draws.len(),
        train_rows: key.rows.train,
        production_rows: key.rows.production,
        leaks_planted: key.leakage.len(),
        drifts_planted: key.drift.len(),
        answer_key: req.out.join(datasets::layout::SEALED).join(datasets::layout::ANSWER_KEY),
        elapsed_ms: started.elapsed().as_millis(),
    })
}

impl VariantSummary {
    /// One human line; deliberately names no planted column.
    pub fn human(&self) -> String {
        format!(
            "wrote {} variant to {} in {} ms: {} train / {} production rows, {} leak(s) and {} drift(s) planted and certified (draw {}); answer key: {}",
            self.exercise,
            self.out.display(),
            self.elapsed_ms,
            self.train_rows,
            self.production_rows,
            self.leaks_planted,
            self.drifts_planted,
            self.attempt,
            self.answer_key.display()
        )
    }
}

pub fn execute(req: &VariantRequest, ui: super::Ui) -> Result<()> {
    let summary = run(req)?;
    if ui.json {
        ui.print_json(&summary);
    } else if !ui.quiet {
        eprintln!("{}", summary.human());
    }
    Ok(())
}
