//! Results for people and machines, written even when the submission did not
//! build or run: `result.json` (versioned schema), `gradescope.json`,
//! `junit.xml`, `report.md`, `report.html` (the reviewer's page), and `logs/`.

pub mod gradescope;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod palette;
pub mod template;

use std::path::Path;

use crate::evaluate::score::Check;
pub use crate::schema::{
    ExerciseInfo, FailureInfo, GradeResult, ImageInfo, LimitsInfo, Score, Timings, RESULT_VERSION,
};

impl Score {
    pub fn of(checks: &[Check]) -> Score {
        let (points, max_points) = crate::evaluate::score::total(checks);
        Score {
            points,
            max_points,
            percent: if max_points > 0.0 { (1000.0 * points / max_points).round() / 10.0 } else { 0.0 },
        }
    }
}

/// Logs to write under `logs/`, and the candidate's NOTES.md for report.html.
pub struct Logs {
    pub build: Option<String>,
    pub container: Option<String>,
    pub notes: Option<String>,
}

/// Writes every output into `out` (which must not exist, or be empty):
/// into a temporary directory beside it first, renamed into place at the
/// end, so results are never half-written.
pub fn write(out: &Path, result: &GradeResult, logs: &Logs) -> std::io::Result<()> {
    let staging = crate::support::fs::Staging::new(out, ".results-partial-")?;
    let dir = staging.path();
    let mut json = serde_json::to_string_pretty(result).expect("plain data");
    json.push('\n');
    std::fs::write(dir.join("result.json"), json)?;
    let mut gs = serde_json::to_string_pretty(&gradescope::render(result)).expect("plain data");
    gs.push('\n');
    std::fs::write(dir.join("gradescope.json"), gs)?;
    std::fs::write(dir.join("junit.xml"), junit::render(result))?;
    std::fs::write(dir.join("report.md"), markdown::render(result))?;
    let extras = html::Extras { notes: logs.notes.as_deref(), log: logs.container.as_deref() };
    std::fs::write(dir.join("report.html"), html::render(result, &extras))?;
    std::fs::create_dir(dir.join("logs"))?;
    if let Some(b) = &logs.build {
        std::fs::write(dir.join("logs/build.log"), b)?;
    }
    if let Some(c) = &logs.container {
        std::fs::write(dir.join("logs/container.log"), c)?;
    }
    // Published only if no shutdown has begun; a failed rename keeps the
    // results where they are and names them, never discards them.
    staging.publish_with(|rename| crate::support::shutdown::commit(rename))
}

/// A few lines for a terminal: score per group, failure, where the files are.
pub fn summary(r: &GradeResult, out: Option<&Path>) -> String {
    let mut groups: Vec<(String, f64, f64)> = Vec::new();
    for c in &r.checks {
        match groups.iter_mut().find(|g| g.0 == c.group) {
            Some(g) => {
                g.1 += c.points;
                g.2 += c.max_points;
            }
            None => groups.push((c.group.clone(), c.points, c.max_points)),
        }
    }
    let mut s = format!(
        "{}: {} / {} points ({}%), {}\n",
        r.exercise.id, r.score.points, r.score.max_points, r.score.percent, r.outcome
    );
    for (g, p, m) in groups {
        s += &format!("  {g:<17} {p:>6.2} / {m:.2}\n");
    }
    if let Some(f) = &r.failure {
        s += &format!("  failure: {:?}: {}\n", f.class, crate::support::sanitize::terminal(&f.message));
    }
    match out {
        Some(out) => s += &format!("results: {}", out.display()),
        None => s += "results: not written (give --out DIR to keep them)",
    }
    s
}
