//! `grader grade` and `grader probe`: variant → (sandbox) → probes →
//! findings → score → results. Results are written whatever happens to the
//! submission; only an infrastructure failure leaves it ungraded.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datasets::Terms;

use crate::evaluate::evaluate;
use crate::evaluate::lifecycle::ReplayShape;
use crate::evaluate::score::{Outcome, ProbeResults};
use crate::fairness::turns::Turns;
use crate::intake::{self, IntakeError};
use crate::pipeline::material::{Material, Source};
use crate::pipeline::session::{self, Overrides};
use crate::probe::latency::LatencyConfig;
use crate::probe::service::{AtUrl, Crash, Sandboxed, ServiceUnderTest};
use crate::probe::{contract, correctness, drift, latency, predict_body, replay, robustness, Target};
use crate::report::{self, FailureInfo, GradeResult, ImageInfo, LimitsInfo, Logs, Score, Timings};
use crate::sandbox::logbuf::last_lines;
use crate::sandbox::{FailureClass, Limits, SandboxError};
use crate::schema::{GradeOutcome, Mode};
use crate::support::error::{GraderError, Result};
use crate::support::progress::Progress;

pub struct GradeRequest {
    /// The submission as given: a folder, an archive, a bundle or a
    /// repository folder ([`crate::intake`]).
    pub submission: PathBuf,
    /// How it is unpacked, when the caller has not already ([`Self::staged`]).
    pub intake: IntakeOptions,
    /// Staged by the caller already (a batch stages first, to compare
    /// digests before deciding to grade again).
    pub staged: Option<intake::Received>,
    /// An exercise and a seed, or a candidate's kit (`self-check --kit`).
    pub source: Source,
    pub out: PathBuf,
    pub overrides: Overrides,
    /// The candidate's id, when a batch grades them (recorded in the result).
    pub candidate: Option<String>,
    /// Shared with the other gradings of a batch: latency windows alone.
    pub gate: Option<std::sync::Arc<crate::fairness::turns::QuietGate>>,
    /// Blind review: the submission's path (which names the candidate) is
    /// kept out of every output.
    pub blind: bool,
}

/// Where and how [`grade`] stages a submission itself.
#[derive(Debug, Clone, Default)]
pub struct IntakeOptions {
    /// The git reference to grade (`HEAD` when None).
    pub reference: Option<String>,
    /// The staging area (a fresh temporary folder when None).
    pub area: Option<PathBuf>,
}

pub struct ProbeRequest {
    pub url: String,
    pub source: Source,
    /// Results directory; `None` writes nothing (the summary is printed).
    pub out: Option<PathBuf>,
    /// The service's output directory, to read report.json from.
    pub output: Option<PathBuf>,
    /// Wait up to this long for `/health` to answer 200 before probing.
    pub wait: Option<Duration>,
}

