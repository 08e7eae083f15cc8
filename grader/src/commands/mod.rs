//! One module per subcommand: what it does and what it prints. The work
//! common to several (a grading) lives in `pipeline`; `batch` and `merge`
//! in `batch`.

pub mod batch;
pub mod clean;
pub mod grade;
pub mod kit;
pub mod merge;
pub mod probe;
pub mod review;
pub mod run;
pub mod self_check;
pub mod validate;
pub mod variant;

use crate::cli::Request;
use crate::support::error::{GraderError, Result};
use crate::support::progress::Progress;

/// How a command prints: JSON on stdout, a summary on stderr, or nothing.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub json: bool,
    pub quiet: bool,
}

impl Ui {
    /// Progress lines on stderr unless --quiet or --json.
    pub fn progress(&self) -> Progress {
        Progress::new(!self.quiet && !self.json)
    }

    /// Neither JSON nor quiet: a person reads stderr.
    pub fn human(&self) -> bool {
        !self.quiet && !self.json
    }

    pub fn print_json(&self, value: &impl serde::Serialize) {
        println!("{}", serde_json::to_string_pretty(value).expect("plain data"));
    }
}

/// Runs a validated request.
pub fn execute(request: Request, ui: Ui) -> Result<()> {
    match request {
        Request::Variant(req) => variant::execute(&req, ui),
        Request::Grade { req, fail_under } => grade::execute(*req, fail_under, ui),
        Request::Batch(req) => batch::execute(req, ui),
        Request::Merge(req) => merge::execute(&req, ui),
        Request::Kit(req) => kit::execute(&req, ui),
        Request::SelfCheck(req) => self_check::execute(req, ui),
        Request::Validate(req) => validate::execute(req, ui),
        Request::Probe { req, fail_under } => probe::execute(req, fail_under, ui),
        Request::Run(req) => run::execute(req, ui),
        Request::Clean(req) => clean::execute(&req, ui),
        Request::Review(req) => review::execute(req, ui),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| GraderError::Usage(format!("cannot start the async runtime: {e}")))
}

/// Prints a grade: result.json on stdout with --json, a summary on stderr otherwise.
pub(crate) fn emit(ui: Ui, r: &crate::report::GradeResult, out: Option<&std::path::Path>) {
    if ui.json {
        ui.print_json(r);
    } else if !ui.quiet {
        eprintln!("{}", crate::support::sanitize::terminal(&crate::report::summary(r, out)));
    }
}

/// `--fail-under`: a score below the threshold is a negative verdict (exit 1).
pub(crate) fn gate(r: &crate::report::GradeResult, fail_under: Option<f64>) -> Result<()> {
    match fail_under {
        Some(t) if r.score.percent < t => Err(GraderError::BelowThreshold { score: r.score.percent, threshold: t }),
        _ => Ok(()),
    }
}
