//! One feature's values from its latent normal score: the inverse of its
//! distribution function, truncated to the feature's range.
//!
//! Truncation, not clamping: a clamp would put every draw past a bound on
//! the bound (the audit found 45–57 % of a shifted column there), while a
//! truncated distribution has no point mass at its ends, before or after a
//! shift of the latent score. Everything goes through `libm`, so a seed
//! gives the same bits on every machine.

use crate::rng::round_to;
use crate::spec::Distribution;

/// Standard normal distribution function.
pub fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile: Acklam's rational approximation, refined by
/// one Halley step (relative error below 1e-15 on (0, 1)).
pub fn phi_inv(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.02425;
    let x = if p < low {
        let q = libm::sqrt(-2.0 * libm::log(p));
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = libm::sqrt(-2.0 * libm::log(1.0 - p));
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let e = phi(x) - p;
    let u = e * libm::sqrt(2.0 * std::f64::consts::PI) * libm::exp(x * x / 2.0);
    x - u / (1.0 + x * u / 2.0)
}

/// `P(X <= x)` of a numeric distribution.
pub fn cdf(d: &Distribution, x: f64) -> f64 {
    match *d {
        Distribution::Normal { mean, sd } => phi((x - mean) / sd),
        Distribution::Lognormal { mu, sigma } => {
            if x <= 0.0 {
                0.0
            } else {
                phi((libm::log(x) - mu) / sigma)
            }
        }
        Distribution::Uniform { low, high } => ((x - low) / (high - low)).clamp(0.0, 1.0),
        Distribution::Exponential { mean } => {
            if x <= 0.0 {
                0.0
            } else {
                1.0 - libm::exp(-x / mean)
            }
        }
        Distribution::Poisson { lambda } => {
            if x < 0.0 {
                return 0.0;
            }
            if lambda >= 30.0 {
                return phi((libm::floor(x) + 0.5 - lambda) / libm::sqrt(lambda));
            }
            let (mut p, mut total) = (libm::exp(-lambda), 0.0);
            for k in 0..=(libm::floor(x) as u64) {
                if k > 0 {
                    p *= lambda / k as f64;
                }
                total += p;
            }
            total.min(1.0)
        }
        Distribution::Categorical { .. } => unreachable!("numeric distributions only"),
    }
}

/// The smallest `x` with `P(X <= x) >= p`.
pub fn quantile(d: &Distribution, p: f64) -> f64 {
    let p = p.clamp(1e-16, 1.0 - 1e-16);
    match *d {
        Distribution::Normal { mean, sd } => mean + sd * phi_inv(p),
        Distribution::Lognormal { mu, sigma } => libm::exp(mu + sigma * phi_inv(p)),
        Distribution::Uniform { low, high } => low + (high - low) * p,
        Distribution::Exponential { mean } => -mean * libm::log(1.0 - p),
        Distribution::Poisson { lambda } => {
            if lambda >= 30.0 {
                return libm::round(lambda + libm::sqrt(lambda) * phi_inv(p)).max(0.0);
            }
            let (mut k, mut pk) = (0u64, libm::exp(-lambda));
            let mut total = pk;
            // The tail past lambda + 40 sd + 50 holds less than 1e-16.
            let cap = (lambda + 40.0 * libm::sqrt(lambda) + 50.0) as u64;
            while total < p && k < cap {
                k += 1;
                pk *= lambda / k as f64;
                total += pk;
            }
            k as f64
        }
        Distribution::Categorical { .. } => unreachable!("numeric distributions only"),
    }
}

/// Whether the distribution takes integer values only.
fn is_discrete(d: &Distribution) -> bool {
    matches!(d, Distribution::Poisson { .. })
}

/// The value at latent score `z`, the distribution truncated to
/// `[lo, hi]` (either may be infinite) and rounded to `decimals` places
/// without leaving `[lo, hi]`.
pub fn render(d: &Distribution, z: f64, lo: f64, hi: f64, decimals: u32) -> f64 {
    render_truncated(d, z, lo, hi, decimals, &mut Truncation::default())
}

/// The distribution function at the last bounds a feature was rendered
/// within: most rows of a column share their bounds (the clip), so a
/// column rendered row after row computes them once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Truncation {
    last: Option<([u64; 2], (f64, f64))>,
}

