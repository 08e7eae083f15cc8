//! `grader review`: record a reviewer's verdict, or report agreement.

use std::path::PathBuf;

use super::Ui;
use crate::review::{self, stats, ReviewRequest};
use crate::support::error::Result;

#[derive(Debug, Clone)]
pub enum Review {
    Record(ReviewRequest),
    Stats(PathBuf),
}

pub fn execute(req: Review, ui: Ui) -> Result<()> {
    match req {
        Review::Record(req) => {
            let record = review::record(&req)?;
            if ui.json {
                ui.print_json(&record);
            } else if !ui.quiet {
                let what = record.decision.map(|d| d.as_str().to_string()).unwrap_or_else(|| "no decision".into());
                eprintln!(
                    "recorded: {} on {} ({what}, {} override(s)); {} and the summaries show it",
                    crate::support::sanitize::terminal_line(&record.reviewer),
                    crate::support::sanitize::terminal_line(&record.candidate),
                    record.overrides.len(),
                    req.results.join(review::LOG).display()
                );
            }
            Ok(())
        }
        Review::Stats(results) => {
            let s = review::batch_stats(&results)?;
            if ui.json {
                ui.print_json(&s);
            } else if !ui.quiet {
                eprint!("{}", stats::human(&s));
            }
            Ok(())
        }
    }
}
