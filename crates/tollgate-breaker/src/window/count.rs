//! The count window: the last N calls, lock-free.

use tollgate_core::sync::{AtomicU32, AtomicU64, Ordering};

use super::Counts;

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

    pub(super) fn reset(&self) {
        // Relaxed everywhere: the transition lock and the Release publication of the
        // next generation order these stores before any recorder of that generation.
        for slot in self.slots.iter() {
            slot.store(0, Ordering::Relaxed);
        }
        self.seq.store(0, Ordering::Relaxed);
        self.totals.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[cfg(not(loom))]
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
    fn decode_refuses_totals_read_mid_update() {
        // Catches each `&&` -> `||` in `decode`: totals read between two lapping recorders'
        // adds were judged (reachable only concurrently: see the loom model in tests/loom.rs).
        let w = CountWindow::new(1);
        let start = packed(CALL);
        // The slot held a success; A swapped a failure in (+1 failure), then B a slow
        // success over it (+1 slow, -1 failure), and B added first: failures wrap.
        let b_first = start.wrapping_add(packed(CALL | SLOW).wrapping_sub(packed(CALL | FAILURE)));
        assert_eq!(w.decode(b_first), None, "failures wrapped: {b_first:#x}");
        // Once A has added too the totals are the slot again.
        let both = b_first.wrapping_add(packed(CALL | FAILURE).wrapping_sub(packed(CALL)));
        let slow_call = Counts {
            calls: 1,
            failures: 0,
            slow: 1,
        };
        assert_eq!(w.decode(both), Some(slow_call));
        // The mirror image (a slow call swapped in, a failure over it, the failure added
        // first): the slow count wraps and borrows from the top bit.
        let mirror = start.wrapping_add(packed(CALL | FAILURE).wrapping_sub(packed(CALL | SLOW)));
        assert_eq!(w.decode(mirror), None, "slow calls wrapped: {mirror:#x}");
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
}
