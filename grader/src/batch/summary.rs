//! The batch summary: `leaderboard.csv`, `summary.md`, and `summary.html`
//! (one self-contained page: no external assets, charts as inline SVG).

use std::collections::BTreeSet;
use std::path::Path;

use super::{Candidate, State};
use super::similarity::Pair;
use crate::error::{GraderError, Result};
use crate::score::Status;

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
    match c.state {
        State::Graded => "graded",
        State::Failed => "failed",
        State::Ungraded => "ungraded",
    }
}

fn failure(c: &Candidate) -> String {
    c.result
        .as_ref()
        .and_then(|r| r.failure.as_ref())
        .and_then(|f| serde_json::to_value(f.class).ok())
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
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
    use crate::sanitize::csv_text;
    let ids = check_ids(cs);
    let mut w = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Necessary).from_writer(Vec::new());
    let mut header: Vec<String> = ["rank", "candidate", "state", "points", "max_points", "percent", "failure_class"].map(String::from).to_vec();
    header.extend(ids.iter().map(|id| csv_text(id)));
    w.write_record(&header).expect("in memory");
    for (i, c) in ranked(cs).into_iter().enumerate() {
        let scored = c.state != State::Ungraded;
        let (p, m, pct) = match (&c.result, scored) {
            (Some(r), true) => (r.score.points.to_string(), r.score.max_points.to_string(), r.score.percent.to_string()),
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
            let v = c.result.as_ref().filter(|_| scored).and_then(|r| r.checks.iter().find(|x| &x.id == id)).map(|x| x.points.to_string());
            row.push(v.unwrap_or_default());
        }
        w.write_record(&row).expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8 in, UTF-8 out")
}

pub fn summary_md(exercise: &str, cs: &[Candidate], pairs: &[Pair]) -> String {
    let mut m = format!("# Batch: {exercise}, {} candidates\n\n| rank | candidate | state | score | failure |\n|---|---|---|---|---|\n", cs.len());
    for (i, c) in ranked(cs).into_iter().enumerate() {
        let score = match (&c.result, c.state) {
            (Some(r), State::Graded | State::Failed) => format!("{} / {} ({}%)", r.score.points, r.score.max_points, r.score.percent),
            _ => format!("— ({})", crate::sanitize::md_inline(c.error.as_deref().unwrap_or("no result"))),
        };
        let rank = if c.state == State::Ungraded { String::new() } else { (i + 1).to_string() };
        m += &format!("| {rank} | {} | {} | {score} | {} |\n", crate::sanitize::md_inline(&c.name), state(c), failure(c));
    }
    m += "\nUngraded candidates had an infrastructure failure: run the batch again to grade them (finished candidates are kept).\n";
    if !pairs.is_empty() {
        m += "\n## Please review: submissions that look alike\n\nNot a score change: a person decides. Details in similarity.csv.\n\n| candidate | candidate | similarity | shared fingerprints |\n|---|---|---|---|\n";
        for p in pairs {
            m += &format!("| {} | {} | {:.0}% | {} |\n", crate::sanitize::md_inline(&p.a), crate::sanitize::md_inline(&p.b), 100.0 * p.score, p.shared);
        }
    }
    m
}

