//! [`StripedCounter`]: counters for snapshots, kept off the hot path's contended cache
//! lines and free of locked instructions for the threads that count most.
//!
//! Threads take stripe indexes `0..OWNED`, each owned by at most one live thread at a
//! time: a thread takes the lowest free index the first time it counts and gives it
//! back when it exits. A counter has an owned stripe for each of the first indexes
//! (twice as many as the machine runs threads at once, at most [`OWNED`]) plus one
//! shared stripe. While a thread owns index `i`, it is the only writer of stripe `i` of
//! every counter, so it adds with a plain load and store (no `lock` prefix, no lost
//! update). A thread whose index has no stripe of its own in a counter adds to the
//! shared stripe with an atomic add. Counters are not part of any decision, so they use
//! std atomics even under loom.

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
        free.extend(0..OWNED);
    });
    // Registers `Owner`'s destructor; if the thread is already being torn down, it
    // counts on the shared stripe and takes nothing.
    if OWNER.try_with(|_| ()).is_err() {
        return OWNED;
    }
    // The lowest free index: live threads keep to the first indexes, which every
    // counter has stripes for.
    let mut free = FREE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let lowest = (0..free.len()).min_by_key(|&at| free[at]);
    let i = lowest.map_or(OWNED, |at| free.swap_remove(at));
    drop(free);
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
    use std::sync::{Arc, Barrier};

    /// Stripe indexes are per process: the tests that count on many threads take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `n` once every thread of `together` is there, and stays until all have
    /// added (so none gives its stripe back early); returns the stripe index it used.
    fn count_on_a_thread(counter: &StripedCounter, together: &Barrier, n: u64) -> usize {
        together.wait();
        for _ in 0..n {
            counter.add(1);
        }
        together.wait();
        STRIPE.with(Cell::get)
    }

    #[test]
    fn counts_exactly_when_more_threads_count_at_once_than_there_are_stripes() {
        let _serial = serial();
        let counter = Arc::new(StripedCounter::default());
        let owned = counter.stripes.len() - 1;
        // Every thread is alive until all have counted, so the ones past the owned
        // stripes (and past every index) share the last stripe, enough adds each that
        // a plain store there would lose some.
        const ADDS: u64 = 100_000;
        let threads = OWNED + 3;
        let together = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (counter, together) = (counter.clone(), together.clone());
                std::thread::spawn(move || count_on_a_thread(&counter, &together, ADDS))
            })
            .collect();
        let stripes: Vec<usize> = handles.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(counter.sum(), threads as u64 * ADDS);
        let sharing = stripes.iter().filter(|&&i| i >= owned).count() as u64;
        assert!(sharing >= 3, "{stripes:?}");
        assert_eq!(
            counter.stripes[owned].0.load(Ordering::Relaxed),
            sharing * ADDS,
            "the shared stripe holds exactly the adds of the threads without one"
        );
        for &i in stripes.iter().filter(|&&i| i < owned) {
            assert_eq!(counter.stripes[i].0.load(Ordering::Relaxed), ADDS, "{i}");
        }
    }

    #[test]
    fn a_stripe_is_handed_on_when_its_thread_exits() {
        let _serial = serial();
        let counter = Arc::new(StripedCounter::default());
        let owned = counter.stripes.len() - 1;
        let alone = Arc::new(Barrier::new(1));
        // Twice as many threads as stripe indexes, one after another: each gets a
        // stripe of its own, given back by the one before.
        for _ in 0..2 * OWNED {
            let (c, alone) = (counter.clone(), alone.clone());
            let stripe = std::thread::spawn(move || count_on_a_thread(&c, &alone, 10))
                .join()
                .unwrap();
            assert!(stripe < owned, "an owned stripe: {stripe} of {owned}");
        }
        assert_eq!(counter.sum(), 2 * OWNED as u64 * 10);
        assert_eq!(counter.stripes[owned].0.load(Ordering::Relaxed), 0);
        assert_eq!(
            format!("{counter:?}"),
            format!("StripedCounter({})", 2 * OWNED * 10)
        );
    }

    #[test]
    fn a_counter_has_a_stripe_for_each_thread_the_machine_runs_and_as_many_again() {
        let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
        let counter = StripedCounter::default();
        assert_eq!(counter.stripes.len(), (2 * parallelism).min(OWNED) + 1);
    }
}
