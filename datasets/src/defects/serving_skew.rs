//! Train/serving skew (report name `serving_skew`): the serving pipeline
//! encodes a column differently from the training extract, in production,
//! live traffic and the sealed holdout alike: numbers in another unit
//! (dollars to cents), or categories spelled another way.
//!
//! Obvious: every served row. Subtle: a unit change on a share of the
//! served rows (one upstream source not migrated), the share solved per
//! variant so that a KS test of the column against train.csv lands in the
//! certificate's `subtle_drift_p` band. A range check finds those rows
//! too (each is a training value times the factor); PSI over training
//! deciles barely moves.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::level::{Level, Strength};
use super::plan::{Drift, DriftChange};
use super::{invalid, Invalid};
use crate::draw::Values;
use crate::rng::{round_to, Rng};
use crate::spec::{Distribution, ExerciseSpec, FeatureSpec, Range};
use crate::stats;

/// `[defects.serving_skew]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSkewSpec {
    /// Numeric feature -> factor its values carry at serving time (a unit
    /// change: 100 for dollars to cents).
    #[serde(default)]
    pub unit: BTreeMap<String, f64>,
    /// Categorical features whose categories are spelled differently at
    /// serving time (upper case, `-` and spaces as `_`).
    #[serde(default)]
    pub spelling: Vec<String>,
    /// Share of served rows in the serving encoding, per level. Obvious
    /// when absent: every row. A subtle band applies to `unit` features
    /// only (a respelled category is found by a set difference at any
    /// share).
    #[serde(default)]
    pub share: Option<Strength>,
}

impl ServingSkewSpec {
    /// Whether a skew of `feature` may be drawn subtle.
    pub(crate) fn subtle_able(&self, feature: &str) -> bool {
        self.unit.contains_key(feature) && self.share.as_ref().is_some_and(|s| s.has(Level::Subtle))
    }
}

/// How the serving pipeline spells a category under serving skew.
pub fn serving_spelling(category: &str) -> String {
    category.to_uppercase().replace(['-', ' '], "_")
}

pub(crate) fn validate(
    k: &ServingSkewSpec,
    spec: &ExerciseSpec,
    eligible: &mut BTreeSet<String>,
) -> Result<(), Invalid> {
    if k.unit.is_empty() && k.spelling.is_empty() {
        return invalid("serving_skew", "needs at least one feature in `unit` or `spelling`".into());
    }
    for (name, factor) in &k.unit {
        match spec.feature(name) {
            Some(f) if !f.dist.is_categorical() => {}
            _ => {
                return invalid(
                    &format!("serving_skew.unit.{name}"),
                    format!("`{name}` is not a numeric feature of this exercise"),
                )
            }
        }
        if !(factor.is_finite() && *factor > 0.0 && (factor.ln().abs() >= 2.0f64.ln())) {
            return invalid(
                &format!("serving_skew.unit.{name}"),
                format!("{factor} must be a positive factor of at least 2 (or at most 1/2): a unit change"),
            );
        }
        eligible.insert(name.clone());
    }
    if let Some(share) = &k.share {
        share.check("serving_skew.share", 0.0, 1.0)?;
        if share.band(Level::Obvious)[0] < 0.5 {
            return invalid(
                "serving_skew.share.obvious",
                format!("{:?} starts below 0.5: an obvious skew encodes most served rows", share.obvious),
            );
        }
        if share.subtle.is_some_and(|[lo, _]| lo <= 0.0) {
            return invalid("serving_skew.share.subtle", "must be above 0: a subtle skew encodes some rows".into());
        }
        if share.subtle.is_some() && k.unit.is_empty() {
            return invalid(
                "serving_skew.share.subtle",
                "a subtle skew is a share of rows in another unit: needs a feature in `unit`".into(),
            );
        }
    }
    for name in &k.spelling {
        let Some(Distribution::Categorical { categories, .. }) = spec.feature(name).map(|f| &f.dist) else {
            return invalid("serving_skew.spelling", format!("`{name}` is not a categorical feature of this exercise"));
        };
        if let Some(c) = categories.iter().find(|c| categories.contains(&serving_spelling(c))) {
            return invalid(
                "serving_skew.spelling",
                format!("`{name}`'s category `{c}` is spelled the same at serving time (lower-case names with `-` or spaces are respelled)"),
            );
        }
        eligible.insert(name.clone());
    }
    Ok(())
}

