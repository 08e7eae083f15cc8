//! The batch summary: `leaderboard.csv`, `summary.md`, and `summary.html`
//! (one self-contained page: no external assets, charts as inline SVG).

use std::collections::BTreeSet;
use std::path::Path;

use super::{Candidate, State};
use serde::Serialize;

use super::similarity::Similarity;
use crate::evaluate::score::Status;
use crate::support::error::Result;

/// Check ids in first-seen order over all candidates.
fn check_ids(cs: &[Candidate]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut ids = Vec::new();
    for c in cs {
        for ch in c.result.iter().flat_map(|r| &r.checks) {
            if seen.insert(ch.id.clone()) {
                ids.push(ch.id.clone());
            }
        }
    }
    ids
}

fn state(c: &Candidate) -> &'static str {
    c.state.as_str()
}

fn failure(c: &Candidate) -> String {
    c.result.as_ref().and_then(|r| r.failure.as_ref()).map(|f| f.class.as_str().to_string()).unwrap_or_default()
}

/// Ranked: scored candidates by score, then the ungraded (no score at all).
fn ranked(cs: &[Candidate]) -> Vec<&Candidate> {
    let mut v: Vec<&Candidate> = cs.iter().collect();
    let key = |c: &Candidate| match (&c.result, c.state) {
        (Some(r), State::Graded | State::Failed) => r.score.percent,
        _ => -1.0,
    };
    v.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.name.cmp(&b.name)));
    v
}

/// leaderboard.csv: cells quoted by the csv writer where needed; text
/// cells (names, classes) neutralised so a spreadsheet does not run them as
/// formulas.
pub fn leaderboard_csv(cs: &[Candidate]) -> String {
    leaderboard_csv_with(cs, &[], &|_| None)
}

/// The leaderboard with the reviewers' columns last: the percent after
/// overrides, the decisions, and whether reviewers disagree.
pub fn leaderboard_csv_with(
    cs: &[Candidate],
    records: &[crate::schema::ReviewRecord],
    digest_of: &dyn Fn(&Candidate) -> Option<String>,
) -> String {
    use crate::support::sanitize::csv_text;
    let ids = check_ids(cs);
    let mut w = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Necessary).from_writer(Vec::new());
    let mut header: Vec<String> =
        ["rank", "candidate", "state", "points", "max_points", "percent", "failure_class"].map(String::from).to_vec();
    header.extend(ids.iter().map(|id| csv_text(id)));
    header.extend(["percent_after_overrides", "decisions", "reviewers_disagree"].map(String::from));
    w.write_record(&header).expect("in memory");
    for (i, c) in ranked(cs).into_iter().enumerate() {
        let scored = c.state != State::Ungraded;
        let (p, m, pct) = match (&c.result, scored) {
            (Some(r), true) => {
                (r.score.points.to_string(), r.score.max_points.to_string(), r.score.percent.to_string())
            }
            _ => (String::new(), String::new(), String::new()),
        };
        let mut row = vec![
            if scored { (i + 1).to_string() } else { String::new() },
            csv_text(&c.name),
            state(c).to_string(),
            p,
            m,
            pct,
            csv_text(&failure(c)),
        ];
        for id in &ids {
            let v = c
                .result
                .as_ref()
                .filter(|_| scored)
                .and_then(|r| r.checks.iter().find(|x| &x.id == id))
                .map(|x| x.points.to_string());
            row.push(v.unwrap_or_default());
        }
        let digest = digest_of(c);
        row.extend(crate::review::render::leaderboard_cells(c, records, digest.as_deref()).map(|t| csv_text(&t)));
        w.write_record(&row).expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8 in, UTF-8 out")
}

pub fn summary_md(exercise: &str, cs: &[Candidate], similarity: &Similarity) -> String {
    let pairs = &similarity.pairs;
    let mut m = format!(
        "# Batch: {exercise}, {} candidates\n\n| rank | candidate | state | score | failure |\n|---|---|---|---|---|\n",
        cs.len()
    );
    for (i, c) in ranked(cs).into_iter().enumerate() {
        let score = match (&c.result, c.state) {
            (Some(r), State::Graded | State::Failed) => {
                format!("{} / {} ({}%)", r.score.points, r.score.max_points, r.score.percent)
            }
            _ => format!("— ({})", crate::support::sanitize::md_inline(c.error.as_deref().unwrap_or("no result"))),
        };
        let rank = if c.state == State::Ungraded { String::new() } else { (i + 1).to_string() };
        m += &format!(
            "| {rank} | {} | {} | {score} | {} |\n",
            crate::support::sanitize::md_inline(&c.name),
            state(c),
            failure(c)
        );
    }
    m += "\nUngraded candidates had an infrastructure failure: run the batch again to grade them (finished candidates are kept).\n";
    if !similarity.notes.is_empty() {
        m += "\n## Similarity: not every submission was compared in full\n\n";
        for n in &similarity.notes {
            m += &format!("- {}\n", crate::support::sanitize::md_inline(n));
        }
    }
    if !pairs.is_empty() {
        m += "\n## Please review: submissions that look alike\n\nNot a score change: a person decides. Details in similarity.csv.\n\n| candidate | candidate | similarity | shared fingerprints |\n|---|---|---|---|\n";
        for p in pairs {
            m += &format!(
                "| {} | {} | {:.0}% | {} |\n",
                crate::support::sanitize::md_inline(&p.a),
                crate::support::sanitize::md_inline(&p.b),
                100.0 * p.score,
                p.shared
            );
        }
    }
    m
}

