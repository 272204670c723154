//! The shaper's schedule in one atomic word, so that a request that fits now is
//! released by one compare-exchange, without the lock.
//!
//! The word holds GCRA's TAT (nanoseconds, shifted left by one) and, in its low bit,
//! whether the schedule is *open*: nobody is queued. While it is open, any caller may
//! release a request that fits now by a compare-exchange of the word. The lock's holder
//! changes an open word by compare-exchange too, and queues a request only by closing
//! the very word it computed the wait from: a release that slipped in between moves the
//! word, the exchange fails, and the wait is computed again. So no request is ever
//! released at once ahead of one already queued, nor into a slot already promised.
//! While the word is closed, only the lock's holder writes it, and it opens the word
//! again when the queue empties. A shaper with adaptive throttling never opens it:
//! every attempt must be counted under the lock.

use tollgate_core::sync::{AtomicU64, Ordering};

use super::{advance, release_at};
use crate::builder::Config;

/// The low bit of the word: open.
const OPEN: u64 = 1;

/// A TAT as the word holds it: 63 bits (about 292 years of nanoseconds; a later TAT,
/// which only absurd quotas reach, is held there, as the arithmetic saturates anyway).
#[inline]
fn word(tat: u64, open: bool) -> u64 {
    tat.min(u64::MAX >> 1) << 1 | u64::from(open)
}

/// One reading of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen(u64);

impl Seen {
    #[inline]
    pub(crate) fn tat(self) -> u64 {
        self.0 >> 1
    }

    #[inline]
    pub(crate) fn is_open(self) -> bool {
        self.0 & OPEN != 0
    }
}

#[derive(Debug)]
pub(crate) struct Schedule {
    word: AtomicU64,
    /// Whether the schedule opens when nobody is queued (no adaptive throttling).
    opens: bool,
}

