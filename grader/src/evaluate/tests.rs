//! Four archetypes scored without Docker, against the churn exercise's
//! variant for seed 1 (generated in memory): the checks and what each
//! renderer shows are snapshots (`cargo insta review` after an intended
//! change), and the properties a grade must have are asserted beside them.

use std::sync::OnceLock;

use datasets::spec::Terms;
use datasets::{AnswerKey, Exercise, SeedSource};

use super::{evaluate, Evaluation};
use crate::evaluate::score::tests::q;
use crate::evaluate::score::{Outcome, ProbeResults, Status};
use crate::probe::contract::{CandidateReport, ContractMetrics, DriftFlag, LeakFlag};
use crate::probe::correctness::{CorrectnessMetrics, Quality};
use crate::probe::drift::DriftMetrics;
use crate::probe::latency::{HostCheck, LatencyMetrics};
use crate::probe::robustness::{Case, RobustnessMetrics};
use crate::report::{ExerciseInfo, GradeResult, Timings, RESULT_VERSION};

fn exercise() -> &'static (Terms, AnswerKey) {
    static EX: OnceLock<(Terms, AnswerKey)> = OnceLock::new();
    EX.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises/churn");
        let ex = Exercise::load(&dir).expect("the churn exercise loads");
        let v = datasets::generate(&ex, SeedSource::given(1)).expect("seed 1 certifies");
        (ex.spec.terms(), v.key)
    })
}

/// Clean engineering: every contract and robustness case passes, latency is
/// well within the SLO on a quiet host.
fn engineering(report: CandidateReport) -> ProbeResults {
    let mut r = ProbeResults::none("set below");
    r.contract = Outcome::Ran(ContractMetrics {
        health_status: Some(200),
        health_problem: None,
        predict_problem: None,
        drift_problem: None,
        report_present: Some(true),
        report_problems: Vec::new(),
        report: Some(report),
    });
    r.latency = Outcome::Ran(LatencyMetrics {
        target_rate: 50.0,
        achieved_rate: 50.0,
        requests: 1000,
        successes: 1000,
        errors: 0,
        timeouts: 0,
        dropped: 0,
        late_sends: 0,
        error_rate: 0.0,
        p50_ms: 4.0,
        p95_ms: 7.0,
        p99_ms: 9.0,
        max_ms: 12.0,
        mean_ms: 4.5,
        buckets: Vec::new(),
        error_examples: Vec::new(),
        host: Some(HostCheck {
            windows: 1,
            calibration_p50_ms: 0.2,
            calibration_p99_ms: 0.9,
            limit_p50_ms: 5.0,
            limit_p99_ms: 20.0,
            load_average: Some(0.5),
            other_cores: Some(0.05),
            other_cores_limit: Some(0.5),
            fair: true,
        }),
    });
    r.robustness = Outcome::Ran(RobustnessMetrics {
        cases: ["not_json", "missing_column", "wrong_type"]
            .iter()
            .map(|id| Case {
                id: (*id).into(),
                title: format!("case {id}"),
                status: Some(422),
                passed: true,
                detail: "422 with an error".into(),
            })
            .collect(),
        null_values_accepted: None,
        still_serving: Ok(()),
    });
    r
}

/// Correctness with the generating model at AUC 0.80 and log-loss 0.43
/// (score.rs's helper, as an outcome).
fn correctness(serving: Quality, offline: Quality) -> Outcome<CorrectnessMetrics> {
    crate::evaluate::score::tests::correctness(serving, offline).correctness
}

fn drift(flagged: Vec<String>, key: &AnswerKey) -> Outcome<DriftMetrics> {
    let planted: Vec<String> = key.drift.iter().map(|d| d.feature.clone()).collect();
    let tp: Vec<String> = flagged.iter().filter(|f| planted.contains(f)).cloned().collect();
    let fp: Vec<String> =
        flagged.iter().filter(|f| !planted.contains(f) && !key.drift_neutral_columns.contains(f)).cloned().collect();
    let missed: Vec<String> = planted.iter().filter(|p| !flagged.contains(p)).cloned().collect();
    let precision = if tp.len() + fp.len() == 0 { 0.0 } else { tp.len() as f64 / (tp.len() + fp.len()) as f64 };
    let recall = tp.len() as f64 / planted.len() as f64;
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    Outcome::Ran(DriftMetrics {
        rows_sent: 4000,
        batches_failed: 0,
        flagged,
        planted,
        true_positives: tp,
        false_positives: fp,
        missed,
        precision,
        recall,
        f1,
    })
}

/// No model: the base rate for every row, nothing reported or monitored.
fn constant() -> Evaluation {
    let (spec, key) = exercise();
    let mut r = engineering(CandidateReport::default());
    let base = q(0.5, 0.56);
    r.correctness = correctness(base, base);
    r.drift = drift(Vec::new(), key);
    evaluate(spec, Some(key), r)
}

