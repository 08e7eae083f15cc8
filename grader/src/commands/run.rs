//! `grader run`: build and start one submission in the sandbox against a
//! variant, wait until it is healthy, show its report, and stop (or, with
//! `--serve`, keep it up until Ctrl-C). No probes, no score.

use std::path::PathBuf;

use crate::pipeline::material::{Material, Source};
use crate::pipeline::session::{self, Overrides};
use crate::sandbox::logbuf::last_lines;
use crate::sandbox::Limits;
pub use crate::schema::RunSummary;
use crate::support::error::{GraderError, Result};
use crate::support::progress::Progress;

pub struct RunRequest {
    pub submission: PathBuf,
    pub source: Source,
    pub overrides: Overrides,
    pub serve: bool,
}

pub async fn run(req: RunRequest, progress: &Progress) -> Result<RunSummary> {
    progress.phase(match &req.source {
        Source::Exercise { .. } => "generating the variant",
        Source::Kit(_) => "reading the kit",
    });
    let mut material = Material::load(&req.source)?;
    let limits = req.overrides.apply(Limits::from_contract(&material.terms.contract));
    let opened =
        session::open(&req.submission, material.data.clone(), material.tmp.take(), limits, &req.overrides, progress)
            .await?;
    let s = match opened {
        Ok(s) => s,
        Err(f) => {
            let (exit_code, oom_killed, logs) = match &f.logs {
                Some(l) => (l.exit_code, l.oom_killed, l.logs.clone()),
                None => (None, false, f.build_log.clone().unwrap_or_default()),
            };
            return Ok(RunSummary {
                schema_version: crate::schema::RUN_SUMMARY_VERSION,
                run: None,
                ready: false,
                ready_after_ms: None,
                failure_class: Some(f.error.class()),
                error: Some(f.error.to_string()),
                report: None,
                exit_code,
                oom_killed,
                log_tail: last_lines(&logs, 40),
            });
        }
    };
    let report = s
        .service
        .read_output(&s.docker, "report.json", 4 << 20)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if req.serve {
        match s.service.socket() {
            Some(sock) => progress.phase(format!(
                "serving: curl --unix-socket {} http://candidate/health  (Ctrl-C stops and cleans up)",
                sock.display()
            )),
            None => progress.phase(format!("serving at {}  (Ctrl-C stops and cleans up)", s.service.url(""))),
        }
        if !progress.enabled() {
            eprintln!("{}", s.service.url("/health"));
        }
        std::future::pending::<()>().await;
    }
    progress.phase("stopping and cleaning up");
    let stopped = s.service.stop(&s.docker).await?;
    let run = s.run.to_string();
    let ready_after = s.ready_after;
    let removed = s.guard.cleanup().await;
    if !removed.errors.is_empty() {
        return Err(GraderError::Cleanup(removed.errors));
    }
    Ok(RunSummary {
        schema_version: crate::schema::RUN_SUMMARY_VERSION,
        run: Some(run),
        ready: true,
        ready_after_ms: Some(ready_after.as_millis()),
        failure_class: None,
        error: None,
        report,
        exit_code: stopped.exit_code,
        oom_killed: stopped.oom_killed,
        log_tail: last_lines(&stopped.logs, 40),
    })
}

impl RunSummary {
    pub fn human(&self) -> String {
        if self.ready {
            let findings = |k: &str| self.report.as_ref().and_then(|r| r[k].as_array().map(|a| a.len()));
            format!(
                "healthy after {:.1}s; report.json: {}",
                self.ready_after_ms.unwrap_or(0) as f64 / 1000.0,
                match (findings("leakage"), findings("drift")) {
                    (Some(l), Some(d)) => format!("{l} leakage and {d} drift finding(s)"),
                    _ => "missing or not valid JSON".into(),
                }
            )
        } else {
            format!(
                "not healthy: {} ({:?})\n--- last log lines ---\n{}",
                crate::support::sanitize::terminal(self.error.as_deref().unwrap_or("?")),
                self.failure_class,
                crate::support::sanitize::terminal(&self.log_tail)
            )
        }
    }
}

pub fn execute(req: RunRequest, ui: super::Ui) -> Result<()> {
    let summary = super::runtime()?.block_on(run(req, &ui.progress()))?;
    if ui.json {
        ui.print_json(&summary);
    } else if !ui.quiet {
        eprintln!("{}", crate::support::sanitize::terminal(&summary.human()));
    }
    if let Some(class) = summary.failure_class {
        return Err(GraderError::NotHealthy(class));
    }
    Ok(())
}
