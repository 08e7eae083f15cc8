//! `grader batch`: one folder per candidate, graded in parallel (over one or
//! several Docker engines), resumable, each candidate's results written
//! atomically, infrastructure failures retried and then reported as
//! ungraded (never as a zero), and a summary for the hiring team.
//!
//! Layout of the results directory: `batch.json`, the summaries, and
//! `candidates/<encoded id>/` per candidate ([`encode_id`]), so no folder
//! name can collide with a batch output; grading happens in
//! `.staging/<encoded id>/`, renamed into place only when complete.

pub mod blind;
pub mod merge;
pub mod shard;
pub mod similarity;
pub mod summary;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datasets::{Exercise, SeedSource};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::Semaphore;

use crate::pipeline::grading::{grade, GradeRequest};
use crate::pipeline::session::Overrides;
use crate::report::GradeResult;
pub use crate::schema::{BatchSummary, Candidate, Manifest, State, MANIFEST_VERSION};
use crate::support::error::{GraderError, Result};
use crate::support::exit::Exit;
use crate::support::progress::Progress;

/// How each candidate's variant is chosen.
#[derive(Debug, Clone)]
pub enum Seeds {
    /// Everyone gets the same variant.
    Fixed(u64),
    /// Each candidate's seed is derived from their folder name and the secret.
    Secret(PathBuf),
}

#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub submissions: PathBuf,
    /// The commit git submissions are graded at.
    pub reference: String,
    pub exercise: PathBuf,
    pub seeds: Seeds,
    pub out: PathBuf,
    pub jobs: usize,
    pub regrade: bool,
    /// Docker endpoints to spread the work over (empty: the default one).
    pub hosts: Vec<String>,
    /// Gradings at once on one engine.
    pub host_jobs: usize,
    pub retries: u32,
    pub overrides: Overrides,
    /// Lets latency windows overlap other gradings (benchmarks only: the
    /// figures then depend on the neighbours).
    pub overlap_latency: bool,
    /// Grade only this shard's candidates.
    pub shard: Option<shard::Shard>,
    /// Name candidates by pseudonyms in every reviewer-facing output.
    pub blind: bool,
    /// Boilerplate every candidate got: its fingerprints count for no one.
    pub starter: Option<PathBuf>,
    /// Pairs at or above this similarity are flagged for review.
    pub similarity_threshold: f64,
}

use crate::schema::GradeOutcome;

pub(crate) fn state_of(r: &GradeResult) -> State {
    match r.outcome {
        GradeOutcome::Graded => State::Graded,
        GradeOutcome::Failed => State::Failed,
        GradeOutcome::InfrastructureError => State::Ungraded,
    }
}

/// The largest result.json read back (a real one is tens of KB).
pub const MAX_RESULT_BYTES: u64 = 16 << 20;

/// A candidate folder's result.json, when it is one.
fn read_result(dir: &Path) -> Option<GradeResult> {
    read_result_checked(dir).ok()
}

/// A candidate folder's result.json, or why it is refused: the folder must
/// be a directory (not a link), result.json a regular file under
/// [`MAX_RESULT_BYTES`], valid, and its score the sum of its checks (a
/// result edited after grading is not taken for one).
pub(crate) fn read_result_checked(dir: &Path) -> std::result::Result<GradeResult, String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("not a directory (links are not followed)".into());
    }
    let bytes = crate::support::fs::read_no_follow(&dir.join("result.json"), MAX_RESULT_BYTES + 1)
        .map_err(|e| format!("result.json: {e}"))?;
    if bytes.len() as u64 > MAX_RESULT_BYTES {
        return Err(format!("result.json is over {} MiB", MAX_RESULT_BYTES >> 20));
    }
    let r: GradeResult = serde_json::from_slice(&bytes).map_err(|e| format!("result.json: {e}"))?;
    let recomputed = crate::report::Score::of(&r.checks);
    if (recomputed.points - r.score.points).abs() > 1e-6 || (recomputed.max_points - r.score.max_points).abs() > 1e-6 {
        return Err(format!(
            "result.json says {} / {} points but its checks sum to {} / {}",
            r.score.points, r.score.max_points, recomputed.points, recomputed.max_points
        ));
    }
    Ok(r)
}

/// Where candidates' results live inside the results directory.
pub const CANDIDATES_DIR: &str = "candidates";