impl Schedule {
    pub(crate) fn new(opens: bool) -> Self {
        Self {
            word: AtomicU64::new(word(0, opens)),
            opens,
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> Seen {
        // Acquire: pairs with the Release of every write of the word, though the word
        // alone carries the protocol (the queue is read under the lock).
        Seen(self.word.load(Ordering::Acquire))
    }

    /// Releases `weight` units at `now` if the schedule is open and they fit now: the
    /// path without the lock. `false`: take the lock.
    #[inline]
    pub(crate) fn try_release(&self, config: &Config, weight: u32, now: u64) -> bool {
        let mut seen = self.load();
        loop {
            if !seen.is_open() || release_at(config, seen.tat(), now, 0, weight) > now {
                return false;
            }
            let next = word(advance(config, seen.tat(), now, weight), true);
            // AcqRel on success: the word is the whole state the decision read.
            match self
                .word
                .compare_exchange_weak(seen.0, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => {
                    seen = Seen(actual);
                    tollgate_core::sync::spin_loop();
                }
            }
        }
    }

    /// Under the lock: replaces the word `seen` with `tat`, open or closed as `open`
    /// says (and as the shaper allows). `false` when the word moved since it was seen
    /// (a release without the lock): read it again and decide again.
    pub(crate) fn replace(&self, seen: Seen, tat: u64, open: bool) -> bool {
        self.word
            .compare_exchange(
                seen.0,
                word(tat, open && self.opens),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Under the lock, with requests queued (the word closed, so nobody else writes
    /// it): sets the TAT, opening the schedule when `queue_empty`.
    pub(crate) fn set(&self, tat: u64, queue_empty: bool) {
        // Release: see `load`.
        self.word
            .store(word(tat, queue_empty && self.opens), Ordering::Release);
    }

    /// Moves the TAT to at least `tat`, open or closed as it was (a server's pushback).
    pub(crate) fn push_back(&self, tat: u64) {
        let mut seen = self.load();
        while !self.replace(seen, seen.tat().max(tat), seen.is_open()) {
            seen = self.load();
        }
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    use std::task::Waker;
    use std::time::Duration;

    use tollgate_core::{ManualClock, Quota, Timestamp};

    use super::*;
    use crate::{Admit, Shaper, Turn};

    fn shaper(adaptive: bool) -> Shaper<ManualClock> {
        let builder = Shaper::builder(Quota::per_second(10).burst(1).unwrap())
            .max_wait(Duration::from_secs(1))
            .clock(ManualClock::new());
        let builder = if adaptive {
            builder.adaptive(2.0, Duration::from_secs(10))
        } else {
            builder
        };
        builder.build().unwrap()
    }

    fn at_ms(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    /// The path without the lock is open exactly while nobody is queued: closed by the
    /// first to queue, opened again by the last to leave, released or cancelled.
    #[test]
    fn the_schedule_is_open_exactly_while_nobody_waits() {
        let shaper = shaper(false);
        let open = || shaper.schedule().load().is_open();
        assert!(open());
        assert!(matches!(shaper.admit_at(1, at_ms(0)), Ok(Admit::Now)));
        assert!(open(), "a release at once leaves it open");
        let Ok(Admit::Wait(mut first)) = shaper.admit_at(1, at_ms(0)) else {
            panic!("the second waits")
        };
        assert!(!open());
        let Ok(Admit::Wait(second)) = shaper.admit_at(1, at_ms(0)) else {
            panic!("the third waits")
        };
        assert_eq!(first.poll_turn(at_ms(100), Waker::noop()), Turn::Released);
        assert!(!open(), "one still waits");
        drop(second);
        assert!(open(), "the last waiter cancelled");
        let Ok(Admit::Wait(mut third)) = shaper.admit_at(1, at_ms(100)) else {
            panic!("the slot at 100 ms is taken")
        };
        assert_eq!(third.poll_turn(at_ms(200), Waker::noop()), Turn::Released);
        assert!(open(), "the last waiter released");
        assert_eq!(shaper.snapshot_at(at_ms(200)).admitted, 3);
    }

    #[test]
    fn adaptive_throttling_keeps_every_attempt_under_the_lock() {
        let shaper = shaper(true);
        assert!(!shaper.schedule().load().is_open());
        assert!(matches!(shaper.admit_at(1, at_ms(0)), Ok(Admit::Now)));
        assert!(!shaper.schedule().load().is_open());
    }

    #[test]
    fn the_word_keeps_the_tat_and_the_open_bit_apart() {
        for (tat, open) in [
            (0, true),
            (0, false),
            (12_345, true),
            (u64::MAX >> 1, false),
        ] {
            let seen = Seen(word(tat, open));
            assert_eq!((seen.tat(), seen.is_open()), (tat, open));
        }
        let saturated = Seen(word(u64::MAX, true));
        assert_eq!(saturated.tat(), u64::MAX >> 1);
        assert!(saturated.is_open());
    }

    #[test]
    fn a_schedule_that_never_opens_stays_closed() {
        let schedule = Schedule::new(false);
        assert!(!schedule.load().is_open());
        schedule.set(10, true);
        assert!(!schedule.load().is_open());
        let seen = schedule.load();
        assert!(schedule.replace(seen, 20, true));
        assert_eq!(
            (schedule.load().tat(), schedule.load().is_open()),
            (20, false)
        );
    }

    #[test]
    fn a_replace_from_a_stale_reading_fails_and_changes_nothing() {
        let schedule = Schedule::new(true);
        let stale = schedule.load();
        assert!(schedule.replace(stale, 5, true));
        assert!(!schedule.replace(stale, 7, false));
        assert_eq!(
            (schedule.load().tat(), schedule.load().is_open()),
            (5, true)
        );
        schedule.push_back(3);
        assert_eq!(
            schedule.load().tat(),
            5,
            "a pushback never moves the TAT back"
        );
        schedule.push_back(9);
        assert_eq!(
            (schedule.load().tat(), schedule.load().is_open()),
            (9, true)
        );
    }
}
