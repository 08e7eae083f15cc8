//! Checks: every probe result becomes one or more checks with an id, points,
//! a status and evidence; weights come from exercise.toml's `[rubric]`.

use datasets::spec::{Rubric, Terms};
use serde::{Deserialize, Serialize};

use crate::evaluate::findings::Findings;
use crate::evaluate::lifecycle::LifecycleMetrics;
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
    /// Not graded because the grader could not measure fairly (a busy
    /// host): counts towards neither points nor maximum, and says why.
    Ungraded,
}

crate::schema::names!(Status {
    Pass => "pass",
    Partial => "partial",
    Fail => "fail",
    Error => "error",
    Skipped => "skipped",
    Ungraded => "ungraded",
});

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
    /// The production replay (exercises with `[lifecycle]`); none, and
    /// not written, for an exercise without one or when it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Outcome<LifecycleMetrics>>,
    /// Whether the replay's answers were in contract v2's shape (a kit's
    /// practice replay too, which has no key to judge them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::evaluate::lifecycle::ReplayShape>,
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
            lifecycle: None,
            replay: None,
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
        let status = status_of(credit);
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

/// A check's status from its credit in [0, 1].
fn status_of(credit: f64) -> Status {
    if credit >= 0.999 {
        Status::Pass
    } else if credit <= 0.0 {
        Status::Fail
    } else {
        Status::Partial
    }
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Checks keep 4 decimals so that a group's shares add up to its weight.
fn round4(x: f64) -> f64 {
    // `+ 0.0` turns a negative zero (a ramp's -0.0) into 0: result.json
    // never says "-0.0" points.
    (x * 10_000.0).round() / 10_000.0 + 0.0
}

fn pass_fail(ok: bool) -> f64 {
    if ok {
        1.0
    } else {
        0.0
    }
}

/// Linear credit: 1 at or beyond `full`, 0 at or beyond `zero` (and for NaN).
pub fn ramp(x: f64, full: f64, zero: f64) -> f64 {
    let c = (x - zero) / (full - zero);
    if c.is_nan() {
        0.0
    } else {
        c.clamp(0.0, 1.0)
    }
}

/// Where `value` lies between a model with no signal (`floor`: 0) and the
/// generating model (`ceiling`: 1); works for losses (floor above ceiling)
/// and for AUC alike. Negative when worse than no signal.
pub fn skill(value: f64, floor: f64, ceiling: f64) -> f64 {
    if (ceiling - floor).abs() < 1e-12 {
        0.0
    } else {
        // `+ 0.0`: no "-0.00" in evidence.
        (value - floor) / (ceiling - floor) + 0.0
    }
}

/// On a busy host, a latency miss stands when the figure, less this many
/// times the grader's own delay at the same percentile, still misses the
/// SLO: a request wakes about four processes on its way (the grader's
/// sender, the relay, the service, the relay again) where the calibration
/// wakes one, and each can wait as long.
pub const HOST_DELAY_FACTOR: f64 = 4.0;

/// Calibration skill at which calibration earns full credit.
pub const CALIBRATION_FULL_SKILL: f64 = 0.6;
/// AUC skill from which leak reliance can earn anything, and at which the
/// gate is fully open: a model without real signal has nothing to rely on.
pub const LEAK_SIGNAL_ZERO: f64 = 0.2;
pub const LEAK_SIGNAL_FULL: f64 = 0.5;

/// AUC skill over the floor (the better of the base rate and the public
/// formula) at which discrimination earns full credit.
pub const PUBLIC_SKILL_FULL: f64 = 0.4;
/// Serving and answering bad requests are credited for serving a model of
/// the candidate's own: its AUC skill over the floor, as served, opens the
/// latency and robustness groups from `OWN_MODEL_ZERO` (shut) to
/// `OWN_MODEL_FULL` (open). A constant, the repository's formula served
/// fast, or a model that collapses as served has nothing of its own to
/// serve. As served, not in the extract's view: a column that leaks in the
/// extract must not buy the serving points back.
pub const OWN_MODEL_ZERO: f64 = 0.1;
pub const OWN_MODEL_FULL: f64 = 0.3;

/// The AUC skill counts from: the better of no signal (0.5) and the
/// public formula (exercise.toml's centre), which reading the repository
/// gives anyone. Results written before the formula existed have none.
pub fn floor_auc(m: &CorrectnessMetrics) -> f64 {
    m.public.map(|p| p.auc).filter(|a| a.is_finite()).map_or(0.5, |a| a.max(0.5))
}

/// The log-loss skill counts from: the better of the base rate's and the
/// public formula's.
pub fn floor_log_loss(m: &CorrectnessMetrics) -> f64 {
    match m.public.map(|p| p.log_loss).filter(|l| l.is_finite()) {
        Some(public) => m.base.log_loss.min(public),
        None => m.base.log_loss,
    }
}

/// How far the service's answers are its own model's: the gate on latency
/// and robustness, in [0, 1], with why when it is not fully open.
pub fn own_model(r: &ProbeResults) -> (f64, Option<String>) {
    match &r.correctness {
        Outcome::Ran(m) => {
            let floor = floor_auc(m);
            let own = skill(m.serving.auc, floor, m.bayes.auc);
            let gate = ramp(own, OWN_MODEL_FULL, OWN_MODEL_ZERO);
            let why = (gate < 1.0).then(|| {
                format!(
                    "credit × {gate:.2}: credited for serving a model of your own; AUC skill as served {own:.2} over \
                     the floor {floor:.3} (no signal, or exercise.toml's public formula)"
                )
            });
            (gate, why)
        }
        Outcome::Failed(e) | Outcome::NotRun(e) => (
            0.0,
            Some(format!("credit × 0: credited for a model of your own, and no model quality was measured ({e})")),
        ),
    }
}

/// Why a hidden check did not run on a practice kit.
pub const NOT_IN_PRACTICE: &str = "hidden: graded only on the variant you are graded on, never on the practice kit";

pub fn checks(terms: &Terms, r: &ProbeResults) -> Vec<Check> {
    let Rubric { contract, correctness, leak_reliance, latency, robustness, drift_monitoring, findings, lifecycle } =
        terms.rubric;
    let slo = &terms.slo;
    let mut out = Vec::new();
    use Visibility::*;

    let mut g = Group { name: "contract", weight: contract, out: &mut out };
    match &r.contract {
        Outcome::Ran(m) => {
            g.add(
                "health",
                "GET /health answers 200",
                0.25,
                pass_fail(m.health_problem.is_none()),
                m.health_problem.clone().unwrap_or_else(|| "200".into()),
                Visible,
            );
            g.add(
                "predict",
                "POST /predict answers in the contract's shape",
                0.25,
                pass_fail(m.predict_problem.is_none()),
                m.predict_problem
                    .clone()
                    .unwrap_or_else(|| "200 with predictions and probabilities for every row".into()),
                Visible,
            );
            g.add(
                "drift_endpoint",
                "GET /drift answers in the contract's shape",
                0.25,
                pass_fail(m.drift_problem.is_none()),
                m.drift_problem.clone().unwrap_or_else(|| "200 with drifted_features".into()),
                Visible,
            );
            match m.report_present {
                None => g.out.push(Check {
                    id: "contract.report".into(),
                    group: "contract".into(),
                    title: "/output/report.json follows the schema".into(),
                    points: 0.0,
                    max_points: 0.0,
                    status: Status::Skipped,
                    evidence: "no /output directory to read (give --output to grader probe)".into(),
                    visibility: Visible,
                }),
                Some(present) => {
                    let credit = if !present || m.report.is_none() {
                        0.0
                    } else if m.report_problems.is_empty() {
                        1.0
                    } else {
                        0.5
                    };
                    let evidence =
                        if m.report_problems.is_empty() { "valid".into() } else { m.report_problems.join("; ") };
                    g.add("report", "/output/report.json follows the schema", 0.25, credit, evidence, Visible);
                }
            }
        }
        o => g.not_run(
            &[
                ("health", "GET /health answers 200", 0.25),
                ("predict", "POST /predict answers in the contract's shape", 0.25),
                ("drift_endpoint", "GET /drift answers in the contract's shape", 0.25),
                ("report", "/output/report.json follows the schema", 0.25),
            ],
            o,
            Visible,
        ),
    }

    let mut g = Group { name: "correctness", weight: correctness, out: &mut out };
    let mut l = Group { name: "leak_reliance", weight: leak_reliance, out: &mut Vec::new() };
    match &r.correctness {
        Outcome::Ran(m) => {
            let floor = floor_auc(m);
            let auc_skill = skill(m.serving.auc, floor, m.bayes.auc);
            g.add(
                "discrimination",
                "AUC on unseen customers, as served, against the best achievable",
                0.6,
                ramp(m.auc_fraction, slo.min_auc_fraction, 0.75).min(ramp(auc_skill, PUBLIC_SKILL_FULL, 0.0)),
                format!(
                    "AUC {:.3} = {:.1}% of the generating model's {:.3} (target {:.0}%); skill {:.2} over the floor {:.3} \
                     (the better of no signal and exercise.toml's public formula; full credit from {PUBLIC_SKILL_FULL}); accuracy {:.3}",
                    m.serving.auc,
                    100.0 * m.auc_fraction,
                    m.bayes.auc,
                    100.0 * slo.min_auc_fraction,
                    auc_skill,
                    floor,
                    m.serving.accuracy
                ),
                Visible,
            );
            let ll_floor = floor_log_loss(m);
            let ll_skill = skill(m.serving.log_loss, ll_floor, m.bayes.log_loss);
            g.add("calibration", "log-loss on unseen customers, as served", 0.4, ramp(ll_skill, CALIBRATION_FULL_SKILL, 0.0),
                format!("log-loss {:.3}: skill {:.2} between the floor's {:.3} (0: the better of the base rate and the public formula) and the generating model's {:.3} (1); full credit from {CALIBRATION_FULL_SKILL}; Brier {:.3} vs {:.3}",
                    m.serving.log_loss, ll_skill, ll_floor, m.bayes.log_loss, m.serving.brier, m.bayes.brier), Visible);
            let signal = ramp(auc_skill, LEAK_SIGNAL_FULL, LEAK_SIGNAL_ZERO);
            match (m.offline, m.auc_gap) {
                (Some(offline), Some(auc_gap)) => l.add("gap", "quality does not depend on information missing in production", 1.0,
                    ramp(auc_gap, 0.02, 0.10) * signal,
                    format!("offline AUC {:.3}, as served {:.3} (gap {:+.3}); log-loss offline {:.3}, as served {:.3}; served AUC skill {:.2}{}",
                        offline.auc, m.serving.auc, auc_gap, offline.log_loss, m.serving.log_loss, auc_skill,
                        if signal < 1.0 { format!(" (credit × {signal:.2}: no reliance can be credited without signal)") } else { String::new() }), Hidden),
                _ => l.not_run(&[("gap", "quality does not depend on information missing in production", 1.0)],
                    &Outcome::<()>::NotRun(NOT_IN_PRACTICE.into()), Hidden),
            }
        }
        o => {
            g.not_run(
                &[
                    ("discrimination", "AUC on unseen customers, as served, against the best achievable", 0.6),
                    ("calibration", "log-loss on unseen customers, as served", 0.4),
                ],
                o,
                Visible,
            );
            l.not_run(&[("gap", "quality does not depend on information missing in production", 1.0)], o, Hidden);
        }
    }
    let leak_checks = std::mem::take(l.out);
    out.extend(leak_checks);

    let mut g = Group { name: "latency", weight: latency, out: &mut out };
    match &r.latency {
        Outcome::Ran(m) if m.host.as_ref().is_some_and(|h| !h.fair) => {
            // A busy host only adds delay: a figure within the SLO is an
            // upper bound of the candidate's and stands; a miss may be the
            // host's and is not graded. Error answers (not timeouts) are
            // the service's whatever the load.
            let h = m.host.as_ref().expect("checked");
            let others = match (h.other_cores, h.other_cores_limit) {
                (Some(o), Some(l)) => format!("; other processes kept {o:.2} cores busy, at most {l:.2} allowed"),
                _ => String::new(),
            };
            let why = format!(
                "the host was too busy for a fair measurement in {} window(s) (the grader's own delay p50 {:.1} ms, p99 {:.1} ms; \
                 a fair window needs at most {:.1} / {:.1} ms{others})",
                h.windows, h.calibration_p50_ms, h.calibration_p99_ms, h.limit_p50_ms, h.limit_p99_ms);
            let answered_errors = (m.errors - m.timeouts) as f64 / (m.requests.max(1)) as f64;
            // A miss beyond what the host's delay can explain stands; when
            // other processes took CPU, nothing bounds what they cost the
            // service, and no miss stands.
            let beyond = |measured: f64, own: f64, slo: f64| !h.contended() && measured - HOST_DELAY_FACTOR * own > slo;
            let checks = [
                (
                    "p50",
                    format!("p50 latency at {} requests/s ≤ {} ms", m.target_rate, slo.p50_ms),
                    m.p50_ms <= slo.p50_ms,
                    beyond(m.p50_ms, h.calibration_p50_ms, slo.p50_ms),
                    format!("p50 {:.1} ms, p95 {:.1} ms", m.p50_ms, m.p95_ms),
                ),
                (
                    "p99",
                    format!("p99 latency at {} requests/s ≤ {} ms", m.target_rate, slo.p99_ms),
                    m.p99_ms <= slo.p99_ms,
                    beyond(m.p99_ms, h.calibration_p99_ms, slo.p99_ms),
                    format!("p99 {:.1} ms, max {:.1} ms", m.p99_ms, m.max_ms),
                ),
                (
                    "errors",
                    format!("error rate under load ≤ {}%", 100.0 * slo.max_error_rate),
                    m.error_rate <= slo.max_error_rate,
                    answered_errors > slo.max_error_rate,
                    format!(
                        "{} of {} requests failed ({:.2}%; {} timeouts){}",
                        m.errors,
                        m.requests,
                        100.0 * m.error_rate,
                        m.timeouts,
                        m.error_examples.first().map(|e| format!("; e.g. {e}")).unwrap_or_default()
                    ),
                ),
            ];
            for (id, title, passed, fails_anyway, evidence) in checks {
                if passed || fails_anyway {
                    g.add(
                        id,
                        &title,
                        1.0 / 3.0,
                        pass_fail(passed),
                        format!("{evidence} (measured although {why})"),
                        Visible,
                    );
                } else {
                    g.out.push(Check {
                        id: format!("latency.{id}"),
                        group: "latency".into(),
                        title,
                        points: 0.0,
                        max_points: 0.0,
                        status: Status::Ungraded,
                        evidence: format!("not graded: {evidence}, but {why}"),
                        visibility: Visible,
                    });
                }
            }
        }
        Outcome::Ran(m) => {
            g.add(
                "p50",
                &format!("p50 latency at {} requests/s ≤ {} ms", m.target_rate, slo.p50_ms),
                1.0 / 3.0,
                pass_fail(m.p50_ms <= slo.p50_ms),
                format!("p50 {:.1} ms, p95 {:.1} ms", m.p50_ms, m.p95_ms),
                Visible,
            );
            g.add(
                "p99",
                &format!("p99 latency at {} requests/s ≤ {} ms", m.target_rate, slo.p99_ms),
                1.0 / 3.0,
                pass_fail(m.p99_ms <= slo.p99_ms),
                format!("p99 {:.1} ms, max {:.1} ms", m.p99_ms, m.max_ms),
                Visible,
            );
            g.add(
                "errors",
                &format!("error rate under load ≤ {}%", 100.0 * slo.max_error_rate),
                1.0 / 3.0,
                pass_fail(m.error_rate <= slo.max_error_rate),
                format!(
                    "{} of {} requests failed ({:.2}%; {} timeouts){}",
                    m.errors,
                    m.requests,
                    100.0 * m.error_rate,
                    m.timeouts,
                    m.error_examples.first().map(|e| format!("; e.g. {e}")).unwrap_or_default()
                ),
                Visible,
            );
        }
        o => g.not_run(
            &[
                ("p50", "p50 latency within the SLO", 1.0 / 3.0),
                ("p99", "p99 latency within the SLO", 1.0 / 3.0),
                ("errors", "error rate under load within the SLO", 1.0 / 3.0),
            ],
            o,
            Visible,
        ),
    }

    let mut g = Group { name: "robustness", weight: robustness, out: &mut out };
    match &r.robustness {
        Outcome::Ran(m) => {
            let n = (m.cases.len() + 2) as f64;
            for c in &m.cases {
                g.add(
                    &c.id,
                    &format!("{} gets a 4xx with a JSON error", c.title),
                    1.0 / n,
                    pass_fail(c.passed),
                    c.detail.clone(),
                    Visible,
                );
            }
            g.add(
                "null_values",
                "a row of null values (allowed by the contract) gets a 200",
                1.0 / n,
                pass_fail(m.null_values_accepted.is_none()),
                m.null_values_accepted.clone().unwrap_or_else(|| "200".into()),
                Visible,
            );
            g.add(
                "still_serving",
                "the service still answers after the bad requests",
                1.0 / n,
                pass_fail(m.still_serving.is_ok()),
                m.still_serving.clone().err().unwrap_or_else(|| "/health 200 and a valid /predict".into()),
                Visible,
            );
        }
        o => g.not_run(&[("cases", "bad requests get a 4xx with a JSON error", 1.0)], o, Visible),
    }

    // Latency and robustness measured on a service with no model of its
    // own (a constant, the repository's formula) are not credited.
    let (gate, why) = own_model(r);
    if let Some(why) = why {
        for c in out.iter_mut().filter(|c| c.group == "latency" || c.group == "robustness") {
            if matches!(c.status, Status::Pass | Status::Partial) {
                let credit = if c.max_points > 0.0 { c.points / c.max_points * gate } else { 0.0 };
                c.points = round4(c.points * gate);
                c.status = status_of(credit);
                c.evidence = format!("{} ({why})", c.evidence);
            }
        }
    }

    let mut g = Group { name: "drift_monitoring", weight: drift_monitoring, out: &mut out };
    match &r.drift {
        Outcome::Ran(m) => g.add(
            "live",
            "GET /drift names the features that drifted in live traffic",
            1.0,
            m.score.unwrap_or(m.f1),
            format!(
                "flagged {:?}; {} of {} drifted features found, {} false alarm(s), each costing {} of a find",
                m.flagged,
                m.true_positives.len(),
                m.planted.len(),
                m.false_positives.len(),
                crate::evaluate::monitoring::FALSE_ALARM_COST
            ),
            Hidden,
        ),
        o => g.not_run(&[("live", "GET /drift names the features that drifted in live traffic", 1.0)], o, Hidden),
    }

    let mut g = Group { name: "findings", weight: findings, out: &mut out };
    match &r.findings {
        Outcome::Ran(f) => {
            for (id, title, s) in [
                ("leakage", "report.json names the planted leakage", &f.leakage),
                ("drift", "report.json names the planted drift", &f.drift),
            ] {
                let found: Vec<String> =
                    s.matched.iter().filter(|m| m.credit > 0.0).map(|m| m.planted.clone()).collect();
                let missed = s.matched.iter().filter(|m| m.credit == 0.0).count();
                g.add(
                    id,
                    title,
                    0.5,
                    s.score,
                    format!("found {found:?}, missed {missed}, false flags {:?}", s.false_flags),
                    Hidden,
                );
            }
        }
        o => g.not_run(
            &[
                ("leakage", "report.json names the planted leakage", 0.5),
                ("drift", "report.json names the planted drift", 0.5),
            ],
            o,
            Hidden,
        ),
    }

    if let Some(weight) = lifecycle {
        // Not run at all: for the reason the service's probes did not.
        let not_run = Outcome::NotRun(match &r.contract {
            Outcome::Failed(why) | Outcome::NotRun(why) => why.clone(),
            Outcome::Ran(_) => "the production replay did not run".into(),
        });
        lifecycle_checks(
            &mut Group { name: "lifecycle", weight, out: &mut out },
            r.lifecycle.as_ref().unwrap_or(&not_run),
        );
    }
    out
}

/// The production replay's checks (all hidden: they reveal the key).
fn lifecycle_checks(g: &mut Group, r: &Outcome<LifecycleMetrics>) {
    use Visibility::Hidden;
    const CHECKS: [(&str, &str, f64); 4] = [
        ("concept_drift", "GET /monitor reports the concept drift once its labels allow", 0.35),
        ("diagnosis", "GET /monitor tells the decoy drift and the pipeline break by name", 0.25),
        ("false_alarms", "GET /monitor says ok on quiet days", 0.15),
        ("recovery", "the service recovers from the concept drift (AUC as served after it)", 0.25),
    ];
    let m = match r {
        Outcome::Ran(m) => m,
        o => return g.not_run(&CHECKS, o, Hidden),
    };
    let share = m.quiet_ok_share;
    let stopped = m.stopped.as_deref().map(|s| format!("; the replay stopped: {s}")).unwrap_or_default();
    let c = &m.concept;
    let concept = match c.reported {
        Some(d) => format!(
            "planted on day {}, its labels allow it from day {}; `concept_drift` first on day {d} ({} day(s) late, 0 credit at {}) × {share:.2} (quiet days judged ok){stopped}",
            c.day,
            c.earliest,
            d - c.earliest,
            c.max_delay_days
        ),
        None => format!(
            "planted on day {}, its labels allow it from day {}; never reported{stopped}",
            c.day, c.earliest
        ),
    };
    g.add(CHECKS[0].0, CHECKS[0].1, CHECKS[0].2, c.credit * share, concept, Hidden);
    let said = |d: &crate::evaluate::lifecycle::Diagnosis| match d.answered {
        Some((day, s)) => format!("day {day}: {s}"),
        None => "no answer".into(),
    };
    let diagnosis = format!(
        "decoy drift of {} on day {}: {} (credit {:.2}); pipeline break of {} on day {}: {} (credit {:.2}, {} for data_drift); × {share:.2} (quiet days judged ok)",
        m.decoy.feature,
        m.decoy.day,
        said(&m.decoy),
        m.decoy.credit,
        m.pipeline_break.feature,
        m.pipeline_break.day,
        said(&m.pipeline_break),
        m.pipeline_break.credit,
        crate::evaluate::lifecycle::BREAK_AS_DATA_DRIFT
    );
    g.add(
        CHECKS[1].0,
        CHECKS[1].1,
        CHECKS[1].2,
        (m.decoy.credit + m.pipeline_break.credit) / 2.0 * share,
        diagnosis,
        Hidden,
    );
    g.add(
        CHECKS[2].0,
        CHECKS[2].1,
        CHECKS[2].2,
        share,
        format!(
            "{} of {} quiet days not ok: {:?}; {} neither credited nor charged{}",
            m.false_alarm_days.len(),
            m.quiet_days,
            m.false_alarm_days,
            m.excused_days.len(),
            // The first answer out of contract, with its day.
            m.days
                .iter()
                .find_map(|d| d.problems.first().map(|p| format!("; out of contract first on day {}: {p}", d.day)))
                .unwrap_or_default()
        ),
        Hidden,
    );
    let rec = &m.recovery;
    let recovery = match rec.served_auc {
        Some(a) => format!(
            "AUC {a:.3} on {} rows after the concept drift's window; the launch model {:.3} (0), the new concept's {:.3} (1); {} model version(s) seen",
            rec.served, rec.stale_auc, rec.new_auc, m.model_versions
        ),
        None => format!("{} of {} rows after the concept drift's window got a probability", rec.served, rec.rows),
    };
    let recovery = if rec.retrained {
        recovery
    } else {
        format!("no new model_version from the concept drift's day on: no retrain to credit ({recovery})")
    };
    g.add(CHECKS[3].0, CHECKS[3].1, CHECKS[3].2, rec.credit, recovery, Hidden);
}

/// Sum of points and of maximum points.
pub fn total(checks: &[Check]) -> (f64, f64) {
    let p: f64 = checks.iter().map(|c| c.points).sum();
    let m: f64 = checks.iter().map(|c| c.max_points).sum();
    (round2(p), round2(m))
}

/// Test helpers shared with the scoring core's tests (evaluate/tests.rs).
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probe::correctness::{CorrectnessMetrics, Quality};

    fn spec() -> Terms {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises/churn");
        datasets::Exercise::load(&dir).expect("the churn exercise loads").spec.terms()
    }

    pub(crate) fn q(auc: f64, log_loss: f64) -> Quality {
        Quality { auc, accuracy: 0.8, log_loss, brier: 0.15 }
    }

    /// Correctness as measured, with the generating model at AUC 0.80 and
    /// log-loss 0.43, and the base rate's log-loss 0.56.
    pub(crate) fn correctness(serving: Quality, offline: Quality) -> ProbeResults {
        let bayes = q(0.80, 0.43);
        let mut r = ProbeResults::none("not part of this test");
        r.correctness = Outcome::Ran(CorrectnessMetrics {
            rows: 4000,
            serving,
            offline: Some(offline),
            bayes,
            base: q(0.5, 0.56),
            public: None,
            auc_fraction: serving.auc / bayes.auc,
            auc_gap: Some(offline.auc - serving.auc),
            log_loss_gap: Some(serving.log_loss - offline.log_loss),
        });
        r
    }

    fn points(checks: &[Check], prefix: &str) -> f64 {
        checks.iter().filter(|c| c.id.starts_with(prefix)).map(|c| c.points).sum()
    }

    #[test]
    fn skill_runs_from_no_signal_to_the_generating_model() {
        assert_eq!(skill(0.5, 0.5, 0.8), 0.0);
        assert_eq!(skill(0.8, 0.5, 0.8), 1.0);
        assert!((skill(0.56, 0.56, 0.43) - 0.0).abs() < 1e-12, "the base rate's own log-loss");
        assert!((skill(0.43, 0.56, 0.43) - 1.0).abs() < 1e-12);
        assert!(skill(0.70, 0.56, 0.43) < 0.0, "worse than no signal");
        assert_eq!(ramp(f64::NAN, 1.0, 0.0), 0.0);
    }

    #[test]
    fn a_constant_model_earns_nothing_for_signal() {
        let base = q(0.5, 0.56);
        let checks = checks(&spec(), &correctness(base, base));
        assert_eq!(points(&checks, "correctness."), 0.0, "{checks:#?}");
        assert_eq!(
            points(&checks, "leak_reliance."),
            0.0,
            "equal offline and served AUC of 0.5 is no honesty: {checks:#?}"
        );
    }

    #[test]
    fn a_model_slightly_worse_than_the_base_rate_earns_nothing_either() {
        let checks = checks(&spec(), &correctness(q(0.52, 0.60), q(0.52, 0.60)));
        assert_eq!(points(&checks, "correctness."), 0.0);
        assert_eq!(points(&checks, "leak_reliance."), 0.0);
    }

    #[test]
    fn a_leak_reliant_model_loses_calibration_and_leak_reliance() {
        let checks = checks(&spec(), &correctness(q(0.536, 4.0), q(0.996, 0.05)));
        assert_eq!(points(&checks, "correctness.calibration"), 0.0);
        assert_eq!(points(&checks, "correctness.discrimination"), 0.0);
        assert_eq!(points(&checks, "leak_reliance."), 0.0);
    }

    #[test]
    fn a_model_as_good_as_the_generating_one_earns_everything() {
        let s = spec();
        let good = q(0.80, 0.43);
        let checks = checks(&s, &correctness(good, good));
        assert_eq!(points(&checks, "correctness."), s.rubric.correctness);
        assert_eq!(points(&checks, "leak_reliance."), s.rubric.leak_reliance);
    }

    #[test]
    fn calibration_credit_grows_with_skill_up_to_full() {
        let s = spec();
        let at = |ll: f64| points(&checks(&s, &correctness(q(0.78, ll), q(0.78, ll))), "correctness.calibration");
        let full = 0.4 * s.rubric.correctness;
        // Skill 0.3 (half of the 0.6 needed): half the points.
        assert!((at(0.56 - 0.3 * 0.13) - full / 2.0).abs() < 1e-3, "{}", at(0.56 - 0.3 * 0.13));
        assert_eq!(at(0.56 - 0.6 * 0.13), full);
        assert!(at(0.53) < at(0.50) && at(0.50) < at(0.49), "strictly growing below full credit");
    }

    #[test]
    fn honesty_is_credited_only_with_signal() {
        let s = spec();
        let honest = |auc: f64| points(&checks(&s, &correctness(q(auc, 0.5), q(auc, 0.5))), "leak_reliance.");
        assert_eq!(honest(0.50), 0.0);
        assert_eq!(honest(0.5 + 0.2 * 0.3), 0.0, "skill 0.2: the gate is shut");
        assert!((honest(0.5 + 0.35 * 0.3) - s.rubric.leak_reliance / 2.0).abs() < 1e-3, "skill 0.35: half open");
        assert_eq!(honest(0.5 + 0.5 * 0.3), s.rubric.leak_reliance);
    }

    fn latency(p50: f64, p99: f64, errors: u64, timeouts: u64, fair: bool) -> ProbeResults {
        use crate::probe::latency::{HostCheck, LatencyMetrics};
        // A model of its own: latency is credited.
        let good = q(0.80, 0.43);
        let mut r = correctness(good, good);
        r.latency = Outcome::Ran(LatencyMetrics {
            target_rate: 50.0,
            achieved_rate: 50.0,
            requests: 1000,
            successes: 1000 - errors,
            errors,
            timeouts,
            dropped: 0,
            late_sends: 0,
            error_rate: errors as f64 / 1000.0,
            p50_ms: p50,
            p95_ms: p99,
            p99_ms: p99,
            max_ms: p99,
            mean_ms: p50,
            buckets: Vec::new(),
            error_examples: Vec::new(),
            host: Some(HostCheck {
                windows: 3,
                calibration_p50_ms: if fair { 0.2 } else { 9.0 },
                calibration_p99_ms: if fair { 1.0 } else { 60.0 },
                limit_p50_ms: 5.0,
                limit_p99_ms: 20.0,
                load_average: Some(3.0),
                other_cores: None,
                other_cores_limit: None,
                fair,
            }),
        });
        r
    }

    fn status(checks: &[Check], id: &str) -> Status {
        checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id}")).status
    }

    #[test]
    fn on_a_busy_host_a_pass_stands_and_a_miss_is_not_graded() {
        let s = spec();
        // Fast enough even with the host's delay: graded as a pass.
        let c = checks(&s, &latency(10.0, 80.0, 0, 0, false));
        assert_eq!(status(&c, "latency.p50"), Status::Pass);
        assert_eq!(status(&c, "latency.p99"), Status::Pass);
        assert_eq!(points(&c, "latency."), s.rubric.latency);
        // Too slow, but the host was busy (own delay 9 / 60 ms, so up to
        // 36 / 240 ms may be the host's): neither charged nor counted.
        let c = checks(&s, &latency(80.0, 400.0, 0, 0, false));
        assert_eq!(status(&c, "latency.p50"), Status::Ungraded);
        assert_eq!(status(&c, "latency.p99"), Status::Ungraded);
        let ungraded: f64 = c.iter().filter(|c| c.status == Status::Ungraded).map(|c| c.max_points).sum();
        assert_eq!(ungraded, 0.0, "an ungraded check has no maximum");
        assert!(c.iter().find(|c| c.id == "latency.p50").unwrap().evidence.contains("too busy"));
        // A miss far beyond what the host's delay explains stands.
        let c = checks(&s, &latency(300.0, 900.0, 0, 0, false));
        assert_eq!(status(&c, "latency.p50"), Status::Fail, "300 - 4 × 9 > 50");
        assert_eq!(status(&c, "latency.p99"), Status::Fail, "900 - 4 × 60 > 200");
        // The same figures on a quiet host are the candidate's.
        let c = checks(&s, &latency(80.0, 400.0, 0, 0, true));
        assert_eq!(status(&c, "latency.p50"), Status::Fail);
        assert_eq!(status(&c, "latency.p99"), Status::Fail);
    }

    #[test]
    fn when_other_processes_took_the_cores_no_miss_stands() {
        // Measured: CPU-bound neighbours took the reference from 10 ms to
        // 1,485 ms at p50 while the grader's own delay stayed under 3 ms.
        let s = spec();
        let mut r = latency(1484.8, 2007.0, 0, 0, false);
        if let Outcome::Ran(m) = &mut r.latency {
            let h = m.host.as_mut().unwrap();
            (h.calibration_p50_ms, h.calibration_p99_ms) = (0.22, 2.96);
            (h.other_cores, h.other_cores_limit) = (Some(1.9), Some(0.5));
        }
        let c = checks(&s, &r);
        assert_eq!(status(&c, "latency.p50"), Status::Ungraded, "{c:#?}");
        assert_eq!(status(&c, "latency.p99"), Status::Ungraded);
        assert!(c.iter().find(|c| c.id == "latency.p50").unwrap().evidence.contains("1.90 cores"));
    }

    #[test]
    fn on_a_busy_host_error_answers_still_count_and_timeouts_do_not() {
        let s = spec();
        let c = checks(&s, &latency(10.0, 80.0, 200, 0, false));
        assert_eq!(status(&c, "latency.errors"), Status::Fail, "500s are the service's whatever the load");
        let c = checks(&s, &latency(10.0, 80.0, 200, 200, false));
        assert_eq!(status(&c, "latency.errors"), Status::Ungraded, "timeouts on a busy host may be the host's");
    }
}
