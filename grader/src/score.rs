//! Checks: every probe result becomes one or more checks with an id, points,
//! a status and evidence; weights come from exercise.toml's `[rubric]`.

use datasets::spec::{ExerciseSpec, Rubric};
use serde::{Deserialize, Serialize};

use crate::findings::Findings;
use crate::probe::contract::ContractMetrics;
use crate::probe::correctness::CorrectnessMetrics;
use crate::probe::drift::DriftMetrics;
use crate::probe::latency::LatencyMetrics;
use crate::probe::robustness::RobustnessMetrics;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Partial,
    Fail,
    /// The probe could not run (service down, crashed mid-probe).
    Error,
    /// Not applicable here (counts towards neither points nor maximum).
    Skipped,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Visible,
    /// Shown to hiring teams; a candidate's self-check shows only counts.
    Hidden,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Check {
    pub id: String,
    pub group: String,
    pub title: String,
    pub points: f64,
    pub max_points: f64,
    pub status: Status,
    pub evidence: String,
    pub visibility: Visibility,
}

/// What a probe produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "value", rename_all = "snake_case")]
pub enum Outcome<T> {
    Ran(T),
    /// It ran and failed as a whole (e.g. every batch rejected).
    Failed(String),
    /// It did not run (service gone, earlier failure, not applicable).
    NotRun(String),
}

impl<T> Outcome<T> {
    pub fn ran(&self) -> Option<&T> {
        match self {
            Outcome::Ran(t) => Some(t),
            _ => None,
        }
    }
}

/// Everything the probes found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeResults {
    pub contract: Outcome<ContractMetrics>,
    pub drift: Outcome<DriftMetrics>,
    pub correctness: Outcome<CorrectnessMetrics>,
    pub latency: Outcome<LatencyMetrics>,
    pub robustness: Outcome<RobustnessMetrics>,
    pub findings: Outcome<Findings>,
}

impl ProbeResults {
    /// Every probe marked not run, with `why` (a failed build or start).
    pub fn none(why: &str) -> ProbeResults {
        ProbeResults {
            contract: Outcome::NotRun(why.into()),
            drift: Outcome::NotRun(why.into()),
            correctness: Outcome::NotRun(why.into()),
            latency: Outcome::NotRun(why.into()),
            robustness: Outcome::NotRun(why.into()),
            findings: Outcome::NotRun(why.into()),
        }
    }
}

struct Group<'a> {
    name: &'a str,
    weight: f64,
    out: &'a mut Vec<Check>,
}

