//! The statistics behind certificates and scores: two-sample tests and
//! classification metrics. Distributions come from statrs; the tests are the
//! textbook ones, written out because statrs has no two-sample tests.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// Outcome of a two-sample test.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// Two-sample Kolmogorov–Smirnov test, asymptotic p-value
/// (Numerical Recipes' `kstwo` with Stephens' small-sample correction).
/// Ties are stepped over together, so discrete data is handled (conservatively).
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> TestResult {
    let mut a = a.to_vec();
    a.sort_unstable_by(f64::total_cmp);
    ks_presorted(&a, b)
}

/// [`ks_two_sample`] with `a` already sorted ascending: a reference sample
/// tested against several batches is sorted once.
pub fn ks_presorted(a: &[f64], b: &[f64]) -> TestResult {
    if a.is_empty() || b.is_empty() {
        return TestResult { statistic: 0.0, p_value: 1.0 };
    }
    let mut b = b.to_vec();
    b.sort_unstable_by(f64::total_cmp);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let d = if a.len() > 8 * b.len() { ks_distance_searched(a, &b) } else { ks_distance_merged(a, &b) };
    let en = (na * nb / (na + nb)).sqrt();
    let p = kolmogorov_q((en + 0.12 + 0.11 / en) * d);
    TestResult { statistic: d, p_value: p }
}

/// The largest gap between two sorted samples' empirical distribution
/// functions, walking both (every distinct value of either).
fn ks_distance_merged(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    d
}

/// The same gap when `a` is much larger than `b` (a million training rows
/// against a batch): between two of `b`'s values `b`'s function is flat, so
/// the gap peaks at a value of `b` or just below the next one, and `a`'s
/// counts there come from binary searches. The same pairs of counts as the
/// walk, so the same figure to the bit.
fn ks_distance_searched(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let mut d = 0f64;
    let mut j = 0usize;
    while j < b.len() {
        let x = b[j];
        // a's values below x, against b's below x (b's function flat there).
        let below = a.partition_point(|v| *v < x);
        d = d.max((below as f64 / na - j as f64 / nb).abs());
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let upto = below + a[below..].partition_point(|v| *v <= x);
        d = d.max((upto as f64 / na - j as f64 / nb).abs());
    }
    d
}

/// KS tests of a batch's bootstrap resamples against one sorted
/// reference. A resample is a count per value of the batch (sorted), so
/// the reference's counts below and up to each value are searched once and
/// a test walks the batch alone: the pairs of counts
/// [`ks_distance_searched`] takes, so the same figure to the bit as
/// [`ks_presorted`] of the resample.
pub struct KsResampler<'a> {
    reference: &'a [f64],
    values: Vec<f64>,
    below: Vec<usize>,
    upto: Vec<usize>,
}

impl<'a> KsResampler<'a> {
    /// `reference` and `values` sorted ascending.
    pub fn new(reference: &'a [f64], values: Vec<f64>) -> Self {
        let below = values.iter().map(|x| reference.partition_point(|v| v < x)).collect();
        let upto = values.iter().map(|x| reference.partition_point(|v| v <= x)).collect();
        KsResampler { reference, values, below, upto }
    }

    /// The test of the resample holding `counts[k]` copies of the k-th value.
    pub fn test(&self, counts: &[u32]) -> TestResult {
        let nb_count: u64 = counts.iter().map(|&c| c as u64).sum();
        if self.reference.is_empty() || nb_count == 0 {
            return TestResult { statistic: 0.0, p_value: 1.0 };
        }
        let (na, nb) = (self.reference.len() as f64, nb_count as f64);
        let (mut d, mut j, mut k) = (0f64, 0u64, 0usize);
        while k < self.values.len() {
            if counts[k] == 0 {
                k += 1;
                continue;
            }
            // One distinct value of the resample: every copy of it at once.
            let x = self.values[k];
            d = d.max((self.below[k] as f64 / na - j as f64 / nb).abs());
            let upto = self.upto[k];
            while k < self.values.len() && self.values[k] <= x {
                j += counts[k] as u64;
                k += 1;
            }
            d = d.max((upto as f64 / na - j as f64 / nb).abs());
        }
        let en = (na * nb / (na + nb)).sqrt();
        TestResult { statistic: d, p_value: kolmogorov_q((en + 0.12 + 0.11 / en) * d) }
    }
}

