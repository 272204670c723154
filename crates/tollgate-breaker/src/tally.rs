//! A total that many threads add to without writing one shared cache line.
//!
//! A healthy closed breaker writes no shared breaker state; counting its admissions in
//! one atomic would put every core back on one cache line. So the count is striped:
//! each thread adds to its own stripe (picked once per thread), and a snapshot sums
//! them.

use tollgate_core::sync::{AtomicU64, Ordering};

use crate::shared::Padded;

#[derive(Debug)]
pub(crate) struct Tally {
    stripes: Box<[Padded<AtomicU64>]>,
    /// `stripes.len() - 1`; the length is a power of two.
    mask: usize,
}

impl Tally {
    pub(crate) fn new() -> Tally {
        let n = stripe_count();
        Tally {
            stripes: (0..n).map(|_| Padded(AtomicU64::new(0))).collect(),
            mask: n - 1,
        }
    }

    #[inline]
    pub(crate) fn add(&self) {
        // Relaxed: a lone counter; it publishes nothing.
        self.stripes[stripe() & self.mask].fetch_add(1, Ordering::Relaxed);
    }

    /// The total (each stripe read once: adds racing the read may or may not count).
    pub(crate) fn sum(&self) -> u64 {
        self.stripes
            .iter()
            // Relaxed: a figure for metrics.
            .map(|s| s.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// Up to 8 stripes, as many as the machine runs threads at once (a power of two).
#[cfg(not(loom))]
fn stripe_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8)
            .next_power_of_two()
    })
}

/// One stripe under loom: the protocol is the same, the model smaller.
#[cfg(loom)]
fn stripe_count() -> usize {
    1
}

/// This thread's stripe: consecutive threads get consecutive stripes.
#[cfg(not(loom))]
#[inline]
fn stripe() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;

    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let mine = s.get();
        if mine != usize::MAX {
            return mine;
        }
        // Relaxed: only hands out distinct numbers.
        let mine = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & (usize::MAX >> 1);
        s.set(mine);
        mine
    })
}

#[cfg(loom)]
#[inline]
fn stripe() -> usize {
    0
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    use super::*;

    #[test]
    fn threads_add_to_one_total() {
        let tally = std::sync::Arc::new(Tally::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let tally = std::sync::Arc::clone(&tally);
                std::thread::spawn(move || (0..1000).for_each(|_| tally.add()))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        tally.add();
        assert_eq!(tally.sum(), 4001);
    }
}
