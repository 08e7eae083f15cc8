//! Four archetypes scored without Docker, against the churn exercise's
//! variant for seed 1 (generated in memory) without its production replay
//! (contract v1's groups; the replay's scoring is `evaluate::lifecycle`'s): the checks and what each
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
        let ex = ex.without_lifecycle().expect("churn has a replay").expect("and is valid without it");
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
    Outcome::Ran(crate::evaluate::monitoring::judge(flagged.into_iter().collect(), key, 4000, 0))
}

/// The public formula (exercise.toml's centre) on the holdout: AUC 0.76
/// and log-loss 0.47, between the base rate and the generating model.
fn public() -> Quality {
    q(0.76, 0.47)
}

fn with_public(mut o: Outcome<CorrectnessMetrics>) -> Outcome<CorrectnessMetrics> {
    if let Outcome::Ran(m) = &mut o {
        m.public = Some(public());
    }
    o
}

/// Every column under every kind, in report.json.
fn spray_report(key: &AnswerKey) -> CandidateReport {
    let columns =
        key.columns.iter().chain(std::iter::once(&datasets::PREDICTION.to_string())).cloned().collect::<Vec<_>>();
    CandidateReport {
        leakage: datasets::LeakKind::ALL
            .iter()
            .flat_map(|k| {
                let feature: Vec<Option<String>> =
                    if k.is_about_rows() { vec![None] } else { key.columns.iter().cloned().map(Some).collect() };
                feature.into_iter().map(|f| LeakFlag { feature: f, kind: (*k).into(), evidence: "all".into() })
            })
            .collect(),
        drift: datasets::DriftKind::ALL
            .iter()
            .flat_map(|k| {
                columns.iter().map(|c| DriftFlag { feature: c.clone(), kind: (*k).into(), evidence: "all".into() })
            })
            .collect(),
        excluded_features: Vec::new(),
    }
}