/// The results folder of the candidate a batch shows as `name`.
pub fn candidate_dir(out: &Path, name: &str) -> PathBuf {
    out.join(CANDIDATES_DIR).join(encode_id(std::ffi::OsStr::new(name)))
}
const STAGING_DIR: &str = ".staging";
/// Where archives and repositories are unpacked, one folder per candidate;
/// removed when the batch ends (the batch's own directory: nothing is
/// written anywhere else).
const INTAKE_DIR: &str = ".intake";
/// Encoded names longer than this are shortened and made unique by a hash.
const MAX_ENCODED: usize = 120;

/// A candidate's results folder name: safe on any filesystem (letters,
/// digits, `_`, `-`, and `.` not first; every other byte as `%XX`), unique,
/// and reversible by [`decode_id`]. A name whose encoding is longer than
/// 120 bytes keeps its first 100 and gets `~` and 16 hex digits of its
/// SHA-256 (the full id is in its result.json).
pub fn encode_id(id: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = id.as_bytes();
    let mut out = String::new();
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > MAX_ENCODED {
        use sha2::Digest;
        let mut cut = 100;
        while out.as_bytes()[cut - 1] == b'%' || out.as_bytes()[cut - 2] == b'%' {
            cut -= 1;
        }
        let hash = sha2::Sha256::digest(bytes);
        let hex = hex::encode(&hash[..8]);
        out = format!("{}~{hex}", &out[..cut]);
    }
    out
}

/// The id back from a folder name [`encode_id`] wrote (None for a
/// shortened one: read its result.json).
pub fn decode_id(encoded: &str) -> Option<std::ffi::OsString> {
    use std::os::unix::ffi::OsStringExt;
    if encoded.contains('~') {
        return None;
    }
    let b = encoded.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(encoded.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(std::ffi::OsString::from_vec(out))
}

/// A candidate: their id as given (a folder's name, an archive's stem),
/// and as text; how outputs show them, and their results folder's name (a
/// pseudonym for both in a blind batch); and the entry of the submissions
/// directory they arrived as.
#[derive(Debug, Clone)]
pub struct CandidateDir {
    pub os_name: std::ffi::OsString,
    pub name: String,
    pub shown: String,
    pub folder: String,
    /// The file or folder in the submissions directory (`alice.zip`).
    pub entry: std::ffi::OsString,
}

/// Candidates, sorted: every folder, whatever its name (dot names
/// included), but version-control folders, and every archive or bundle
/// the intake reads, named by its stem. What is left out is said on
/// stderr, never skipped silently; two entries naming one candidate
/// (`alice/` and `alice.zip`) are refused.
pub fn candidates(dir: &Path, quiet: bool) -> Result<Vec<CandidateDir>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| GraderError::Usage(format!("cannot read submissions directory {}: {e}", dir.display())))?;
    let mut out: Vec<CandidateDir> = Vec::new();
    for e in entries {
        let e =
            e.map_err(|e| GraderError::Usage(format!("cannot read submissions directory {}: {e}", dir.display())))?;
        let entry = e.file_name();
        let entry_shown = crate::support::sanitize::terminal_line(&entry.to_string_lossy()).into_owned();
        let ft = e.file_type().ok();
        let is_dir = ft.map(|t| t.is_dir()).unwrap_or(false);
        let is_file = ft.map(|t| t.is_file()).unwrap_or(false);
        let id = if is_dir && !matches!(entry.to_str(), Some(".git" | ".hg" | ".svn")) {
            Ok(entry.clone())
        } else if is_dir {
            Err("a version-control folder")
        } else if is_file {
            crate::intake::archive_kind(&entry)
                .map(|(_, stem)| stem)
                .ok_or("not a folder, nor an archive grader reads (.zip, .tar, .tar.gz, .tgz, .bundle)")
        } else {
            Err("a link or a special file (links are not followed)")
        };
        match id {
            Err(why) => {
                if !quiet {
                    eprintln!("note: {entry_shown} in {} is not graded: {why}", dir.display());
                }
            }
            Ok(os_name) => {
                if let Some(other) = out.iter().find(|c| c.os_name == os_name) {
                    return Err(GraderError::Usage(format!(
                        "{} holds two submissions of candidate {}: {} and {entry_shown}; keep one",
                        dir.display(),
                        crate::support::sanitize::terminal_line(&os_name.to_string_lossy()),
                        crate::support::sanitize::terminal_line(&other.entry.to_string_lossy()),
                    )));
                }
                let name = os_name.to_string_lossy().into_owned();
                out.push(CandidateDir { folder: encode_id(&os_name), shown: name.clone(), os_name, name, entry })
            }
        }
    }
    out.sort_by(|a, b| a.os_name.cmp(&b.os_name));
    if out.is_empty() {
        return Err(GraderError::Usage(format!("{} holds no candidate folders or archives", dir.display())));
    }
    Ok(out)
}