fn esc(s: &str) -> String {
    crate::sanitize::terminal(s).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Colours of a check status (also what the screenshot test looks for).
pub const PASS_RGB: (u8, u8, u8) = (0x16, 0xa3, 0x4a);
pub const FAIL_RGB: (u8, u8, u8) = (0xdc, 0x26, 0x26);
pub const BAR_RGB: (u8, u8, u8) = (0x25, 0x63, 0xeb);
pub const HEADER_RGB: (u8, u8, u8) = (0x1e, 0x29, 0x3b);

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A latency histogram as inline SVG: log-spaced buckets, bar heights by count.
fn histogram_svg(buckets: &[(f64, u64)]) -> String {
    let (w, h, pad) = (360.0, 120.0, 18.0);
    let shown: Vec<&(f64, u64)> = {
        let first = buckets.iter().position(|b| b.1 > 0).unwrap_or(0);
        let last = buckets.iter().rposition(|b| b.1 > 0).unwrap_or(0);
        buckets[first.saturating_sub(1)..=(last + 1).min(buckets.len() - 1)].iter().collect()
    };
    let max = shown.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let bw = (w - 2.0 * pad) / shown.len().max(1) as f64;
    let mut svg = format!("<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">");
    svg += &format!("<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#94a3b8\"/>", h - pad, w - pad, h - pad);
    for (i, (upper, n)) in shown.iter().enumerate() {
        let bh = (h - 2.0 * pad) * (*n as f64) / max;
        let x = pad + i as f64 * bw;
        svg += &format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>≤ {upper} ms: {n}</title></rect>",
            x + 1.0, h - pad - bh, (bw - 2.0).max(1.0), bh, hex(BAR_RGB)
        );
        if i % 2 == 0 {
            svg += &format!("<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"#475569\">{upper}</text>", x, h - 4.0);
        }
    }
    svg += "</svg>";
    svg
}

pub fn summary_html(exercise: &str, cs: &[Candidate], pairs: &[Pair]) -> String {
    let ids = check_ids(cs);
    let mut h = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Batch: {ex}</title><style>\
body{{font-family:sans-serif;margin:24px;color:#0f172a}} table{{border-collapse:collapse;margin-bottom:24px}}\
th,td{{border:1px solid #cbd5e1;padding:4px 8px;font-size:13px}} th{{background:{hdr};color:#fff}}\
td.pass{{background:{pass};color:#fff}} td.fail{{background:{fail};color:#fff}} td.partial{{background:#f59e0b}}\
td.error{{background:#7c3aed;color:#fff}} td.skipped{{background:#e2e8f0}} .charts{{display:flex;flex-wrap:wrap;gap:16px}}\
.chart{{border:1px solid #cbd5e1;padding:8px}} .matrix th{{writing-mode:vertical-rl;font-weight:normal}}\
</style></head><body><h1>Batch: {ex}</h1>",
        ex = esc(exercise), hdr = hex(HEADER_RGB), pass = hex(PASS_RGB), fail = hex(FAIL_RGB)
    );
    h += "<h2>Leaderboard</h2><table id=\"leaderboard\"><tr><th>rank</th><th>candidate</th><th>state</th><th>score</th><th>failure</th></tr>";
    for (i, c) in ranked(cs).into_iter().enumerate() {
        let scored = c.state != State::Ungraded;
        let score = match (&c.result, scored) {
            (Some(r), true) => format!("{} / {} ({}%)", r.score.points, r.score.max_points, r.score.percent),
            _ => "—".into(),
        };
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{score}</td><td>{}</td></tr>",
            if scored { (i + 1).to_string() } else { String::new() }, esc(&c.name), state(c), esc(&failure(c))
        );
    }
    h += "</table>";
    if !pairs.is_empty() {
        h += "<h2>Please review: submissions that look alike</h2><p>Not a score change: a person decides. Details in similarity.csv.</p>\
<table id=\"similarity\"><tr><th>candidate</th><th>candidate</th><th>similarity</th><th>shared fingerprints</th><th>first matched spans</th></tr>";
        for p in pairs {
            let spans: Vec<String> = p.spans.iter().take(3).cloned().collect();
            h += &format!("<tr><td>{}</td><td>{}</td><td>{:.0}%</td><td>{}</td><td>{}</td></tr>",
                esc(&p.a), esc(&p.b), 100.0 * p.score, p.shared, esc(&spans.join("; ")));
        }
        h += "</table>";
    }
    h += "<h2>Candidates × checks</h2><table class=\"matrix\" id=\"matrix\"><tr><th></th>";
    for id in &ids {
        h += &format!("<th>{}</th>", esc(id));
    }
    h += "</tr>";
    for c in ranked(cs) {
        h += &format!("<tr><td>{}</td>", esc(&c.name));
        for id in &ids {
            match c.result.as_ref().and_then(|r| r.checks.iter().find(|x| &x.id == id)) {
                Some(x) => {
                    let class = match x.status {
                        Status::Pass => "pass",
                        Status::Partial => "partial",
                        Status::Fail => "fail",
                        Status::Error => "error",
                        Status::Skipped => "skipped",
                        Status::Ungraded => "not graded",
                    };
                    h += &format!("<td class=\"{class}\" title=\"{}\">{:.1}</td>", esc(&x.evidence), x.points);
                }
                None => h += "<td></td>",
            }
        }
        h += "</tr>";
    }
    h += "</table><h2>Latency under load</h2><div class=\"charts\">";
    for c in cs {
        if let Some(l) = c.result.as_ref().and_then(|r| r.metrics.latency.ran()) {
            h += &format!(
                "<div class=\"chart\"><div><b>{}</b>: p50 {:.1} ms, p99 {:.1} ms</div>{}</div>",
                esc(&c.name), l.p50_ms, l.p99_ms, histogram_svg(&l.buckets)
            );
        }
    }
    h += "</div></body></html>\n";
    h
}

/// Writes the three summaries, each via a temporary file and a rename.
pub fn write(out: &Path, exercise: &str, cs: &[Candidate], pairs: Option<&[Pair]>) -> Result<()> {
    let none: &[Pair] = &[];
    let mut files = vec![
        ("leaderboard.csv", leaderboard_csv(cs)),
        ("summary.md", summary_md(exercise, cs, pairs.unwrap_or(none))),
        ("summary.html", summary_html(exercise, cs, pairs.unwrap_or(none))),
    ];
    if let Some(p) = pairs {
        files.push(("similarity.csv", super::similarity::csv(p)));
    }
    for (name, text) in files {
        let path = out.join(name);
        let tmp = out.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).map_err(|source| GraderError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| GraderError::Io { path, source })?;
    }
    Ok(())
}