/// Flags every column as leaking and as drifting.
fn over_flagger() -> Evaluation {
    let (spec, key) = exercise();
    let report = CandidateReport {
        leakage: key
            .columns
            .iter()
            .map(|c| LeakFlag {
                feature: Some(c.clone()),
                kind: datasets::LeakKind::TargetLeakage.into(),
                evidence: "all".into(),
            })
            .collect(),
        drift: key
            .columns
            .iter()
            .map(|c| DriftFlag {
                feature: c.clone(),
                kind: datasets::DriftKind::MeanShift.into(),
                evidence: "all".into(),
            })
            .collect(),
        excluded_features: Vec::new(),
    };
    let mut r = engineering(report);
    r.correctness = correctness(q(0.78, 0.45), q(0.78, 0.45));
    r.drift = drift(key.columns.clone(), key);
    evaluate(spec, Some(key), r)
}

/// Trained on the leak: brilliant offline, near chance as served.
fn leak_reliant() -> Evaluation {
    let (spec, key) = exercise();
    let mut r = engineering(CandidateReport::default());
    r.correctness = correctness(q(0.536, 4.0), q(0.996, 0.05));
    r.drift = drift(Vec::new(), key);
    evaluate(spec, Some(key), r)
}

/// Finds every planted defect with its kind and serves the generating
/// model's quality.
fn perfect() -> Evaluation {
    let (spec, key) = exercise();
    let report = CandidateReport {
        leakage: key
            .leakage
            .iter()
            .map(|l| LeakFlag { feature: l.feature.clone(), kind: l.kind.into(), evidence: "found".into() })
            .collect(),
        drift: key
            .drift
            .iter()
            .map(|d| DriftFlag { feature: d.feature.clone(), kind: d.change.kind().into(), evidence: "found".into() })
            .collect(),
        excluded_features: key.leakage.iter().filter_map(|l| l.feature.clone()).collect(),
    };
    let mut r = engineering(report);
    let good = q(0.80, 0.43);
    r.correctness = correctness(good, good);
    r.drift = drift(key.drift.iter().map(|d| d.feature.clone()).collect(), key);
    evaluate(spec, Some(key), r)
}

fn group(e: &Evaluation, name: &str) -> f64 {
    e.checks.iter().filter(|c| c.group == name).map(|c| c.points).sum()
}

/// The graded result as written to result.json, with fixed timings.
fn result(e: &Evaluation) -> GradeResult {
    let (_, key) = exercise();
    GradeResult {
        schema_version: RESULT_VERSION,
        grader_version: "snapshot".into(),
        exercise: ExerciseInfo {
            id: key.exercise.id.clone(),
            version: key.exercise.version,
            spec_sha256: "<spec>".into(),
        },
        seed: SeedSource::given(1),
        mode: crate::schema::Mode::Docker,
        candidate: Some("archetype".into()),
        submission: None,
        image: None,
        limits: None,
        timings: Timings::default(),
        outcome: crate::schema::GradeOutcome::Graded,
        failure: None,
        score: e.score.clone(),
        checks: e.checks.clone(),
        metrics: e.metrics.clone(),
    }
}

/// Id, status, points and evidence of every check: what a grade consists of.
/// A full result (the leak-reliant model's), for renderers' own tests.
pub(crate) fn sample_result() -> GradeResult {
    result(&leak_reliant())
}

fn table(e: &Evaluation) -> String {
    let mut s = format!("score {} / {} ({}%)\n", e.score.points, e.score.max_points, e.score.percent);
    for c in &e.checks {
        s += &format!(
            "{:<32} {:<8} {:>7.4} / {:<7.4} {}\n",
            c.id,
            format!("{:?}", c.status),
            c.points,
            c.max_points,
            c.evidence
        );
    }
    s
}

#[test]
fn a_constant_model_earns_nothing_for_signal_monitoring_or_findings() {
    let e = constant();
    for g in ["correctness", "leak_reliance", "drift_monitoring", "findings"] {
        assert_eq!(group(&e, g), 0.0, "{g}: {}", table(&e));
    }
    assert!(e.score.percent <= 40.0, "{}", table(&e));
    insta::assert_snapshot!("constant", table(&e));
}

#[test]
fn an_over_flagger_gains_nothing_from_flagging_everything() {
    let e = over_flagger();
    assert_eq!(group(&e, "findings"), 0.0, "false flags cost as much as the hits earn: {}", table(&e));
    assert!(group(&e, "drift_monitoring") < 0.5 * exercise().0.rubric.drift_monitoring, "{}", table(&e));
    insta::assert_snapshot!("over_flagger", table(&e));
}

#[test]
fn a_leak_reliant_model_collapses_as_served() {
    let e = leak_reliant();
    assert_eq!(group(&e, "leak_reliance"), 0.0, "{}", table(&e));
    assert_eq!(group(&e, "correctness"), 0.0, "{}", table(&e));
    assert!(e.score.percent <= 50.0, "{}", table(&e));
    insta::assert_snapshot!("leak_reliant", table(&e));
}

