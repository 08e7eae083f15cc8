//! The replay's invariants, on churn and fraud with a `[lifecycle]` added.

use std::collections::BTreeSet;
use std::path::Path;

use super::{BreakMode, EventChange, EventKind, Stream};
use crate::draw::Values;
use crate::{Exercise, SeedSource};

/// An exercise as shipped, from its raw text.
fn exercise(name: &str, raw: String) -> Exercise {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises").join(name).join("exercise.toml");
    let spec = crate::ExerciseSpec::parse(&raw, &path).unwrap_or_else(|e| panic!("{e}"));
    Exercise { spec, path, raw }
}

fn shipped(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises").join(name);
    std::fs::read_to_string(dir.join("exercise.toml")).unwrap()
}

/// Churn as shipped, with its replay.
fn churn() -> Exercise {
    exercise("churn", shipped("churn"))
}

fn stream(seed: u64) -> (crate::Variant, Exercise) {
    let ex = churn();
    let v = crate::generate(&ex, SeedSource::given(seed)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert!(v.stream.is_some() && v.key.lifecycle.is_some(), "seed {seed}: no replay");
    (v, ex)
}

fn days(s: &Stream, kind: EventKind) -> (u32, u32) {
    let e = s.key.events.iter().find(|e| e.kind == kind).unwrap();
    (e.day, e.last_day)
}

#[test]
fn every_seed_plants_three_certified_events_on_a_drawn_schedule() {
    let mut orders = BTreeSet::new();
    let mut first_days = BTreeSet::new();
    for seed in 0..12 {
        let (v, ex) = stream(seed);
        let l = ex.spec.lifecycle.as_ref().unwrap();
        let s = v.stream.as_ref().unwrap();
        let k = &s.key;
        assert_eq!(s.rows.len(), (l.days as usize) * l.rows_per_day, "seed {seed}");
        assert_eq!(k.events.len(), 3);
        let kinds: BTreeSet<EventKind> = k.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds.len(), 3, "seed {seed}: one of each");
        let features: BTreeSet<&String> = k.events.iter().map(|e| &e.feature).collect();
        assert_eq!(features.len(), 3, "seed {seed}: three distinct features");
        for e in &k.events {
            assert!(e.certificate.passed, "seed {seed}: {e:?}");
        }
        // No overlap, in day order, recovery days after the concept's window.
        for pair in k.events.windows(2) {
            assert!(pair[0].last_day < pair[1].day, "seed {seed}: {:?} overlaps {:?}", pair[0], pair[1]);
        }
        let (_, concept_last) = days(s, EventKind::ConceptDrift);
        assert!(concept_last + l.recovery_days <= l.days, "seed {seed}");
        assert_eq!(concept_last - days(s, EventKind::ConceptDrift).0 + 1, l.concept_window());
        for kind in [EventKind::DecoyDrift, EventKind::PipelineBreak] {
            let (a, b) = days(s, kind);
            assert_eq!(b - a + 1, l.event_days);
        }
        // Quiet days: every day outside the windows, and only those.
        let in_window = |d: u32| k.events.iter().any(|e| (e.day..=e.last_day).contains(&d));
        let quiet: Vec<u32> = (1..=l.days).filter(|d| !in_window(*d)).collect();
        assert_eq!(k.quiet_days, quiet, "seed {seed}");
        assert!(k.events[0].day > l.quiet_days[0], "seed {seed}: quiet days first");
        orders.insert(k.events.iter().map(|e| e.kind).collect::<Vec<_>>());
        first_days.insert(k.events[0].day);
        // The events' features are not production's drifted columns.
        for e in k.events.iter().filter(|e| e.kind != EventKind::ConceptDrift) {
            assert!(v.key.drift.iter().all(|d| d.feature != e.feature), "seed {seed}: {}", e.feature);
        }
    }
    assert!(orders.len() >= 3, "the order is drawn per seed: {orders:?}");
    assert!(first_days.len() >= 2, "the days are drawn per seed: {first_days:?}");
}