/// Q_KS(λ) = 2 Σ (-1)^(k-1) exp(-2 k² λ²).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let a2 = -2.0 * lambda * lambda;
    let (mut sum, mut sign, mut prev) = (0.0, 2.0, 0.0f64);
    for k in 1..=200 {
        let term = sign * (a2 * (k * k) as f64).exp();
        sum += term;
        if term.abs() <= 1e-12 * prev || term.abs() <= 1e-300 {
            return sum.clamp(0.0, 1.0);
        }
        sign = -sign;
        prev = term.abs();
    }
    1.0 // did not converge: only happens for tiny λ, where Q is 1
}

/// Pearson chi-square test of homogeneity for two samples of category counts
/// (same category order in both; categories absent from both are dropped).
pub fn chi_square_two_sample(a: &[u64], b: &[u64]) -> TestResult {
    let (na, nb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    let n = na + nb;
    let mut stat = 0.0;
    let mut k = 0usize;
    for (&x, &y) in a.iter().zip(b) {
        let col = (x + y) as f64;
        if col == 0.0 {
            continue;
        }
        k += 1;
        let (ea, eb) = (na * col / n, nb * col / n);
        stat += (x as f64 - ea).powi(2) / ea + (y as f64 - eb).powi(2) / eb;
    }
    if k < 2 || na == 0.0 || nb == 0.0 {
        return TestResult { statistic: 0.0, p_value: 1.0 };
    }
    let dist = ChiSquared::new((k - 1) as f64).expect("df >= 1");
    TestResult { statistic: stat, p_value: dist.sf(stat) }
}

/// Two-sided two-proportion z-test (pooled variance).
pub fn two_proportion_z(hits_a: u64, n_a: u64, hits_b: u64, n_b: u64) -> TestResult {
    if n_a == 0 || n_b == 0 {
        return TestResult { statistic: 0.0, p_value: 1.0 };
    }
    let (pa, pb) = (hits_a as f64 / n_a as f64, hits_b as f64 / n_b as f64);
    let pool = (hits_a + hits_b) as f64 / (n_a + n_b) as f64;
    let se = (pool * (1.0 - pool) * (1.0 / n_a as f64 + 1.0 / n_b as f64)).sqrt();
    if se == 0.0 {
        return TestResult { statistic: 0.0, p_value: 1.0 };
    }
    let z = (pb - pa) / se;
    let p = 2.0 * Normal::standard().sf(z.abs());
    TestResult { statistic: z, p_value: p.min(1.0) }
}

/// One-sided Welch test that `b`'s mean exceeds `a`'s (normal
/// approximation: both samples in the hundreds or more).
pub fn welch_greater(a: &[f64], b: &[f64]) -> TestResult {
    let moments = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        (mean, x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0), n)
    };
    if a.len() < 2 || b.len() < 2 {
        return TestResult { statistic: 0.0, p_value: 1.0 };
    }
    let ((ma, va, na), (mb, vb, nb)) = (moments(a), moments(b));
    let se = (va / na + vb / nb).sqrt();
    if se == 0.0 {
        return TestResult { statistic: 0.0, p_value: if mb > ma { 0.0 } else { 1.0 } };
    }
    let z = (mb - ma) / se;
    TestResult { statistic: z, p_value: Normal::standard().sf(z) }
}

/// Two-sided p of a standard normal statistic.
pub fn two_sided_normal_p(z: f64) -> f64 {
    if !z.is_finite() {
        return if z.is_nan() { 1.0 } else { 0.0 };
    }
    (2.0 * Normal::standard().sf(z.abs())).min(1.0)
}

