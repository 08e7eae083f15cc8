//! `grader merge`: a sharded batch's results directories into one
//! (`batch::merge` does the work).

use std::path::PathBuf;

use super::Ui;
use crate::support::error::{GraderError, Result};

pub struct MergeRequest {
    pub shards: Vec<PathBuf>,
    pub out: PathBuf,
}

pub fn execute(req: &MergeRequest, ui: Ui) -> Result<()> {
    let m = crate::batch::merge::run(&req.shards, &req.out)?;
    if ui.json {
        ui.print_json(&m);
    } else if !ui.quiet {
        eprintln!("{}", m.human());
    }
    if !m.complete() {
        return Err(GraderError::Incomplete(format!(
            "the merge is incomplete: {} shard(s) missing, {} candidate(s) missing, {} graded twice, {} result(s) refused",
            m.missing_shards.len(),
            m.missing.len(),
            m.duplicated.len(),
            m.refused.len()
        )));
    }
    if !m.ungraded.is_empty() {
        return Err(GraderError::Infrastructure(format!(
            "{} candidate(s) ungraded in their shard: run those shards again, then merge again",
            m.ungraded.len()
        )));
    }
    Ok(())
}