/// The encoding `feature` gets: its unit factor, or its respelled
/// categories; on a share of the rows when the band says so (a subtle
/// share is solved later, by [`calibrate`]), those rows picked by their id
/// under a key drawn here.
pub(crate) fn draw(s: &ServingSkewSpec, feature: &str, f: &FeatureSpec, level: Level, rng: &mut Rng) -> DriftChange {
    let (share, row_key) = match s.share.as_ref().map(|b| b.band(level)) {
        Some(band) if band != [1.0, 1.0] => (Some(rng.range(band)), Some(rng.next_u64())),
        _ => (None, None),
    };
    match (s.unit.get(feature), &f.dist) {
        (Some(factor), _) => DriftChange::ServingSkew { factor: Some(*factor), spelling: None, share, row_key },
        (None, Distribution::Categorical { categories, .. }) => DriftChange::ServingSkew {
            factor: None,
            spelling: Some(categories.iter().map(|c| serving_spelling(c)).collect()),
            share,
            row_key,
        },
        (None, _) => unreachable!("validated: spelling skew hits categorical features"),
    }
}

/// Whether the row with `id` is served in the other encoding: a keyed mix
/// of its id against the share, so the same rows are found again when the
/// encoding is undone (splitmix64: portable, and cheap at a million rows).
fn encoded(id: i64, share: Option<f64>, key: Option<u64>) -> bool {
    let Some(share) = share else { return true };
    let mut z = (id as u64) ^ key.unwrap_or(0);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) < share
}

/// The serving pipeline's encoding of one feature's column (rows `ids`).
pub(crate) fn apply(f: &FeatureSpec, change: &DriftChange, values: &mut Values, ids: &[i64]) {
    let DriftChange::ServingSkew { share, row_key, .. } = change else { unreachable!("a serving skew") };
    let rows = |i: usize| encoded(ids[i], *share, *row_key);
    match (change, values) {
        (DriftChange::ServingSkew { factor: Some(k), .. }, Values::Num(v)) => {
            v.iter_mut()
                .enumerate()
                .filter(|(i, _)| rows(*i))
                .for_each(|(_, x)| x.iter_mut().for_each(|x| *x = round_to(*x * k, f.decimals())));
        }
        (DriftChange::ServingSkew { spelling: Some(s), .. }, Values::Cat(v)) => {
            // Spellings sit after the training categories (categories_with_new).
            let n = (match &f.dist {
                Distribution::Categorical { categories, .. } => categories.len(),
                _ => unreachable!("categorical"),
            }) as u32;
            debug_assert_eq!(s.len() as u32, n);
            v.iter_mut().enumerate().filter(|(i, _)| rows(*i)).for_each(|(_, x)| x.iter_mut().for_each(|x| *x += n));
        }
        _ => unreachable!("validated: skew kinds match feature types"),
    }
}

/// Solves a subtle skew's share within `band` so that production against
/// train (KS) lands at a p drawn log-uniformly over the middle half of
/// `p_band`, as a subtle column drift's strength is solved. Bisection: the
/// rows encoded at a share include those at any smaller one, so p falls
/// as the share grows.
pub(crate) fn calibrate(
    d: &mut Drift,
    (band, p_band): (Range, Range),
    f: &FeatureSpec,
    train: &Values,
    production: (&Values, &[i64]),
    rng: &mut Rng,
) {
    let [lo, hi] = p_band.map(f64::ln);
    let target = rng.range([lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo)]);
    let Values::Num(t) = train else { unreachable!("validated: a subtle skew is a unit change") };
    let mut sorted: Vec<f64> = t.iter().flatten().copied().collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let log_p = |s: f64| -> f64 {
        let mut change = d.change.clone();
        if let DriftChange::ServingSkew { share, .. } = &mut change {
            *share = Some(s);
        }
        let mut v = production.0.clone();
        apply(f, &change, &mut v, production.1);
        let Values::Num(b) = &v else { unreachable!("numeric") };
        stats::ks_presorted(&sorted, &b.iter().flatten().copied().collect::<Vec<f64>>()).p_value.max(1e-300).ln()
    };
    let solved = super::column_drift::bisect(band, 14, target, log_p);
    if let DriftChange::ServingSkew { share, .. } = &mut d.change {
        *share = Some(crate::rng::round_to(solved, 4));
    }
}