fn manifest(
    exercise: &Exercise,
    seeds: &Seeds,
    shard: Option<shard::Shard>,
    names: &[CandidateDir],
    blind: bool,
) -> Result<Manifest> {
    let seeds = match seeds {
        Seeds::Fixed(s) => crate::schema::SeedPolicy::Fixed(*s),
        Seeds::Secret(path) => {
            let bytes =
                std::fs::read(path).map_err(|e| GraderError::Usage(format!("secret file {}: {e}", path.display())))?;
            crate::schema::SeedPolicy::Secret(datasets::seed::fingerprint(&bytes))
        }
    };
    Ok(Manifest {
        schema_version: MANIFEST_VERSION,
        exercise: exercise.spec.exercise.id.clone(),
        spec_sha256: exercise.sha256(),
        seeds,
        shard,
        candidates: names.iter().map(|c| c.shown.clone()).collect(),
        merged_from: Vec::new(),
        blind,
    })
}

/// Claims `out` for this batch: creates it with its manifest, or checks an
/// existing one belongs to the same exercise, seeds and shard (then records
/// the candidates of this run).
pub(crate) fn claim(out: &Path, m: &Manifest) -> Result<()> {
    let path = out.join("batch.json");
    if out.exists() {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let old: Manifest = serde_json::from_str(&text)
                    .map_err(|e| GraderError::Usage(format!("{}: not a batch manifest ({e})", path.display())))?;
                if old.schema_version != m.schema_version {
                    return Err(GraderError::Usage(format!(
                        "{} was written by another version of grader (layout {}, this one writes {}); use a new results directory",
                        out.display(), old.schema_version, m.schema_version
                    )));
                }
                if !old.same_batch(m) {
                    return Err(GraderError::Usage(format!(
                        "{} belongs to another batch ({} with seeds {}{}); use a new results directory",
                        out.display(),
                        old.exercise,
                        old.seeds,
                        old.shard.map(|s| format!(", shard {s}")).unwrap_or_default()
                    )));
                }
                return write_manifest(out, m);
            }
            Err(_) if std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) => {
                return Err(GraderError::Usage(format!(
                    "results directory {} exists, is not empty and is not a batch's; use a new one",
                    out.display()
                )))
            }
            Err(_) => {}
        }
    }
    std::fs::create_dir_all(out).map_err(|source| GraderError::Io { path: out.into(), source })?;
    write_manifest(out, m)
}

pub(crate) fn write_manifest(out: &Path, m: &Manifest) -> Result<()> {
    crate::support::fs::write_json_atomic(&out.join("batch.json"), m)
}

/// Engines and their free slots; a grading takes the engine with most.
struct Hosts {
    hosts: Vec<(Option<String>, Arc<Semaphore>)>,
}

