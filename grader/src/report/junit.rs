//! JUnit XML: one test case per check, for CI systems, written by
//! quick-junit (nextest's writer) rather than by hand.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::GradeResult;
use crate::evaluate::score::Status;

/// Text XML 1.0 can carry: quick-junit drops C0 controls and escapes
/// markup, but U+FFFE and U+FFFF (and C1 controls some parsers refuse)
/// would still make the file unparseable. A candidate's evidence text can
/// hold anything.
fn xml_text(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '\u{fffe}' | '\u{ffff}' | '\u{80}'..='\u{9f}')).collect()
}

pub fn render(r: &GradeResult) -> String {
    let mut suite = TestSuite::new(xml_text(&r.exercise.id));
    suite.set_time(Duration::from_millis(r.timings.total_ms as u64));
    suite.add_property(("score", format!("{}/{}", r.score.points, r.score.max_points).as_str()));
    suite.add_property(("outcome", r.outcome.as_str()));
    for c in &r.checks {
        let msg = xml_text(&format!("{}/{} points: {}", c.points, c.max_points, c.evidence));
        let mut status = match c.status {
            Status::Pass => TestCaseStatus::success(),
            Status::Partial | Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Status::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            Status::Skipped | Status::Ungraded => TestCaseStatus::skipped(),
        };
        match c.status {
            Status::Pass => {}
            Status::Skipped | Status::Ungraded => {
                status.set_message(xml_text(&c.evidence));
            }
            _ => {
                status.set_message(msg).set_description(xml_text(&c.title));
            }
        }
        let mut case = TestCase::new(xml_text(&c.id), status);
        case.set_classname(xml_text(&format!("grader.{}", c.group)));
        case.set_system_out(xml_text(&c.evidence));
        suite.add_test_case(case);
    }
    let mut report = Report::new("grader");
    report.add_test_suite(suite);
    report.to_string().expect("a report in memory serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_with_characters_xml_forbids_still_parses() {
        let mut r = crate::evaluate::tests::sample_result();
        let hostile = "a\u{ffff}b\u{fffe}c\u{1}\u{8}\u{1b}[31md\u{85}e<f>&\"g'";
        for c in &mut r.checks {
            c.evidence = hostile.into();
            c.title = hostile.into();
        }
        r.exercise.id = hostile.into();
        let xml = render(&r);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("junit.xml does not parse: {e}\n{xml}"));
        let outs: Vec<&str> =
            doc.descendants().filter(|n| n.has_tag_name("system-out")).filter_map(|n| n.text()).collect();
        assert_eq!(outs.len(), r.checks.len());
        assert!(outs.iter().all(|t| t.contains("<f>&\"g'") && t.starts_with("abc")), "{outs:?}");
    }
}
