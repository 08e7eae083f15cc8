//! The candidate's report.json against the answer key: what was found, what
//! was missed, what was flagged that is not there.

use std::collections::BTreeSet;

use datasets::AnswerKey;
use serde::{Deserialize, Serialize};

use crate::evaluate::monitoring::{Neutral, Standing, LABEL_SHIFT_FREE};
use crate::probe::contract::CandidateReport;

/// Cost of one false flag, in planted findings.
pub const FALSE_FLAG_COST: f64 = 0.5;
/// Credit for the right column under another kind that fits its type.
pub const OTHER_KIND_LEAK: f64 = 0.75;
pub const OTHER_KIND_DRIFT: f64 = 0.5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Matched {
    /// Planted defect, as `kind:feature` (feature `-` for row-level).
    pub planted: String,
    /// Credit in [0, 1]: 1 for the right column and kind, less for the right
    /// column under another kind, 0 when missed.
    pub credit: f64,
    /// How hard the defect was made to find (the answer key's level). Both
    /// levels weigh the same: a subtle finding is what separates a careful
    /// candidate, by being found at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<datasets::Level>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SectionScore {
    pub matched: Vec<Matched>,
    /// Flags that match nothing planted, with why.
    pub false_flags: Vec<String>,
    pub precision: f64,
    pub recall: f64,
    /// max(0, credit - cost × false flags) / planted.
    pub score: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Findings {
    pub leakage: SectionScore,
    pub drift: SectionScore,
}

/// One flag's verdict: the planted defect it earns (index, credit), or why
/// it is false.
type Verdict = Result<(usize, f64), String>;

/// Keeps, for each planted defect, the one flag that earns the most; every
/// other flag is false, also a second flag on the same column under another
/// kind: a report cannot spray kinds over a column and keep the best.
fn settle(planted: usize, verdicts: Vec<(String, Verdict)>) -> (Vec<f64>, Vec<String>) {
    let mut best: Vec<Option<(usize, f64)>> = vec![None; planted];
    for (n, (_, v)) in verdicts.iter().enumerate() {
        if let Ok((i, c)) = v {
            if best[*i].is_none_or(|(_, b)| *c > b) {
                best[*i] = Some((n, *c));
            }
        }
    }
    let credit = best.iter().map(|b| b.map_or(0.0, |(_, c)| c)).collect();
    let mut false_flags = Vec::new();
    for (n, (what, v)) in verdicts.into_iter().enumerate() {
        match v {
            Err(why) => false_flags.push(why),
            Ok((i, _)) if best[i].map(|(k, _)| k) != Some(n) => {
                false_flags.push(format!("{what}: a second flag on a defect already credited"))
            }
            Ok(_) => {}
        }
    }
    (credit, false_flags)
}

pub fn score(report: &CandidateReport, key: &AnswerKey) -> Findings {
    let mut columns: BTreeSet<&str> = key.columns.iter().map(String::as_str).collect();
    // The prior shift's name in /drift and report.json is a known name.
    columns.insert(datasets::PREDICTION);
    let neutral = Neutral::of(key);
    // A key written before column types were recorded cannot judge a kind
    // against a type.
    let typed = !key.categorical_columns.is_empty();

    // Leakage.
    let verdicts = report
        .leakage
        .iter()
        .map(|flag| {
            let what =
                format!("{} on {}", flag.kind, flag.feature.as_deref().map_or("the rows".into(), |f| format!("`{f}`")));
            let row_flag = flag.is_about_rows();
            let planted = key.leakage.iter().position(|l| match &l.feature {
                None => row_flag && flag.kind.is(l.kind),
                Some(f) => flag.feature.as_deref() == Some(f.as_str()) && !row_flag,
            });
            let verdict = match planted {
                Some(i) => {
                    let l = &key.leakage[i];
                    // A post-outcome column and a feature measured too late
                    // both carry information from after the prediction
                    // time: either name is right for either.
                    let after_prediction =
                        l.kind.is_after_prediction() && flag.kind.known().is_some_and(|k| k.is_after_prediction());
                    Ok((i, if flag.kind.is(l.kind) || after_prediction { 1.0 } else { OTHER_KIND_LEAK }))
                }
                None => Err(match &flag.feature {
                    Some(f) if !columns.contains(f.as_str()) => format!("{what}: no such column"),
                    _ => format!("{what}: not planted"),
                }),
            };
            (what, verdict)
        })
        .collect();
    let (credit, false_flags) = settle(key.leakage.len(), verdicts);
    let leakage = section(
        key.leakage
            .iter()
            .map(|l| (format!("{}:{}", l.kind, l.feature.as_deref().unwrap_or("-")), l.level))
            .zip(credit)
            .collect(),
        false_flags,
        report.leakage.len(),
    );

    // Drift. Flags on neutral columns (the id, leaking columns, what a
    // prior shift moves) are neither credited nor charged.
    let standings = neutral.standings(report.drift.iter().map(|f| f.feature.as_str()));
    let verdicts: Vec<(String, Verdict)> = report
        .drift
        .iter()
        .zip(standings)
        .filter(|(_, s)| *s != Standing::Ignored)
        .map(|(flag, standing)| {
            let what = format!("{} on `{}`", flag.kind, flag.feature);
            if standing == Standing::PastFree {
                let why = format!(
                    "{what}: moves only as far as the new base rate explains (more than {LABEL_SHIFT_FREE} such columns flagged)"
                );
                return (what, Err(why));
            }
            let fits = match (flag.kind.known(), key.column_type(&flag.feature)) {
                (Some(k), Some(t)) if typed => k.applies_to(t),
                _ => true,
            };
            let verdict = match key.drift.iter().position(|d| d.feature == flag.feature) {
                _ if !columns.contains(flag.feature.as_str()) => Err(format!("{what}: no such column")),
                _ if !fits => Err(format!("{what}: that kind cannot happen to this column's type")),
                Some(i) => Ok((i, if flag.kind.is(key.drift[i].change.kind()) { 1.0 } else { OTHER_KIND_DRIFT })),
                None => Err(format!("{what}: not drifted")),
            };
            (what, verdict)
        })
        .collect();
    let judged = verdicts.len();
    let (credit, false_flags) = settle(key.drift.len(), verdicts);
    let drift = section(
        key.drift.iter().map(|d| (format!("{}:{}", d.change.kind(), d.feature), d.level)).zip(credit).collect(),
        false_flags,
        judged,
    );
    Findings { leakage, drift }
}

fn section(matched: Vec<((String, datasets::Level), f64)>, false_flags: Vec<String>, flags: usize) -> SectionScore {
    let found: f64 = matched.iter().map(|(_, c)| c).sum();
    let hits = matched.iter().filter(|(_, c)| *c > 0.0).count();
    let n = matched.len().max(1) as f64;
    SectionScore {
        precision: if flags == 0 { 0.0 } else { hits as f64 / (hits + false_flags.len()).max(1) as f64 },
        recall: hits as f64 / n,
        score: ((found - FALSE_FLAG_COST * false_flags.len() as f64) / n).clamp(0.0, 1.0),
        matched: matched
            .into_iter()
            .map(|((planted, level), credit)| Matched { planted, credit, level: Some(level) })
            .collect(),
        false_flags,
    }
}

#[cfg(test)]
mod tests {
    use datasets::{AnswerKey, Exercise, SeedSource};

    use super::*;
    use crate::probe::contract::{DriftFlag, LeakFlag};

    fn key(seed: u64) -> AnswerKey {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises/churn");
        datasets::generate(&Exercise::load(&dir).unwrap(), SeedSource::given(seed)).unwrap().key
    }

    fn leak(feature: Option<&str>, kind: &str) -> LeakFlag {
        LeakFlag { feature: feature.map(String::from), kind: kind.parse().expect("a kind"), evidence: "e".into() }
    }

    fn drift(feature: &str, kind: &str) -> DriftFlag {
        DriftFlag { feature: feature.into(), kind: kind.parse().expect("a kind"), evidence: "e".into() }
    }

    fn planted(k: &AnswerKey) -> Vec<String> {
        k.leakage
            .iter()
            .map(|l| format!("{}:{}", l.kind, l.feature.as_deref().unwrap_or("-")))
            .chain(k.drift.iter().map(|d| format!("{}:{}", d.change.kind(), d.feature)))
            .collect()
    }

    #[test]
    fn temporal_leakage_and_serving_skew_are_credited_by_kind_and_place() {
        let k = key(84);
        assert_eq!(
            planted(&k),
            [
                "target_leakage:service_credit_total",
                "temporal:support_tickets_90d",
                "serving_skew:monthly_charges",
                "mean_shift:avg_session_minutes"
            ]
        );
        let right = CandidateReport {
            leakage: vec![
                leak(Some("service_credit_total"), "target_leakage"),
                leak(Some("support_tickets_90d"), "temporal"),
            ],
            drift: vec![drift("avg_session_minutes", "mean_shift"), drift("monthly_charges", "serving_skew")],
            excluded_features: vec![],
        };
        let f = score(&right, &k);
        assert_eq!((f.leakage.score, f.drift.score), (1.0, 1.0), "{f:#?}");

        // Either name for information from after the prediction time; a
        // unit change called a mean shift is the right column, wrong kind.
        let near = CandidateReport {
            leakage: vec![
                leak(Some("service_credit_total"), "temporal"),
                leak(Some("support_tickets_90d"), "target_leakage"),
            ],
            drift: vec![drift("avg_session_minutes", "mean_shift"), drift("monthly_charges", "mean_shift")],
            excluded_features: vec![],
        };
        let f = score(&near, &k);
        assert_eq!((f.leakage.score, f.drift.score), (1.0, 0.75), "{f:#?}");

        // A temporal leak is not a drift either way (neutral); a prior
        // shift that is not there is a false alarm; rows that are not
        // shared with production are no contamination.
        let wrong = CandidateReport {
            leakage: vec![leak(None, "contamination")],
            drift: vec![drift(datasets::PREDICTION, "prior_shift"), drift("support_tickets_90d", "mean_shift")],
            excluded_features: vec![],
        };
        let f = score(&wrong, &k);
        assert_eq!(f.leakage.false_flags, ["contamination on the rows: not planted"]);
        assert_eq!(f.leakage.score, 0.0);
        assert_eq!(f.drift.false_flags, ["prior_shift on `__prediction__`: not drifted"], "{f:#?}");
        assert_eq!(f.drift.score, 0.0);
    }

    #[test]
    fn contamination_and_a_prior_shift_are_found_as_rows_and_as_prediction() {
        let k = key(18);
        assert_eq!(
            planted(&k),
            [
                "contamination:-",
                "target_leakage:engagement_index",
                "mean_shift:avg_session_minutes",
                "prior_shift:__prediction__"
            ]
        );
        let moved: Vec<&String> = k.clean.label_shift_consequences.iter().collect();
        assert!(!moved.is_empty(), "a churn rate 1.7-2.1 times higher moves label-related columns");
        for c in &moved {
            assert!(k.drift_neutral_columns.contains(c), "{c} moves with the label: neutral");
        }
        assert!(moved.len() > LABEL_SHIFT_FREE, "seed 18 moves more columns than are free: {moved:?}");
        // Up to LABEL_SHIFT_FREE of what the base rate moves are free.
        let report = CandidateReport {
            leakage: vec![leak(None, "contamination"), leak(Some("engagement_index"), "target_leakage")],
            drift: std::iter::once(drift(datasets::PREDICTION, "prior_shift"))
                .chain(std::iter::once(drift("avg_session_minutes", "mean_shift")))
                .chain(moved.iter().take(LABEL_SHIFT_FREE).map(|c| drift(c, "missing_rate")))
                .collect(),
            excluded_features: vec![],
        };
        let f = score(&report, &k);
        assert_eq!((f.leakage.score, f.drift.score), (1.0, 1.0), "{f:#?}");
        assert!(f.drift.false_flags.is_empty());
        // Every one of them: those past the free ones are false flags.
        let all = CandidateReport {
            drift: report.drift.iter().cloned().chain(moved.iter().map(|c| drift(c, "missing_rate"))).collect(),
            ..report.clone()
        };
        let f = score(&all, &k);
        assert_eq!(f.drift.false_flags.len(), moved.len() - LABEL_SHIFT_FREE, "{f:#?}");
        assert!(f.drift.false_flags.iter().all(|w| w.contains("new base rate")), "{f:#?}");
        // Shared rows are not duplicates; missing the prior shift costs half
        // the drift findings.
        let other = CandidateReport {
            leakage: vec![leak(None, "duplicate_rows"), leak(Some("engagement_index"), "target_leakage")],
            drift: vec![drift("avg_session_minutes", "mean_shift")],
            ..report
        };
        let f = score(&other, &k);
        assert_eq!((f.leakage.score, f.drift.score), (0.25, 0.5), "{f:#?}");
        assert_eq!(f.leakage.false_flags, ["duplicate_rows on the rows: not planted"]);
    }

    #[test]
    fn every_flag_past_the_credited_one_is_false_and_kinds_must_fit_the_column() {
        let k = key(84);
        // Seed 84: serving skew on monthly_charges (numeric), a mean shift on avg_session_minutes.
        let sprayed = CandidateReport {
            leakage: vec![],
            drift: datasets::DriftKind::ALL.iter().map(|kind| drift("avg_session_minutes", kind.as_str())).collect(),
            excluded_features: vec![],
        };
        let f = score(&sprayed, &k);
        assert_eq!(f.drift.matched.iter().map(|m| m.credit).sum::<f64>(), 1.0, "the right kind is credited: {f:#?}");
        let n = datasets::DriftKind::ALL.len();
        assert_eq!(f.drift.false_flags.len(), n - 1, "every other kind on the column is false: {f:#?}");
        assert_eq!(f.drift.score, 0.0, "one find less {} false flags × ½", n - 1);
        // Kinds that cannot apply to the column's type are false flags,
        // even on the drifted column; another kind that fits earns ½.
        let typed = CandidateReport {
            leakage: vec![],
            drift: vec![
                drift("avg_session_minutes", "new_category"),
                drift("contract_type", "mean_shift"),
                drift("monthly_charges", "missing_rate"),
                drift(datasets::PREDICTION, "mean_shift"),
            ],
            excluded_features: vec![],
        };
        let f = score(&typed, &k);
        let mismatched: Vec<&String> = f.drift.false_flags.iter().filter(|w| w.contains("type")).collect();
        assert_eq!(mismatched.len(), 3, "{f:#?}");
        assert_eq!(f.drift.matched.iter().map(|m| m.credit).sum::<f64>(), OTHER_KIND_DRIFT, "{f:#?}");
        // Every column under every kind: nothing.
        let all = CandidateReport {
            leakage: k
                .columns
                .iter()
                .flat_map(|c| datasets::LeakKind::ALL.iter().map(move |kind| leak(Some(c.as_str()), kind.as_str())))
                .collect(),
            drift: k
                .columns
                .iter()
                .flat_map(|c| datasets::DriftKind::ALL.iter().map(move |kind| drift(c, kind.as_str())))
                .collect(),
            excluded_features: vec![],
        };
        let f = score(&all, &k);
        assert_eq!((f.leakage.score, f.drift.score), (0.0, 0.0), "{f:#?}");
        // A decoy (an honest column named from the leak pool) flagged as a leak is false.
        assert_eq!(k.decoys.len(), 1, "{:?}", k.decoys);
        let f = score(
            &CandidateReport {
                leakage: vec![leak(Some(k.decoys[0].as_str()), "target_leakage")],
                ..Default::default()
            },
            &k,
        );
        assert_eq!(f.leakage.false_flags.len(), 1, "{f:#?}");
    }

    /// README's scoring table states the credits this file gives.
    #[test]
    fn readme_states_the_credits_findings_gives() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let row = readme.lines().find(|l| l.starts_with("| `findings.leakage`")).expect("README has the findings row");
        let fraction = |x: f64| match x {
            0.25 => "¼",
            0.5 => "½",
            0.75 => "¾",
            _ => panic!("{x} has no fraction sign"),
        };
        for (what, x) in [("false flags", FALSE_FLAG_COST), ("leakage", OTHER_KIND_LEAK), ("drift", OTHER_KIND_DRIFT)] {
            let expected = match what {
                "false flags" => format!("{} × false flags", fraction(x)),
                _ => format!("{} ({what})", fraction(x)),
            };
            assert!(row.contains(&expected), "README's findings row should say `{expected}`: {row}");
        }
        let monitoring = readme.lines().find(|l| l.starts_with("| `drift_monitoring.live`")).expect("the /drift row");
        let expected = format!("{} × false alarms", fraction(crate::evaluate::monitoring::FALSE_ALARM_COST));
        assert!(monitoring.contains(&expected), "README's /drift row should say `{expected}`: {monitoring}");
    }
}
