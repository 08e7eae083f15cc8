//! Seeded, portable random draws.
//!
//! ChaCha20 gives the same stream on every platform, and every transcendental
//! function goes through `libm` (pure Rust) rather than the platform's C
//! library, so a seed yields the same bits on any machine: variants are
//! byte-identical, not merely statistically alike.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use sha2::{Digest, Sha256};

use crate::spec::Distribution;

#[derive(Clone)]
pub struct Rng(ChaCha20Rng);

impl Rng {
    /// An independent stream for one purpose of one draw: changing, say, the
    /// holdout size leaves the train rows of a seed untouched.
    pub fn stream(seed: u64, attempt: u32, purpose: &str) -> Rng {
        let mut h = Sha256::new();
        h.update(b"grader-variant/v1\0");
        h.update(seed.to_le_bytes());
        h.update(attempt.to_le_bytes());
        h.update(purpose.as_bytes());
        Rng(ChaCha20Rng::from_seed(h.finalize().into()))
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// The position in the stream, in 32-bit words (a `next_u64` takes two).
    pub fn word_pos(&self) -> u128 {
        self.0.get_word_pos()
    }

    /// This stream as it will be after `draws` more calls of `next_u64`:
    /// work whose draws are counted ahead can run on another core and
    /// still see the bits a single pass would.
    pub fn ahead(&self, draws: u64) -> Rng {
        let mut r = self.clone();
        r.0.set_word_pos(self.0.get_word_pos() + 2 * u128::from(draws));
        r
    }

    pub fn range(&mut self, [lo, hi]: [f64; 2]) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.0.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal by Box–Muller (one value per call keeps it stateless).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }

    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda < 30.0 {
            // Knuth: exact, fast enough for the small rates of count features.
            let l = libm::exp(-lambda);
            let mut k = 0.0;
            let mut p = self.uniform();
            while p > l {
                k += 1.0;
                p *= self.uniform();
            }
            k
        } else {
            // Large rates: the normal approximation is within the noise of any
            // test run on these row counts.
            libm::round(lambda + libm::sqrt(lambda) * self.normal()).max(0.0)
        }
    }

    /// Index drawn with probability proportional to `weights`.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// A draw from a numeric distribution (categorical gives the index).
    pub fn sample(&mut self, d: &Distribution) -> f64 {
        match d {
            Distribution::Normal { mean, sd } => mean + sd * self.normal(),
            Distribution::Lognormal { mu, sigma } => libm::exp(mu + sigma * self.normal()),
            Distribution::Uniform { low, high } => self.range([*low, *high]),
            Distribution::Exponential { mean } => -mean * libm::log(1.0 - self.uniform()),
            Distribution::Poisson { lambda } => self.poisson(*lambda),
            Distribution::Categorical { weights, .. } => self.weighted(weights) as f64,
        }
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }

    /// `k` distinct items of `items`, in drawn order.
    pub fn choose<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut idx: Vec<usize> = (0..items.len()).collect();
        self.shuffle(&mut idx);
        idx.into_iter().take(k).map(|i| items[i].clone()).collect()
    }

    /// A count in the inclusive range `[min, max]`.
    pub fn count(&mut self, [min, max]: [u32; 2]) -> usize {
        min as usize + self.below((max - min + 1) as usize)
    }
}

/// Rounds half away from zero to `decimals` places, portably.
pub fn round_to(x: f64, decimals: u32) -> f64 {
    let m = libm::pow(10.0, decimals as f64);
    libm::round(x * m) / m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<f64> = (0..5)
            .map({
                let mut r = Rng::stream(7, 0, "x");
                move |_| r.uniform()
            })
            .collect();
        let b: Vec<f64> = (0..5)
            .map({
                let mut r = Rng::stream(7, 0, "x");
                move |_| r.uniform()
            })
            .collect();
        let c: Vec<f64> = (0..5)
            .map({
                let mut r = Rng::stream(7, 0, "y");
                move |_| r.uniform()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn samplers_have_the_right_moments() {
        let mut r = Rng::stream(1, 0, "moments");
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "normal mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "normal variance {var}");
        for lambda in [0.7, 4.0, 55.0] {
            let m = (0..n).map(|_| r.poisson(lambda)).sum::<f64>() / n as f64;
            assert!((m - lambda).abs() < 0.02 * lambda.max(1.0), "poisson({lambda}) mean {m}");
        }
        let counts = (0..n).fold([0usize; 3], |mut c, _| {
            c[r.weighted(&[0.5, 0.3, 0.2])] += 1;
            c
        });
        assert!((counts[2] as f64 / n as f64 - 0.2).abs() < 0.005, "{counts:?}");
    }

    #[test]
    fn a_stream_ahead_is_the_stream_after_as_many_draws() {
        // Odd counts too: a draw can straddle ChaCha's blocks of 16 words.
        for draws in [0u64, 1, 7, 8, 31, 1000, 4097] {
            let start = Rng::stream(3, 0, "ahead");
            let mut walked = start.clone();
            (0..draws).for_each(|_| {
                walked.next_u64();
            });
            let mut ahead = start.ahead(draws);
            assert_eq!(ahead.word_pos(), walked.word_pos(), "{draws} draws");
            assert_eq!(ahead.next_u64(), walked.next_u64(), "{draws} draws");
        }
        // From a stream already part-way through a block.
        let mut mid = Rng::stream(3, 0, "ahead");
        mid.next_u64();
        let mut walked = mid.clone();
        (0..9).for_each(|_| {
            walked.next_u64();
        });
        assert_eq!(mid.ahead(9).next_u64(), walked.next_u64());
    }

    #[test]
    fn round_to_is_half_away_from_zero() {
        assert_eq!(round_to(2.345, 0), 2.0);
        assert_eq!(round_to(2.5, 0), 3.0);
        assert_eq!(round_to(-1.25, 1), -1.3);
        assert_eq!(round_to(1.005, 2), 1.0); // binary 1.005 is below the half
    }
}