impl Hosts {
    async fn acquire(&self) -> (Option<String>, tokio::sync::OwnedSemaphorePermit) {
        loop {
            let mut order: Vec<&(Option<String>, Arc<Semaphore>)> = self.hosts.iter().collect();
            order.sort_by_key(|(_, s)| std::cmp::Reverse(s.available_permits()));
            for (host, slots) in order {
                if let Ok(p) = slots.clone().try_acquire_owned() {
                    return (host.clone(), p);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub async fn run(req: BatchRequest, quiet: bool) -> Result<BatchSummary> {
    let exercise = Exercise::load(&req.exercise)?;
    let mut names = candidates(&req.submissions, quiet)?;
    if let Some(shard) = req.shard {
        let all = names.len();
        let key = if req.blind { blind::shard_key(&req.seeds)? } else { None };
        names.retain(|c| shard.contains_keyed(&c.os_name, key.as_deref()));
        if !quiet {
            eprintln!("shard {shard}: {} of {all} candidates", names.len());
        }
    }
    let identities = if req.blind {
        let ids: Vec<String> = names.iter().map(|c| c.name.clone()).collect();
        let (by_id, identities) = blind::assign(&req.out, &req.seeds, &ids)?;
        for c in &mut names {
            c.shown = by_id[&c.name].clone();
            c.folder = c.shown.clone();
        }
        // In pseudonym order, everywhere the order shows (batch.json, the
        // order gradings start): the real names' order would map them back.
        names.sort_by(|a, b| a.shown.cmp(&b.shown));
        Some(identities)
    } else {
        None
    };
    claim(&req.out, &manifest(&exercise, &req.seeds, req.shard, &names, req.blind)?)?;
    if let Some(i) = &identities {
        blind::write(&req.out, i)?;
    }
    let jobs = Arc::new(Semaphore::new(req.jobs.max(1)));
    let hosts = Arc::new(Hosts {
        hosts: if req.hosts.is_empty() {
            vec![(None, Arc::new(Semaphore::new(req.host_jobs.max(1))))]
        } else {
            req.hosts.iter().map(|h| (Some(h.clone()), Arc::new(Semaphore::new(req.host_jobs.max(1))))).collect()
        },
    });
    let tty = std::io::stderr().is_terminal() && !quiet;
    let bars =
        MultiProgress::with_draw_target(if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    let total = bars.add(ProgressBar::new(names.len() as u64));
    total.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} candidates, {elapsed}")
            .unwrap()
            .progress_chars("=> "),
    );
    total.set_prefix("batch");
    let gate = (!req.overlap_latency).then(crate::fairness::turns::QuietGate::new);
    let limits = req.overrides.apply(crate::sandbox::Limits::from_contract(&exercise.spec.contract));
    let caps = crate::intake::Caps::from_limits(&limits);
    let context =
        crate::sandbox::context::Caps { bytes: limits.max_context_bytes, entries: limits.max_context_entries };
    let req = Arc::new(req);
    let mut tasks = Vec::new();
    for cand in names {
        let bar = bars.insert_before(&total, ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{prefix:>12} {spinner} {wide_msg}").unwrap());
        bar.set_prefix(crate::support::sanitize::terminal_line(&cand.shown).into_owned());
        bar.set_message("waiting for a slot");
        bar.enable_steady_tick(Duration::from_millis(200));
        let (req, jobs, hosts, total, gate) = (req.clone(), jobs.clone(), hosts.clone(), total.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            // Unpacking takes a grading's slot: it reads and writes like one.
            let job = jobs.acquire_owned().await.expect("never closed");
            let received = receive(&req, &cand, caps, context).await;
            let staged_dir = received.as_ref().ok().map(|s| s.dir.clone());
            let dir = req.out.join(CANDIDATES_DIR).join(&cand.folder);
            let previous = read_result(&dir).filter(|r| state_of(r) != State::Ungraded);
            let (reuse, note) = match (&previous, req.regrade) {
                (Some(old), false) => reuse_verdict(old, &received),
                _ => (false, None),
            };
            let c = if let (true, Some(r)) = (reuse, previous) {
                drop(job);
                bar.finish_and_clear();
                Candidate {
                    name: cand.shown.clone(),
                    state: state_of(&r),
                    reused: true,
                    attempts: 0,
                    host: None,
                    error: None,
                    score: Some(r.score.clone()),
                    publish_failed: false,
                    note: None,
                    result: Some(r),
                }
            } else {
                if let (Some(n), false) = (&note, quiet) {
                    let line = format!("{}: {n}", crate::support::sanitize::terminal_line(&cand.shown));
                    if tty {
                        total.println(line);
                    } else {
                        eprintln!("{line}");
                    }
                }
                let _job = job;
                let mut c = grade_one(&req, &cand, received, &hosts, gate, &bar).await;
                c.note = note;
                bar.finish_and_clear();
                let shown = crate::support::sanitize::terminal_line(&cand.shown).into_owned();
                let line = match (&c.result, c.state) {
                    (Some(r), State::Graded | State::Failed) => format!(
                        "{shown}: {} / {} ({}%){}",
                        r.score.points,
                        r.score.max_points,
                        r.score.percent,
                        r.failure.as_ref().map(|f| format!(", {:?}", f.class)).unwrap_or_default()
                    ),
                    _ => format!(
                        "{shown}: ungraded after {} attempt(s): {}",
                        c.attempts,
                        crate::support::sanitize::terminal_line(c.error.as_deref().unwrap_or("?"))
                    ),
                };
                if !quiet {
                    if tty {
                        total.println(line);
                    } else {
                        eprintln!("{line}");
                    }
                }
                c
            };
            total.inc(1);
            (c, (cand.shown.clone(), staged_dir))
        }));
    }
    let mut out = Vec::new();
    let mut subs: Vec<(String, PathBuf)> = Vec::new();
    for t in tasks {
        let (c, (shown, staged)) =
            t.await.map_err(|e| GraderError::Infrastructure(format!("a grading task failed: {e}")))?;
        out.push(c);
        // What was built is what is compared (an archive's unpacked tree).
        subs.extend(staged.map(|dir| (shown, dir)));
    }
    total.finish_and_clear();
    // The build's own caps on a context: similarity reads what the build reads.
    let limits = crate::sandbox::Limits::from_contract(&exercise.spec.contract);
    let caps = crate::sandbox::context::Caps { bytes: limits.max_context_bytes, entries: limits.max_context_entries };
    // Whatever goes wrong in it, the batch keeps its summaries: they say so.
    let found =
        std::panic::catch_unwind(|| similarity::check(&subs, req.starter.as_deref(), req.similarity_threshold, caps))
            .unwrap_or_else(|_| similarity::Similarity {
                pairs: Vec::new(),
                notes: vec!["similarity could not be computed (the check failed); every grade stands".into()],
            });
    let _ = std::fs::remove_dir_all(req.out.join(INTAKE_DIR));
    summary::write(&req.out, &exercise.spec.exercise.id, &out, Some(&found))?;
    Ok(BatchSummary { schema_version: crate::schema::BATCH_SUMMARY_VERSION, out: req.out.clone(), candidates: out })
}

/// Moves a finished grading into place: the older result (if any) aside,
/// the new one in, the older one removed. Nothing happens once a shutdown
/// began; if a rename fails, the staging folder is kept and named.
fn publish(staging: &Path, final_dir: &Path) -> std::io::Result<()> {
    crate::support::shutdown::commit(|| {
        let kept = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{e}; the graded result is kept in {}", staging.display()))
        };
        if let Some(parent) = final_dir.parent() {
            std::fs::create_dir_all(parent).map_err(kept)?;
        }
        let old = final_dir.with_extension("replaced");
        let had_old = final_dir.exists();
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(final_dir, &old).map_err(kept)?;
        }
        if let Err(e) = std::fs::rename(staging, final_dir) {
            if had_old {
                let _ = std::fs::rename(&old, final_dir);
            }
            return Err(kept(e));
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    })
}

/// A candidate's submission, staged in the batch's `.intake/` (a folder is
/// graded where it is; an archive or repository is unpacked there).
async fn receive(
    req: &BatchRequest,
    cand: &CandidateDir,
    caps: crate::intake::Caps,
    context: crate::sandbox::context::Caps,
) -> crate::intake::Received {
    let src = req.submissions.join(&cand.entry);
    let area = req.out.join(INTAKE_DIR).join(&cand.folder);
    let (reference, blind) = (req.reference.clone(), req.blind);
    let staged = tokio::task::spawn_blocking(move || {
        let plan = crate::intake::Plan { area: &area, caps, reference: Some(&reference), blind };
        let mut r = crate::intake::stage(&src, &plan);
        // The digest a resume compares: known before any grading.
        if let Ok(s) = &mut r {
            s.submission.context_sha256 = crate::sandbox::build::context_digest(&s.dir, context);
        }
        r
    })
    .await;
    staged.unwrap_or_else(|e| {
        Err(Box::new(crate::intake::Refused {
            submission: Default::default(),
            error: crate::intake::IntakeError::Infrastructure(format!("the intake task failed: {e}")),
        }))
    })
}

/// Whether an earlier result stands for what was received now: only for
/// the same bytes (the same digest). Otherwise why it is graded again.
fn reuse_verdict(old: &GradeResult, now: &crate::intake::Received) -> (bool, Option<String>) {
    let now = match now {
        Ok(s) => s.submission.digest(),
        Err(refused) => refused.submission.digest(),
    };
    let before = old.submission.as_ref().and_then(|s| s.digest());
    match (before, now) {
        (Some(b), Some(n)) if b == n => (true, None),
        (Some(b), Some(n)) => {
            (false, Some(format!("the submission changed since it was graded ({b} → {n}): graded again")))
        }
        (None, _) => (false, Some("the earlier result records no digest of what it graded: graded again".into())),
        (Some(_), None) => {
            (false, Some("what was received has no digest to compare (nothing to build): graded again".into()))
        }
    }
}

/// Grades one candidate, retrying infrastructure failures on any engine.
async fn grade_one(
    req: &BatchRequest,
    cand: &CandidateDir,
    received: crate::intake::Received,
    hosts: &Hosts,
    gate: Option<Arc<crate::fairness::turns::QuietGate>>,
    bar: &ProgressBar,
) -> Candidate {
    let name = cand.name.as_str();
    let encoded = cand.folder.clone();
    let submission = req.submissions.join(&cand.entry);
    let mut received = Some(received);
    let final_dir = req.out.join(CANDIDATES_DIR).join(&encoded);
    let staging = req.out.join(STAGING_DIR).join(&encoded);
    let seed = match &req.seeds {
        Seeds::Fixed(s) => Ok(SeedSource::given(*s)),
        Seeds::Secret(path) => SeedSource::derive(name, path),
    };
    let mut c = Candidate {
        name: cand.shown.clone(),
        state: State::Ungraded,
        reused: false,
        attempts: 0,
        host: None,
        error: None,
        score: None,
        publish_failed: false,
        note: None,
        result: None,
    };
    let seed = match seed {
        Ok(s) => s,
        Err(e) => {
            c.error = Some(e.to_string());
            return c;
        }
    };
    if let Err(e) = std::fs::create_dir_all(req.out.join(STAGING_DIR)) {
        c.error = Some(format!("cannot create {}: {e}", req.out.join(STAGING_DIR).display()));
        return c;
    }
    for attempt in 1..=req.retries + 1 {
        if crate::support::shutdown::is_shutting_down() {
            break;
        }
        c.attempts = attempt;
        let (host, _slot) = hosts.acquire().await;
        c.host = host.clone();
        let _ = std::fs::remove_dir_all(&staging); // ours: a leftover of an interrupted run
        let bar2 = bar.clone();
        let progress =
            Progress::to_sink(move |m| bar2.set_message(crate::support::sanitize::terminal_line(m).into_owned()));
        let mut overrides = req.overrides.clone();
        if let Some(h) = &host {
            overrides.docker_host = vec![h.clone()];
        }
        // The first attempt builds what was received; a retry stages again
        // (what was unpacked may be what the failed attempt left).
        let request = GradeRequest {
            submission: submission.clone(),
            intake: crate::pipeline::grading::IntakeOptions {
                reference: Some(req.reference.clone()),
                area: Some(req.out.join(INTAKE_DIR).join(&encoded)),
            },
            staged: received.take(),
            source: crate::pipeline::material::Source::Exercise { path: req.exercise.clone(), seed: seed.clone() },
            out: staging.clone(),
            overrides,
            candidate: Some(cand.shown.clone()),
            gate: gate.clone(),
            blind: req.blind,
        };
        match grade(request, &progress).await {
            Ok(r) => {
                if let Err(e) = publish(&staging, &final_dir) {
                    c.error = Some(format!("cannot move results into {}: {e}", final_dir.display()));
                    c.publish_failed = true;
                }
                c.state = state_of(&r);
                c.score = Some(r.score.clone());
                c.result = Some(r);
                if !c.publish_failed {
                    c.error = None;
                }
                return c;
            }
            Err(e) if e.exit() == Exit::Infrastructure => {
                c.error = Some(e.to_string());
                bar.set_message(format!(
                    "infrastructure failure, retrying: {}",
                    crate::support::sanitize::terminal_line(&e.to_string())
                ));
                tokio::time::sleep(Duration::from_secs(2 * attempt as u64)).await;
            }
            Err(e) => {
                c.error = Some(e.to_string());
                break;
            }
        }
    }
    // Ungraded: keep what the last attempt wrote (its result.json says
    // infrastructure_error), so a resumed batch grades it again.
    if staging.exists() && publish(&staging, &final_dir).is_ok() {
        c.result = read_result(&final_dir);
    }
    c
}
