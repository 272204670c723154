//! Counters for snapshots, kept off the hot path's contended cache lines and free of
//! locked instructions for the threads that count most.
//!
//! A counter has [`OWNED`] stripes, each owned by at most one thread at a time, plus
//! one shared stripe. A thread takes a free stripe index the first time it counts and
//! gives it back when it exits; while it owns index `i`, it is the only writer of
//! stripe `i` of every counter, so it adds with a plain load and store (no `lock`
//! prefix, no lost update). Threads beyond the first [`OWNED`] live ones use the shared
//! stripe with an atomic add. Counters are not part of any decision, so they use std
//! atomics even under loom.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Stripes owned by one thread each.
const OWNED: usize = 16;

#[derive(Default)]
pub(crate) struct StripedCounter {
    /// `OWNED` owned stripes, then the shared one.
    stripes: [Padded; OWNED + 1],
}

#[derive(Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// Stripe indexes no live thread owns.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// Whether `FREE` was filled yet.
static FILLED: std::sync::Once = std::sync::Once::new();

/// A thread's stripe, given back to `FREE` when the thread exits.
struct Owned(usize);

impl Owned {
    fn take() -> Self {
        FILLED.call_once(|| {
            let mut free = FREE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            free.extend((0..OWNED).rev());
        });
        let mut free = FREE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Owned(free.pop().unwrap_or(OWNED))
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.0 < OWNED {
            FREE.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(self.0);
        }
    }
}

thread_local! {
    static STRIPE: Owned = Owned::take();
}

impl StripedCounter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        // A thread being torn down (no thread-local left) counts on the shared stripe.
        let i = STRIPE.try_with(|s| s.0).unwrap_or(OWNED);
        let stripe = &self.stripes[i].0;
        if i < OWNED {
            // Relaxed load and store: this thread is the stripe's only writer, so
            // nothing can come between them; readers only need a recent value.
            stripe.store(stripe.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        } else {
            // Relaxed: a shared counter orders nothing else.
            stripe.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.stripes
            .iter()
            // Relaxed: a metrics read.
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_exactly_across_many_threads() {
        let counter = Arc::new(StripedCounter::default());
        // More threads than owned stripes, twice over: some share, stripes are reused.
        let threads: Vec<_> = (0..2 * OWNED + 3)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        counter.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.sum(), (2 * OWNED as u64 + 3) * 1_000);
    }
}
