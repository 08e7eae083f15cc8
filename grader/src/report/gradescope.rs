//! Gradescope's autograder `results.json` format.

use serde_json::{json, Value};

use super::GradeResult;
use crate::evaluate::score::{Status, Visibility};

pub fn render(r: &GradeResult) -> Value {
    let tests: Vec<Value> = r
        .checks
        .iter()
        .filter(|c| !matches!(c.status, Status::Skipped | Status::Ungraded))
        .map(|c| {
            json!({
                "name": c.title,
                "number": c.id,
                "score": c.points,
                "max_score": c.max_points,
                "status": if c.status == Status::Pass { "passed" } else { "failed" },
                "output": c.evidence,
                "visibility": match c.visibility { Visibility::Visible => "visible", Visibility::Hidden => "hidden" },
            })
        })
        .collect();
    let output = match &r.failure {
        Some(f) => format!("{}: {}\n\n{}", f.class.as_str(), f.message, f.log_excerpt),
        None => format!("{} of {} points", r.score.points, r.score.max_points),
    };
    json!({
        "score": r.score.points,
        "max_score": r.score.max_points,
        "output": output,
        "visibility": "visible",
        "tests": tests,
    })
}
