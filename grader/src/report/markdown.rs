//! report.md: the grade for a person to read.

use super::GradeResult;
use crate::evaluate::score::Status;

use crate::support::sanitize::{md_code_block, md_inline};

/// Which bytes were graded: a reviewer can tell two gradings apart.
fn provenance(s: &crate::schema::Submission) -> String {
    let mut m = match &s.path {
        Some(p) => format!("- submission: {} ({})\n", md_inline(p), s.kind.as_str()),
        None => format!("- submission: {}\n", s.kind.as_str()),
    };
    if let Some(a) = &s.archive_sha256 {
        m += &format!("- archive SHA-256: `{a}`\n");
    }
    if let Some(g) = &s.git {
        let dirty = match g.dirty {
            Some(true) => ", working tree dirty: the commit was graded, not the uncommitted changes",
            Some(false) => ", working tree clean",
            None => "",
        };
        m += &format!("- git commit: `{}` ({}{dirty})\n", g.commit, md_inline(&g.reference));
    }
    if let Some(c) = &s.context_sha256 {
        m += &format!("- build context SHA-256: `{c}`\n");
    }
    m
}

fn cell(s: &str) -> String {
    md_inline(s)
}

pub fn render(r: &GradeResult) -> String {
    let mut m =
        format!("# {} — {} / {} points ({}%)\n\n", r.exercise.id, r.score.points, r.score.max_points, r.score.percent);
    m += &format!("- outcome: **{}**\n", r.outcome);
    if let Some(c) = &r.candidate {
        m += &format!("- candidate: {}\n", md_inline(c));
    }
    if let Some(s) = &r.submission {
        m += &provenance(s);
    }
    if let Some(i) = &r.image {
        m += &format!("- image: `{}` ({})\n", i.tag, i.id);
    }
    match &r.seed.derivation {
        Some(d) => {
            m += &format!(
                "- variant: seed derived for candidate {} (secret {})\n",
                md_inline(&d.candidate),
                d.secret_fingerprint
            )
        }
        None => m += &format!("- variant: seed {}\n", r.seed.value),
    }
    m += &format!(
        "- timings: build {}, ready after {}, probes {}, total {:.1} s\n",
        secs(r.timings.build_ms),
        secs(r.timings.ready_ms),
        secs(r.timings.probes_ms),
        r.timings.total_ms as f64 / 1000.0
    );
    if let Some(f) = &r.failure {
        m += &format!(
            "\n## Why it failed\n\n**{}**: {}\n\n{}",
            f.class.as_str(),
            md_inline(&f.message),
            md_code_block(&f.log_excerpt)
        );
    }
    m += "\n## Checks\n\n| check | status | points | evidence |\n|---|---|---|---|\n";
    for c in &r.checks {
        let status = match c.status {
            Status::Pass => "pass",
            Status::Partial => "partial",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Skipped => "skipped",
            Status::Ungraded => "not graded",
        };
        m += &format!("| {} | {status} | {} / {} | {} |\n", cell(&c.title), c.points, c.max_points, cell(&c.evidence));
    }
    if let Some(f) = r.metrics.findings.ran() {
        m += "\n## Findings\n\n| planted | level | found |\n|---|---|---|\n";
        for x in f.leakage.matched.iter().chain(&f.drift.matched) {
            let found = if x.credit >= 1.0 {
                "yes".to_string()
            } else if x.credit > 0.0 {
                format!("partly ({:.0}%)", 100.0 * x.credit)
            } else {
                "**missed**".into()
            };
            let level = x.level.map_or("—", |l| l.as_str());
            m += &format!("| {} | {level} | {found} |\n", cell(&x.planted));
        }
        for ff in f.leakage.false_flags.iter().chain(&f.drift.false_flags) {
            m += &format!("| false flag: {} | — | — |\n", cell(ff));
        }
    }
    if let Some(c) = r.metrics.correctness.ran() {
        m += "\n## Offline vs as served\n\n| | AUC | log-loss | Brier | accuracy |\n|---|---|---|---|---|\n";
        for (name, q) in [
            ("offline (the extract)", c.offline.as_ref()),
            ("as served", Some(&c.serving)),
            ("generating model", Some(&c.bayes)),
        ] {
            if let Some(q) = q {
                m += &format!("| {name} | {:.3} | {:.3} | {:.3} | {:.3} |\n", q.auc, q.log_loss, q.brier, q.accuracy);
            }
        }
        if let (Some(auc), Some(ll)) = (c.auc_gap, c.log_loss_gap) {
            m += &format!("\nGap: AUC {auc:+.3}, log-loss {ll:+.3}.\n");
        }
    }
    if let Some(l) = r.metrics.lifecycle.as_ref().and_then(|o| o.ran()) {
        m +=
            "\n## Production replay\n\n| day | rows | labels | status | model | planted |\n|---|---|---|---|---|---|\n";
        for t in crate::evaluate::lifecycle::timeline(l) {
            m += &format!(
                "| {}{} | {} | {} | {} | {} | {} |\n",
                t.day,
                if t.class == "alarm" { " (false alarm)" } else { "" },
                t.rows,
                cell(&t.labels),
                cell(&t.status),
                cell(&t.model_version),
                cell(&t.planted)
            );
        }
        if let Some(s) = &l.stopped {
            m += &format!("\nThe replay stopped: {}.\n", md_inline(s));
        }
    }
    if let Some(l) = r.metrics.latency.ran() {
        m += &format!(
            "\n## Latency\n\n{} requests/s targeted, {:.1} achieved, {} measured requests, {} errors ({} timeouts, {} dropped), {} late sends.\n\n| p50 | p95 | p99 | max | mean |\n|---|---|---|---|---|\n| {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |\n",
            l.target_rate, l.achieved_rate, l.requests, l.errors, l.timeouts, l.dropped, l.late_sends, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.mean_ms
        );
    }
    m
}

fn secs(ms: Option<u128>) -> String {
    ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0)).unwrap_or_else(|| "—".into())
}
