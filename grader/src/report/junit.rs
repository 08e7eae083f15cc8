//! JUnit XML: one test case per check, for CI systems.

use super::GradeResult;
use crate::score::Status;

fn esc(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            c => c.to_string(),
        })
        .collect()
}

pub fn render(r: &GradeResult) -> String {
    let count = |s: Status| r.checks.iter().filter(|c| c.status == s).count();
    let failures = count(Status::Fail) + count(Status::Partial);
    let errors = count(Status::Error);
    let skipped = count(Status::Skipped) + count(Status::Ungraded);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x += &format!(
        "<testsuites name=\"grader\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n",
        r.checks.len()
    );
    x += &format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
        esc(&r.exercise.id),
        r.checks.len(),
        r.timings.total_ms as f64 / 1000.0
    );
    x += &format!("    <properties><property name=\"score\" value=\"{}/{}\"/><property name=\"outcome\" value=\"{}\"/></properties>\n",
        r.score.points, r.score.max_points, esc(&r.outcome));
    for c in &r.checks {
        x += &format!("    <testcase classname=\"grader.{}\" name=\"{}\">\n", esc(&c.group), esc(&c.id));
        let msg = format!("{}/{} points: {}", c.points, c.max_points, c.evidence);
        match c.status {
            Status::Pass => {}
            Status::Partial | Status::Fail => x += &format!("      <failure message=\"{}\">{}</failure>\n", esc(&msg), esc(&c.title)),
            Status::Error => x += &format!("      <error message=\"{}\">{}</error>\n", esc(&msg), esc(&c.title)),
            Status::Skipped | Status::Ungraded => x += &format!("      <skipped message=\"{}\"/>\n", esc(&c.evidence)),
        }
        x += &format!("      <system-out>{}</system-out>\n    </testcase>\n", esc(&c.evidence));
    }
    x += "  </testsuite>\n</testsuites>\n";
    x
}