impl Group<'_> {
    /// Adds a check worth `share` of the group; `credit` in [0, 1].
    fn add(&mut self, id: &str, title: &str, share: f64, credit: f64, evidence: String, visibility: Visibility) {
        let max = self.weight * share;
        let status = if credit >= 0.999 {
            Status::Pass
        } else if credit <= 0.0 {
            Status::Fail
        } else {
            Status::Partial
        };
        self.out.push(Check {
            id: format!("{}.{id}", self.name),
            group: self.name.into(),
            title: title.into(),
            points: round4(max * credit.clamp(0.0, 1.0)),
            max_points: round4(max),
            status,
            evidence,
            visibility,
        });
    }

    fn not_run<T>(&mut self, checks: &[(&str, &str, f64)], outcome: &Outcome<T>, visibility: Visibility) {
        let (status, evidence) = match outcome {
            Outcome::Failed(e) => (Status::Error, e.clone()),
            Outcome::NotRun(e) => (Status::Error, e.clone()),
            Outcome::Ran(_) => unreachable!(),
        };
        for (id, title, share) in checks {
            self.out.push(Check {
                id: format!("{}.{id}", self.name),
                group: self.name.into(),
                title: (*title).into(),
                points: 0.0,
                max_points: round4(self.weight * share),
                status,
                evidence: evidence.clone(),
                visibility,
            });
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Checks keep 4 decimals so that a group's shares add up to its weight.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn pass_fail(ok: bool) -> f64 {
    if ok { 1.0 } else { 0.0 }
}

/// Linear credit: 1 at or beyond `full`, 0 at or beyond `zero`.
fn ramp(x: f64, full: f64, zero: f64) -> f64 {
    ((x - zero) / (full - zero)).clamp(0.0, 1.0)
}

pub fn checks(spec: &ExerciseSpec, r: &ProbeResults) -> Vec<Check> {
    let Rubric { contract, correctness, leak_reliance, latency, robustness, drift_monitoring, findings } = spec.rubric;
    let slo = &spec.slo;
    let mut out = Vec::new();
    use Visibility::*;

    let mut g = Group { name: "contract", weight: contract, out: &mut out };
    match &r.contract {
        Outcome::Ran(m) => {
            g.add("health", "GET /health answers 200", 0.25, pass_fail(m.health_problem.is_none()),
                m.health_problem.clone().unwrap_or_else(|| "200".into()), Visible);
            g.add("predict", "POST /predict answers in the contract's shape", 0.25, pass_fail(m.predict_problem.is_none()),
                m.predict_problem.clone().unwrap_or_else(|| "200 with predictions and probabilities for every row".into()), Visible);
            g.add("drift_endpoint", "GET /drift answers in the contract's shape", 0.25, pass_fail(m.drift_problem.is_none()),
                m.drift_problem.clone().unwrap_or_else(|| "200 with drifted_features".into()), Visible);
            match m.report_present {
                None => g.out.push(Check {
                    id: "contract.report".into(), group: "contract".into(), title: "/output/report.json follows the schema".into(),
                    points: 0.0, max_points: 0.0, status: Status::Skipped,
                    evidence: "no /output directory to read (give --output to grader probe)".into(), visibility: Visible,
                }),
                Some(present) => {
                    let credit = if !present || m.report.is_none() { 0.0 } else if m.report_problems.is_empty() { 1.0 } else { 0.5 };
                    let evidence = if m.report_problems.is_empty() { "valid".into() } else { m.report_problems.join("; ") };
                    g.add("report", "/output/report.json follows the schema", 0.25, credit, evidence, Visible);
                }
            }
        }
        o => g.not_run(&[("health", "GET /health answers 200", 0.25), ("predict", "POST /predict answers in the contract's shape", 0.25),
            ("drift_endpoint", "GET /drift answers in the contract's shape", 0.25), ("report", "/output/report.json follows the schema", 0.25)], o, Visible),
    }

    let mut g = Group { name: "correctness", weight: correctness, out: &mut out };
    let mut l = Group { name: "leak_reliance", weight: leak_reliance, out: &mut Vec::new() };
    match &r.correctness {
        Outcome::Ran(m) => {
            g.add("discrimination", "AUC on unseen customers, as served, against the best achievable", 0.6,
                ramp(m.auc_fraction, slo.min_auc_fraction, 0.75),
                format!("AUC {:.3} = {:.1}% of the generating model's {:.3} (target {:.0}%); accuracy {:.3}",
                    m.serving.auc, 100.0 * m.auc_fraction, m.bayes.auc, 100.0 * slo.min_auc_fraction, m.serving.accuracy), Visible);
            let ratio = m.serving.log_loss / m.bayes.log_loss;
            g.add("calibration", "log-loss on unseen customers, as served", 0.4, ramp(ratio, 1.1, 2.0),
                format!("log-loss {:.3} vs the generating model's {:.3} ({:.2}×; full credit up to 1.1×); Brier {:.3} vs {:.3}",
                    m.serving.log_loss, m.bayes.log_loss, ratio, m.serving.brier, m.bayes.brier), Visible);
            l.add("gap", "quality does not depend on information missing in production", 1.0, ramp(m.auc_gap, 0.02, 0.10),
                format!("offline AUC {:.3}, as served {:.3} (gap {:+.3}); log-loss offline {:.3}, as served {:.3}",
                    m.offline.auc, m.serving.auc, m.auc_gap, m.offline.log_loss, m.serving.log_loss), Hidden);
        }
        o => {
            g.not_run(&[("discrimination", "AUC on unseen customers, as served, against the best achievable", 0.6),
                ("calibration", "log-loss on unseen customers, as served", 0.4)], o, Visible);
            l.not_run(&[("gap", "quality does not depend on information missing in production", 1.0)], o, Hidden);
        }
    }
    let leak_checks = std::mem::take(l.out);
    out.extend(leak_checks);

    let mut g = Group { name: "latency", weight: latency, out: &mut out };
    match &r.latency {
        Outcome::Ran(m) => {
            g.add("p50", &format!("p50 latency at {} requests/s ≤ {} ms", m.target_rate, slo.p50_ms), 1.0 / 3.0,
                pass_fail(m.p50_ms <= slo.p50_ms), format!("p50 {:.1} ms, p95 {:.1} ms", m.p50_ms, m.p95_ms), Visible);
            g.add("p99", &format!("p99 latency at {} requests/s ≤ {} ms", m.target_rate, slo.p99_ms), 1.0 / 3.0,
                pass_fail(m.p99_ms <= slo.p99_ms), format!("p99 {:.1} ms, max {:.1} ms", m.p99_ms, m.max_ms), Visible);
            g.add("errors", &format!("error rate under load ≤ {}%", 100.0 * slo.max_error_rate), 1.0 / 3.0,
                pass_fail(m.error_rate <= slo.max_error_rate),
                format!("{} of {} requests failed ({:.2}%; {} timeouts){}", m.errors, m.requests, 100.0 * m.error_rate, m.timeouts,
                    m.error_examples.first().map(|e| format!("; e.g. {e}")).unwrap_or_default()), Visible);
        }
        o => g.not_run(&[("p50", "p50 latency within the SLO", 1.0 / 3.0), ("p99", "p99 latency within the SLO", 1.0 / 3.0),
            ("errors", "error rate under load within the SLO", 1.0 / 3.0)], o, Visible),
    }

    let mut g = Group { name: "robustness", weight: robustness, out: &mut out };
    match &r.robustness {
        Outcome::Ran(m) => {
            let n = (m.cases.len() + 2) as f64;
            for c in &m.cases {
                g.add(&c.id, &format!("{} gets a 4xx with a JSON error", c.title), 1.0 / n, pass_fail(c.passed), c.detail.clone(), Visible);
            }
            g.add("null_values", "a row of null values (allowed by the contract) gets a 200", 1.0 / n,
                pass_fail(m.null_values_accepted.is_none()), m.null_values_accepted.clone().unwrap_or_else(|| "200".into()), Visible);
            g.add("still_serving", "the service still answers after the bad requests", 1.0 / n, pass_fail(m.still_serving.is_ok()),
                m.still_serving.clone().err().unwrap_or_else(|| "/health 200 and a valid /predict".into()), Visible);
        }
        o => g.not_run(&[("cases", "bad requests get a 4xx with a JSON error", 1.0)], o, Visible),
    }

    let mut g = Group { name: "drift_monitoring", weight: drift_monitoring, out: &mut out };
    match &r.drift {
        Outcome::Ran(m) => g.add("live", "GET /drift names the features that drifted in live traffic", 1.0, m.f1,
            format!("flagged {:?}; {} of {} drifted features found, {} false alarm(s)", m.flagged, m.true_positives.len(),
                m.planted.len(), m.false_positives.len()), Hidden),
        o => g.not_run(&[("live", "GET /drift names the features that drifted in live traffic", 1.0)], o, Hidden),
    }

    let mut g = Group { name: "findings", weight: findings, out: &mut out };
    match &r.findings {
        Outcome::Ran(f) => {
            for (id, title, s) in [("leakage", "report.json names the planted leakage", &f.leakage), ("drift", "report.json names the planted drift", &f.drift)] {
                let found: Vec<String> = s.matched.iter().filter(|m| m.credit > 0.0).map(|m| m.planted.clone()).collect();
                let missed = s.matched.iter().filter(|m| m.credit == 0.0).count();
                g.add(id, title, 0.5, s.score, format!("found {found:?}, missed {missed}, false flags {:?}", s.false_flags), Hidden);
            }
        }
        o => g.not_run(&[("leakage", "report.json names the planted leakage", 0.5), ("drift", "report.json names the planted drift", 0.5)], o, Hidden),
    }
    out
}

/// Sum of points and of maximum points.
pub fn total(checks: &[Check]) -> (f64, f64) {
    let p: f64 = checks.iter().map(|c| c.points).sum();
    let m: f64 = checks.iter().map(|c| c.max_points).sum();
    (round2(p), round2(m))
}
