//! A small seeded generator for jitter and probabilistic shedding.

use std::hash::{BuildHasher, RandomState};

/// splitmix64: a tiny, fast generator with good statistical quality for drawing
/// jitter and throttling decisions. It is not cryptographic.
///
/// Seed it for reproducible tests, or from [`SplitMix64::random`] in production.
///
/// ```
/// use tollgate_core::SplitMix64;
///
/// let mut a = SplitMix64::new(42);
/// let mut b = SplitMix64::new(42);
/// let x = a.next_unit();
/// assert!((0.0..1.0).contains(&x));
/// assert_eq!(x, b.next_unit()); // the same seed draws the same sequence
/// assert_ne!(a.next_u64(), SplitMix64::new(43).next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from std's randomly keyed hasher, different in every process.
    pub fn random() -> Self {
        Self::new(RandomState::new().hash_one(0x7011_6a7e_u64))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`, from the top 53 bits.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sequence() {
        // The reference splitmix64 outputs for seed 0.
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(g.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn units_stay_in_range_and_spread() {
        let mut g = SplitMix64::new(7);
        let draws: Vec<f64> = (0..10_000).map(|_| g.next_unit()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        assert_ne!(
            SplitMix64::random().next_u64(),
            SplitMix64::random().next_u64()
        );
    }
}
