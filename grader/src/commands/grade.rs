//! `grader grade`: one submission, built and probed in the sandbox.

use super::{emit, gate, runtime, Ui};
use crate::pipeline::grading::{grade, GradeRequest};
use crate::support::error::Result;

pub fn execute(req: GradeRequest, fail_under: Option<f64>, ui: Ui) -> Result<()> {
    let out = req.out.clone();
    let result = runtime()?.block_on(grade(req, &ui.progress()))?;
    emit(ui, &result, Some(&out));
    gate(&result, fail_under)
}