/// Latency windows measured at most, when the host is too busy for a fair one.
pub const LATENCY_WINDOWS: u32 = 3;
const LATENCY_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Runs every probe in order: contract, drift (first, so the service's
/// monitor judges the drifted traffic alone), correctness and leak reliance,
/// latency, then robustness (last: the most likely to break a service).
/// The service is asked whether it lives before each probe; once it reports
/// a crash, the rest are
/// marked not run.
async fn probe_all<S: ServiceUnderTest>(
    svc: &S,
    terms: &Terms,
    material: &Material,
    report_bytes: Option<std::result::Result<Vec<u8>, String>>,
    progress: &Progress,
    turns: &mut Turns,
) -> (ProbeResults, Option<Crash>) {
    let target = svc.target();
    let mut r = ProbeResults::none("not reached");
    let mut crash: Option<Crash> = None;
    macro_rules! step {
        ($name:expr, $field:ident, $body:expr) => {
            if crash.is_none() {
                crash = svc.alive().await;
            }
            r.$field = match &crash {
                Some((_, why)) => Outcome::NotRun(format!("not run: {why}")),
                None => {
                    progress.phase($name);
                    $body
                }
            };
        };
    }
    step!(
        "probing the contract (/health, /predict, /drift, report.json)",
        contract,
        Outcome::Ran(contract::probe(target, &material.holdout_serving, report_bytes).await)
    );
    match &material.hidden {
        Some(h) => {
            step!(
                format!("drift monitoring: {} drifted rows through /predict, then GET /drift", h.traffic.len()),
                drift,
                match drift::probe(target, &h.traffic, terms.probes.correctness_batch_rows).await {
                    Ok(o) => Outcome::Ran(crate::evaluate::monitoring::judge(
                        o.flagged,
                        &h.key,
                        o.rows_sent,
                        o.batches_failed
                    )),
                    Err(e) => Outcome::Failed(e),
                }
            );
        }
        // A kit has no drifted traffic and no key: graded on the candidate's own variant only.
        None => r.drift = Outcome::NotRun(crate::evaluate::score::NOT_IN_PRACTICE.into()),
    }
    let views = if material.hidden.is_some() { "as served and as extracted" } else { "as served" };
    step!(
        format!("correctness: {} holdout rows, {views}", material.labels.len()),
        correctness,
        match correctness::probe(target, &material.holdout(), terms.probes.correctness_batch_rows).await {
            Ok(m) => Outcome::Ran(m),
            Err(e) => Outcome::Failed(e),
        }
    );
    let p = &terms.probes;
    step!(
        format!(
            "latency: {} requests/s for {}s after {}s of warm-up",
            p.latency_rate_per_second, p.latency_duration_seconds, p.latency_warmup_seconds
        ),
        latency,
        {
            let bodies = |window: u32| -> Vec<Vec<u8>> {
                material.latency_rows(window).iter().map(|row| predict_body(std::slice::from_ref(row))).collect()
            };
            let cfg = LatencyConfig {
                rate_per_second: p.latency_rate_per_second,
                warmup: Duration::from_secs_f64(p.latency_warmup_seconds),
                duration: Duration::from_secs_f64(p.latency_duration_seconds),
                timeout: Duration::from_millis(p.latency_timeout_ms),
                max_in_flight: 1024,
            };
            // A window the host was too busy for is measured again, after a
            // pause; after the last, latency is not graded (never charged).
            let mut window = 1;
            loop {
                if turns.gated() {
                    progress.phase("latency: waiting for the host to be quiet (other gradings pause)");
                }
                let containers = svc.containers();
                let m = turns
                    .exclusive(async {
                        progress.phase(format!(
                            "latency: {} requests/s for {}s after {}s of warm-up (window {window})",
                            p.latency_rate_per_second, p.latency_duration_seconds, p.latency_warmup_seconds
                        ));
                        let own = containers.as_ref().map(|(d, ids, _)| (*d, ids.as_slice()));
                        // The first snapshot is taken during the warm-up, which is
                        // not measured anyway.
                        let bodies = bodies(window);
                        let (before, mut m) = tokio::join!(
                            crate::fairness::host::snapshot(own),
                            latency::calibrated(target, &bodies, cfg, terms.slo.p50_ms, terms.slo.p99_ms, window)
                        );
                        let after = crate::fairness::host::snapshot(own).await;
                        if let (Some(h), Some((_, _, cpus))) = (m.host.as_mut(), containers.as_ref()) {
                            h.other_cores = crate::fairness::host::other_cores(&before, &after)
                                .map(|c| (c * 100.0).round() / 100.0);
                            h.other_cores_limit = Some(crate::fairness::host::other_cores_limit(*cpus));
                            h.fair = h.fair && !h.contended();
                        }
                        m
                    })
                    .await;
                if m.host.as_ref().is_none_or(|h| h.fair) || window >= LATENCY_WINDOWS {
                    break Outcome::Ran(m);
                }
                window += 1;
                progress.phase("latency: the host was too busy for a fair measurement; measuring again shortly");
                tokio::time::sleep(LATENCY_RETRY_PAUSE).await;
            }
        }
    );
    step!(
        "robustness: malformed requests",
        robustness,
        Outcome::Ran(
            robustness::probe(
                target,
                complete_row(&material.holdout_serving),
                terms.contract.max_rows_per_request,
                material.seed.value
            )
            .await
        )
    );
    // The production replay (contract v2), after every v1 probe so their
    // figures stay as they are; in the shared turn, never the exclusive one.
    // From a kit it shows the answers' shape; only the key judges them.
    if let Some(plan) = &material.replay {
        if crash.is_none() {
            crash = svc.alive().await;
        }
        r.lifecycle = Some(match &crash {
            Some((_, why)) => Outcome::NotRun(format!("not run: {why}")),
            None => {
                progress.phase(format!(
                    "production replay: {} days of {} rows, late labels through /feedback, GET /monitor each day",
                    plan.days, plan.rows_per_day
                ));
                let settings = replay::Settings {
                    id_column: &plan.id_column,
                    label: &plan.label,
                    batch: terms.probes.correctness_batch_rows.min(terms.contract.max_rows_per_request),
                    feedback_timeout: Duration::from_millis(plan.feedback_timeout_ms),
                    deadline: tokio::time::Instant::now() + REPLAY_DEADLINE,
                };
                let observed = replay::probe(target, &plan.replay, &settings).await;
                r.replay = Some(ReplayShape::of(&observed, plan.days));
                match material.hidden.as_ref().and_then(|h| Some((&h.key, h.key.lifecycle.as_ref()?))) {
                    Some((key, l)) => Outcome::Ran(crate::evaluate::lifecycle::judge(key, l, observed, &plan.replay)),
                    None => Outcome::NotRun(crate::evaluate::score::NOT_IN_PRACTICE.into()),
                }
            }
        });
    }
    if crash.is_none() {
        crash = svc.alive().await;
    }
    (r, crash)
}

/// The production replay's whole deadline: a slow or silent service is
/// scored on the days it answered by then.
pub const REPLAY_DEADLINE: Duration = Duration::from_secs(180);

fn limits_info(l: &Limits) -> LimitsInfo {
    LimitsInfo {
        memory_mb: l.memory_mb,
        cpus: l.cpus,
        pids: l.pids,
        nofile: l.nofile,
        log_bytes: l.log_bytes,
        build_timeout_s: l.build_timeout.as_secs(),
        build_memory_mb: l.build_memory_mb,
        build_pids: l.build_pids,
        build_disk_mb: l.build_disk_mb,
        output_mb: l.output_mb,
        startup_timeout_s: l.startup_timeout.as_secs(),
        request_timeout_ms: l.request_timeout.as_millis() as u64,
    }
}

pub async fn grade(mut req: GradeRequest, progress: &Progress) -> Result<GradeResult> {
    let started = Instant::now();
    crate::support::fs::check_out_dir(&req.out).map_err(GraderError::Usage)?;
    if req.gate.is_some() {
        progress.phase("waiting for another grading's latency window to end");
    }
    let mut turns = Turns::start(req.gate.clone()).await;
    progress.phase(match &req.source {
        Source::Exercise { .. } => "generating the variant",
        Source::Kit(_) => "reading the kit",
    });
    let mut material = Material::load(&req.source)?;
    let terms = &material.terms.clone();
    let limits = req.overrides.apply(Limits::from_contract(&terms.contract));
    let variant_ms = started.elapsed().as_millis();

    let mut result = GradeResult {
        schema_version: report::RESULT_VERSION,
        grader_version: env!("CARGO_PKG_VERSION").into(),
        exercise: material.exercise.clone(),
        seed: material.seed.clone(),
        mode: Mode::Docker,
        candidate: req.candidate.clone(),
        submission: None,
        image: None,
        limits: Some(limits_info(&limits)),
        timings: Timings { variant_ms, ..Default::default() },
        outcome: GradeOutcome::Graded,
        failure: None,
        score: Score { points: 0.0, max_points: 0.0, percent: 0.0 },
        checks: Vec::new(),
        metrics: ProbeResults::none("not reached"),
    };
    // The submission as received → a folder to build (unpacked under
    // caps when it is an archive or a repository), and which bytes it was.
    let mut _area_tmp = None;
    let received = match req.staged.take() {
        Some(r) => r,
        None => {
            progress.phase("receiving the submission");
            let area = match &req.intake.area {
                Some(a) => a.clone(),
                None => {
                    let t =
                        tempfile::tempdir().map_err(|e| GraderError::Io { path: std::env::temp_dir(), source: e })?;
                    let t = crate::sandbox::cleanup::removed_on_signal(t);
                    let a = t.path().join("intake");
                    _area_tmp = Some(t);
                    a
                }
            };
            let (caps, reference, blind) =
                (intake::Caps::from_limits(&limits), req.intake.reference.clone(), req.blind);
            let submission = req.submission.clone();
            tokio::task::spawn_blocking(move || {
                intake::stage(&submission, &intake::Plan { area: &area, caps, reference: reference.as_deref(), blind })
            })
            .await
            .map_err(|e| GraderError::Infrastructure(format!("the intake task failed: {e}")))?
        }
    };
    let build_dir = match received {
        Ok(staged) => {
            let mut record = staged.submission;
            if record.context_sha256.is_none() {
                let caps = crate::sandbox::context::Caps {
                    bytes: limits.max_context_bytes,
                    entries: limits.max_context_entries,
                };
                record.context_sha256 = crate::sandbox::build::context_digest(&staged.dir, caps);
            }
            result.submission = Some(record);
            staged.dir
        }
        Err(refused) => {
            let intake::Refused { submission: record, error: e } = *refused;
            result.submission = Some(record);
            let (outcome, class) = match &e {
                IntakeError::Rejected(_) => (GradeOutcome::Failed, FailureClass::IntakeRejected),
                IntakeError::Infrastructure(_) => (GradeOutcome::InfrastructureError, FailureClass::Infrastructure),
            };
            finish_failed(&mut result, outcome, class, e.to_string(), String::new(), &material);
            (result.timings.shared, result.timings.exclusive) = turns.finish();
            result.timings.total_ms = started.elapsed().as_millis();
            let logs = Logs { build: None, container: None, notes: None };
            write_results(&req, &mut result, &logs)?;
            return match e {
                IntakeError::Rejected(_) => Ok(result),
                IntakeError::Infrastructure(why) => Err(GraderError::Infrastructure(why)),
            };
        }
    };
    let mut logs = Logs { build: None, container: None, notes: read_notes(&build_dir) };

    let build_started = Instant::now();
    let opened =
        session::open(&build_dir, material.data.clone(), material.tmp.take(), limits, &req.overrides, progress).await;
    let session = match opened {
        Err(GraderError::Sandbox(e)) if e.class() == FailureClass::Infrastructure => {
            finish_failed(
                &mut result,
                GradeOutcome::InfrastructureError,
                e.class(),
                e.to_string(),
                String::new(),
                &material,
            );
            (result.timings.shared, result.timings.exclusive) = turns.finish();
            result.timings.total_ms = started.elapsed().as_millis();
            write_results(&req, &mut result, &logs)?;
            return Err(GraderError::Sandbox(e));
        }
        Err(e) => return Err(e),
        Ok(Err(failed)) => {
            let log = failed.logs.as_ref().map(|l| l.logs.clone()).or(failed.build_log.clone()).unwrap_or_default();
            logs.build = failed.build_log.clone();
            logs.container = failed.logs.as_ref().map(|l| l.logs.clone());
            let class = match (&failed.error, &failed.logs) {
                (SandboxError::Exited(_), Some(l)) if l.oom_killed => FailureClass::OomKilled,
                _ => failed.error.class(),
            };
            finish_failed(
                &mut result,
                GradeOutcome::Failed,
                class,
                failed.error.to_string(),
                last_lines(&log, 30),
                &material,
            );
            (result.timings.shared, result.timings.exclusive) = turns.finish();
            result.timings.total_ms = started.elapsed().as_millis();
            write_results(&req, &mut result, &logs)?;
            return Ok(result);
        }
        Ok(Ok(s)) => s,
    };
    result.timings.ready_ms = Some(session.ready_after.as_millis());
    result.timings.build_ms = Some(build_started.elapsed().as_millis().saturating_sub(session.ready_after.as_millis()));
    let img = &session.image;
    result.image = Some(ImageInfo {
        tag: img.tag.clone(),
        id: img.id.clone(),
        base: img.base.as_ref().map(|b| b.0.clone()),
        base_id: img.base.as_ref().map(|b| b.1.clone()),
        added_bytes: img.added_bytes,
        build_confined: img.build_cgroup,
        context_sha256: img.context_sha256.clone(),
    });
    logs.build = Some(session.image.log.clone());

    let svc = &session.service;
    let target =
        Target::new(svc.client().clone(), svc.url(""), terms.probes.max_response_bytes, session.limits.request_timeout)
            .with_fresh_connections(svc.fresh_client().clone());
    let report_bytes = Some(svc.read_output(&session.docker, "report.json", 4 << 20).await.map_err(|e| e.to_string()));
    let probes_started = Instant::now();
    let sut = Sandboxed {
        target,
        docker: session.docker.clone(),
        service: &session.service,
        memory_mb: session.limits.memory_mb,
        cpus: session.limits.cpus,
    };
    turns.register(&session.docker, &session.service.candidate);
    let (metrics, crash) = probe_all(&sut, terms, &material, report_bytes, progress, &mut turns).await;
    result.timings.probes_ms = Some(probes_started.elapsed().as_millis());
    progress.phase("stopping the service and collecting logs");
    let stopped = session.service.stop(&session.docker).await;
    let removed = session.guard.cleanup().await;
    if let Ok(s) = &stopped {
        logs.container = Some(s.logs.clone());
    }
    let graded = evaluate(terms, material.key(), metrics);
    (result.metrics, result.checks, result.score) = (graded.metrics, graded.checks, graded.score);
    if let Some((class, message)) = crash {
        let excerpt = stopped.as_ref().map(|s| last_lines(&s.logs, 30)).unwrap_or_default();
        result.failure = Some(FailureInfo { class, message, log_excerpt: excerpt });
        if class == FailureClass::Infrastructure {
            result.outcome = GradeOutcome::InfrastructureError;
        }
    }
    if !removed.errors.is_empty() {
        tracing::warn!(errors = ?removed.errors, "cleanup left objects behind; `grader clean` removes them");
    }
    (result.timings.shared, result.timings.exclusive) = turns.finish();
    result.timings.total_ms = started.elapsed().as_millis();
    write_results(&req, &mut result, &logs)?;
    if result.outcome == GradeOutcome::InfrastructureError {
        return Err(GraderError::Infrastructure(
            result.failure.as_ref().map(|f| f.message.clone()).unwrap_or_default(),
        ));
    }
    Ok(result)
}

/// Fills a result for a submission that never became a healthy service:
/// every check errors, with the failure as evidence.
fn finish_failed(
    result: &mut GradeResult,
    outcome: GradeOutcome,
    class: FailureClass,
    message: String,
    log_excerpt: String,
    material: &Material,
) {
    let label = class.as_str();
    result.outcome = outcome;
    let graded = evaluate(&material.terms, material.key(), ProbeResults::none(&format!("not run: {label}: {message}")));
    (result.metrics, result.checks, result.score) = (graded.metrics, graded.checks, graded.score);
    result.failure = Some(FailureInfo { class, message, log_excerpt });
}

/// `grader probe`: the same probes against a service already running on
/// this machine's loopback, without Docker.
pub async fn probe(req: ProbeRequest, progress: &Progress) -> Result<GradeResult> {
    let started = Instant::now();
    if let Some(out) = &req.out {
        crate::support::fs::check_out_dir(out).map_err(GraderError::Usage)?;
    }
    progress.phase(match &req.source {
        Source::Exercise { .. } => "generating the variant",
        Source::Kit(_) => "reading the kit",
    });
    let material = Material::load(&req.source)?;
    let terms = &material.terms;
    let target = Target::for_url(
        &req.url,
        terms.probes.max_response_bytes,
        Duration::from_millis(terms.contract.request_timeout_ms),
    )
    .map_err(GraderError::Usage)?;
    let variant_ms = started.elapsed().as_millis();
    if let Some(wait) = req.wait {
        progress.phase(format!(
            "waiting up to {}s for {}/health to answer 200",
            wait.as_secs(),
            crate::support::sanitize::terminal_line(&req.url)
        ));
        wait_healthy(&target, wait).await?;
    }
    let report_bytes = req
        .output
        .as_ref()
        .map(|dir| crate::support::fs::read_no_follow(&dir.join("report.json"), 4 << 20).map_err(|e| e.to_string()));
    let probes_started = Instant::now();
    let mut turns = Turns::start(None).await;
    let (metrics, crash) = probe_all(&AtUrl { target }, terms, &material, report_bytes, progress, &mut turns).await;
    let graded = evaluate(terms, material.key(), metrics);
    let result = GradeResult {
        schema_version: report::RESULT_VERSION,
        grader_version: env!("CARGO_PKG_VERSION").into(),
        exercise: material.exercise.clone(),
        seed: material.seed.clone(),
        mode: Mode::Url,
        candidate: None,
        submission: Some(crate::schema::Submission {
            path: Some(req.url.clone()),
            kind: crate::schema::SourceKind::Url,
            ..Default::default()
        }),
        image: None,
        limits: None,
        timings: Timings {
            variant_ms,
            build_ms: None,
            ready_ms: None,
            probes_ms: Some(probes_started.elapsed().as_millis()),
            total_ms: started.elapsed().as_millis(),
            shared: Vec::new(),
            exclusive: turns.finish().1,
        },
        outcome: GradeOutcome::Graded,
        failure: crash.map(|(class, message)| FailureInfo { class, message, log_excerpt: String::new() }),
        score: graded.score,
        checks: graded.checks,
        metrics: graded.metrics,
    };
    if let Some(out) = &req.out {
        report::write(out, &result, &Logs { build: None, container: None, notes: None })
            .map_err(|source| GraderError::Io { path: out.clone(), source })?;
    }
    Ok(result)
}

/// Writes a grading's results, scrubbed for a blind batch.
/// Publishes a grading's results; in a blind batch the result is scrubbed
/// first, and the caller keeps the scrubbed one (the batch's summaries are
/// printed from it).
fn write_results(req: &GradeRequest, result: &mut GradeResult, logs: &Logs) -> Result<()> {
    *result = scrubbed(result, req);
    report::write(&req.out, result, &scrubbed_logs(logs, req))
        .map_err(|source| GraderError::Io { path: req.out.clone(), source })
}

/// In a blind batch, what is written never holds the submission's path
/// (the grader's own messages name it; a candidate's folder is their id).
fn scrubbed(r: &GradeResult, req: &GradeRequest) -> GradeResult {
    if !req.blind {
        return r.clone();
    }
    let mut r = r.clone();
    // The seed's derivation names the candidate it was derived for: the
    // pseudonym stands in (identities.json maps it back).
    if let (Some(d), Some(shown)) = (r.seed.derivation.as_mut(), req.candidate.as_ref()) {
        d.candidate = shown.clone();
    }
    // Every string of the result (failure, checks, metrics: the grader's
    // own messages quote the submission's path, which names the
    // candidate), whatever field a later version adds.
    let mut v = serde_json::to_value(&r).expect("plain data");
    let needles = submission_paths(&req.submission);
    scrub_strings(&mut v, &needles);
    serde_json::from_value(v).expect("the same shape, strings changed")
}

/// The forms of the submission's path a message may quote, longest first.
fn submission_paths(submission: &std::path::Path) -> Vec<String> {
    let mut forms = vec![submission.display().to_string()];
    if let Ok(a) = std::path::absolute(submission) {
        forms.push(a.display().to_string());
    }
    if let Ok(c) = submission.canonicalize() {
        forms.push(c.display().to_string());
    }
    forms.retain(|f| !f.is_empty());
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// `s` with every form of the submission's path as `<submission>`.
fn scrub_text(s: &str, needles: &[String]) -> String {
    needles.iter().fold(s.to_string(), |s, n| s.replace(n.as_str(), "<submission>"))
}

fn scrub_strings(v: &mut serde_json::Value, needles: &[String]) {
    match v {
        serde_json::Value::String(s) if needles.iter().any(|n| s.contains(n.as_str())) => *s = scrub_text(s, needles),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| scrub_strings(x, needles)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| scrub_strings(x, needles)),
        _ => {}
    }
}

fn scrubbed_logs(l: &Logs, req: &GradeRequest) -> Logs {
    let needles = submission_paths(&req.submission);
    let clean = |s: &Option<String>| s.as_ref().map(|s| if req.blind { scrub_text(s, &needles) } else { s.clone() });
    Logs { build: clean(&l.build), container: clean(&l.container), notes: l.notes.clone() }
}

/// The candidate's NOTES.md for the reviewer's page: read without following
/// a link out of the submission, capped, lossy UTF-8.
fn read_notes(submission: &std::path::Path) -> Option<String> {
    let bytes =
        crate::support::fs::read_no_follow(&submission.join("NOTES.md"), report::html::MAX_TEXT as u64 + 1).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Polls `/health` once a second until it answers 200 or `wait` passes.
async fn wait_healthy(target: &Target, wait: Duration) -> Result<()> {
    use crate::support::health::{poll, Ending, Seen};
    let ask = || async move {
        match target.get("/health").await {
            Ok(a) if a.status == 200 => Seen::Healthy,
            Ok(a) => Seen::Status(a.status),
            Err(e) => Seen::NoAnswer(e.to_string()),
        }
    };
    let polled: std::result::Result<(), Ending<()>> =
        poll(Duration::from_secs(1), std::time::Instant::now() + wait, || async { None }, ask, |_| async { None })
            .await;
    match polled {
        Ok(()) => Ok(()),
        Err(ending) => {
            let last = match ending {
                Ending::Deadline(Some(Seen::Status(s))) => format!("answered {s}"),
                Ending::Deadline(Some(Seen::NoAnswer(e))) => e,
                _ => "no answer".into(),
            };
            Err(GraderError::NotReady(format!(
                "{} did not answer /health with 200 within {}s (last: {last})",
                target.url(""),
                wait.as_secs()
            )))
        }
    }
}

/// The first holdout row with no missing value (else the first): the bad
/// requests are built from it, and a null tells no column's type.
fn complete_row(rows: &[datasets::sealed::Row]) -> &datasets::sealed::Row {
    rows.iter().find(|r| r.values().all(|v| !v.is_null())).unwrap_or(&rows[0])
}
