//! [`StripedCounter`]: counters for snapshots, kept off the hot path's contended cache
//! lines and free of locked instructions for the threads that count most.
//!
//! Threads take stripe indexes `0..OWNED`, each owned by at most one live thread at a
//! time: a thread takes a free index the first time it counts and gives it back when it
//! exits. A counter has an owned stripe for each of the first indexes (twice as many as
//! the machine runs threads at once, at most [`OWNED`]) plus one shared stripe. While a
//! thread owns index `i`, it is the only writer of stripe `i` of every counter, so it
//! adds with a plain load and store (no `lock` prefix, no lost update). A thread whose
//! index has no stripe of its own in a counter adds to the shared stripe with an atomic
//! add. Counters are not part of any decision, so they use std atomics even under loom.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Stripe indexes a thread can own; a counter has owned stripes for the first
/// [`owned_stripes`] of them.
const OWNED: usize = 16;

/// A count that many threads add to and a snapshot reads: each of the first live
/// threads (twice as many as the machine runs at once, at most 16) adds to a stripe of
/// its own (a plain load and store, on its own cache line), later ones share one more
/// stripe (an atomic add). A read sums the stripes. On a 2-core machine a counter holds
/// 5 stripes of 128 bytes.
///
/// The rate limiters, the shaper and the breaker count what they admit with one, so
/// that counting costs their admitting path no locked instruction and no cache line
/// written by two cores. (The drain counts with plain atomics: its in-flight word takes
/// two read-modify-writes per request anyway, and a striped admitted count measured no
/// faster. The deadline layers' counters are what their loom model checks.)
///
/// ```
/// use tollgate_core::StripedCounter;
///
/// let admitted = StripedCounter::default();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| (0..1_000).for_each(|_| admitted.add(1)));
///     }
/// });
/// assert_eq!(admitted.sum(), 4_000);
/// ```
pub struct StripedCounter {
    /// The owned stripes, then the shared one.
    stripes: Box<[Padded]>,
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter {
            stripes: (0..=owned_stripes()).map(|_| Padded::default()).collect(),
        }
    }
}

/// Owned stripes per counter: twice the threads the machine runs at once (room for the
/// threads that count besides a runtime's workers), at most [`OWNED`].
fn owned_stripes() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .saturating_mul(2)
            .min(OWNED)
    })
}

#[derive(Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// Stripe indexes no live thread owns.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// Whether `FREE` was filled yet.
static FILLED: std::sync::Once = std::sync::Once::new();

/// Not yet assigned.
const UNSET: usize = usize::MAX;

thread_local! {
    /// This thread's stripe: constant-initialised and without a destructor, so that
    /// reading it is one thread-local load on the hot path.
    static STRIPE: Cell<usize> = const { Cell::new(UNSET) };
    /// Gives the stripe back when the thread exits.
    static OWNER: Owner = const { Owner };
}

/// Returns the thread's stripe to `FREE` when the thread exits.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        // From now on this thread counts on the shared stripe: a later thread-local
        // destructor may still count, and the index is about to belong to another
        // thread.
        let i = STRIPE.with(|s| s.replace(OWNED));
        if i < OWNED {
            FREE.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(i);
        }
    }
}

/// Takes a free stripe (or the shared one) for this thread.
#[cold]
fn assign() -> usize {
    FILLED.call_once(|| {
        let mut free = FREE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        free.extend((0..OWNED).rev());
    });
    // Registers `Owner`'s destructor; if the thread is already being torn down, it
    // counts on the shared stripe and takes nothing.
    if OWNER.try_with(|_| ()).is_err() {
        return OWNED;
    }
    let i = FREE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop()
        .unwrap_or(OWNED);
    STRIPE.with(|s| s.set(i));
    i
}

impl StripedCounter {
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        let mut i = STRIPE.with(Cell::get);
        if i == UNSET {
            i = assign();
        }
        let shared = self.stripes.len() - 1;
        if i < shared {
            let stripe = &self.stripes[i].0;
            // Relaxed load and store: this thread is the stripe's only writer, so
            // nothing can come between them; readers only need a recent value, and
            // the next owner sees it through `FREE`'s lock.
            stripe.store(stripe.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        } else {
            // Relaxed: a shared counter orders nothing else.
            self.stripes[shared].0.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The count: the sum of every stripe, each as recently written as it can be read.
    pub fn sum(&self) -> u64 {
        self.stripes
            .iter()
            // Relaxed: a metrics read.
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

impl std::fmt::Debug for StripedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StripedCounter").field(&self.sum()).finish()
    }
}

#[cfg(test)]
#[cfg(not(loom))]
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