/// The inverse of [`apply`]: the extract's encoding of a served column
/// (a unit factor divided out, respelled categories mapped back), for
/// checks that hold on what a value means, not how it is served.
pub(crate) fn undo(f: &FeatureSpec, change: &DriftChange, values: &mut Values, ids: &[i64]) {
    let DriftChange::ServingSkew { share, row_key, .. } = change else { return };
    let rows = |i: usize| encoded(ids[i], *share, *row_key);
    match (change, values, &f.dist) {
        (DriftChange::ServingSkew { factor: Some(k), .. }, Values::Num(v), _) => {
            v.iter_mut().enumerate().filter(|(i, _)| rows(*i)).for_each(|(_, x)| x.iter_mut().for_each(|x| *x /= k));
        }
        (
            DriftChange::ServingSkew { spelling: Some(_), .. },
            Values::Cat(v),
            Distribution::Categorical { categories, .. },
        ) => {
            let n = categories.len() as u32;
            v.iter_mut().flatten().filter(|c| **c >= n).for_each(|c| *c -= n);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dollars() -> FeatureSpec {
        toml::from_str(
            r#"
            name = "monthly_charges"
            dist = { kind = "normal", mean = 68.0, sd = 22.0 }
            clip = [15, 140]
            decimals = 2
            "#,
        )
        .unwrap()
    }

    fn skew(share: Option<f64>) -> DriftChange {
        DriftChange::ServingSkew { factor: Some(100.0), spelling: None, share, row_key: Some(7) }
    }

    /// A share encodes about that share of the rows; a larger share
    /// encodes a superset (calibration's bisection relies on it); undo
    /// gives back the extract's values on exactly those rows.
    #[test]
    fn a_share_encodes_its_rows_and_undo_finds_them_again() {
        let f = dollars();
        let ids: Vec<i64> = (0..20_000).map(|i| 1_000_000 + 4 * i).collect();
        let train = Values::Num((0..20_000).map(|i| Some(20.0 + (i % 100) as f64)).collect());
        let encoded_rows = |share: Option<f64>| {
            let mut v = train.clone();
            apply(&f, &skew(share), &mut v, &ids);
            let (Values::Num(a), Values::Num(b)) = (&train, &v) else { unreachable!() };
            let rows: Vec<bool> = a.iter().zip(b).map(|(x, y)| x != y).collect();
            (v, rows)
        };
        let (small, small_rows) = encoded_rows(Some(0.03));
        let (_, large_rows) = encoded_rows(Some(0.10));
        let (_, all_rows) = encoded_rows(None);
        let share = |r: &[bool]| r.iter().filter(|x| **x).count() as f64 / r.len() as f64;
        assert!((share(&small_rows) - 0.03).abs() < 0.005, "{}", share(&small_rows));
        assert!((share(&large_rows) - 0.10).abs() < 0.01, "{}", share(&large_rows));
        assert_eq!(share(&all_rows), 1.0);
        assert!(small_rows.iter().zip(&large_rows).all(|(s, l)| !s || *l), "a larger share, a superset");
        let mut back = small;
        undo(&f, &skew(Some(0.03)), &mut back, &ids);
        let (Values::Num(a), Values::Num(b)) = (&train, &back) else { unreachable!() };
        assert!(a.iter().zip(b).all(|(x, y)| (x.unwrap() - y.unwrap()).abs() < 1e-9));
    }

    /// The share is solved into the p band: KS of the encoded column
    /// against train, with the same rows as the solved share encodes.
    #[test]
    fn calibration_lands_the_share_inside_the_band() {
        let f = dollars();
        let mut rng = Rng::stream(1, 0, "test");
        let column = |n: usize, rng: &mut Rng| {
            Values::Num((0..n).map(|_| Some(round_to(68.0 + 22.0 * rng.normal(), 2).clamp(15.0, 140.0))).collect())
        };
        let (train, production) = (column(20_000, &mut rng), column(5_000, &mut rng));
        let ids: Vec<i64> = (0..5_000).map(|i| 9_000_000 + 4 * i).collect();
        let mut d = Drift { feature: f.name.clone(), index: 0, change: skew(Some(0.5)), level: Level::Subtle };
        let p_band = [1e-12, 1e-6];
        calibrate(&mut d, ([0.005, 0.3], p_band), &f, &train, (&production, &ids), &mut rng);
        let DriftChange::ServingSkew { share: Some(share), .. } = d.change else { panic!("{:?}", d.change) };
        assert!((0.005..0.3).contains(&share), "{share}");
        let mut served = production.clone();
        apply(&f, &d.change, &mut served, &ids);
        let (Values::Num(a), Values::Num(b)) = (&train, &served) else { unreachable!() };
        let flat = |v: &[Option<f64>]| v.iter().flatten().copied().collect::<Vec<f64>>();
        let p = stats::ks_two_sample(&flat(a), &flat(b)).p_value;
        assert!(p >= p_band[0] / 10.0 && p <= p_band[1] * 10.0, "share {share}: p {p}");
    }
}
