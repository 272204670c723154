//! The sliding windows the failure and slow-call rates are measured over.
//!
//! Both are lock-free for recorders; what concurrency can cost is documented on each.
//! A window is reset only by the transition to closed, under the breaker's transition
//! lock, before the new generation is published: recorders of the new generation see
//! the reset, and only a recorder of an older generation that was preempted between its
//! generation check and its write (across a whole open period) can land one outcome in
//! the new window.

use tollgate_core::sync::{AtomicU32, AtomicU64, Mutex, Ordering};
use tollgate_core::Timestamp;

use crate::config::Window as WindowConfig;

/// The calls, failures and slow calls a window holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(config: WindowConfig, now: Timestamp) -> Window {
        match config {
            WindowConfig::Count(n) => Window::Count(CountWindow::new(n)),
            WindowConfig::Time { length, buckets } => {
                Window::Time(TimeWindow::new(length.as_nanos() as u64, buckets, now))
            }
        }
    }

    /// Whether recording needs the time of the outcome.
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Window::Time(_))
    }

    /// Records one outcome; returns the counts after it when they are cheap to know
    /// and consistent (`None` while a lapped count slot is mid-update).
    #[inline]
    pub(crate) fn record(&self, failure: bool, slow: bool, now: Timestamp) -> Option<Counts> {
        match self {
            Window::Count(w) => w.record(failure, slow),
            Window::Time(w) => w.record(failure, slow, now),
        }
    }

    /// The counts now (may be mid-update under concurrent recording).
    pub(crate) fn counts(&self, now: Timestamp) -> Counts {
        match self {
            Window::Count(w) => w.counts().unwrap_or_default(),
            Window::Time(w) => w.counts(now),
        }
    }

    /// Empties the window. Called under the transition lock only.
    pub(crate) fn reset(&self, now: Timestamp) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(now),
        }
    }
}

// ===== CountWindow =====

const CALL: u32 = 1;
const FAILURE: u32 = 2;
const SLOW: u32 = 4;
const FIELD_BITS: u32 = 21;
const FIELD: u64 = (1 << FIELD_BITS) - 1;

/// The last `n` calls: a ring of slots, one outcome each, and the totals of the ring
/// packed in one word (calls, failures, slow: 21 bits each).
///
/// A recorder takes a slot by sequence number, swaps its outcome in, and adds the
/// difference between the new and the replaced outcome to the totals. Because each
/// slot's swaps form a chain and the packed arithmetic is linear, once every recorder
/// has finished the totals equal the sum of the slots exactly: no count is lost. While
/// two recorders that lapped the ring on the same slot are between their swap and their
/// add, the totals can be momentarily off (a field out of range); [`record`] then
/// reports `None` and that one judgment is skipped. Under such laps the ring holds the
/// last `n` outcomes in the order their swaps happened, which can differ from the order
/// their sequence numbers were taken.
///
/// A success arriving while the totals say the ring is full of successes is not
/// written at all (no sequence number, no swap, no add): replacing a success by a
/// success changes nothing, and a ring of identical outcomes is the same whichever slot
/// is next. See [`record`](Self::record).
#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[AtomicU32]>,
    seq: AtomicU64,
    totals: AtomicU64,
    size: u64,
}

