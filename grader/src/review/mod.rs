//! The reviewer's verdict (`grader review`): decisions and check overrides
//! recorded beside the machine's evidence, never in place of it.
//!
//! Records go to `reviews.jsonl` in the batch's directory, one JSON line
//! each, appended under an exclusive lock (two reviewers writing at once
//! lose nothing) and never rewritten. Each names the SHA-256 of the
//! result.json it was made on: once the candidate is graded again, the
//! record is kept but stale, shown as such and not counted. Everything
//! shown is computed from the log by the pure functions here ([`current`],
//! [`stats`], [`render`]).

pub mod render;
pub mod stats;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::schema::GradeResult;
pub use crate::schema::{Decision, Override, ReviewRecord, ReviewStats, REVIEW_VERSION};
use crate::support::error::{GraderError, Result};

/// The log's file name in a batch's directory.
pub const LOG: &str = "reviews.jsonl";
/// The longest note, reason or reviewer name kept (characters).
pub const MAX_TEXT: usize = 4000;
const MAX_REVIEWER: usize = 100;

/// SHA-256 of a result.json as stored.
pub fn result_digest(candidate_dir: &Path) -> Option<String> {
    use sha2::Digest;
    let bytes =
        crate::support::fs::read_no_follow(&candidate_dir.join("result.json"), crate::batch::MAX_RESULT_BYTES).ok()?;
    Some(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// The records of `out`'s log, in order; lines that do not parse are
/// counted, not dropped silently.
pub fn load(out: &Path) -> (Vec<ReviewRecord>, usize) {
    let Ok(f) = std::fs::File::open(out.join(LOG)) else { return (Vec::new(), 0) };
    let (mut records, mut unreadable) = (Vec::new(), 0);
    for line in std::io::BufReader::new(f).split(b'\n') {
        let Ok(line) = line else {
            unreadable += 1;
            continue;
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<ReviewRecord>(&line) {
            Ok(r) => records.push(r),
            Err(_) => unreadable += 1,
        }
    }
    (records, unreadable)
}

/// The log, opened for appending and locked (exclusive `flock`) until the
/// file is dropped: a writer appends and re-renders the pages under it, so
/// two reviewers at once neither tear a line nor race a page.
pub fn lock(out: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let path = out.join(LOG);
    let io = |source| GraderError::Io { path: path.clone(), source };
    let f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&path)
        .map_err(io)?;
    // SAFETY: flock on a descriptor we own; released when it is closed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    Ok(f)
}

/// Appends one record to the locked log: one write of one line, synced.
pub fn append(out: &Path, log: &mut std::fs::File, record: &ReviewRecord) -> Result<()> {
    let io = |source| GraderError::Io { path: out.join(LOG), source };
    let mut line = serde_json::to_vec(record).expect("plain data");
    line.push(b'\n');
    log.write_all(&line).map_err(io)?;
    log.sync_data().map_err(io)?;
    Ok(())
}

/// What the records say about one candidate now: their stale records set
/// apart, each reviewer's latest decision, the latest override of each
/// check, and the score after overrides.
#[derive(Debug, Clone, Default)]
pub struct Current<'a> {
    pub records: Vec<&'a ReviewRecord>,
    pub stale: Vec<&'a ReviewRecord>,
    /// Reviewer → (decision, note, time).
    pub decisions: BTreeMap<String, (Decision, Option<String>, String)>,
    /// Check id → (points, why, reviewer).
    pub overrides: BTreeMap<String, (f64, String, String)>,
}

impl Current<'_> {
    /// Reviewers disagree: their latest decisions differ.
    pub fn disagree(&self) -> bool {
        let mut d = self.decisions.values().map(|(d, _, _)| *d);
        d.next().is_some_and(|first| d.any(|x| x != first))
    }

    /// The score once overrides replace their checks' points.
    pub fn score_after(&self, r: &GradeResult) -> crate::report::Score {
        let checks: Vec<crate::schema::Check> = r
            .checks
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if let Some((p, _, _)) = self.overrides.get(&c.id) {
                    c.points = *p;
                }
                c
            })
            .collect();
        crate::report::Score::of(&checks)
    }

    /// "advance ×2, hold" style: the decisions, counted.
    pub fn summary(&self) -> String {
        let mut counts: BTreeMap<Decision, usize> = BTreeMap::new();
        for (d, _, _) in self.decisions.values() {
            *counts.entry(*d).or_default() += 1;
        }
        counts
            .iter()
            .map(|(d, n)| if *n > 1 { format!("{} ×{n}", d.as_str()) } else { d.as_str().to_string() })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The current state of `candidate`'s reviews, against the digest of
/// their result.json now (`None`: no result, every record stale).
pub fn current<'a>(records: &'a [ReviewRecord], candidate: &str, digest: Option<&str>) -> Current<'a> {
    let mut c = Current::default();
    for r in records.iter().filter(|r| r.candidate == candidate) {
        if Some(r.result_sha256.as_str()) != digest {
            c.stale.push(r);
            continue;
        }
        c.records.push(r);
        if let Some(d) = r.decision {
            c.decisions.insert(r.reviewer.clone(), (d, r.note.clone(), r.at.clone()));
        }
        for o in &r.overrides {
            c.overrides.insert(o.check.clone(), (o.points, o.why.clone(), r.reviewer.clone()));
        }
    }
    c
}