/// Area under the ROC curve (Mann–Whitney U, ties get average ranks).
/// `None` when only one class is present.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len());
    let n_pos = labels.iter().filter(|l| **l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    // Pairs sorted in place (not indices sorted through the scores): the
    // same ranks, a few times faster on a million rows.
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for _ in pairs[i..=j].iter().filter(|p| p.1) {
            rank_sum_pos += avg_rank;
        }
        i = j + 1;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n))
}

/// The AUC `scores` would have in expectation when row `i` is positive
/// with probability `probs[i]`: no labels drawn, so no sampling noise
/// beyond the rows'. Ties count half. `None` without both classes.
pub fn expected_auc(scores: &[f64], probs: &[f64]) -> Option<f64> {
    assert_eq!(scores.len(), probs.len());
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));
    let (mut wins, mut negatives_below) = (0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let group = &order[i..=j];
        let pos: f64 = group.iter().map(|&k| probs[k]).sum();
        let neg: f64 = group.iter().map(|&k| 1.0 - probs[k]).sum();
        let same_row: f64 = group.iter().map(|&k| probs[k] * (1.0 - probs[k])).sum();
        wins += pos * negatives_below + 0.5 * (pos * neg - same_row);
        negatives_below += neg;
        i = j + 1;
    }
    let pos: f64 = probs.iter().sum();
    let pairs = pos * negatives_below - probs.iter().map(|p| p * (1.0 - p)).sum::<f64>();
    (pairs > 0.0).then(|| wins / pairs)
}

/// Average ranks (1-based; ties share their mean rank).
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut out = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        order[i..=j].iter().for_each(|&k| out[k] = (i + j) as f64 / 2.0 + 1.0);
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation of two equally long columns (ties ranked
/// by their mean rank); 0 when either is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    pearson(&ranks(a), &ranks(b))
}

