//! A small deterministic random source on top of ChaCha8.
//!
//! Every practice and every patient gets its own stream, derived from the
//! configured seed and its position, so a patient's data does not depend on
//! how many other patients were generated before it.

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Deterministic random source with the helpers the generator needs.
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream `stream` of the generator seeded with `seed`.
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        Rng(inner)
    }

    /// Uniform integer in `lo..=hi`.
    pub(crate) fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        self.0.gen_range(lo..=hi)
    }

    /// Uniform index in `0..n` (`n` must be positive).
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.0.gen_range(0..n)
    }

    /// Uniform float in `lo..hi`.
    pub(crate) fn float(&mut self, lo: f64, hi: f64) -> f64 {
        if hi <= lo {
            return lo;
        }
        self.0.gen_range(lo..hi)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.0.gen::<f64>() < p
    }

    /// A uniformly chosen element.
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// An element chosen with the given integer weights.
    pub(crate) fn weighted<'a, T>(&mut self, xs: &'a [(T, u32)]) -> &'a T {
        let total: u32 = xs.iter().map(|(_, w)| *w).sum();
        let mut r = self.0.gen_range(0..total.max(1));
        for (x, w) in xs {
            if r < *w {
                return x;
            }
            r -= *w;
        }
        &xs[xs.len() - 1].0
    }

    /// A normally distributed value (Box-Muller).
    pub(crate) fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1: f64 = self.0.gen::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.0.gen();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A string of `n` decimal digits.
    pub(crate) fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.0.gen_range(0..10u8)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<i64> = {
            let mut r = Rng::new(7, 1);
            (0..8).map(|_| r.int(0, 1000)).collect()
        };
        let b: Vec<i64> = {
            let mut r = Rng::new(7, 1);
            (0..8).map(|_| r.int(0, 1000)).collect()
        };
        let c: Vec<i64> = {
            let mut r = Rng::new(7, 2);
            (0..8).map(|_| r.int(0, 1000)).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