/// What `grader review` was asked to record.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub results: PathBuf,
    pub candidate: String,
    pub decision: Option<Decision>,
    pub note: Option<String>,
    /// (check, points) as given, paired in order with `whys`.
    pub overrides: Vec<(String, f64)>,
    pub whys: Vec<String>,
    pub reviewer: String,
}

/// The reviewer's name: `--reviewer`, else `GRADER_REVIEWER`, else `USER`.
pub fn reviewer(given: Option<&str>) -> Result<String> {
    let name = given
        .map(str::to_string)
        .or_else(|| std::env::var("GRADER_REVIEWER").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let name = crate::support::sanitize::terminal_line(name.trim()).into_owned();
    if name.is_empty() {
        return Err(GraderError::Usage("who is reviewing? give --reviewer NAME (or set GRADER_REVIEWER)".into()));
    }
    if name.chars().count() > MAX_REVIEWER {
        return Err(GraderError::Usage(format!("--reviewer: a name of at most {MAX_REVIEWER} characters")));
    }
    Ok(name)
}

/// `--override CHECK=POINTS`, parsed (the check is looked up later).
pub fn parse_override(s: &str) -> Result<(String, f64)> {
    let (check, points) = s
        .rsplit_once('=')
        .ok_or_else(|| GraderError::Usage(format!("--override {s:?}: write it CHECK=POINTS, e.g. findings.drift=4")))?;
    let points: f64 = points
        .trim()
        .parse()
        .ok()
        .filter(|p: &f64| p.is_finite())
        .ok_or_else(|| GraderError::Usage(format!("--override {s:?}: {points:?} is not a number of points")))?;
    Ok((check.trim().to_string(), points))
}

/// A results directory's batch.json, or a usage error naming it.
fn manifest(results: &Path) -> Result<crate::schema::Manifest> {
    let path = results.join("batch.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        GraderError::Usage(format!("{} is not a batch's results directory (batch.json: {e})", results.display()))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| GraderError::Usage(format!("{}: not a batch manifest ({e})", path.display())))
}

/// The batch's manifest and the candidate's folder, or a usage error
/// naming what is wrong (nothing is written).
fn locate(results: &Path, candidate: &str) -> Result<(crate::schema::Manifest, PathBuf)> {
    let m = manifest(results)?;
    let dir = crate::batch::candidate_dir(results, candidate);
    if !m.candidates.iter().any(|c| c == candidate) || !dir.join("result.json").is_file() {
        let mut known: Vec<&str> = m.candidates.iter().map(String::as_str).collect();
        known.truncate(20);
        let blind = if m.blind { " (a blind batch: name candidates by pseudonym)" } else { "" };
        return Err(GraderError::Usage(format!(
            "unknown candidate {:?} in {}{blind}; candidates: {}",
            crate::support::sanitize::terminal_line(candidate),
            results.display(),
            known
                .iter()
                .map(|k| crate::support::sanitize::terminal_line(k).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((m, dir))
}

fn text(what: &str, s: &str) -> Result<String> {
    if s.trim().is_empty() {
        return Err(GraderError::Usage(format!("{what}: empty; say why")));
    }
    if s.chars().count() > MAX_TEXT {
        return Err(GraderError::Usage(format!("{what}: at most {MAX_TEXT} characters")));
    }
    Ok(s.to_string())
}

/// Checks a request against the batch (every refusal before the log is
/// opened) and builds its record.
pub fn prepare(req: &ReviewRequest, now: &str) -> Result<(ReviewRecord, PathBuf)> {
    let (_, dir) = locate(&req.results, &req.candidate)?;
    let result = crate::batch::read_result_checked(&dir)
        .map_err(|why| GraderError::Usage(format!("{}: its result.json cannot be reviewed: {why}", req.candidate)))?;
    if req.decision.is_none() && req.overrides.is_empty() {
        return Err(GraderError::Usage(
            "nothing to record: give --decision advance|hold|reject and/or --override CHECK=POINTS --why TEXT".into(),
        ));
    }
    if req.overrides.len() != req.whys.len() {
        return Err(GraderError::Usage(format!(
            "each --override needs its --why: {} override(s), {} reason(s)",
            req.overrides.len(),
            req.whys.len()
        )));
    }
    let mut overrides = Vec::new();
    for ((check, points), why) in req.overrides.iter().zip(&req.whys) {
        let Some(c) = result.checks.iter().find(|c| &c.id == check) else {
            let ids: Vec<&str> = result.checks.iter().map(|c| c.id.as_str()).collect();
            return Err(GraderError::Usage(format!(
                "--override {check}: no such check; the checks are {}",
                ids.join(", ")
            )));
        };
        if *points < 0.0 || *points > c.max_points + 1e-9 {
            return Err(GraderError::Usage(format!(
                "--override {check}={points}: a check's points are 0 to its maximum, {}",
                c.max_points
            )));
        }
        overrides.push(Override { check: check.clone(), points: *points, why: text("--why", why)? });
    }
    let note = req.note.as_deref().map(|n| text("--note", n)).transpose()?;
    let digest =
        result_digest(&dir).ok_or_else(|| GraderError::Usage(format!("{}: result.json unreadable", req.candidate)))?;
    Ok((
        ReviewRecord {
            schema_version: REVIEW_VERSION,
            candidate: req.candidate.clone(),
            reviewer: req.reviewer.clone(),
            at: now.to_string(),
            result_sha256: digest,
            decision: req.decision,
            note,
            overrides,
        },
        dir,
    ))
}

/// UTC now, RFC 3339 to the second.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (the civil calendar
/// from a day count, after Howard Hinnant's `civil_from_days`).
pub fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Records a review and re-renders what shows reviews: the candidate's
/// report.html, and the batch's leaderboard.csv, summary.md, summary.html.
pub fn record(req: &ReviewRequest) -> Result<ReviewRecord> {
    let (record, dir) = prepare(req, &now_utc())?;
    let mut log = lock(&req.results)?;
    append(&req.results, &mut log, &record)?;
    refresh(&req.results, Some(&dir))?;
    drop(log);
    Ok(record)
}

/// The batch's candidates as their results say (the manifest's order; one
/// without a result is ungraded).
pub fn candidates_of(results: &Path) -> Result<(crate::schema::Manifest, Vec<crate::schema::Candidate>)> {
    let m = manifest(results)?;
    let cands = m
        .candidates
        .iter()
        .map(|name| {
            let dir = crate::batch::candidate_dir(results, name);
            let r = crate::batch::read_result_checked(&dir).ok();
            let state = r.as_ref().map(crate::batch::state_of).unwrap_or(crate::schema::State::Ungraded);
            crate::schema::Candidate {
                name: name.clone(),
                state,
                reused: true,
                attempts: 0,
                host: None,
                error: r.is_none().then(|| "no result".to_string()),
                score: r.as_ref().map(|r| r.score.clone()),
                publish_failed: false,
                note: None,
                result: r,
            }
        })
        .collect();
    Ok((m, cands))
}

/// Re-renders the review sections: in `candidate_dir`'s report.html when
/// given, and the batch's summaries.
pub fn refresh(results: &Path, candidate_dir: Option<&Path>) -> Result<()> {
    let (records, _) = load(results);
    if let Some(dir) = candidate_dir {
        refresh_report(dir, &records)?;
    }
    let (m, cands) = candidates_of(results)?;
    crate::batch::summary::refresh_reviews(results, &m.exercise, &cands, &records)
}

/// The review section of one candidate's report.html, from `records`
/// (nothing is written for a candidate no record names).
pub fn refresh_report(candidate_dir: &Path, records: &[ReviewRecord]) -> Result<()> {
    let path = candidate_dir.join("report.html");
    let (Ok(html), Ok(result)) = (std::fs::read_to_string(&path), crate::batch::read_result_checked(candidate_dir))
    else {
        return Ok(());
    };
    let Some(name) = result.candidate.as_deref() else { return Ok(()) };
    if !records.iter().any(|r| r.candidate == name) {
        return Ok(());
    }
    let cur = current(records, name, result_digest(candidate_dir).as_deref());
    crate::support::fs::write_atomic(&path, render::splice(&html, &render::report_section(&cur, Some(&result))))
}

/// `grader review --stats` over a batch's current decisions.
pub fn batch_stats(results: &Path) -> Result<ReviewStats> {
    let (_, cands) = candidates_of(results)?;
    let (records, _) = load(results);
    let mut per = Vec::new();
    let mut stale = 0;
    for c in &cands {
        let dir = crate::batch::candidate_dir(results, &c.name);
        let cur = current(&records, &c.name, result_digest(&dir).as_deref());
        stale += cur.stale.len();
        if let Some(r) = c.result.as_ref().filter(|_| c.state != crate::schema::State::Ungraded) {
            let ds: Vec<Decision> = cur.decisions.values().map(|(d, _, _)| *d).collect();
            if !ds.is_empty() {
                per.push((r.score.percent, ds));
            }
        }
    }
    Ok(stats::compute(&per, stale))
}