/// Fraud (frauds are rare: its replay sends more rows a day) certifies
/// its replay too, with every event passing.
#[test]
fn fraud_certifies_a_replay_on_every_seed_tried() {
    let ex = exercise("fraud", shipped("fraud"));
    let v1 = ex.without_lifecycle().unwrap().unwrap();
    // Validate's seeds and parity's too: every v1 draw hosts a replay, so
    // declaring one moves no seed to another variant.
    for seed in (0..6).chain([21, 22, 2000, 2001, 2002]) {
        let v = crate::generate(&ex, SeedSource::given(seed)).unwrap_or_else(|e| panic!("fraud seed {seed}: {e}"));
        let plain = crate::generate(&v1, SeedSource::given(seed)).unwrap();
        // Seed 22's v1 draw at attempt 2 hosts no replay whose retrain
        // gains min_recovery_gap (its effects are spread thin): it moves
        // on to attempt 7, the key says why.
        if seed == 22 {
            assert!(v.key.attempt > plain.key.attempt);
            assert!(v.key.rejected_draws.iter().any(|r| r.reasons.iter().any(|x| x.contains("min_recovery_gap"))));
        } else {
            assert_eq!(v.key.attempt, plain.key.attempt, "fraud seed {seed}: {:?}", v.key.rejected_draws);
        }
        let k = v.key.lifecycle.as_ref().unwrap();
        assert!(k.events.iter().all(|e| e.certificate.passed), "fraud seed {seed}");
        assert_eq!(k.events.len(), 3);
        // Seed 2002's one carrier (distance_from_home_km) certifies on its
        // 22nd replay draw; most seeds on their first few.
        assert!(
            k.attempt < 25,
            "fraud seed {seed}: {} replay draws rejected: {:?}",
            k.attempt,
            k.rejected_draws.iter().map(|r| r.reasons.join(";")).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_seed_is_one_replay_and_the_replay_leaves_the_v1_variant_unchanged() {
    let (a, _) = stream(3);
    let (b, _) = stream(3);
    let (sa, sb) = (a.stream.as_ref().unwrap(), b.stream.as_ref().unwrap());
    assert_eq!(sa.rows.ids, sb.rows.ids);
    assert_eq!(sa.rows.labels, sb.rows.labels);
    assert_eq!(sa.feedback_day, sb.feedback_day);
    // The v1 files come from the same draw as without [lifecycle]: the
    // replay redraws on streams of its own.
    for seed in [3, 4] {
        let plain = crate::generate(
            &exercise("churn", super::without_lifecycle(&shipped("churn")).unwrap()),
            SeedSource::given(seed),
        )
        .unwrap();
        let (with, _) = stream(seed);
        assert_eq!(plain.key.attempt, with.key.attempt, "seed {seed}");
        assert_eq!(plain.draw.train.ids, with.draw.train.ids);
        assert_eq!(plain.draw.production.labels, with.draw.production.labels);
        assert_eq!(plain.draw.traffic.probs, with.draw.traffic.probs);
    }
    // New customers: no replay id is an id of the variant's other rows.
    let seen: BTreeSet<i64> =
        [&a.draw.train, &a.draw.holdout_serving, &a.draw.production, &a.draw.traffic, &a.draw.latency]
            .iter()
            .flat_map(|s| s.ids.iter().copied())
            .collect();
    let ids: BTreeSet<i64> = sa.rows.ids.iter().copied().collect();
    assert_eq!(ids.len(), sa.rows.len(), "replay ids are unique");
    assert!(ids.is_disjoint(&seen));
}

#[test]
fn labels_arrive_late_for_a_share_of_rows_and_never_past_the_last_day() {
    let (v, ex) = stream(5);
    let l = ex.spec.lifecycle.as_ref().unwrap();
    let s = v.stream.as_ref().unwrap();
    let mut delivered = 0;
    let mut eligible = 0;
    for (d, f) in s.day.iter().zip(&s.feedback_day) {
        if d + l.label_lag_days <= l.days {
            eligible += 1;
        }
        if let Some(f) = f {
            assert_eq!(*f, d + l.label_lag_days);
            assert!(*f <= l.days);
            delivered += 1;
        }
    }
    let share = delivered as f64 / eligible as f64;
    assert!((share - l.label_fraction).abs() < 0.03, "{share}");
    assert_eq!(s.key.feedback_rows, delivered);
}

#[test]
fn the_concept_drift_moves_the_labels_and_not_the_inputs() {
    for seed in [1, 7] {
        let (v, ex) = stream(seed);
        let s = v.stream.as_ref().unwrap();
        let c = &ex.spec.certificate;
        let e = s.key.events.iter().find(|e| e.kind == EventKind::ConceptDrift).unwrap();
        let cert = &e.certificate;
        assert!(cert.inputs_min_corrected_p.unwrap() >= c.clean_alpha);
        assert!(cert.inputs_pooled_corrected_p.unwrap() >= c.clean_alpha);
        assert!(cert.label_p.unwrap() <= c.drift_max_p, "{cert:?}");
        let [before, after] = cert.label_rows.unwrap();
        assert!(before >= 20 && after >= 20);
        assert!(cert.new_auc.unwrap() - cert.stale_auc.unwrap() >= 0.04);
        let EventChange::Reversal { factor, coef_before, coef_after } = e.change else { panic!("{e:?}") };
        assert!((coef_after + factor * coef_before).abs() < 1e-12 && coef_before != 0.0);
        // Before its day the labels follow the launch model; after, not.
        for (r, d) in s.day.iter().enumerate() {
            if *d < e.day {
                assert_eq!(s.rows.probs[r], s.stale_probs[r], "seed {seed} row {r}");
            }
        }
        assert!((0..s.rows.len()).any(|r| s.day[r] >= e.day && s.rows.probs[r] != s.stale_probs[r]));
        // Every day passes the clean test (quiet days included).
        assert!(s.key.day_tests.iter().all(|t| t.min_corrected_p >= c.clean_alpha));
        assert_eq!(s.key.day_tests.len() as u32, s.key.days);
    }
}

#[test]
fn the_break_and_the_decoy_change_their_column_on_their_days_only() {
    let mut modes = BTreeSet::new();
    for seed in 0..12 {
        let (v, ex) = stream(seed);
        let s = v.stream.as_ref().unwrap();
        let c = &ex.spec.certificate;
        let b = s.key.events.iter().find(|e| e.kind == EventKind::PipelineBreak).unwrap();
        let i = ex.spec.features.iter().position(|f| f.name == b.feature).unwrap();
        let Values::Num(col) = &s.rows.features[i] else { panic!("numeric") };
        let EventChange::Break { mode, value, factor } = &b.change else { panic!("{b:?}") };
        modes.insert(mode.as_str());
        let on = |r: usize| (b.day..=b.last_day).contains(&s.day[r]);
        let broken: Vec<Option<f64>> = (0..s.rows.len()).filter(|&r| on(r)).map(|r| col[r]).collect();
        let healthy: Vec<f64> = (0..s.rows.len()).filter(|&r| !on(r)).filter_map(|r| col[r]).collect();
        match mode {
            BreakMode::Null => assert!(broken.iter().all(Option::is_none)),
            BreakMode::Constant => assert!(broken.iter().all(|x| *x == *value)),
            BreakMode::Unit => {
                let max = healthy.iter().copied().fold(f64::MIN, f64::max);
                let k = factor.unwrap();
                let median = {
                    let mut x: Vec<f64> = broken.iter().flatten().copied().collect();
                    x.sort_by(f64::total_cmp);
                    x[x.len() / 2]
                };
                assert!(median > max / k * 2.0, "seed {seed}: {median} vs {max}");
            }
        }
        assert!(healthy.len() > s.rows.len() / 2, "the column is healthy off its days");
        assert!(b.certificate.first_day_p.unwrap() <= c.drift_max_p);
        let d = s.key.events.iter().find(|e| e.kind == EventKind::DecoyDrift).unwrap();
        assert!(d.certificate.auc_loss.unwrap() <= 0.01, "seed {seed}: {d:?}");
        assert!(d.certificate.first_day_p.unwrap() <= c.drift_max_p);
        // Quiet rows keep every declared constraint.
        let quiet: Vec<usize> = (0..s.rows.len()).filter(|&r| s.key.quiet_days.contains(&s.day[r])).collect();
        let rows: Vec<Values> = s.rows.features.iter().map(|f| f.take(&quiet)).collect();
        assert_eq!(v.draw.joint.violations(&rows), 0, "seed {seed}");
    }
    assert!(modes.len() >= 2, "break modes are drawn: {modes:?}");
}

#[test]
fn the_sealed_stream_is_written_hashed_and_schema_names_the_id_column() {
    let ex = churn();
    let mut v = crate::generate(&ex, SeedSource::given(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    crate::write_variant(&ex.spec, &mut v, &out).unwrap();
    let stream = out.join("sealed").join(crate::layout::STREAM);
    assert!(stream.is_file());
    assert!(v.key.files.contains_key("sealed/stream.parquet"), "{:?}", v.key.files.keys());
    assert!(!out.join("public").join(crate::layout::STREAM).exists(), "the candidate gets nothing new");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("public/schema.json")).unwrap()).unwrap();
    assert_eq!(schema["id_column"], "customer_id");
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sealed/answer_key.json")).unwrap()).unwrap();
    assert_eq!(key["lifecycle"]["events"].as_array().unwrap().len(), 3);
    let f = std::fs::File::open(&stream).unwrap();
    let df = polars::prelude::ParquetReader::new(f).finish().unwrap();
    use polars::prelude::SerReader;
    assert_eq!(df.height(), 32 * 400);
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names[..2], ["day".to_string(), "feedback_day".to_string()]);
    assert!(names.contains(&"customer_id".to_string()) && names.contains(&"churned".to_string()));
    // What the grader reads back equals the stream in memory.
    let (disk, memory) =
        (crate::sealed::Sealed::load(&out).unwrap(), crate::sealed::Sealed::from_variant(&ex.spec, &v).unwrap());
    let (d, m) = (disk.replay.unwrap(), memory.replay.unwrap());
    assert_eq!(d, m);
    let s = v.stream.as_ref().unwrap();
    assert_eq!(d.ids, s.rows.ids);
    assert_eq!(d.day, s.day);
    assert_eq!(d.feedback_day, s.feedback_day);
    assert_eq!(d.labels, s.rows.labels);
    assert_eq!(d.rows[0].len(), v.key.columns.len(), "the public columns, no label");
}

#[test]
fn a_bad_lifecycle_is_refused_naming_its_field() {
    let cases = [
        ("days = 32", "days = 20", "lifecycle.days"),
        ("rows_per_day = 400", "rows_per_day = 10", "lifecycle.rows_per_day"),
        ("label_fraction = 0.5", "label_fraction = 1.5", "lifecycle.label_fraction"),
        ("quiet_days = [3, 5]", "quiet_days = [5, 3]", "lifecycle.quiet_days"),
        (
            r#"features = ["tenure_months", "logins_30d", "monthly_charges"]"#,
            r#"features = ["tenure"]"#,
            "lifecycle.concept_drift.features",
        ),
        (
            r#"features = ["discount_pct", "num_devices", "avg_session_minutes", "logins_30d"]"#,
            r#"features = ["region"]"#,
            "lifecycle.decoy_drift.features",
        ),
        ("max_auc_loss = 0.01", "max_auc_loss = 0.5", "lifecycle.decoy_drift.max_auc_loss"),
        (
            "unit = { monthly_charges = 100.0 }",
            "unit = { monthly_charges = 2.0 }",
            "lifecycle.pipeline_break.unit.monthly_charges",
        ),
        ("unit = { monthly_charges = 100.0 }", "unit = { age = 100.0 }", "lifecycle.pipeline_break.unit"),
        (r#"modes = ["null", "constant", "unit"]"#, "modes = []", "lifecycle.pipeline_break.modes"),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises/churn");
    let base = shipped("churn");
    let parse = |raw: &str| crate::ExerciseSpec::parse(raw, &dir.join("exercise.toml"));
    let field_of = |raw: &str| match parse(raw) {
        Err(crate::DatasetError::InvalidSpec { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    // Each case edits the replay's sections alone.
    let at = base.find("[lifecycle]").expect("churn declares a replay");
    let (head, replay) = base.split_at(at);
    for (from, to, field) in cases {
        assert!(replay.contains(from), "{from}");
        let raw = format!("{head}{}", replay.replacen(from, to, 1));
        match parse(&raw) {
            Err(crate::DatasetError::InvalidSpec { field: f, message, .. }) => {
                assert_eq!(f, field, "{to}: {message}")
            }
            other => panic!("{to}: {other:?}"),
        }
    }
    // An unknown key is a parse error, not a silent default.
    let raw = format!("{head}{}", replay.replace("event_days = 2", "event_days = 2\nevent_dayz = 3"));
    assert!(matches!(parse(&raw), Err(crate::DatasetError::ParseSpec { .. })));
    // The replay's group is weighed exactly when the replay is declared,
    // and contract v2 is the replay's contract, and only its.
    let v1 = super::without_lifecycle(&base).unwrap();
    assert_eq!(super::without_lifecycle(&v1), None, "v1 has no replay to take out");
    assert!(parse(&v1).is_ok());
    assert_eq!(field_of(&base.replacen("lifecycle = 10\n", "", 1)), "rubric.lifecycle");
    assert_eq!(field_of(&v1.replacen("[rubric]\n", "[rubric]\nlifecycle = 10\n", 1)), "rubric.lifecycle");
    assert_eq!(field_of(&base.replacen("[contract]\nversion = 2", "[contract]\nversion = 1", 1)), "contract.version");
    assert_eq!(field_of(&v1.replacen("[contract]\nversion = 1", "[contract]\nversion = 2", 1)), "contract.version");
    assert_eq!(field_of(&base.replacen("[contract]\nversion = 2", "[contract]\nversion = 3", 1)), "contract.version");
}
