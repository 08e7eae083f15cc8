//! The production replay's answers against the key (issue 25's rules):
//! - the concept drift: full credit for `concept_drift` on the first day
//!   its labels allow (its day + `label_lag_days`), falling linearly to 0
//!   at `max_delay_days` after it;
//! - the diagnosis: the decoy named by `data_drift` on its day or the
//!   next; the break named by `pipeline_break` (by `data_drift`, half);
//! - false alarms: the share of quiet days judged `ok`, among those judged
//!   (a status naming only columns production's drift already moves, and
//!   `concept_drift` from the concept drift's day on, are neither credited
//!   nor charged). Every detection and diagnosis credit is multiplied by
//!   that share, so a service that always alarms earns nothing: every
//!   replay has quiet days before its first event;
//! - recovery: the AUC served on the rows after the concept drift's
//!   window, between the launch model's (0) and the new concept's (1),
//!   for a service that retrained (a new `model_version` from the concept
//!   drift's day on; one that retrained only before it, on the decoy say,
//!   earns nothing here).

use std::collections::BTreeSet;

use datasets::lifecycle::{EventKind, LifecycleKey, PlantedEvent};
use datasets::sealed::Replay;
use datasets::AnswerKey;
use serde::{Deserialize, Serialize};

use crate::probe::replay::{DayRecord, MonitorStatus, Observed};

/// A break named by `data_drift` instead of `pipeline_break` earns this share.
pub const BREAK_AS_DATA_DRIFT: f64 = 0.5;
/// Days after an event's first on which naming it still counts.
pub const DIAGNOSIS_GRACE_DAYS: u32 = 1;
/// The served AUC is measured only when at least this share of the
/// recovery rows got a probability.
pub const MIN_SERVED_SHARE: f64 = 0.5;

/// What the replay earned, with the figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleMetrics {
    pub days: Vec<DayRecord>,
    /// What was planted, on which days (the timeline shows it).
    pub events: Vec<EventSpan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The replay's wall time (BENCHMARKS: at most 15 s for the reference).
    #[serde(default)]
    pub elapsed_ms: u64,
    pub concept: ConceptJudgement,
    pub decoy: Diagnosis,
    #[serde(rename = "break")]
    pub pipeline_break: Diagnosis,
    pub quiet_days: usize,
    /// Quiet days on which the status was not `ok` (nor excused).
    pub false_alarm_days: Vec<u32>,
    /// Quiet days neither credited nor charged: `concept_drift` from the
    /// concept drift's day on, or a status naming only columns production's
    /// drift moves.
    pub excused_days: Vec<u32>,
    /// Share of the quiet days judged (not excused) on which it said `ok`.
    pub quiet_ok_share: f64,
    pub recovery: Recovery,
    /// Distinct model versions the service reported.
    pub model_versions: usize,
}

/// One planted event's days: the decoy's and the break's while in force,
/// the concept drift's from its day to its last day of scoring (it holds
/// to the end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSpan {
    pub kind: EventKind,
    pub first: u32,
    pub last: u32,
    pub feature: String,
}

/// One row of the replay's timeline, as report.md and report.html show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineRow {
    pub day: u32,
    pub rows: usize,
    /// Labels sent, and accepted when the service said.
    pub labels: String,
    pub status: String,
    pub model_version: String,
    pub planted: String,
    /// `quiet` (ok expected), `event`, or `alarm` (a quiet day charged).
    pub class: &'static str,
}