/// Pearson's correlation of two equally long columns; 0 when either is
/// constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len().max(1) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15].
pub fn log_loss(probs: &[f64], labels: &[bool]) -> f64 {
    let eps = 1e-15;
    let s: f64 = probs
        .iter()
        .zip(labels)
        .map(|(p, y)| {
            let p = p.clamp(eps, 1.0 - eps);
            if *y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    s / probs.len().max(1) as f64
}

/// Mean squared error of probabilities against 0/1 labels.
pub fn brier(probs: &[f64], labels: &[bool]) -> f64 {
    let s: f64 = probs.iter().zip(labels).map(|(p, y)| (p - if *y { 1.0 } else { 0.0 }).powi(2)).sum();
    s / probs.len().max(1) as f64
}

/// Share of predictions equal to the labels.
pub fn accuracy(preds: &[bool], labels: &[bool]) -> f64 {
    let hits = preds.iter().zip(labels).filter(|(p, y)| p == y).count();
    hits as f64 / preds.len().max(1) as f64
}

/// Population stability index of `b` against `a` over `a`'s deciles (ties
/// merged, so a discrete column gets fewer bins), each share floored at
/// 1e-4: the drift rule of thumb a glance applies.
pub fn psi(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let mut sorted = a.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..10).map(|k| sorted[(k * sorted.len() / 10).min(sorted.len() - 1)]).collect();
    edges.dedup();
    let shares = |v: &[f64]| {
        let mut c = vec![0usize; edges.len() + 1];
        for x in v {
            c[edges.partition_point(|e| e < x)] += 1;
        }
        c.into_iter().map(|n| (n as f64 / v.len() as f64).max(1e-4)).collect::<Vec<f64>>()
    };
    let (p, q) = (shares(a), shares(b));
    p.iter().zip(&q).map(|(p, q)| (q - p) * (q / p).ln()).sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn welch_greater_is_one_sided() {
        let a: Vec<f64> = (0..500).map(|i| (i % 10) as f64).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 1.0).collect();
        assert!(super::welch_greater(&a, &b).p_value < 1e-6);
        assert!(super::welch_greater(&b, &a).p_value > 0.999);
        assert!((super::welch_greater(&a, &a).p_value - 0.5).abs() < 1e-9);
        assert!((super::two_sided_normal_p(1.959964) - 0.05).abs() < 1e-5);
        assert_eq!(super::two_sided_normal_p(0.0), 1.0);
    }

    use super::*;

    #[test]
    fn expected_auc_is_the_mean_auc_over_drawn_labels() {
        // Certain labels: the plain AUC.
        let s = [0.1, 0.4, 0.35, 0.8];
        assert_eq!(expected_auc(&s, &[0.0, 0.0, 1.0, 1.0]), auc(&s, &[false, false, true, true]));
        // A score unrelated to the probabilities is worth 0.5 ...
        let p = [0.2, 0.5, 0.5, 0.8];
        assert!((expected_auc(&[1.0; 4], &p).unwrap() - 0.5).abs() < 1e-12);
        // ... and the probabilities themselves beat a reversed ranking.
        let own = expected_auc(&p, &p).unwrap();
        let reversed = expected_auc(&[0.8, 0.5, 0.5, 0.2], &p).unwrap();
        assert!(own > 0.5 && reversed < 0.5 && (own + reversed - 1.0).abs() < 1e-12, "{own} {reversed}");
        // Monte Carlo agrees.
        let mut rng = crate::rng::Rng::stream(1, 0, "expected-auc");
        let probs: Vec<f64> = (0..400).map(|_| rng.uniform()).collect();
        let score: Vec<f64> = probs.iter().map(|p| p + 0.3 * rng.normal()).collect();
        let mean = (0..200)
            .map(|_| {
                let y: Vec<bool> = probs.iter().map(|p| rng.bernoulli(*p)).collect();
                auc(&score, &y).unwrap()
            })
            .sum::<f64>()
            / 200.0;
        assert!((expected_auc(&score, &probs).unwrap() - mean).abs() < 0.01, "{mean}");
    }

    #[test]
    fn the_searched_ks_distance_is_the_walked_one_to_the_bit() {
        let mut rng = crate::rng::Rng::stream(3, 0, "ks-search");
        for case in 0..200 {
            let (n, m) = (1 + rng.below(3000), 1 + rng.below(300));
            // Rounded values: ties within and across samples.
            let decimals = [0.0, 1.0, 3.0][case % 3];
            let k = 10f64.powf(decimals);
            let mut a: Vec<f64> = (0..n).map(|_| (rng.normal() * k).round() / k).collect();
            let mut b: Vec<f64> = (0..m).map(|_| ((rng.normal() + 0.2) * k).round() / k).collect();
            a.sort_unstable_by(f64::total_cmp);
            b.sort_unstable_by(f64::total_cmp);
            let (walked, searched) = (ks_distance_merged(&a, &b), ks_distance_searched(&a, &b));
            assert_eq!(walked.to_bits(), searched.to_bits(), "case {case}: n {n} m {m}: {walked} vs {searched}");
        }
    }

    #[test]
    fn a_counted_resample_tests_as_the_built_one_to_the_bit() {
        let mut rng = crate::rng::Rng::stream(4, 0, "ks-resample");
        for case in 0..200 {
            let (n, m) = (1 + rng.below(3000), 1 + rng.below(600));
            // Ties within and across samples, and both signs of zero.
            let k = 10f64.powf([0.0, 1.0, 3.0][case % 3]);
            let mut a: Vec<f64> = (0..n).map(|_| (rng.normal() * k).round() / k).collect();
            a.push(-0.0);
            a.sort_unstable_by(f64::total_cmp);
            let mut b: Vec<f64> = (0..m).map(|_| ((rng.normal() + 0.2) * k).round() / k).collect();
            b.extend([0.0, -0.0]);
            b.sort_unstable_by(f64::total_cmp);
            let ks = KsResampler::new(&a, b.clone());
            let mut counts = vec![0u32; b.len()];
            let mut built = Vec::new();
            for _ in 0..b.len() {
                let k = rng.below(b.len());
                counts[k] += 1;
                built.push(b[k]);
            }
            let (want, got) = (ks_presorted(&a, &built), ks.test(&counts));
            assert_eq!(want.statistic.to_bits(), got.statistic.to_bits(), "case {case}");
            assert_eq!(want.p_value.to_bits(), got.p_value.to_bits(), "case {case}");
        }
        // No value drawn: no evidence.
        assert_eq!(KsResampler::new(&[1.0], vec![2.0]).test(&[0]).p_value, 1.0);
    }

    #[test]
    fn psi_is_zero_for_a_resample_and_grows_with_a_shift() {
        let a: Vec<f64> = (0..10_000).map(|i| i as f64 / 10_000.0).collect();
        let same: Vec<f64> = (0..2_000).map(|i| (i as f64 + 0.5) / 2_000.0).collect();
        assert!(psi(&a, &same) < 0.001);
        let small: Vec<f64> = same.iter().map(|x| x + 0.02).collect();
        let large: Vec<f64> = same.iter().map(|x| x + 0.3).collect();
        let (s, l) = (psi(&a, &small), psi(&a, &large));
        assert!(s > 0.001 && s < 0.05 && l > 0.5, "{s} {l}");
        // A discrete column: ties merge bins.
        let counts: Vec<f64> = (0..1000).map(|i| (i % 3) as f64).collect();
        assert!(psi(&counts, &counts) < 1e-9);
    }

    #[test]
    fn auc_matches_hand_computed_values() {
        let y = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &y), Some(0.75));
        assert_eq!(auc(&[0.0, 0.0, 1.0, 1.0], &y), Some(1.0));
        assert_eq!(auc(&[0.5; 4], &y), Some(0.5)); // all ties
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn ks_detects_a_shift_and_not_a_resample() {
        let a: Vec<f64> = (0..2000).map(|i| i as f64 / 2000.0).collect();
        let same: Vec<f64> = (0..1000).map(|i| (i as f64 + 0.5) / 1000.0).collect();
        let shifted: Vec<f64> = same.iter().map(|x| x + 0.2).collect();
        let r = ks_two_sample(&a, &same);
        assert!(r.statistic < 0.01 && r.p_value > 0.99, "{r:?}");
        let r = ks_two_sample(&a, &shifted);
        assert!((r.statistic - 0.2).abs() < 0.002 && r.p_value < 1e-20, "{r:?}");
    }

    #[test]
    fn ks_p_value_matches_reference() {
        // scipy.stats.kstwobign.sf(1.0) = 0.26999967167735456
        assert!((kolmogorov_q(1.0) - 0.269_999_671_677_354_6).abs() < 1e-9);
    }

    #[test]
    fn chi_square_matches_reference() {
        // scipy.stats.chi2_contingency([[30, 70], [50, 50]], correction=False)
        // -> statistic 8.333333, p 0.003892417
        let r = chi_square_two_sample(&[30, 70], &[50, 50]);
        assert!((r.statistic - 8.333_333).abs() < 1e-5, "{r:?}");
        assert!((r.p_value - 0.003_892_417).abs() < 1e-8, "{r:?}");
    }

    #[test]
    fn two_proportion_z_matches_reference() {
        // 10/100 vs 25/100, pooled: scipy gives z = 2.7914526311954124,
        // 2 * norm.sf(z) = 0.00524720373911564
        let r = two_proportion_z(10, 100, 25, 100);
        assert!((r.statistic - 2.791_452_631_195_412).abs() < 1e-9, "{r:?}");
        assert!((r.p_value - 0.005_247_203_739_115_64).abs() < 1e-10, "{r:?}");
    }

    #[test]
    fn log_loss_and_brier() {
        let y = [true, false];
        assert!((log_loss(&[0.5, 0.5], &y) - std::f64::consts::LN_2).abs() < 1e-12);
        assert!((brier(&[1.0, 0.5], &y) - 0.125).abs() < 1e-12);
        assert!(log_loss(&[0.0, 1.0], &y).is_finite());
    }
}