fn packed(slot: u32) -> u64 {
    u64::from(slot & CALL)
        | (u64::from((slot & FAILURE) >> 1) << FIELD_BITS)
        | (u64::from((slot & SLOW) >> 2) << (2 * FIELD_BITS))
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> CountWindow {
        CountWindow {
            slots: (0..size).map(|_| AtomicU32::new(0)).collect(),
            seq: AtomicU64::new(0),
            totals: AtomicU64::new(0),
            size: u64::from(size),
        }
    }

    #[inline]
    pub(crate) fn record(&self, failure: bool, slow: bool) -> Option<Counts> {
        if !failure && !slow {
            // Relaxed: one snapshot of the totals, nothing else is read through it.
            let totals = self.totals.load(Ordering::Relaxed);
            if totals == self.size {
                // The window is full (calls == size) of successes (no failure, no slow
                // call): this success would replace a success, so the ring's contents
                // stay the same, and a ring of identical outcomes looks the same from
                // every slot, so not advancing `seq` changes nothing either. The skip is
                // linearized at this load: before every concurrent recorder whose add
                // the load did not see (their outcome lands after ours, evicting an
                // identical success), after every one whose add it saw. No write: the
                // healthy path leaves `seq`, the slots and the totals unshared.
                return Some(Counts {
                    calls: self.size,
                    failures: 0,
                    slow: 0,
                });
            }
        }
        self.record_slot(failure, slow)
    }

    fn record_slot(&self, failure: bool, slow: bool) -> Option<Counts> {
        let slot = CALL | if failure { FAILURE } else { 0 } | if slow { SLOW } else { 0 };
        // Relaxed: the sequence only spreads recorders over slots; it publishes nothing.
        let i = self.seq.fetch_add(1, Ordering::Relaxed) % self.size;
        let cell = &self.slots[i as usize];
        // Relaxed: the slot's own modification order decides which outcome each swap
        // replaced, which is all the delta below needs. A slot that already holds the
        // outcome is left alone (the usual case: a success replacing a success), which
        // is the same as swapping it in just before any concurrent swap.
        let old = cell.load(Ordering::Relaxed);
        if old == slot {
            return self.counts();
        }
        // Relaxed: as above.
        let old = cell.swap(slot, Ordering::Relaxed);
        let delta = packed(slot).wrapping_sub(packed(old));
        if delta == 0 {
            return self.counts();
        }
        // Relaxed: the totals are one counter; the read-modify-write sees every earlier
        // add in its modification order, so no delta is lost.
        let before = self.totals.fetch_add(delta, Ordering::Relaxed);
        self.decode(before.wrapping_add(delta))
    }

    fn decode(&self, totals: u64) -> Option<Counts> {
        let counts = Counts {
            calls: totals & FIELD,
            failures: (totals >> FIELD_BITS) & FIELD,
            slow: (totals >> (2 * FIELD_BITS)) & FIELD,
        };
        let consistent = counts.calls <= self.size
            && counts.failures <= counts.calls
            && counts.slow <= counts.calls
            && totals >> (3 * FIELD_BITS) == 0;
        consistent.then_some(counts)
    }

    pub(crate) fn counts(&self) -> Option<Counts> {
        // Relaxed: a snapshot for judging or metrics; see the type docs.
        self.decode(self.totals.load(Ordering::Relaxed))
    }

    /// The totals recomputed from the slots (for tests and models).
    #[cfg(any(test, loom))]
    pub(crate) fn recount(&self) -> Counts {
        let mut sum = 0u64;
        for slot in self.slots.iter() {
            // Relaxed: called when recorders are quiescent.
            sum += packed(slot.load(Ordering::Relaxed));
        }
        self.decode(sum).unwrap_or_default()
    }

    fn reset(&self) {
        // Relaxed everywhere: the transition lock and the Release publication of the
        // next generation order these stores before any recorder of that generation.
        for slot in self.slots.iter() {
            slot.store(0, Ordering::Relaxed);
        }
        self.seq.store(0, Ordering::Relaxed);
        self.totals.store(0, Ordering::Relaxed);
    }
}

// ===== TimeWindow =====

/// The calls of the last `length`, in a ring of buckets of `length / buckets` each.
///
/// `head` is the index (time / width) of the newest bucket. A recorder whose time is
/// past the head advances it under a small lock, zeroing the buckets it reuses (once
/// per bucket width, not per call); otherwise it only increments its bucket's counters.
/// Increments are never lost. One race is documented rather than prevented: a recorder
/// preempted for longer than the whole window between reading the head and adding can
/// add into a bucket that has since been reused for a newer period.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    width: u64,
    head: AtomicU64,
    rotate: Mutex<()>,
}

