//! Which event falls on which days: the order of the three events and the
//! quiet gaps before each are drawn per seed, so neither the order nor the
//! days are public. Events never overlap; the concept drift keeps the
//! other events out of its scoring window, and at least `recovery_days`
//! follow that window.

use serde::{Deserialize, Serialize};

use super::{EventKind, LifecycleSpec};
use crate::rng::Rng;

/// An event's window of days, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub kind: EventKind,
    pub first: u32,
    pub last: u32,
}

impl Window {
    pub fn holds(&self, day: u32) -> bool {
        (self.first..=self.last).contains(&day)
    }
}

/// The three windows, in day order.
pub(crate) fn draw(l: &LifecycleSpec, rng: &mut Rng) -> Vec<Window> {
    let mut order = [EventKind::ConceptDrift, EventKind::DecoyDrift, EventKind::PipelineBreak];
    rng.shuffle(&mut order);
    let mut next = 1;
    let mut windows = Vec::with_capacity(3);
    for kind in order {
        next += rng.count(l.quiet_days) as u32;
        let len = match kind {
            EventKind::ConceptDrift => l.concept_window(),
            _ => l.event_days,
        };
        windows.push(Window { kind, first: next, last: next + len - 1 });
        next += len;
    }
    // Days this draw leaves over beyond the recovery days (validation
    // leaves enough for the longest gaps): up to half of them go before
    // the events, so the first event's day is not fixed by the gaps alone.
    let slack = l.days.saturating_sub(l.recovery_days + next - 1);
    let early = rng.below(slack as usize / 2 + 1) as u32;
    for w in &mut windows {
        w.first += early;
        w.last += early;
    }
    windows
}
