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
    let columns: BTreeSet<&str> = key.columns.iter().map(String::as_str).collect();
    let neutral: BTreeSet<&str> = key.drift_neutral_columns.iter().map(String::as_str).collect();

    // Leakage.
    let mut credit: Vec<f64> = vec![0.0; key.leakage.len()];
    let mut false_flags = Vec::new();
    for flag in &report.leakage {
        let planted = key.leakage.iter().position(|l| match (&l.feature, flag.kind.as_str()) {
            (None, "duplicate_rows") => l.kind == "duplicate_rows",
            (Some(f), _) => flag.feature.as_deref() == Some(f.as_str()) && flag.kind != "duplicate_rows",
            _ => false,
        });
        match planted {
            Some(i) => {
                let l = &key.leakage[i];
                let c = if flag.kind == l.kind || (l.kind == "target_leakage" && flag.kind == "temporal") { 1.0 } else { 0.75 };
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
                let c = if key.drift[i].change.report_kind() == flag.kind { 1.0 } else { 0.5 };
                credit[i] = credit[i].max(c);
            }
            None if !columns.contains(flag.feature.as_str()) => {
                false_flags.push(format!("{} on `{}`: no such column", flag.kind, flag.feature))
            }
            None => false_flags.push(format!("{} on `{}`: not drifted", flag.kind, flag.feature)),
        }
    }
    let drift = section(
        key.drift.iter().map(|d| format!("{}:{}", d.change.report_kind(), d.feature)).zip(credit).collect(),
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