#[derive(Debug)]
struct Bucket {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Bucket {
    fn zero(&self) {
        // Relaxed: ordered before readers by the Release store of `head`.
        self.calls.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        self.slow.store(0, Ordering::Relaxed);
    }
}

impl TimeWindow {
    pub(crate) fn new(length: u64, buckets: u32, now: Timestamp) -> TimeWindow {
        let width = length / u64::from(buckets);
        TimeWindow {
            buckets: (0..buckets)
                .map(|_| Bucket {
                    calls: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    slow: AtomicU64::new(0),
                })
                .collect(),
            width,
            head: AtomicU64::new(now.as_nanos() / width),
            rotate: Mutex::new(()),
        }
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    #[inline]
    fn record(&self, failure: bool, slow: bool, now: Timestamp) -> Option<Counts> {
        let index = now.as_nanos() / self.width;
        // Acquire: pairs with the Release store in `advance`, so the zeroing of a reused
        // bucket happens before our increments into it.
        let head = self.head.load(Ordering::Acquire);
        if index > head {
            self.advance(index);
        } else if index + self.len() <= head {
            // Read long before recording: the outcome is older than the window.
            return None;
        }
        let bucket = &self.buckets[(index % self.len()) as usize];
        // Relaxed: a counter; the Release below orders it before the failure/slow counts.
        bucket.calls.fetch_add(1, Ordering::Relaxed);
        if failure {
            // Release: a reader that sees this failure (Acquire) also sees its call.
            bucket.failures.fetch_add(1, Ordering::Release);
        }
        if slow {
            // Release: as for failures.
            bucket.slow.fetch_add(1, Ordering::Release);
        }
        (failure || slow).then(|| self.counts(now))
    }

    #[cold]
    fn advance(&self, index: u64) {
        let _guard = self.rotate.lock().unwrap_or_else(|e| e.into_inner());
        // Relaxed: under the lock, every earlier advance is visible.
        let head = self.head.load(Ordering::Relaxed);
        if index <= head {
            return;
        }
        let stale = (index - head).min(self.len());
        for k in 0..stale {
            self.buckets[((index - k) % self.len()) as usize].zero();
        }
        // Release: publishes the zeroing to recorders that read the new head.
        self.head.store(index, Ordering::Release);
    }

    pub(crate) fn counts(&self, now: Timestamp) -> Counts {
        let index = now.as_nanos() / self.width;
        // Acquire: see `record`.
        let head = self.head.load(Ordering::Acquire);
        let mut counts = Counts::default();
        for back in 0..self.len() {
            let Some(at) = head.checked_sub(back) else {
                break;
            };
            if at + self.len() <= index {
                break;
            }
            let bucket = &self.buckets[(at % self.len()) as usize];
            // Acquire, failures and slow before calls: a failure we count has its call
            // counted too, so failures <= calls.
            let failures = bucket.failures.load(Ordering::Acquire);
            let slow = bucket.slow.load(Ordering::Acquire);
            // Relaxed: ordered after the Acquire loads above.
            let calls = bucket.calls.load(Ordering::Relaxed);
            counts.calls += calls;
            counts.failures += failures;
            counts.slow += slow;
        }
        counts
    }

    fn reset(&self, now: Timestamp) {
        let _guard = self.rotate.lock().unwrap_or_else(|e| e.into_inner());
        for bucket in self.buckets.iter() {
            bucket.zero();
        }
        // Release: see `advance`.
        self.head
            .store(now.as_nanos() / self.width, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn count_window_keeps_the_last_n() {
        let w = CountWindow::new(3);
        assert_eq!(
            w.record(true, false),
            Some(Counts {
                calls: 1,
                failures: 1,
                slow: 0
            })
        );
        w.record(false, true);
        w.record(true, true);
        // The fourth call replaces the first failure.
        let c = w.record(false, false).unwrap();
        assert_eq!(
            c,
            Counts {
                calls: 3,
                failures: 1,
                slow: 2
            }
        );
        assert_eq!(w.recount(), c);
        w.reset();
        assert_eq!(w.counts(), Some(Counts::default()));
    }

    #[test]
    fn a_success_into_a_full_window_of_successes_writes_nothing() {
        let w = CountWindow::new(3);
        let full = Counts {
            calls: 3,
            failures: 0,
            slow: 0,
        };
        for _ in 0..3 {
            w.record(false, false);
        }
        // Relaxed: single-threaded test.
        let seq = w.seq.load(Ordering::Relaxed);
        assert_eq!(seq, 3);
        // The fast path: the totals say full of successes, so nothing is written.
        assert_eq!(w.record(false, false), Some(full));
        assert_eq!(w.record(false, false), Some(full));
        // Relaxed: as above.
        assert_eq!(w.seq.load(Ordering::Relaxed), seq, "seq not advanced");
        // A failure still takes the next slot and evicts a success.
        let c = w.record(true, false).unwrap();
        assert_eq!(
            c,
            Counts {
                calls: 3,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(w.recount(), c);
        // With a failure in the window a success takes the slow path again, and the
        // failure leaves after exactly 3 more calls, skips not counted as calls.
        w.record(false, false);
        w.record(false, false);
        // Relaxed: as above.
        assert_eq!(w.seq.load(Ordering::Relaxed), seq + 3);
        assert_eq!(w.counts().unwrap().failures, 1);
        assert_eq!(w.record(false, false), Some(full));
        assert_eq!(w.recount(), full);
        // A slow success is not skipped either.
        assert_eq!(w.record(false, true).unwrap().slow, 1);
        assert_eq!(w.recount(), w.counts().unwrap());
    }

    #[test]
    fn time_window_rolls_bucket_by_bucket() {
        let ms = |n: u64| Timestamp::from_nanos(n * 1_000_000);
        // 4 buckets of 250 ms.
        let w = TimeWindow::new(1_000_000_000, 4, ms(0));
        w.record(true, false, ms(0));
        w.record(false, false, ms(300));
        w.record(false, true, ms(600));
        assert_eq!(
            w.counts(ms(999)),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // At 1000 ms the first bucket [0, 250) has left the window.
        assert_eq!(
            w.counts(ms(1000)),
            Counts {
                calls: 2,
                failures: 0,
                slow: 1
            }
        );
        // A record at 1100 ms reuses that bucket, zeroed.
        w.record(true, false, ms(1100));
        assert_eq!(
            w.counts(ms(1100)),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // Far later every bucket is stale.
        assert_eq!(w.counts(ms(10_000)), Counts::default());
        assert_eq!(
            w.record(true, false, ms(10_000)),
            Some(Counts {
                calls: 1,
                failures: 1,
                slow: 0
            })
        );
        // An outcome timed before the window is dropped.
        assert_eq!(w.record(true, false, ms(1_000)), None);
        w.reset(ms(20_000));
        assert_eq!(w.counts(ms(20_000)), Counts::default());
    }
}
