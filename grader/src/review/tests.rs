//! The reviews' pure core: which records count, the score after
//! overrides, agreement figures, and what the pages show.

use super::stats::{auc, compute, threshold, Sample};
use super::*;

fn record(candidate: &str, reviewer: &str, digest: &str, decision: Option<Decision>) -> ReviewRecord {
    ReviewRecord {
        schema_version: REVIEW_VERSION,
        candidate: candidate.into(),
        reviewer: reviewer.into(),
        at: "2026-12-01T10:00:00Z".into(),
        result_sha256: digest.into(),
        decision,
        note: None,
        overrides: Vec::new(),
    }
}

fn golden() -> GradeResult {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/schema/result-v3.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_calendar_is_right_at_its_edges() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_796_169_599), "2026-12-01T23:59:59Z");
    assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
}

#[test]
fn only_records_of_the_current_result_count_and_the_latest_decision_wins() {
    let mut late = record("alice", "ann", "new", Some(Decision::Hold));
    late.at = "2026-12-01T11:00:00Z".into();
    let records = vec![
        record("alice", "ann", "old", Some(Decision::Reject)),
        record("alice", "ann", "new", Some(Decision::Advance)),
        late,
        record("alice", "bo", "new", Some(Decision::Hold)),
        record("bob", "ann", "new", Some(Decision::Reject)),
    ];
    let cur = current(&records, "alice", Some("new"));
    assert_eq!(cur.stale.len(), 1, "the record of the earlier grading is stale");
    assert_eq!(cur.decisions["ann"].0, Decision::Hold, "ann's latest");
    assert!(!cur.disagree(), "ann and bo both hold now");
    assert_eq!(cur.summary(), "hold ×2");
    let none = current(&records, "alice", None);
    assert_eq!((none.records.len(), none.stale.len()), (0, 4), "no result: every record is stale");
    let mut split = records.clone();
    split.push(record("alice", "cy", "new", Some(Decision::Advance)));
    assert!(current(&split, "alice", Some("new")).disagree());
}

#[test]
fn an_override_replaces_its_checks_points_and_nothing_else() {
    let r = golden();
    let target = r.checks.iter().find(|c| c.points < c.max_points).expect("a check short of full marks");
    let mut rec = record("alice", "ann", "d", None);
    rec.overrides.push(Override { check: target.id.clone(), points: target.max_points, why: "seen by hand".into() });
    let records = [rec];
    let cur = current(&records, "alice", Some("d"));
    let after = cur.score_after(&r);
    assert!((after.points - (r.score.points + target.max_points - target.points)).abs() < 1e-9);
    assert_eq!(after.max_points, r.score.max_points);
}

#[test]
fn auc_and_threshold_match_hand_counts() {
    let s = |p: f64, d: Decision| Sample { percent: p, decision: d };
    let (a, h, r) = (Decision::Advance, Decision::Hold, Decision::Reject);
    // Advances at 90, 80, 60; the others at 70, 50, 40: 8 of 9 pairs ordered.
    let samples = [s(90.0, a), s(80.0, a), s(60.0, a), s(70.0, h), s(50.0, r), s(40.0, r)];
    assert!((auc(&samples).unwrap() - 8.0 / 9.0).abs() < 1e-12);
    // At 60: every advance, one of three others (TPR − FPR = 2/3, the best).
    let (t, tpr, fpr) = threshold(&samples).unwrap();
    assert_eq!(t, 60.0);
    assert!((tpr - 1.0).abs() < 1e-12 && (fpr - 1.0 / 3.0).abs() < 1e-12);
    // Ties count a half; one kind alone has no AUC.
    assert_eq!(auc(&[s(50.0, a), s(50.0, r)]), Some(0.5));
    assert_eq!(auc(&[s(50.0, a)]), None);
    let st = compute(&[(90.0, vec![a, a]), (40.0, vec![r, h]), (60.0, vec![h])], 2);
    assert_eq!((st.decisions, st.candidates_decided, st.advance, st.hold, st.reject), (5, 3, 2, 2, 1));
    assert_eq!((st.candidates_with_two_or_more_reviewers, st.disagreements), (2, 1));
    assert_eq!(st.disagreement_rate, Some(0.5));
    assert_eq!(st.auc, Some(1.0));
    assert_eq!(st.stale_records, 2);
}

#[test]
fn splicing_replaces_the_section_and_is_idempotent() {
    let page = "<html><body><p>x</p><!-- reviews --><!-- /reviews --></body></html>";
    let once = render::splice(page, "<b>one</b>");
    assert_eq!(once, "<html><body><p>x</p><!-- reviews --><b>one</b><!-- /reviews --></body></html>");
    assert_eq!(render::splice(&once, "<b>two</b>"), render::splice(page, "<b>two</b>"));
    let old = "<html><body><p>x</p></body></html>";
    let added = render::splice(old, "<i>r</i>");
    assert!(added.contains("<!-- reviews --><i>r</i><!-- /reviews -->\n</body>"), "{added}");
    assert_eq!(render::splice(&added, ""), render::splice(old, ""));
}

#[test]
fn a_reviewers_text_is_shown_as_text_on_the_pages() {
    let r = golden();
    let mut rec = record("alice", "<script>x</script>", "d", Some(Decision::Advance));
    rec.note = Some("<img src=x onerror=alert(1)> <!-- /reviews -->".into());
    rec.overrides.push(Override { check: r.checks[0].id.clone(), points: 0.0, why: "<b>why</b>".into() });
    let records = [rec];
    let cur = current(&records, "alice", Some("d"));
    let html = render::report_section(&cur, Some(&r));
    for raw in ["<script", "<img", "<b>why", "<!-- /reviews"] {
        assert!(!html.contains(raw), "{raw} reached the page as markup:\n{html}");
    }
    assert!(html.contains("&lt;img"), "{html}");
    // Spliced into a page, the note's fake marker cannot end the section early.
    let page = render::splice("<body><!-- reviews --><!-- /reviews --></body>", &html);
    assert_eq!(render::splice(&page, ""), "<body><!-- reviews --><!-- /reviews --></body>");
}

#[test]
fn overrides_and_reviewers_are_parsed_strictly() {
    assert_eq!(parse_override("findings.drift=4.5").unwrap(), ("findings.drift".into(), 4.5));
    for bad in ["findings.drift", "findings.drift=lots", "x=NaN", "x=inf"] {
        let e = parse_override(bad).unwrap_err();
        assert_eq!(e.exit(), crate::support::exit::Exit::Usage, "{bad}");
    }
    assert_eq!(reviewer(Some("  Ann Lee ")).unwrap(), "Ann Lee");
    assert!(reviewer(Some(&"x".repeat(101))).is_err());
    assert_eq!(reviewer(Some("a\u{1b}[31mb")).unwrap(), "a\\x1b[31mb", "controls are made visible");
}