/// A reader of the repository with no model of its own: serves the public
/// formula fast behind strict validation, names every column under every
/// kind and `/drift`s every column.
fn repository_reader() -> Evaluation {
    let (spec, key) = exercise();
    let mut r = engineering(spray_report(key));
    r.correctness = with_public(correctness(public(), public()));
    r.drift = drift(key.columns.iter().cloned().chain([datasets::PREDICTION.to_string()]).collect(), key);
    evaluate(spec, Some(key), r)
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
fn reading_the_repository_earns_the_contract_alone() {
    let e = repository_reader();
    for g in ["correctness", "leak_reliance", "latency", "robustness", "drift_monitoring", "findings"] {
        assert_eq!(group(&e, g), 0.0, "{g}: {}", table(&e));
    }
    assert!(e.score.percent <= 25.0, "{}", table(&e));
    insta::assert_snapshot!("repository_reader", table(&e));
}

#[test]
fn a_trained_model_beyond_the_public_formula_earns_correctness_and_its_engineering() {
    let (spec, key) = exercise();
    let mut r = engineering(CandidateReport::default());
    // Most of the way from the public formula (0.76) to the generating model (0.80).
    r.correctness = with_public(correctness(q(0.795, 0.435), q(0.795, 0.435)));
    let e = evaluate(spec, Some(key), r);
    assert_eq!(group(&e, "correctness"), spec.rubric.correctness, "{}", table(&e));
    assert_eq!(group(&e, "latency"), spec.rubric.latency, "{}", table(&e));
    assert_eq!(group(&e, "robustness"), spec.rubric.robustness, "{}", table(&e));
    // Halfway there: full discrimination needs half the way.
    let mut r = engineering(CandidateReport::default());
    r.correctness = with_public(correctness(q(0.77, 0.46), q(0.77, 0.46)));
    let e = evaluate(spec, Some(key), r);
    let d = e.checks.iter().find(|c| c.id == "correctness.discrimination").unwrap();
    assert!(d.points > 0.0 && d.points < d.max_points, "a quarter of the way earns part: {}", table(&e));
}

#[test]
fn serving_is_credited_for_a_model_of_ones_own_as_served() {
    let (spec, key) = exercise();
    let serving = |correctness: Outcome<CorrectnessMetrics>| {
        let mut r = engineering(CandidateReport::default());
        r.correctness = correctness;
        let e = evaluate(spec, Some(key), r);
        (group(&e, "latency") + group(&e, "robustness"), e)
    };
    let full = spec.rubric.latency + spec.rubric.robustness;
    // Trained on a leak: brilliant in the extract, the public formula's
    // quality as served. The extract's view buys nothing back.
    let (points, e) = serving(with_public(correctness(public(), q(0.99, 0.1))));
    assert_eq!(points, 0.0, "{}", table(&e));
    // A fifth of the way from the floor to the generating model: half open.
    let (points, e) = serving(with_public(correctness(q(0.768, 0.465), q(0.768, 0.465))));
    assert!((points - full / 2.0).abs() < 0.01, "{points}: {}", table(&e));
    // Correctness not measured (every batch refused): nothing to credit, and why.
    let (points, e) = serving(Outcome::Failed("batch 0 (500 rows): 413".into()));
    assert_eq!(points, 0.0);
    let p50 = e.checks.iter().find(|c| c.id == "latency.p50").unwrap();
    assert!(p50.evidence.contains("no model quality was measured"), "{}", p50.evidence);
}

#[test]
fn a_monitor_that_names_everything_earns_less_than_a_careful_one() {
    let (spec, key) = exercise();
    let planted: Vec<String> = key.drift.iter().map(|d| d.feature.clone()).collect();
    let monitoring = |flagged: Vec<String>| {
        let mut r = ProbeResults::none("not part of this test");
        r.drift = drift(flagged, key);
        let e = evaluate(spec, Some(key), r);
        (
            group(&e, "drift_monitoring"),
            table(&e).lines().find(|l| l.starts_with("drift_monitoring")).unwrap().to_string(),
        )
    };
    let (careful, careful_line) = monitoring(planted.clone());
    let spray: Vec<String> = key.columns.iter().cloned().chain([datasets::PREDICTION.to_string()]).collect();
    let (sprayed, spray_line) = monitoring(spray);
    let (silent, silent_line) = monitoring(Vec::new());
    // Half the drift and one false alarm: half of what was found, less a half.
    let (one_off, _) = monitoring(vec![planted[0].clone(), "region".into()]);
    assert_eq!(careful, spec.rubric.drift_monitoring);
    assert_eq!((sprayed, silent), (0.0, 0.0), "{spray_line}\n{silent_line}");
    assert!(one_off > 0.0 && one_off < careful / 2.0, "{one_off}");
    insta::assert_snapshot!("monitors", format!("{careful_line}\n{spray_line}\n{silent_line}"));
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
    let mut probes = engineering(hostile);
    // The replay's answers are the candidate's too: a status's features and
    // model version reach the timeline.
    use crate::evaluate::lifecycle::*;
    let day = crate::probe::replay::DayRecord {
        day: 1,
        rows_sent: 400,
        status: Some(crate::probe::replay::MonitorStatus::DataDrift),
        features: vec![format!("</td>{script}")],
        model_version: Some("<b>v</b>".into()),
        ..Default::default()
    };
    let diagnosis = Diagnosis { day: 1, feature: "age".into(), answered: None, credit: 0.0 };
    probes.lifecycle = Some(Outcome::Ran(LifecycleMetrics {
        days: vec![day],
        events: vec![EventSpan {
            kind: datasets::lifecycle::EventKind::DecoyDrift,
            first: 1,
            last: 2,
            feature: "age".into(),
        }],
        stopped: Some("<iframe>".into()),
        elapsed_ms: 0,
        concept: ConceptJudgement { day: 5, earliest: 7, max_delay_days: 4, reported: None, credit: 0.0 },
        decoy: diagnosis.clone(),
        pipeline_break: diagnosis,
        quiet_days: 0,
        false_alarm_days: vec![],
        excused_days: vec![],
        quiet_ok_share: 1.0,
        recovery: Recovery {
            retrained: false,
            rows: 0,
            served: 0,
            served_auc: None,
            stale_auc: 0.6,
            new_auc: 0.8,
            credit: 0.0,
        },
        model_versions: 1,
    }));
    let r = result(&evaluate(spec, Some(key), probes));
    let md = crate::report::markdown::render(&r);
    let timeline = md.split("## Production replay").nth(1).expect("the timeline is in report.md");
    assert!(!timeline.contains("</td><script") && !timeline.contains("<b>v</b>"), "{timeline}");
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
    assert!(html.contains("id=\"timeline\"") && !html.contains("<b>v</b>") && !html.contains("<iframe>"));
}

/// The gamer fixture stands for a reader of this repository: its
/// formula.py must be today's public formula (the centre of each
/// exercise's family), or its score no longer says what reading the
/// repository earns (a stale copy of an earlier, narrower family scored
/// above the real centre).
#[test]
fn the_gamer_fixture_transcribes_todays_public_formula() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("fixtures/submissions/gamer/app/formula.py")).unwrap();
    let start = text.find("FORMULAS = ").expect("formula.py defines FORMULAS") + "FORMULAS = ".len();
    let formulas: serde_json::Value = serde_json::from_str(&text[start..]).expect("FORMULAS is JSON");
    let close = |a: f64, b: &serde_json::Value, what: &str| {
        let b = b.as_f64().unwrap_or(0.0);
        assert!((a - b).abs() < 1e-9, "{what}: the centre is {a}, formula.py has {b}");
    };
    for id in ["churn", "fraud"] {
        let spec = Exercise::load(&root.join("exercises").join(id)).unwrap().spec;
        let centre = datasets::model::Model::centre(&spec);
        let f = &formulas[id];
        close(centre.intercept, &f["intercept"], &format!("{id} intercept"));
        for (feature, term) in spec.features.iter().zip(&centre.terms) {
            let g = &f["features"][&feature.name];
            match (term, &feature.dist) {
                (datasets::model::Term::Numeric { coef, center, scale, quadratic }, _) => {
                    for (k, v) in [("coef", coef), ("center", center), ("scale", scale), ("quadratic", quadratic)] {
                        close(*v, &g[k], &format!("{id} {} {k}", feature.name));
                    }
                }
                (
                    datasets::model::Term::Categorical { effects },
                    datasets::spec::Distribution::Categorical { categories, .. },
                ) => {
                    for (c, e) in categories.iter().zip(effects) {
                        close(*e, &g["effects"][c], &format!("{id} {} {c}", feature.name));
                    }
                }
                // Every effect's centre is 0 (churn's region): nothing to copy.
                (datasets::model::Term::Silent, _) => {
                    let zero = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0) == 0.0;
                    let copied = g.get("effects").and_then(|e| e.as_object()).map(|e| e.values().all(zero));
                    assert!(
                        copied.unwrap_or_else(|| zero(&g["coef"]) && zero(&g["quadratic"])),
                        "{id} {}: {g}",
                        feature.name
                    );
                }
                _ => unreachable!("a term follows its feature's type"),
            }
        }
        let pool = &spec.defects.post_outcome.as_ref().unwrap().names;
        let names: Vec<&str> = f["leak_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        assert_eq!(names, pool.iter().map(String::as_str).collect::<Vec<_>>(), "{id}: the post-outcome pool");
    }
}