impl Truncation {
    fn probabilities(&mut self, d: &Distribution, lo: f64, hi: f64) -> (f64, f64) {
        let key = [lo.to_bits(), hi.to_bits()];
        if let Some((k, p)) = self.last {
            if k == key {
                return p;
            }
        }
        let p = if is_discrete(d) {
            let below = if lo.is_finite() { cdf(d, libm::ceil(lo) - 1.0) } else { 0.0 };
            (below, if hi.is_finite() { cdf(d, libm::floor(hi)) } else { 1.0 })
        } else {
            (if lo.is_finite() { cdf(d, lo) } else { 0.0 }, if hi.is_finite() { cdf(d, hi) } else { 1.0 })
        };
        self.last = Some((key, p));
        p
    }
}

/// [`render`] keeping the bounds' probabilities in `cache` (one per feature).
pub fn render_truncated(d: &Distribution, z: f64, lo: f64, hi: f64, decimals: u32, cache: &mut Truncation) -> f64 {
    let u = phi(z);
    let (p_lo, p_hi) = cache.probabilities(d, lo, hi);
    let x = if p_hi > p_lo {
        quantile(d, p_lo + u * (p_hi - p_lo))
    } else {
        // A range the distribution barely reaches: spread over it evenly.
        if lo.is_finite() && hi.is_finite() {
            lo + u * (hi - lo)
        } else if lo.is_finite() {
            lo
        } else {
            hi
        }
    };
    round_within(x.clamp(lo, hi), decimals, lo, hi)
}

/// Rounds to `decimals` places, stepping inward when rounding would cross
/// a bound (a bound of 21.08 years keeps 21.1, not 21).
pub fn round_within(x: f64, decimals: u32, lo: f64, hi: f64) -> f64 {
    let r = round_to(x, decimals);
    let step = libm::pow(10.0, -(decimals as f64));
    if r < lo {
        round_to(libm::ceil(lo / step) * step, decimals)
    } else if r > hi {
        round_to(libm::floor(hi / step) * step, decimals)
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_distribution_function() {
        for p in [1e-9, 0.001, 0.02, 0.3, 0.5, 0.77, 0.99, 1.0 - 1e-9] {
            assert!((phi(phi_inv(p)) - p).abs() < 1e-12 * p.max(1e-3) * 1e3, "{p}");
        }
        assert!((phi_inv(0.975) - 1.959963984540054).abs() < 1e-12);
        let lognormal = Distribution::Lognormal { mu: 2.9, sigma: 0.85 };
        assert!((cdf(&lognormal, quantile(&lognormal, 0.3)) - 0.3).abs() < 1e-12);
        let poisson = Distribution::Poisson { lambda: 3.0 };
        let q = quantile(&poisson, 0.6);
        assert!(cdf(&poisson, q) >= 0.6 && cdf(&poisson, q - 1.0) < 0.6, "{q}");
    }

    #[test]
    fn truncation_puts_no_mass_on_a_bound_and_rounding_stays_inside() {
        // A normal age truncated at 18: after a shift of -0.7 latent SDs a
        // clamp would put 11 % of rows at 18; truncation keeps them spread.
        let d = Distribution::Normal { mean: 41.0, sd: 12.0 };
        let n = 20_000;
        let at_bound = (0..n)
            .map(|i| phi_inv((i as f64 + 0.5) / n as f64) - 0.7)
            .filter(|z| render(&d, *z, 18.0, 85.0, 0) <= 18.0)
            .count();
        assert!((at_bound as f64 / n as f64) < 0.02, "{at_bound} of {n} at the bound");
        assert_eq!(round_within(21.04, 1, 21.08, 30.0), 21.1);
        assert_eq!(round_within(21.04, 0, 21.08, 30.0), 22.0);
        assert_eq!(round_within(29.96, 1, 0.0, 29.94), 29.9);
        for z in [-9.0, -3.0, 0.0, 3.0, 9.0] {
            let x = render(&Distribution::Poisson { lambda: 1.1 }, z, 1.0, 4.0, 0);
            assert!((1.0..=4.0).contains(&x), "{x}");
        }
    }
}
