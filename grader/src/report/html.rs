//! `report.html`: one self-contained page per candidate for the reviewer
//! (no network, no script; a Content-Security-Policy forbids both). Built
//! from a minijinja template whose `.html` name turns on escaping of every
//! value, so a candidate's text (report.json, NOTES.md, logs, error
//! answers) is shown as text and never becomes markup.

use serde::Serialize;

use super::palette::{css as rgb, BAR_RGB, HEADER_RGB};
use crate::evaluate::score::Status;
use crate::schema::GradeResult;

/// What a page shows of a candidate's NOTES.md and log, at most.
pub const MAX_TEXT: usize = 64 * 1024;

/// What the page needs from outside result.json.
pub struct Extras<'a> {
    pub notes: Option<&'a str>,
    pub log: Option<&'a str>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    points: f64,
    max: f64,
    width: f64,
}

#[derive(Serialize)]
struct CheckRow {
    id: String,
    title: String,
    status: String,
    class: &'static str,
    points: f64,
    max: f64,
    evidence: String,
}

#[derive(Serialize)]
struct FindingRow {
    planted: String,
    /// The defect's level (obvious, subtle), or empty for a false flag.
    level: &'static str,
    verdict: String,
    class: &'static str,
    flag: String,
    evidence: String,
}

#[derive(Serialize)]
struct Bar {
    label: String,
    value: String,
    width: f64,
}

#[derive(Serialize)]
struct Bucket {
    x: f64,
    width: f64,
    height: f64,
    label: String,
}

