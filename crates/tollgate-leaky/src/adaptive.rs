//! Client-side adaptive throttling (Google SRE book, "Handling Overload").
//!
//! Over a sliding window the client counts `requests` (every call it attempted) and
//! `accepts` (calls the backend accepted). When the backend starts refusing, requests
//! outgrow `k * accepts` and the client sheds locally with probability
//! `max(0, (requests - k * accepts) / (requests + 1))`, so an overloaded backend is not
//! also flooded with calls it would refuse.

use std::fmt;
use std::time::Duration;

use tollgate_core::{SplitMix64, Timestamp};

/// A source of uniform random numbers in `[0, 1)` for adaptive throttling: the shared
/// [`SplitMix64`] by default; tests inject a fixed sequence to make local rejections
/// exact.
pub(crate) enum Random {
    Seeded(SplitMix64),
    Custom(Box<dyn FnMut() -> f64 + Send>),
}

impl Random {
    fn next_unit(&mut self) -> f64 {
        match self {
            Random::Seeded(rng) => rng.next_unit(),
            Random::Custom(draw) => draw(),
        }
    }
}

/// Sub-windows the sliding window is made of: the window slides in steps of 1/SLOTS.
const SLOTS: usize = 10;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// Which step of the timeline this slot counts; stale slots are reset on use.
    epoch: u64,
    requests: u64,
    accepts: u64,
}

pub(crate) struct Adaptive {
    k: f64,
    step: u64,
    slots: [Slot; SLOTS],
    random: Random,
}

impl Adaptive {
    pub(crate) fn new(k: f64, window: Duration, random: Random) -> Self {
        // Fits: the builder caps the window at one day.
        let step = (window.as_nanos() as u64 / SLOTS as u64).max(1);
        Self {
            k,
            step,
            slots: [Slot::default(); SLOTS],
            random,
        }
    }

    fn slot(&mut self, now: Timestamp) -> &mut Slot {
        let epoch = now.as_nanos() / self.step;
        let slot = &mut self.slots[(epoch % SLOTS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Slot {
                epoch,
                requests: 0,
                accepts: 0,
            };
        }
        slot
    }

    /// Totals over the slots still inside the window at `now`.
    pub(crate) fn totals(&self, now: Timestamp) -> (u64, u64) {
        let epoch = now.as_nanos() / self.step;
        let oldest = epoch.saturating_sub(SLOTS as u64 - 1);
        self.slots
            .iter()
            .filter(|s| s.epoch >= oldest && s.epoch <= epoch)
            .fold((0, 0), |(r, a), s| (r + s.requests, a + s.accepts))
    }

    /// The probability of a local rejection at `now`.
    pub(crate) fn probability(&self, now: Timestamp) -> f64 {
        let (requests, accepts) = self.totals(now);
        let requests = requests as f64;
        ((requests - self.k * accepts as f64) / (requests + 1.0)).max(0.0)
    }

    /// Counts one attempted request and decides whether to shed it. `true` = shed.
    pub(crate) fn attempt(&mut self, now: Timestamp) -> bool {
        let p = self.probability(now);
        self.slot(now).requests += 1;
        p > 0.0 && self.random.next_unit() < p
    }

    /// Counts one request the backend accepted.
    pub(crate) fn accept(&mut self, now: Timestamp) {
        self.slot(now).accepts += 1;
    }
}

impl fmt::Debug for Adaptive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adaptive")
            .field("k", &self.k)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adaptive(draws: Vec<f64>) -> Adaptive {
        let mut draws = draws.into_iter().cycle();
        Adaptive::new(
            2.0,
            Duration::from_secs(10),
            Random::Custom(Box::new(move || draws.next().unwrap_or(0.0))),
        )
    }

    #[test]
    fn no_shedding_while_backend_accepts() {
        let mut a = adaptive(vec![0.0]);
        let now = Timestamp::ZERO;
        for _ in 0..100 {
            assert!(!a.attempt(now));
            a.accept(now);
        }
        assert_eq!(a.probability(now), 0.0);
    }

    #[test]
    fn probability_follows_the_sre_formula() {
        let mut a = adaptive(vec![0.99]);
        let now = Timestamp::from_nanos(5);
        // 10 requests, 2 accepts: (10 - 2*2) / 11.
        for i in 0..10 {
            a.attempt(now);
            if i < 2 {
                a.accept(now);
            }
        }
        assert_eq!(a.totals(now), (10, 2));
        assert_eq!(a.probability(now), 6.0 / 11.0);
        // A draw below p sheds, one above does not.
        let mut low = adaptive(vec![0.5]);
        let mut high = adaptive(vec![0.6]);
        for x in [&mut low, &mut high] {
            for i in 0..10 {
                x.attempt(now);
                if i < 2 {
                    x.accept(now);
                }
            }
        }
        assert!(low.attempt(now));
        assert!(!high.attempt(now));
    }

    #[test]
    fn old_slots_leave_the_window() {
        let mut a = adaptive(vec![0.0]);
        for _ in 0..10 {
            a.attempt(Timestamp::ZERO);
        }
        assert_eq!(a.totals(Timestamp::ZERO), (10, 0));
        // One full window later the old counts are gone.
        let later = Timestamp::ZERO + Duration::from_secs(10);
        assert_eq!(a.totals(later), (0, 0));
        assert_eq!(a.probability(later), 0.0);
    }
}