#[test]
fn a_perfect_submission_earns_every_point() {
    let e = perfect();
    assert_eq!(e.score.points, e.score.max_points, "{}", table(&e));
    assert!(e.checks.iter().all(|c| c.status == Status::Pass || c.status == Status::Skipped), "{}", table(&e));
    insta::assert_snapshot!("perfect", table(&e));
}

#[test]
fn the_reports_render_the_same_every_time() {
    let r = result(&leak_reliant());
    insta::assert_snapshot!("leak_reliant_report_md", crate::report::markdown::render(&r));
    insta::assert_snapshot!("leak_reliant_junit", crate::report::junit::render(&r));
    insta::assert_snapshot!(
        "leak_reliant_gradescope",
        serde_json::to_string_pretty(&crate::report::gradescope::render(&r)).unwrap()
    );
}

#[test]
fn a_report_cannot_inject_markdown_or_markup() {
    let (spec, key) = exercise();
    let hostile = CandidateReport {
        leakage: vec![LeakFlag {
            feature: Some("x|y</td><script>alert(1)</script>\n# H".into()),
            kind: datasets::LeakKind::Identifier.into(),
            evidence: "`".into(),
        }],
        drift: Vec::new(),
        excluded_features: Vec::new(),
    };
    let r = result(&evaluate(spec, Some(key), engineering(hostile)));
    let md = crate::report::markdown::render(&r);
    assert!(!md.contains("<script>"), "{md}");
    assert!(!md.lines().any(|l| l.starts_with("# H")), "a candidate's text started a heading: {md}");
    let xml = crate::report::junit::render(&r);
    assert!(!xml.contains("<script>"), "{xml}");
}

#[test]
fn a_practice_kit_evaluates_the_visible_checks_alone() {
    let (terms, key) = exercise();
    let report = CandidateReport {
        leakage: key
            .leakage
            .iter()
            .map(|l| LeakFlag { feature: l.feature.clone(), kind: l.kind.into(), evidence: "found".into() })
            .collect(),
        drift: Vec::new(),
        excluded_features: Vec::new(),
    };
    let mut r = engineering(report);
    let good = q(0.80, 0.43);
    r.correctness = correctness(good, good);
    if let Outcome::Ran(c) = &mut r.correctness {
        // A kit has no extract view of its holdout.
        (c.offline, c.auc_gap, c.log_loss_gap) = (None, None, None);
    }
    r.drift = Outcome::NotRun(crate::evaluate::score::NOT_IN_PRACTICE.into());
    let e = evaluate(terms, None, r);
    let hidden: Vec<_> =
        e.checks.iter().filter(|c| c.visibility == crate::evaluate::score::Visibility::Hidden).collect();
    assert_eq!(hidden.len(), 4, "{}", table(&e));
    assert!(
        hidden.iter().all(|c| c.status == Status::Skipped && c.max_points == 0.0 && c.points == 0.0),
        "{}",
        table(&e)
    );
    assert!(matches!(e.metrics.findings, Outcome::NotRun(_)), "no key, no findings scored");
    let visible = terms.rubric.contract + terms.rubric.correctness + terms.rubric.latency + terms.rubric.robustness;
    assert_eq!(e.score.max_points, visible, "{}", table(&e));
    assert_eq!(e.score.percent, 100.0, "{}", table(&e));
    let (n, points) = super::hidden_weight(terms);
    assert_eq!((n, points), (4, terms.rubric.leak_reliance + terms.rubric.drift_monitoring + terms.rubric.findings));
    let md = crate::report::markdown::render(&result(&e));
    assert!(md.contains("as served") && !md.contains("offline (the extract)"), "{md}");
}

#[test]
fn report_html_shows_a_candidates_markup_as_text() {
    let (spec, key) = exercise();
    let script = "<script>alert(1)</script>";
    let hostile = CandidateReport {
        leakage: vec![LeakFlag {
            feature: Some(format!("</td>{script}")),
            kind: datasets::LeakKind::Identifier.into(),
            evidence: format!("<img src=x onerror=alert(1)>{}", "z".repeat(200_000)),
        }],
        drift: vec![DriftFlag {
            feature: "<b>x</b>".into(),
            kind: datasets::DriftKind::MeanShift.into(),
            evidence: "</pre><style>body{display:none}</style>".into(),
        }],
        excluded_features: Vec::new(),
    };
    let r = result(&evaluate(spec, Some(key), engineering(hostile)));
    let notes = format!("# N {script}\n</pre><iframe src=\"https://example.com\"></iframe>\n{}", "y".repeat(200_000));
    let html = crate::report::html::render(
        &r,
        &crate::report::html::Extras { notes: Some(&notes), log: Some("<h1>log</h1>\n</pre>") },
    );
    for raw in ["<script", "<img", "<iframe", "<style>body", "<h1>log", "<b>x</b>", "</td><script"] {
        assert!(!html.contains(raw), "{raw} reached the page as markup");
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the text is shown, escaped"
    );
    assert!(!html.contains("https://") && !html.contains("http://"), "no address a browser could fetch");
    assert!(html.len() < 400_000, "long text is capped: {} bytes", html.len());
    assert!(html.contains("false flag") && html.contains("Content-Security-Policy"));
}
