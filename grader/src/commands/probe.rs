//! `grader probe`: the probes against a service already running on this
//! machine; with `--kit`, what the candidate sees of it.

use super::{emit, gate, runtime, Ui};
use crate::pipeline::grading::{probe, ProbeRequest};
use crate::pipeline::material::Source;
use crate::support::error::Result;
use crate::support::sanitize::{terminal, terminal_line};

pub fn execute(req: ProbeRequest, fail_under: Option<f64>, ui: Ui) -> Result<()> {
    let out = req.out.clone();
    let kit = match &req.source {
        Source::Kit(dir) => Some(dir.clone()),
        Source::Exercise { .. } => None,
    };
    let result = runtime()?.block_on(probe(req, &ui.progress()))?;
    match &kit {
        // A candidate probing their own service: the self-check's view.
        Some(dir) => {
            let terms = crate::pipeline::kit::Kit::manifest(dir)?.terms;
            let hints =
                super::self_check::Hints { submission: "YOUR_DIR".into(), source: format!("--kit {}", dir.display()) };
            let view = super::self_check::redact(&result, &terms, &hints);
            if ui.json {
                ui.print_json(&view);
            } else if !ui.quiet {
                println!("{}", terminal(&view.human()));
                if let Some(out) = &out {
                    eprintln!("results: {}", terminal_line(&out.display().to_string()));
                }
            }
        }
        None => emit(ui, &result, out.as_deref()),
    }
    gate(&result, fail_under)
}
