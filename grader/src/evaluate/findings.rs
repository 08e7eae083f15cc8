//! The candidate's report.json against the answer key: what was found, what
//! was missed, what was flagged that is not there.

use std::collections::BTreeSet;

use datasets::AnswerKey;
use serde::{Deserialize, Serialize};

use crate::probe::contract::CandidateReport;

/// Cost of one false flag, in planted findings.
pub const FALSE_FLAG_COST: f64 = 0.5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Matched {
    /// Planted defect, as `kind:feature` (feature `-` for row-level).
    pub planted: String,
    /// Credit in [0, 1]: 1 for the right column and kind, less for the right
    /// column under another kind, 0 when missed.
    pub credit: f64,
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

pub fn score(report: &CandidateReport, key: &AnswerKey) -> Findings {
    let mut columns: BTreeSet<&str> = key.columns.iter().map(String::as_str).collect();
    // The prior shift's name in /drift and report.json is a known name.
    columns.insert(datasets::PREDICTION);
    let neutral: BTreeSet<&str> = key.drift_neutral_columns.iter().map(String::as_str).collect();

    // Leakage.
    let mut credit: Vec<f64> = vec![0.0; key.leakage.len()];
    let mut false_flags = Vec::new();
    for flag in &report.leakage {
        let row_flag = flag.is_about_rows();
        let planted = key.leakage.iter().position(|l| match &l.feature {
            None => row_flag && flag.kind.is(l.kind),
            Some(f) => flag.feature.as_deref() == Some(f.as_str()) && !row_flag,
        });
        match planted {
            Some(i) => {
                let l = &key.leakage[i];
                // A post-outcome column and a feature measured too late both
                // carry information from after the prediction time: either
                // name is right for either.
                let after_prediction =
                    l.kind.is_after_prediction() && flag.kind.known().is_some_and(|k| k.is_after_prediction());
                let c = if flag.kind.is(l.kind) || after_prediction { 1.0 } else { 0.75 };
                credit[i] = credit[i].max(c);
            }
            None => false_flags.push(match &flag.feature {
                Some(f) if !columns.contains(f.as_str()) => format!("{} on `{f}`: no such column", flag.kind),
                Some(f) => format!("{} on `{f}`: not planted", flag.kind),
                None => format!("{} on the rows: not planted", flag.kind),
            }),
        }
    }
    let leakage = section(
        key.leakage.iter().map(|l| format!("{}:{}", l.kind, l.feature.as_deref().unwrap_or("-"))).zip(credit).collect(),
        false_flags,
        report.leakage.len(),
    );

    // Drift.
    let mut credit: Vec<f64> = vec![0.0; key.drift.len()];
    let mut false_flags = Vec::new();
    let mut judged = 0;
    for flag in &report.drift {
        if neutral.contains(flag.feature.as_str()) {
            continue;
        }
        judged += 1;
        match key.drift.iter().position(|d| d.feature == flag.feature) {
            Some(i) => {
                let c = if flag.kind.is(key.drift[i].change.kind()) { 1.0 } else { 0.5 };
                credit[i] = credit[i].max(c);
            }
            None if !columns.contains(flag.feature.as_str()) => {
                false_flags.push(format!("{} on `{}`: no such column", flag.kind, flag.feature))
            }
            None => false_flags.push(format!("{} on `{}`: not drifted", flag.kind, flag.feature)),
        }
    }
    let drift = section(
        key.drift.iter().map(|d| format!("{}:{}", d.change.kind(), d.feature)).zip(credit).collect(),
        false_flags,
        judged,
    );
    Findings { leakage, drift }
}

fn section(matched: Vec<(String, f64)>, false_flags: Vec<String>, flags: usize) -> SectionScore {
    let found: f64 = matched.iter().map(|(_, c)| c).sum();
    let hits = matched.iter().filter(|(_, c)| *c > 0.0).count();
    let n = matched.len().max(1) as f64;
    SectionScore {
        precision: if flags == 0 { 0.0 } else { hits as f64 / (hits + false_flags.len()).max(1) as f64 },
        recall: hits as f64 / n,
        score: ((found - FALSE_FLAG_COST * false_flags.len() as f64) / n).clamp(0.0, 1.0),
        matched: matched.into_iter().map(|(planted, credit)| Matched { planted, credit }).collect(),
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
        let k = key(12);
        assert_eq!(
            planted(&k),
            [
                "target_leakage:final_invoice_adjustment",
                "temporal:avg_session_minutes",
                "serving_skew:monthly_charges",
                "mean_shift:logins_30d"
            ]
        );
        let right = CandidateReport {
            leakage: vec![
                leak(Some("final_invoice_adjustment"), "target_leakage"),
                leak(Some("avg_session_minutes"), "temporal"),
            ],
            drift: vec![drift("logins_30d", "mean_shift"), drift("monthly_charges", "serving_skew")],
            excluded_features: vec![],
        };
        let f = score(&right, &k);
        assert_eq!((f.leakage.score, f.drift.score), (1.0, 1.0), "{f:#?}");

        // Either name for information from after the prediction time; a
        // unit change called a mean shift is the right column, wrong kind.
        let near = CandidateReport {
            leakage: vec![
                leak(Some("final_invoice_adjustment"), "temporal"),
                leak(Some("avg_session_minutes"), "target_leakage"),
            ],
            drift: vec![drift("logins_30d", "mean_shift"), drift("monthly_charges", "mean_shift")],
            excluded_features: vec![],
        };
        let f = score(&near, &k);
        assert_eq!((f.leakage.score, f.drift.score), (1.0, 0.75), "{f:#?}");

        // A temporal leak is not a drift either way (neutral); a prior
        // shift that is not there is a false alarm; rows that are not
        // shared with production are no contamination.
        let wrong = CandidateReport {
            leakage: vec![leak(None, "contamination")],
            drift: vec![drift(datasets::PREDICTION, "prior_shift"), drift("avg_session_minutes", "mean_shift")],
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
        let k = key(2);
        assert_eq!(
            planted(&k),
            [
                "contamination:-",
                "identifier:customer_id",
                "mean_shift:avg_session_minutes",
                "prior_shift:__prediction__"
            ]
        );
        let moved: Vec<&String> = k.clean.label_shift_consequences.iter().collect();
        assert!(!moved.is_empty(), "a churn rate 1.7-2.1 times higher moves label-related columns");
        for c in &moved {
            assert!(k.drift_neutral_columns.contains(c), "{c} moves with the label: neutral");
        }
        let report = CandidateReport {
            leakage: vec![leak(None, "contamination"), leak(Some("customer_id"), "identifier")],
            drift: std::iter::once(drift(datasets::PREDICTION, "prior_shift"))
                .chain(std::iter::once(drift("avg_session_minutes", "mean_shift")))
                .chain(moved.iter().map(|c| drift(c, "mean_shift")))
                .collect(),
            excluded_features: vec![],
        };
        let f = score(&report, &k);
        assert_eq!((f.leakage.score, f.drift.score), (1.0, 1.0), "{f:#?}");
        assert!(f.drift.false_flags.is_empty());
        // Shared rows are not duplicates; missing the prior shift costs half
        // the drift findings.
        let other = CandidateReport {
            leakage: vec![leak(None, "duplicate_rows"), leak(Some("customer_id"), "identifier")],
            drift: vec![drift("avg_session_minutes", "mean_shift")],
            ..report
        };
        let f = score(&other, &k);
        assert_eq!((f.leakage.score, f.drift.score), (0.25, 0.5), "{f:#?}");
        assert_eq!(f.leakage.false_flags, ["duplicate_rows on the rows: not planted"]);
    }
}