/// The timeline: one row per day replayed.
pub fn timeline(m: &LifecycleMetrics) -> Vec<TimelineRow> {
    m.days
        .iter()
        .map(|r| {
            let planted: Vec<String> = m
                .events
                .iter()
                .filter(|e| (e.first..=e.last).contains(&r.day))
                .map(|e| match e.kind {
                    EventKind::ConceptDrift if r.day == e.first => format!("concept drift begins ({})", e.feature),
                    EventKind::ConceptDrift if r.day == m.concept.earliest => "concept drift: its labels arrive".into(),
                    EventKind::ConceptDrift => "concept drift".into(),
                    k => format!("{} of {}", k.as_str().replace('_', " "), e.feature),
                })
                .collect();
            let status = match r.status {
                Some(s) if r.features.is_empty() => s.as_str().to_string(),
                Some(s) => format!("{s}: {}", r.features.join(", ")),
                None => format!("no answer ({})", r.problems.first().map(String::as_str).unwrap_or("out of contract")),
            };
            let labels = match r.labels_accepted {
                Some(a) => format!("{} ({a} accepted)", r.labels_sent),
                None if r.labels_sent == 0 => "0".into(),
                None => format!("{} (no answer in shape)", r.labels_sent),
            };
            TimelineRow {
                day: r.day,
                rows: r.rows_sent,
                labels,
                status,
                model_version: r.model_version.clone().unwrap_or_else(|| "—".into()),
                class: if m.false_alarm_days.contains(&r.day) {
                    "alarm"
                } else if planted.is_empty() {
                    "quiet"
                } else {
                    "event"
                },
                planted: planted.join("; "),
            }
        })
        .collect()
}

/// Whether the service answered the replay in contract v2's shape, day by
/// day: what the practice self-check shows (it has no key to judge the
/// statuses against), and result.json beside the judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayShape {
    /// Days replayed, of the stream's.
    pub days: u32,
    pub planned_days: u32,
    /// Days on which `GET /monitor` answered in shape.
    pub monitor_in_shape: u32,
    /// Days that delivered labels, and those on which every `/feedback`
    /// call answered in shape.
    pub feedback_days: u32,
    pub feedback_in_shape: u32,
    pub labels_sent: usize,
    pub labels_accepted: usize,
    /// `/predict` batches of the replay not answered in shape.
    pub predict_failed: usize,
    /// Days per status reported, by status name.
    pub statuses: std::collections::BTreeMap<String, u32>,
    pub model_versions: usize,
    /// The first answer out of contract, with its day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_problem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub elapsed_ms: u64,
}

impl ReplayShape {
    /// The shape of what `observed` recorded, over a stream of `planned_days`.
    pub fn of(observed: &Observed, planned_days: u32) -> ReplayShape {
        let d = &observed.days;
        let count = |f: &dyn Fn(&DayRecord) -> bool| d.iter().filter(|r| f(r)).count() as u32;
        let mut statuses = std::collections::BTreeMap::new();
        for s in d.iter().filter_map(|r| r.status) {
            *statuses.entry(s.as_str().to_string()).or_insert(0) += 1;
        }
        ReplayShape {
            days: d.len() as u32,
            planned_days,
            monitor_in_shape: count(&|r| r.status.is_some()),
            feedback_days: count(&|r| r.labels_sent > 0),
            feedback_in_shape: count(&|r| r.labels_sent > 0 && r.labels_accepted.is_some()),
            labels_sent: d.iter().map(|r| r.labels_sent).sum(),
            labels_accepted: d.iter().filter_map(|r| r.labels_accepted).sum(),
            predict_failed: d.iter().map(|r| r.batches_failed).sum(),
            statuses,
            model_versions: d.iter().filter_map(|r| r.model_version.as_ref()).collect::<BTreeSet<_>>().len(),
            first_problem: d.iter().find_map(|r| r.problems.first().map(|p| format!("day {}: {p}", r.day))),
            stopped: observed.stopped.clone(),
            elapsed_ms: observed.elapsed_ms,
        }
    }

    /// Every day replayed and every answer in contract v2's shape.
    pub fn in_shape(&self) -> bool {
        self.days == self.planned_days
            && self.monitor_in_shape == self.days
            && self.feedback_in_shape == self.feedback_days
            && self.predict_failed == 0
    }

