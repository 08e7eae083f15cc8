//! The reviewer's pages through one escaping template engine (minijinja):
//! a template whose name ends in `.html` escapes every value, so a
//! candidate's text (names, evidence, notes, logs) is shown as text and
//! never becomes markup. Templates are compiled into the binary.

/// `templates/report.html`: one candidate's page.
pub const REPORT: (&str, &str) = ("report.html", include_str!("templates/report.html"));
/// `templates/summary.html`: a batch's page.
pub const SUMMARY: (&str, &str) = ("summary.html", include_str!("templates/summary.html"));

/// `templates/reviews-report.html`: the reviews section of report.html.
pub const REVIEWS_REPORT: (&str, &str) = ("reviews-report.html", include_str!("templates/reviews-report.html"));
/// `templates/reviews-summary.html`: the reviews section of summary.html.
pub const REVIEWS_SUMMARY: (&str, &str) = ("reviews-summary.html", include_str!("templates/reviews-summary.html"));

/// Renders a template with `ctx`. The templates are the grader's own (unit
/// tests render both), so a failure here is a bug, not bad input.
pub fn render((name, source): (&str, &str), ctx: minijinja::Value) -> String {
    let mut env = minijinja::Environment::new();
    env.add_template(name, source).expect("the template parses (a unit test renders it)");
    env.get_template(name).expect("added").render(ctx).expect("the template renders (a unit test renders it)")
}