/// Text a candidate controls, for the page: control characters made
/// visible (the template escapes markup).
fn shown(s: &str) -> String {
    crate::support::sanitize::terminal(s).into_owned()
}

#[derive(Serialize)]
struct Bar {
    x: String,
    y: String,
    w: String,
    h: String,
    lx: String,
    upper: f64,
    n: u64,
    label: bool,
}

/// A latency histogram's bars: log-spaced buckets, heights by count, in a
/// 360 × 120 chart with 18 px of padding.
fn histogram_bars(buckets: &[(f64, u64)]) -> Vec<Bar> {
    let (w, h, pad) = (360.0, 120.0, 18.0);
    if buckets.is_empty() {
        return Vec::new();
    }
    let first = buckets.iter().position(|b| b.1 > 0).unwrap_or(0);
    let last = buckets.iter().rposition(|b| b.1 > 0).unwrap_or(0);
    let shown = &buckets[first.saturating_sub(1)..=(last + 1).min(buckets.len() - 1)];
    let max = shown.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let bw = (w - 2.0 * pad) / shown.len().max(1) as f64;
    shown
        .iter()
        .enumerate()
        .map(|(i, &(upper, n))| {
            let bh = (h - 2.0 * pad) * (n as f64) / max;
            let x = pad + i as f64 * bw;
            Bar {
                x: format!("{:.1}", x + 1.0),
                y: format!("{:.1}", h - pad - bh),
                w: format!("{:.1}", (bw - 2.0).max(1.0)),
                h: format!("{bh:.1}"),
                lx: format!("{x:.1}"),
                upper,
                n,
                label: i % 2 == 0,
            }
        })
        .collect()
}

pub fn summary_html(exercise: &str, cs: &[Candidate], similarity: &Similarity) -> String {
    let pairs = &similarity.pairs;
    use crate::report::palette::{css, BAR_RGB, FAIL_RGB, HEADER_RGB, PASS_RGB};
    let ids = check_ids(cs);
    let leaderboard: Vec<serde_json::Value> = ranked(cs)
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let scored = c.state != State::Ungraded;
            let score = match (&c.result, scored) {
                (Some(r), true) => format!("{} / {} ({}%)", r.score.points, r.score.max_points, r.score.percent),
                _ => "—".into(),
            };
            serde_json::json!({
                "rank": if scored { (i + 1).to_string() } else { String::new() },
                "name": shown(&c.name),
                "state": state(c),
                "score": score,
                "failure": shown(&failure(c)),
            })
        })
        .collect();
    let pairs: Vec<serde_json::Value> = pairs
        .iter()
        .map(|p| {
            let spans: Vec<String> = p.spans.iter().take(3).cloned().collect();
            serde_json::json!({
                "a": shown(&p.a),
                "b": shown(&p.b),
                "percent": format!("{:.0}", 100.0 * p.score),
                "shared": p.shared,
                "spans": shown(&spans.join("; ")),
            })
        })
        .collect();
    let matrix: Vec<serde_json::Value> = ranked(cs)
        .into_iter()
        .map(|c| {
            let cells: Vec<serde_json::Value> = ids
                .iter()
                .map(|id| match c.result.as_ref().and_then(|r| r.checks.iter().find(|x| &x.id == id)) {
                    Some(x) => serde_json::json!({
                        "class": match x.status {
                            Status::Ungraded => "not graded",
                            s => s.as_str(),
                        },
                        "evidence": shown(&x.evidence),
                        "points": format!("{:.1}", x.points),
                    }),
                    None => serde_json::Value::Null,
                })
                .collect();
            serde_json::json!({ "name": shown(&c.name), "cells": cells })
        })
        .collect();
    let latency: Vec<serde_json::Value> = cs
        .iter()
        .filter_map(|c| {
            let l = c.result.as_ref().and_then(|r| r.metrics.latency.ran())?;
            Some(serde_json::json!({
                "name": shown(&c.name),
                "p50": format!("{:.1}", l.p50_ms),
                "p99": format!("{:.1}", l.p99_ms),
                "bars": histogram_bars(&l.buckets),
            }))
        })
        .collect();
    let ctx = minijinja::context! {
        exercise => shown(exercise),
        header_rgb => css(HEADER_RGB),
        pass_rgb => css(PASS_RGB),
        fail_rgb => css(FAIL_RGB),
        bar_rgb => css(BAR_RGB),
        leaderboard => leaderboard,
        pairs => pairs,
        similarity_notes => similarity.notes.iter().map(|n| shown(n)).collect::<Vec<_>>(),
        check_ids => ids.iter().map(|i| shown(i)).collect::<Vec<_>>(),
        matrix => matrix,
        latency => latency,
    };
    crate::report::template::render(crate::report::template::SUMMARY, ctx)
}