    /// Lines for a terminal or a report: what answered in shape.
    pub fn lines(&self) -> Vec<String> {
        let statuses: Vec<String> = self.statuses.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let mut out = vec![
            format!(
                "{} of {} days replayed in {:.1} s{}",
                self.days,
                self.planned_days,
                self.elapsed_ms as f64 / 1000.0,
                self.stopped.as_deref().map(|s| format!(" (stopped: {s})")).unwrap_or_default()
            ),
            format!(
                "POST /feedback in shape on {} of {} days with labels ({} labels sent, {} accepted)",
                self.feedback_in_shape, self.feedback_days, self.labels_sent, self.labels_accepted
            ),
            format!(
                "GET /monitor in shape on {} of {} days (statuses: {}; {} model version(s))",
                self.monitor_in_shape,
                self.days,
                if statuses.is_empty() { "none".into() } else { statuses.join(", ") },
                self.model_versions
            ),
        ];
        if self.predict_failed > 0 {
            out.push(format!("POST /predict: {} batch(es) not answered in shape", self.predict_failed));
        }
        if let Some(p) = &self.first_problem {
            out.push(format!("first answer out of contract: {p}"));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptJudgement {
    pub day: u32,
    /// The first day its labels allow: `day + label_lag_days`.
    pub earliest: u32,
    pub max_delay_days: u32,
    /// The first day from `earliest` on with `concept_drift`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<u32>,
    /// Credit before the quiet-day share: `1 - delay / max_delay_days`.
    pub credit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub day: u32,
    pub feature: String,
    /// The best answer on its day or the next, and the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<(u32, MonitorStatus)>,
    /// Credit before the quiet-day share.
    pub credit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// Whether a new model_version came from the concept drift's day on.
    pub retrained: bool,
    /// Rows judged (after the concept drift's window, off break days).
    pub rows: usize,
    pub served: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_auc: Option<f64>,
    pub stale_auc: f64,
    pub new_auc: f64,
    /// `(served - stale) / (new - stale)`, in [0, 1].
    pub credit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quiet {
    Ok,
    Excused,
    Alarm,
}

/// Judges the observed replay against the key's events.
pub fn judge(key: &AnswerKey, l: &LifecycleKey, observed: Observed, replay: &Replay) -> LifecycleMetrics {
    let event = |k: EventKind| l.events.iter().find(|e| e.kind == k).expect("every replay plants each event");
    let (concept, decoy, brk) =
        (event(EventKind::ConceptDrift), event(EventKind::DecoyDrift), event(EventKind::PipelineBreak));
    let on = |d: u32| observed.days.iter().find(|r| r.day == d);
    let names = |r: &DayRecord, f: &str| r.features.iter().any(|x| x == f);

    // Quiet days: columns production's drift moves (or that differ by
    // design) excuse a status that names only them.
    let excused: BTreeSet<&str> = key
        .drift
        .iter()
        .map(|d| d.feature.as_str())
        .chain(key.drift_neutral_columns.iter().map(String::as_str))
        .collect();
    // A quiet day is judged ok, excused (neither credited nor charged), or
    // a false alarm (no answer in the contract's shape included).
    let standing = |r: Option<&DayRecord>| match r.and_then(|r| r.status.map(|s| (r, s))) {
        None => Quiet::Alarm,
        Some((_, MonitorStatus::Ok)) => Quiet::Ok,
        Some((r, MonitorStatus::ConceptDrift)) if r.day >= concept.day => Quiet::Excused,
        Some((_, MonitorStatus::ConceptDrift)) => Quiet::Alarm,
        Some((r, _)) if !r.features.is_empty() && r.features.iter().all(|f| excused.contains(f.as_str())) => {
            Quiet::Excused
        }
        Some(_) => Quiet::Alarm,
    };
    let standings: Vec<(u32, Quiet)> = l.quiet_days.iter().map(|&d| (d, standing(on(d)))).collect();
    let days_where = |q: Quiet| standings.iter().filter(|(_, s)| *s == q).map(|(d, _)| *d).collect::<Vec<u32>>();
    let (ok_days, false_alarm_days, excused_days) =
        (days_where(Quiet::Ok), days_where(Quiet::Alarm), days_where(Quiet::Excused));
    let judged = ok_days.len() + false_alarm_days.len();
    // Every replay has quiet days before its first event, so a service
    // that always alarms is judged on some; one excused on every day (it
    // named only columns production's drift moves) is charged nothing.
    let quiet_ok_share = if judged == 0 { 1.0 } else { ok_days.len() as f64 / judged as f64 };
    let quiet = l.quiet_days.len();

    let earliest = concept.day + l.label_lag_days;
    let reported = observed
        .days
        .iter()
        .filter(|r| r.day >= earliest && r.status == Some(MonitorStatus::ConceptDrift))
        .map(|r| r.day)
        .next();
    let concept_credit = reported.map_or(0.0, |d| {
        let delay = (d - earliest) as f64;
        (1.0 - delay / l.max_delay_days.max(1) as f64).max(0.0)
    });

    let diagnose = |e: &PlantedEvent, grade: &dyn Fn(&DayRecord) -> f64| -> Diagnosis {
        let best = (e.day..=e.day + DIAGNOSIS_GRACE_DAYS)
            .filter_map(on)
            .filter_map(|r| r.status.map(|s| (grade(r), r.day, s)))
            .fold(None, |best: Option<(f64, u32, MonitorStatus)>, x| match best {
                Some(b) if b.0 >= x.0 => Some(b),
                _ => Some(x),
            });
        Diagnosis {
            day: e.day,
            feature: e.feature.clone(),
            answered: best.map(|(_, d, s)| (d, s)),
            credit: best.map_or(0.0, |b| b.0),
        }
    };
    let decoy_j =
        diagnose(decoy, &|r| (r.status == Some(MonitorStatus::DataDrift) && names(r, &decoy.feature)) as u8 as f64);
    let break_j = diagnose(brk, &|r| match r.status {
        Some(MonitorStatus::PipelineBreak) if names(r, &brk.feature) => 1.0,
        Some(MonitorStatus::DataDrift) if names(r, &brk.feature) => BREAK_AS_DATA_DRIFT,
        _ => 0.0,
    });

    // Recovery on the rows after the concept drift's window, off break days.
    let rows: Vec<usize> = (0..replay.rows.len())
        .filter(|&r| replay.day[r] > concept.last_day && !(brk.day..=brk.last_day).contains(&replay.day[r]))
        .collect();
    let served: Vec<(f64, bool)> =
        rows.iter().filter_map(|&r| observed.served.get(r).copied().flatten().map(|p| (p, replay.labels[r]))).collect();
    let (stale, new) = (concept.certificate.stale_auc.unwrap_or(0.5), concept.certificate.new_auc.unwrap_or(1.0));
    let served_auc = (!rows.is_empty() && served.len() as f64 >= MIN_SERVED_SHARE * rows.len() as f64)
        .then(|| {
            let (p, y): (Vec<f64>, Vec<bool>) = served.iter().copied().unzip();
            datasets::stats::auc(&p, &y)
        })
        .flatten();
    // A service that never retrains earns nothing here (its own model can
    // sit above the launch model's AUC by chance): a new model_version
    // from the concept drift's day on, beside the last one before it.
    let before =
        observed.days.iter().filter(|r| r.day < concept.day).filter_map(|r| r.model_version.as_ref()).next_back();
    let retrained = observed
        .days
        .iter()
        .filter(|r| r.day >= concept.day)
        .filter_map(|r| r.model_version.as_ref())
        .any(|v| before.is_some_and(|b| b != v));
    let recovery_credit = match (retrained, served_auc) {
        (true, Some(a)) => crate::evaluate::score::skill(a, stale, new).clamp(0.0, 1.0),
        _ => 0.0,
    };
    let versions: BTreeSet<&String> = observed.days.iter().filter_map(|r| r.model_version.as_ref()).collect();
    LifecycleMetrics {
        concept: ConceptJudgement {
            day: concept.day,
            earliest,
            max_delay_days: l.max_delay_days,
            reported,
            credit: concept_credit,
        },
        decoy: decoy_j,
        pipeline_break: break_j,
        quiet_days: quiet,
        false_alarm_days,
        excused_days,
        quiet_ok_share,
        recovery: Recovery {
            retrained,
            rows: rows.len(),
            served: served.len(),
            served_auc,
            stale_auc: stale,
            new_auc: new,
            credit: recovery_credit,
        },
        model_versions: versions.len(),
        events: l
            .events
            .iter()
            .map(|e| EventSpan { kind: e.kind, first: e.day, last: e.last_day, feature: e.feature.clone() })
            .collect(),
        days: observed.days,
        stopped: observed.stopped,
        elapsed_ms: observed.elapsed_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::score::{checks, Outcome, ProbeResults, Status};

    /// Churn as shipped (with its replay), seed `seed`.
    fn variant(seed: u64) -> (datasets::Exercise, datasets::Variant) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises/churn/exercise.toml");
        let ex = datasets::Exercise::load(&path).unwrap();
        let v = datasets::generate(&ex, datasets::SeedSource::given(seed)).unwrap();
        (ex, v)
    }

    /// A service's day: its status and features, given the day and the key.
    type Answers = dyn Fn(u32, &LifecycleKey) -> (MonitorStatus, Vec<String>);

    fn observe(v: &datasets::Variant, answers: &Answers, retrains: bool, last_day: u32) -> Observed {
        let s = v.stream.as_ref().unwrap();
        let l = &s.key;
        let days = (1..=last_day.min(l.days))
            .map(|d| {
                let (status, features) = answers(d, l);
                let concept = event(l, EventKind::ConceptDrift).day;
                let version = if retrains && d > concept + l.label_lag_days { "2" } else { "1" };
                DayRecord {
                    day: d,
                    rows_sent: l.rows_per_day,
                    status: Some(status),
                    features,
                    model_version: Some(version.into()),
                    ..DayRecord::default()
                }
            })
            .collect();
        let served = (0..s.rows.len())
            .map(|r| (s.day[r] <= last_day).then(|| if retrains { s.rows.probs[r] } else { s.stale_probs[r] }))
            .collect();
        Observed {
            days,
            served,
            stopped: (last_day < l.days).then(|| format!("day {last_day}: crashed")),
            elapsed_ms: 0,
        }
    }

    fn event(l: &LifecycleKey, k: EventKind) -> &PlantedEvent {
        l.events.iter().find(|e| e.kind == k).unwrap()
    }

    fn holds(e: &PlantedEvent, d: u32) -> bool {
        (e.day..=e.last_day).contains(&d)
    }

    /// What a careful service says: each event on its first day (the
    /// concept drift when its labels allow), ok otherwise.
    fn careful(delay: u32) -> impl Fn(u32, &LifecycleKey) -> (MonitorStatus, Vec<String>) {
        move |d, l| {
            let (c, dec, b) = (
                event(l, EventKind::ConceptDrift),
                event(l, EventKind::DecoyDrift),
                event(l, EventKind::PipelineBreak),
            );
            if holds(dec, d) {
                (MonitorStatus::DataDrift, vec![dec.feature.clone()])
            } else if holds(b, d) {
                (MonitorStatus::PipelineBreak, vec![b.feature.clone(), "age".into()])
            } else if d == c.day + l.label_lag_days + delay {
                (MonitorStatus::ConceptDrift, vec![])
            } else {
                (MonitorStatus::Ok, vec![])
            }
        }
    }

    /// The group's points per check, with weight 10.
    fn points(ex: &datasets::Exercise, m: LifecycleMetrics) -> Vec<(String, f64, Status)> {
        let mut r = ProbeResults::none("not part of this test");
        r.lifecycle = Some(Outcome::Ran(m));
        checks(&ex.spec.terms(), &r)
            .into_iter()
            .filter(|c| c.group == "lifecycle")
            .map(|c| (c.id, c.points, c.status))
            .collect()
    }

    fn judged(v: &datasets::Variant, ex: &datasets::Exercise, o: Observed) -> LifecycleMetrics {
        let replay = datasets::sealed::Sealed::from_variant(&ex.spec, v).unwrap().replay.unwrap();
        judge(&v.key, v.key.lifecycle.as_ref().unwrap(), o, &replay)
    }

    fn pts(p: &[(String, f64, Status)], id: &str) -> f64 {
        p.iter().find(|(i, _, _)| i == &format!("lifecycle.{id}")).unwrap().1
    }

    #[test]
    fn a_careful_service_earns_the_group_and_each_shortcut_what_the_rules_give() {
        for seed in [2, 5] {
            let (ex, v) = variant(seed);
            let days = v.key.lifecycle.as_ref().unwrap().days;
            let all = |m: &LifecycleMetrics| points(&ex, m.clone());
            // Careful: every event on time, ok on quiet days, retrained.
            let m = judged(&v, &ex, observe(&v, &careful(0), true, days));
            let p = all(&m);
            assert_eq!(p.iter().map(|x| x.1).sum::<f64>(), 10.0, "seed {seed}: {p:?}");
            assert!(p.iter().all(|x| x.2 == Status::Pass));
            // Two days late: half the concept drift's credit (max_delay_days 4).
            let late = all(&judged(&v, &ex, observe(&v, &careful(2), true, days)));
            assert_eq!(pts(&late, "concept_drift"), 3.5 * 0.5);
            // Naive: ok forever, never retrains: only the quiet days.
            let naive = all(&judged(&v, &ex, observe(&v, &|_, _| (MonitorStatus::Ok, vec![]), false, days)));
            assert_eq!(naive.iter().map(|x| x.1).sum::<f64>(), 1.5, "seed {seed}: {naive:?}");
            assert_eq!(pts(&naive, "recovery"), 0.0, "the launch model's AUC is the floor");
            // Always alarming: nothing, though concept_drift is excused from its day on.
            let alarm = judged(&v, &ex, observe(&v, &|_, _| (MonitorStatus::ConceptDrift, vec![]), false, days));
            assert_eq!(alarm.quiet_ok_share, 0.0);
            assert!(!alarm.excused_days.is_empty() && !alarm.false_alarm_days.is_empty());
            assert_eq!(all(&alarm).iter().map(|x| x.1).sum::<f64>(), 0.0, "seed {seed}");
            // Inputs only: the decoy named, the break as data drift (half),
            // the concept drift never, no retrain.
            let inputs = move |d: u32, l: &LifecycleKey| {
                let (dec, b) = (event(l, EventKind::DecoyDrift), event(l, EventKind::PipelineBreak));
                match (holds(dec, d), holds(b, d)) {
                    (true, _) => (MonitorStatus::DataDrift, vec![dec.feature.clone()]),
                    (_, true) => (MonitorStatus::DataDrift, vec![b.feature.clone()]),
                    _ => (MonitorStatus::Ok, vec![]),
                }
            };
            let p = all(&judged(&v, &ex, observe(&v, &inputs, false, days)));
            assert_eq!(pts(&p, "diagnosis"), 2.5 * (1.0 + BREAK_AS_DATA_DRIFT) / 2.0);
            assert_eq!(pts(&p, "false_alarms"), 1.5);
            assert_eq!(pts(&p, "concept_drift") + pts(&p, "recovery"), 0.0);
            // The careful model's AUC without a retrain (no new version): nothing for recovery.
            let mut o = observe(&v, &careful(0), true, days);
            o.days.iter_mut().for_each(|r| r.model_version = Some("1".into()));
            let m = judged(&v, &ex, o);
            assert!(!m.recovery.retrained && m.recovery.served_auc.is_some());
            assert_eq!(pts(&all(&m), "recovery"), 0.0);
            // A retrain only before the concept drift (on the decoy, say) does not count.
            let mut o = observe(&v, &careful(0), true, days);
            let c = event(v.key.lifecycle.as_ref().unwrap(), EventKind::ConceptDrift).day;
            o.days.iter_mut().for_each(|r| r.model_version = Some(if r.day < c - 1 { "1" } else { "2" }.into()));
            assert_eq!(pts(&all(&judged(&v, &ex, o)), "recovery"), 0.0);
        }
    }

    #[test]
    fn the_timeline_has_a_row_per_day_with_what_was_planted() {
        let (ex, v) = variant(2);
        let l = v.key.lifecycle.as_ref().unwrap();
        let quiet = l.quiet_days[0];
        let answers = move |d: u32, l: &LifecycleKey| {
            if d == quiet {
                (MonitorStatus::DataDrift, vec!["age".into()])
            } else {
                careful(0)(d, l)
            }
        };
        let rows = timeline(&judged(&v, &ex, observe(&v, &answers, true, l.days)));
        assert_eq!(rows.len() as u32, l.days);
        let row = |d: u32| rows.iter().find(|r| r.day == d).unwrap();
        assert_eq!((row(quiet).class, row(quiet).status.as_str()), ("alarm", "data_drift: age"));
        let b = event(l, EventKind::PipelineBreak);
        assert_eq!(row(b.day).planted, format!("pipeline break of {}", b.feature));
        assert!(row(b.day).status.starts_with("pipeline_break: "));
        let c = event(l, EventKind::ConceptDrift);
        assert!(row(c.day).planted.starts_with("concept drift begins"));
        assert_eq!(row(c.day + l.label_lag_days).planted, "concept drift: its labels arrive");
        assert!(rows.iter().filter(|r| r.class == "quiet").all(|r| r.status == "ok"));
    }

    #[test]
    fn quiet_days_excuse_v1_columns_and_charge_everything_else() {
        let (ex, v) = variant(2);
        let l = v.key.lifecycle.as_ref().unwrap();
        let quiet = l.quiet_days[0];
        let v1 = v.key.drift.iter().find(|d| d.feature != datasets::PREDICTION).unwrap().feature.clone();
        for (features, status, charged) in [
            (vec![v1.clone()], MonitorStatus::DataDrift, false),
            (vec![v1.clone(), "age".to_string()], MonitorStatus::DataDrift, true),
            (vec![], MonitorStatus::DataDrift, true),
            (vec![], MonitorStatus::ConceptDrift, true),
            (vec!["age".into()], MonitorStatus::PipelineBreak, true),
        ] {
            let f = features.clone();
            let answers =
                move |d: u32, l: &LifecycleKey| if d == quiet { (status, f.clone()) } else { careful(0)(d, l) };
            let m = judged(&v, &ex, observe(&v, &answers, true, l.days));
            assert_eq!(m.false_alarm_days.contains(&quiet), charged, "{status:?} {features:?}");
            assert_eq!(m.excused_days.contains(&quiet), !charged, "{status:?} {features:?}");
        }
    }

    #[test]
    fn a_crash_mid_replay_is_scored_as_the_broken_service_it_is() {
        let (ex, v) = variant(5);
        let l = v.key.lifecycle.as_ref().unwrap();
        let c = event(l, EventKind::ConceptDrift);
        // It dies the day before the concept drift's labels allow it.
        let m = judged(&v, &ex, observe(&v, &careful(0), true, c.day + l.label_lag_days - 1));
        assert!(m.stopped.as_deref().is_some_and(|s| s.contains("crashed")));
        let after: Vec<u32> = l.quiet_days.iter().copied().filter(|d| *d >= c.day + l.label_lag_days).collect();
        assert!(after.iter().all(|d| m.false_alarm_days.contains(d)), "no answer is no ok");
        assert_eq!(m.concept.reported, None);
        assert_eq!(m.recovery.served_auc, None, "nothing served after the window");
        let p = points(&ex, m);
        assert_eq!(pts(&p, "concept_drift") + pts(&p, "recovery"), 0.0);
        let ev = checks(&ex.spec.terms(), &{
            let mut r = ProbeResults::none("x");
            r.lifecycle = Some(Outcome::Failed("no /feedback route (404) on day 1".into()));
            r
        });
        let group: Vec<_> = ev.iter().filter(|c| c.group == "lifecycle").collect();
        assert_eq!(group.len(), 4);
        assert!(group.iter().all(|c| c.points == 0.0 && c.status == Status::Error && c.evidence.contains("day 1")));
    }

    #[test]
    fn a_v1_service_without_monitor_earns_nothing_and_the_evidence_names_the_day() {
        let (ex, v) = variant(2);
        let l = v.key.lifecycle.as_ref().unwrap();
        let mut o = observe(&v, &|_, _| (MonitorStatus::Ok, vec![]), false, l.days);
        for d in &mut o.days {
            d.status = None;
            d.features.clear();
            d.model_version = None;
            d.labels_accepted = None;
            d.problems = vec!["GET /monitor answered 404: {\"detail\":\"Not Found\"}".into()];
        }
        let m = judged(&v, &ex, o);
        assert_eq!(m.quiet_ok_share, 0.0, "no answer is no ok");
        let mut r = ProbeResults::none("not part of this test");
        r.lifecycle = Some(Outcome::Ran(m));
        let group: Vec<_> = checks(&ex.spec.terms(), &r).into_iter().filter(|c| c.group == "lifecycle").collect();
        assert!(group.iter().all(|c| c.points == 0.0), "{group:?}");
        let fa = group.iter().find(|c| c.id == "lifecycle.false_alarms").unwrap();
        assert!(fa.evidence.contains("out of contract first on day 1: GET /monitor answered 404"), "{}", fa.evidence);
    }

    #[test]
    fn an_exercise_without_a_replay_has_no_lifecycle_checks_and_writes_nothing() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exercises/churn");
        let terms = datasets::Exercise::load(&dir).unwrap().without_lifecycle().unwrap().unwrap().spec.terms();
        let r = ProbeResults::none("x");
        assert!(checks(&terms, &r).iter().all(|c| c.group != "lifecycle"));
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("lifecycle").is_none(), "{json}");
        let back: ProbeResults = serde_json::from_value(json).unwrap();
        assert!(back.lifecycle.is_none());
        // With a replay, a build that failed leaves its checks at 0, for the build's reason.
        let (ex, _) = variant(2);
        let group: Vec<_> = checks(&ex.spec.terms(), &ProbeResults::none("not run: build failed"))
            .into_iter()
            .filter(|c| c.group == "lifecycle")
            .collect();
        assert_eq!(group.len(), 4);
        assert!(group.iter().all(|c| c.points == 0.0 && c.evidence.contains("build failed")), "{group:?}");
    }

    #[test]
    fn the_replays_shape_says_which_answers_were_out_of_contract_and_when() {
        let day = |d: u32, labels: usize| DayRecord {
            day: d,
            rows_sent: 400,
            labels_sent: labels,
            labels_accepted: Some(labels),
            status: Some(MonitorStatus::Ok),
            model_version: Some("1".into()),
            ..DayRecord::default()
        };
        let good = Observed { days: vec![day(1, 0), day(2, 0), day(3, 200)], ..Observed::default() };
        let s = ReplayShape::of(&good, 3);
        assert!(s.in_shape(), "{s:?}");
        assert_eq!((s.feedback_days, s.feedback_in_shape, s.labels_accepted), (1, 1, 200));
        assert_eq!(s.statuses.get("ok"), Some(&3));
        // No /feedback route on day 3, no /monitor answer on day 2, and a
        // replay that stopped early: each is out of shape, the first named.
        let mut bad = good.clone();
        bad.days[1].status = None;
        bad.days[1].problems = vec!["GET /monitor answered 404: not found".into()];
        bad.days[2].labels_accepted = None;
        bad.days[2].problems = vec!["POST /feedback answered 404: not found".into()];
        let s = ReplayShape::of(&bad, 3);
        assert!(!s.in_shape());
        assert_eq!((s.monitor_in_shape, s.feedback_in_shape), (2, 0));
        assert_eq!(s.first_problem.as_deref(), Some("day 2: GET /monitor answered 404: not found"));
        assert!(s.lines().iter().any(|l| l.starts_with("first answer out of contract: day 2")), "{:?}", s.lines());
        let short = Observed { days: good.days[..2].to_vec(), stopped: Some("day 2: crashed".into()), ..good };
        let s = ReplayShape::of(&short, 3);
        assert!(!s.in_shape() && s.lines()[0].contains("2 of 3 days") && s.lines()[0].contains("crashed"));
    }
}
