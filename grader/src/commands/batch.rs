//! `grader batch`: every candidate of a folder (`batch` does the work).

use super::{runtime, Ui};
use crate::batch::{BatchRequest, State};
use crate::support::error::{GraderError, Result};
use crate::support::sanitize::terminal_line;

pub fn execute(req: BatchRequest, ui: Ui) -> Result<()> {
    let summary = runtime()?.block_on(crate::batch::run(req, ui.quiet || ui.json))?;
    if ui.json {
        ui.print_json(&summary);
    } else if !ui.quiet {
        eprintln!("summary: {}", summary.out.join("summary.html").display());
    }
    let ungraded: Vec<String> = summary
        .candidates
        .iter()
        .filter(|c| c.state == State::Ungraded)
        .map(|c| terminal_line(&c.name).into_owned())
        .collect();
    let unpublished: Vec<String> =
        summary.candidates.iter().filter(|c| c.publish_failed).filter_map(|c| c.error.clone()).collect();
    if !unpublished.is_empty() {
        return Err(GraderError::Unpublished(unpublished));
    }
    if !ungraded.is_empty() {
        return Err(GraderError::Infrastructure(format!(
            "{} candidate(s) ungraded after retries: {}; run the batch again to grade them",
            ungraded.len(),
            ungraded.join(", ")
        )));
    }
    Ok(())
}