/// Writes the three summaries, each via a temporary file and a rename.
/// `similarity`: `None` when none was computed (a merge: each shard compared its own).
pub fn write(out: &Path, exercise: &str, cs: &[Candidate], similarity: Option<&Similarity>) -> Result<()> {
    let none = Similarity::default();
    let (records, _) = crate::review::load(out);
    let digest_of = digests(out);
    // A candidate graded again shows their earlier reviews as stale.
    for c in cs.iter().filter(|c| records.iter().any(|r| r.candidate == c.name)) {
        let dir = super::candidate_dir(out, &c.name);
        crate::review::refresh_report(&dir, &records)?;
    }
    use crate::review::render::{splice, summary_md as reviews_md, summary_section};
    let md = summary_md(exercise, cs, similarity.unwrap_or(&none));
    let html = summary_html(exercise, cs, similarity.unwrap_or(&none));
    let mut files = vec![
        ("leaderboard.csv", leaderboard_csv_with(cs, &records, &digest_of)),
        ("summary.md", splice(&md, &reviews_md(cs, &records, &digest_of))),
        ("summary.html", splice(&html, &summary_section(cs, &records, &digest_of))),
    ];
    if let Some(s) = similarity {
        files.push(("similarity.csv", super::similarity::csv(&s.pairs)));
    }
    for (name, text) in files {
        crate::support::fs::write_atomic(&out.join(name), text)?;
    }
    Ok(())
}

/// A candidate's result.json digest in `out` (what a review was made on).
fn digests(out: &Path) -> impl Fn(&Candidate) -> Option<String> + '_ {
    move |c: &Candidate| {
        let dir = super::candidate_dir(out, &c.name);
        crate::review::result_digest(&dir)
    }
}

/// After `grader review`: the leaderboard written again, and the review
/// sections of summary.md and summary.html replaced (the rest of each, the
/// similarity check's included, is kept as the batch wrote it).
pub fn refresh_reviews(
    out: &Path,
    _exercise: &str,
    cs: &[Candidate],
    records: &[crate::schema::ReviewRecord],
) -> Result<()> {
    use crate::review::render::{splice, summary_md as reviews_md, summary_section};
    let digest_of = digests(out);
    crate::support::fs::write_atomic(&out.join("leaderboard.csv"), leaderboard_csv_with(cs, records, &digest_of))?;
    for (name, section) in [
        ("summary.md", reviews_md(cs, records, &digest_of)),
        ("summary.html", summary_section(cs, records, &digest_of)),
    ] {
        let path = out.join(name);
        if let Ok(doc) = std::fs::read_to_string(&path) {
            crate::support::fs::write_atomic(&path, splice(&doc, &section))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Candidate {
        Candidate {
            name: name.into(),
            state: State::Ungraded,
            reused: false,
            attempts: 1,
            host: None,
            error: Some("x".into()),
            score: None,
            publish_failed: false,
            note: None,
            result: None,
        }
    }

    /// Whatever the separator a spreadsheet guesses (`,` or `;`), no cell
    /// may start with what makes it a formula.
    #[test]
    fn no_cell_of_the_leaderboard_starts_a_formula() {
        let hostile = ["=1+2", "-3+4", "+5", "@SUM(5)", "\tx", "\ry", "a,=b", "c;=d"];
        let cs: Vec<Candidate> = hostile.iter().map(|n| named(n)).collect();
        let csv = leaderboard_csv(&cs);
        for line in csv.lines().skip(1) {
            for cell in line.split([',', ';']) {
                let cell = cell.trim_start_matches('"');
                assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?} in {line:?}");
            }
        }
    }
}
