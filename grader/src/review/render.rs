//! The reviews as a reviewer reads them: a section of the candidate's
//! report.html, and of the batch's summary.html and summary.md. Each is
//! spliced between markers the grader writes (`<!-- reviews -->` …
//! `<!-- /reviews -->`), so `grader review` re-renders it without
//! re-rendering what grading wrote. A candidate's text cannot forge a
//! marker: on the page it is escaped (`&lt;!--`), in Markdown escaped too.

use super::Current;
use crate::batch::State;
use crate::schema::{Candidate, GradeResult, ReviewRecord};

pub const OPEN: &str = "<!-- reviews -->";
pub const CLOSE: &str = "<!-- /reviews -->";

/// `doc` with its review section replaced by `section` (inserted before
/// `</body>`, or at the end, in a page written before reviews existed).
pub fn splice(doc: &str, section: &str) -> String {
    let block = format!("{OPEN}{section}{CLOSE}");
    if let (Some(a), Some(b)) = (doc.find(OPEN), doc.find(CLOSE)) {
        if a < b {
            return format!("{}{block}{}", &doc[..a], &doc[b + CLOSE.len()..]);
        }
    }
    match doc.rfind("</body>") {
        Some(at) => format!("{}{block}\n{}", &doc[..at], &doc[at..]),
        None => format!("{doc}\n{block}\n"),
    }
}

/// Text a reviewer or candidate wrote, for a page: controls made visible
/// (the template escapes markup).
fn shown(s: &str) -> String {
    crate::support::sanitize::terminal(s).into_owned()
}

fn score_text(s: &crate::report::Score) -> String {
    format!("{} / {} ({}%)", s.points, s.max_points, s.percent)
}

fn stale_line(r: &ReviewRecord) -> String {
    let what = match (r.decision, r.overrides.len()) {
        (Some(d), 0) => d.as_str().to_string(),
        (Some(d), n) => format!("{}, {n} override(s)", d.as_str()),
        (None, n) => format!("{n} override(s)"),
    };
    shown(&format!("{} at {}: {what}", r.reviewer, r.at))
}

/// The candidate's page's section.
pub fn report_section(cur: &Current<'_>, result: Option<&GradeResult>) -> String {
    let Some(r) = result else { return String::new() };
    if cur.records.is_empty() && cur.stale.is_empty() {
        return String::new();
    }
    let decisions: Vec<serde_json::Value> = cur
        .decisions
        .iter()
        .map(|(who, (d, note, at))| {
            serde_json::json!({
                "reviewer": shown(who), "decision": d.as_str(),
                "note": shown(note.as_deref().unwrap_or("")), "at": at,
            })
        })
        .collect();
    let overrides: Vec<serde_json::Value> = cur
        .overrides
        .iter()
        .map(|(id, (points, why, who))| {
            let check = r.checks.iter().find(|c| &c.id == id);
            serde_json::json!({
                "check": shown(id),
                "automated": check.map(|c| format!("{} / {}", c.points, c.max_points)).unwrap_or_default(),
                "evidence": shown(check.map(|c| c.evidence.as_str()).unwrap_or("")),
                "points": points, "why": shown(why), "reviewer": shown(who),
            })
        })
        .collect();
    let ctx = minijinja::context! {
        automated => score_text(&r.score),
        overridden => !cur.overrides.is_empty(),
        after => score_text(&cur.score_after(r)),
        summary => cur.summary(),
        disagree => cur.disagree(),
        decisions => decisions,
        overrides => overrides,
        stale => cur.stale.iter().map(|s| stale_line(s)).collect::<Vec<_>>(),
    };
    crate::report::template::render(crate::report::template::REVIEWS_REPORT, ctx)
}

/// One row per candidate with any record.
struct Row {
    name: String,
    automated: String,
    after: String,
    decisions: String,
    disagree: bool,
    overrides: String,
    stale: usize,
}

fn rows(cs: &[Candidate], records: &[ReviewRecord], digest_of: &dyn Fn(&Candidate) -> Option<String>) -> Vec<Row> {
    cs.iter()
        .filter_map(|c| {
            let digest = digest_of(c);
            let cur = super::current(records, &c.name, digest.as_deref());
            if cur.records.is_empty() && cur.stale.is_empty() {
                return None;
            }
            let r = c.result.as_ref().filter(|_| c.state != State::Ungraded);
            Some(Row {
                name: c.name.clone(),
                automated: r.map(|r| score_text(&r.score)).unwrap_or_else(|| "—".into()),
                after: r.map(|r| score_text(&cur.score_after(r))).unwrap_or_else(|| "—".into()),
                decisions: cur.summary(),
                disagree: cur.disagree(),
                overrides: cur
                    .overrides
                    .iter()
                    .map(|(id, (p, why, who))| format!("{id} = {p} ({who}: {why})"))
                    .collect::<Vec<_>>()
                    .join("; "),
                stale: cur.stale.len(),
            })
        })
        .collect()
}

/// The batch page's section (empty without records).
pub fn summary_section(
    cs: &[Candidate],
    records: &[ReviewRecord],
    digest_of: &dyn Fn(&Candidate) -> Option<String>,
) -> String {
    let rows = rows(cs, records, digest_of);
    if rows.is_empty() {
        return String::new();
    }
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "name": shown(&r.name), "automated": r.automated, "after": r.after,
                "decisions": r.decisions, "disagree": r.disagree, "overrides": shown(&r.overrides), "stale": r.stale,
            })
        })
        .collect();
    crate::report::template::render(crate::report::template::REVIEWS_SUMMARY, minijinja::context! { rows => rows })
}

/// summary.md's section (empty without records).
pub fn summary_md(
    cs: &[Candidate],
    records: &[ReviewRecord],
    digest_of: &dyn Fn(&Candidate) -> Option<String>,
) -> String {
    use crate::support::sanitize::md_inline;
    let rows = rows(cs, records, digest_of);
    if rows.is_empty() {
        return String::new();
    }
    let mut m = "\n## Reviews\n\n| candidate | automated | after overrides | decisions | disagreement | overrides | stale |\n|---|---|---|---|---|---|---|\n".to_string();
    for r in rows {
        m += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            md_inline(&r.name),
            r.automated,
            r.after,
            r.decisions,
            if r.disagree { "**yes**" } else { "no" },
            md_inline(&r.overrides),
            r.stale
        );
    }
    m
}

/// The leaderboard's review cells of one candidate: score after
/// overrides (percent), decisions, disagreement.
pub fn leaderboard_cells(c: &Candidate, records: &[ReviewRecord], digest: Option<&str>) -> [String; 3] {
    let cur = super::current(records, &c.name, digest);
    let after = c
        .result
        .as_ref()
        .filter(|_| c.state != State::Ungraded && !cur.records.is_empty())
        .map(|r| cur.score_after(r).percent.to_string())
        .unwrap_or_default();
    let disagree = if cur.decisions.len() >= 2 {
        if cur.disagree() {
            "yes"
        } else {
            "no"
        }
    } else {
        ""
    };
    [after, cur.summary(), disagree.to_string()]
}