/// At most `MAX_TEXT` bytes of `s`, cut at a character boundary, saying so.
fn capped(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut cut = MAX_TEXT;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n[… {} more bytes not shown]", &s[..cut], s.len() - cut)
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn render(r: &GradeResult, extras: &Extras<'_>) -> String {
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    let mut groups: Vec<Group> = Vec::new();
    for c in &r.checks {
        match groups.iter_mut().find(|g| g.name == c.group) {
            Some(g) => {
                g.points += c.points;
                g.max += c.max_points;
            }
            None => groups.push(Group { name: c.group.clone(), points: c.points, max: c.max_points, width: 0.0 }),
        }
    }
    for g in &mut groups {
        g.points = r2(g.points);
        g.max = r2(g.max);
        g.width = if g.max > 0.0 { (400.0 * g.points / g.max).round() } else { 0.0 };
    }
    let checks: Vec<CheckRow> = r
        .checks
        .iter()
        .map(|c| CheckRow {
            id: c.id.clone(),
            title: c.title.clone(),
            status: c.status.as_str().to_string(),
            class: match c.status {
                Status::Pass => "pass",
                Status::Fail | Status::Error => "fail",
                _ => "other",
            },
            points: r2(c.points),
            max: r2(c.max_points),
            evidence: capped(&c.evidence),
        })
        .collect();

    // The candidate's flags beside the key's verdicts.
    let report = r.metrics.contract.ran().and_then(|c| c.report.as_ref());
    let mut findings = Vec::new();
    let mut findings_note = String::from("No findings were scored.");
    match (r.metrics.findings.ran(), report) {
        (Some(f), Some(report)) => {
            for (section, s) in [("leakage", &f.leakage), ("drift", &f.drift)] {
                for m in &s.matched {
                    let feature = m.planted.split_once(':').map(|(_, f)| f).unwrap_or("-");
                    let flags: Vec<(String, String, String)> = if section == "leakage" {
                        report
                            .leakage
                            .iter()
                            .map(|l| {
                                (
                                    l.feature.clone().unwrap_or_else(|| "-".into()),
                                    l.kind.to_string(),
                                    l.evidence.clone(),
                                )
                            })
                            .collect()
                    } else {
                        report
                            .drift
                            .iter()
                            .map(|d| (d.feature.clone(), d.kind.to_string(), d.evidence.clone()))
                            .collect()
                    };
                    let flag = flags.iter().find(|(f, _, _)| f == feature);
                    findings.push(FindingRow {
                        planted: format!("{section}: {}", m.planted),
                        level: m.level.map_or("", |l| l.as_str()),
                        verdict: if m.credit >= 1.0 {
                            "found".into()
                        } else if m.credit > 0.0 {
                            format!("partly ({:.2})", m.credit)
                        } else {
                            "missed".into()
                        },
                        class: if m.credit > 0.0 { "pass" } else { "fail" },
                        flag: flag.map(|(f, k, _)| format!("{k} on {f}")).unwrap_or_default(),
                        evidence: flag.map(|(_, _, e)| capped(e)).unwrap_or_default(),
                    });
                }
                for ff in &s.false_flags {
                    let evidence = report
                        .leakage
                        .iter()
                        .map(|l| (l.feature.clone().unwrap_or_default(), l.evidence.clone()))
                        .chain(report.drift.iter().map(|d| (d.feature.clone(), d.evidence.clone())))
                        .find(|(f, _)| !f.is_empty() && ff.contains(&format!("`{f}`")))
                        .map(|(_, e)| capped(&e))
                        .unwrap_or_default();
                    findings.push(FindingRow {
                        planted: format!("{section}: —"),
                        level: "",
                        verdict: "false flag".into(),
                        class: "fail",
                        flag: capped(ff),
                        evidence,
                    });
                }
            }
        }
        (_, None) => findings_note = "No valid report.json was read.".into(),
        (None, Some(_)) => findings_note = "Findings were not scored (no answer key: a practice kit).".into(),
    }

    let quality: Vec<Bar> = r
        .metrics
        .correctness
        .ran()
        .map(|c| {
            [
                ("offline (the extract)", c.offline.map(|q| q.auc)),
                ("as served", Some(c.serving.auc)),
                ("generating model", Some(c.bayes.auc)),
            ]
            .into_iter()
            .filter_map(|(label, auc)| {
                auc.map(|a| Bar {
                    label: label.into(),
                    value: format!("{a:.3}"),
                    width: (((a - 0.5) / 0.5).clamp(0.0, 1.0) * 400.0).round(),
                })
            })
            .collect()
        })
        .unwrap_or_default();

    let (mut latency, mut from, mut to, mut note) = (Vec::new(), String::new(), String::new(), String::new());
    if let Some(l) = r.metrics.latency.ran() {
        let buckets: Vec<&(f64, u64)> = l.buckets.iter().filter(|(_, n)| *n > 0).collect();
        let most = buckets.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f64;
        let w = 620.0 / buckets.len().max(1) as f64;
        for (i, (ms, n)) in buckets.iter().enumerate() {
            latency.push(Bucket {
                x: (i as f64 * w).round(),
                width: (w - 1.0).max(1.0).round(),
                height: ((*n as f64 / most) * 120.0).round().max(1.0),
                label: format!("≤ {ms:.1} ms: {n} requests"),
            });
        }
        if let (Some(a), Some(b)) = (buckets.first(), buckets.last()) {
            from = format!("{:.1} ms", a.0);
            to = format!("{:.1} ms", b.0);
        }
        note = format!(
            "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} requests at {} per second, {} errors.",
            l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.requests, l.target_rate, l.errors
        );
    }

    let replay = r.metrics.lifecycle.as_ref().and_then(|o| o.ran());
    let timeline = replay.map(crate::evaluate::lifecycle::timeline).unwrap_or_default();
    let replay_stopped = replay.and_then(|m| m.stopped.clone());

    let failure = r.failure.as_ref().map(|f| {
        serde_json::json!({
            "class": f.class.as_str(),
            "message": capped(&f.message),
            "log": capped(&f.log_excerpt),
        })
    });
    let title = match &r.candidate {
        Some(c) => format!("Candidate {c}"),
        None => "Submission".to_string(),
    };
    let ctx = minijinja::context! {
        title => title,
        exercise => r.exercise.id,
        exercise_version => r.exercise.version,
        seed => r.seed.value,
        outcome => r.outcome,
        submission => r.submission,
        points => r.score.points,
        max_points => r.score.max_points,
        percent => r.score.percent,
        score_rgb => rgb(HEADER_RGB),
        header_rgb => rgb(HEADER_RGB),
        bar_rgb => rgb(BAR_RGB),
        pass_rgb => "#dcfce7",
        fail_rgb => "#fee2e2",
        groups => groups,
        checks => checks,
        findings => findings,
        findings_note => findings_note,
        quality => quality,
        latency => latency,
        latency_from => from,
        latency_to => to,
        latency_note => note,
        timeline => timeline,
        replay_stopped => replay_stopped,
        failure => failure,
        notes => extras.notes.map(capped),
        log_tail => extras.log.map(|l| capped(&last_lines(l, 30))),
        grader_version => r.grader_version,
        schema_version => r.schema_version,
    };
    super::template::render(super::template::REPORT, ctx)
}
