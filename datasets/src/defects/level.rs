//! Difficulty by design: how hard a planted defect is to find (its
//! level), each kind's strength per level, and the mix of levels every
//! variant of an exercise carries (`[defects.mix]`).
//!
//! *Obvious* defects are what any one check finds. *Subtle* ones are found
//! by a careful, standard test at the published sizes and missed by a
//! glance; the certificate proves both halves (see `certify`).

use serde::{Deserialize, Serialize};

use super::{invalid, Invalid};
use crate::spec::{check_range, Range};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Obvious,
    Subtle,
}
crate::word_enum!(Level {
    Obvious => "obvious",
    Subtle => "subtle",
});

/// A kind's `strength`: `[min, max]` (every draw obvious), or one band per
/// level, `{ obvious = [min, max], subtle = [min, max] }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Strength {
    pub obvious: Range,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtle: Option<Range>,
}

impl<'de> Deserialize<'de> for Strength {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Levels {
            obvious: Range,
            subtle: Option<Range>,
        }
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a band [min, max] or a table { obvious = [min, max], subtle = [min, max] }")]
        enum Either {
            One(Range),
            Levels(Levels),
        }
        Ok(match Either::deserialize(d)? {
            Either::One(r) => Strength { obvious: r, subtle: None },
            Either::Levels(l) => Strength { obvious: l.obvious, subtle: l.subtle },
        })
    }
}

impl Strength {
    /// The band a draw of `level` comes from (a subtle draw is only planned
    /// where the kind has a subtle band).
    pub fn band(&self, level: Level) -> Range {
        match level {
            Level::Obvious => self.obvious,
            Level::Subtle => self.subtle.expect("a subtle draw is planned only where a subtle band is declared"),
        }
    }

    pub fn has(&self, level: Level) -> bool {
        level == Level::Obvious || self.subtle.is_some()
    }

    /// Each band within `[min, max]`; `field` is `<kind>.strength`.
    pub(crate) fn check(&self, field: &str, min: f64, max: f64) -> Result<(), Invalid> {
        if self.subtle.is_none() {
            return check_range(field, self.obvious, min, max);
        }
        check_range(&format!("{field}.obvious"), self.obvious, min, max)?;
        check_range(&format!("{field}.subtle"), self.band(Level::Subtle), min, max)
    }
}

/// How many defects of each level a variant plants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LevelCount {
    #[serde(default)]
    pub obvious: u32,
    #[serde(default)]
    pub subtle: u32,
}

impl LevelCount {
    pub fn total(&self) -> u32 {
        self.obvious + self.subtle
    }
}

/// `[defects.mix]`: the same mix on every seed (equal difficulty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    #[serde(default)]
    pub leaks: LevelCount,
    #[serde(default)]
    pub drifts: LevelCount,
}

/// The mix must add up to the counts, which it then fixes.
pub(crate) fn validate_mix(mix: &Mix, leak_count: [u32; 2], drift_count: [u32; 2]) -> Result<(), Invalid> {
    for (field, m, count, what) in
        [("mix.leaks", mix.leaks, leak_count, "leak_count"), ("mix.drifts", mix.drifts, drift_count, "drift_count")]
    {
        if count != [m.total(); 2] {
            return invalid(
                field,
                format!(
                    "{} obvious + {} subtle = {} per variant, but {what} is [{}, {}]: a mix fixes the count, \
                     so {what} must be [{t}, {t}]",
                    m.obvious,
                    m.subtle,
                    m.total(),
                    count[0],
                    count[1],
                    t = m.total()
                ),
            );
        }
    }
    Ok(())
}

/// Picks which `subtle` of the `n` defects (those `eligible` for a subtle
/// band) are subtle; the rest are obvious.
pub(crate) fn assign(eligible: &[bool], subtle: usize, rng: &mut crate::rng::Rng) -> Vec<Level> {
    let mut candidates: Vec<usize> = (0..eligible.len()).filter(|&i| eligible[i]).collect();
    rng.shuffle(&mut candidates);
    let mut levels = vec![Level::Obvious; eligible.len()];
    for &i in candidates.iter().take(subtle) {
        levels[i] = Level::Subtle;
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        strength: Strength,
    }

    #[test]
    fn a_strength_is_one_band_or_one_per_level() {
        let one: T = toml::from_str("strength = [0.1, 0.2]").unwrap();
        assert_eq!(one.strength, Strength { obvious: [0.1, 0.2], subtle: None });
        assert!(!one.strength.has(Level::Subtle));
        let two: T = toml::from_str("strength = { obvious = [0.3, 0.6], subtle = [0.1, 0.2] }").unwrap();
        assert_eq!(two.strength.band(Level::Subtle), [0.1, 0.2]);
        assert_eq!(two.strength.band(Level::Obvious), [0.3, 0.6]);
        let err = toml::from_str::<T>("strength = { loud = [0.3, 0.6] }").err().unwrap().to_string();
        assert!(err.contains("obvious = [min, max]"), "{err}");
    }

    #[test]
    fn a_mix_must_add_up_to_fixed_counts() {
        let mix = Mix { leaks: LevelCount { obvious: 1, subtle: 1 }, drifts: LevelCount { obvious: 1, subtle: 1 } };
        assert!(validate_mix(&mix, [2, 2], [2, 2]).is_ok());
        let (field, why) = validate_mix(&mix, [2, 3], [2, 2]).unwrap_err();
        assert_eq!(field, "defects.mix.leaks");
        assert!(why.contains("leak_count must be [2, 2]"), "{why}");
        assert_eq!(validate_mix(&mix, [2, 2], [1, 1]).unwrap_err().0, "defects.mix.drifts");
    }

    #[test]
    fn assign_makes_exactly_the_eligible_subtle() {
        let mut rng = crate::rng::Rng::stream(1, 0, "t");
        for _ in 0..50 {
            let l = assign(&[true, false, true], 1, &mut rng);
            assert_eq!(l.iter().filter(|x| **x == Level::Subtle).count(), 1);
            assert_eq!(l[1], Level::Obvious);
        }
    }
}
