//! The in-flight counter and its completion wake-up: pure, synchronous, loom-checked.
//!
//! One atomic word holds the whole state, so that every question the drain asks ("is
//! anything still in flight now that we are closing?", "how many finished, how many
//! were cut?") is answered by one consistent read:
//!
//! ```text
//!  63 ........................ 33 | 32 31 | 30 ..................... 0
//!  completions (wrapping, 31 bits) | phase | in flight (31 bits)
//! ```
//!
//! A request leaving adds `COMPLETION - 1` in one `fetch_add`: the in-flight field
//! drops by one and the completion field rises by one, atomically. Moving to the next
//! phase adds `PHASE_ONE`. So the move to [`Phase::Done`] reads, in the same atomic
//! step, exactly how many requests were still in flight (those are cut) and how many
//! had completed.

use std::fmt;
use std::task::{Context, Poll, Waker};

use tollgate_core::sync::{AtomicU64, Mutex, Ordering};

use crate::Phase;

const FIELD_BITS: u32 = 31;
const IN_FLIGHT_MASK: u64 = (1 << FIELD_BITS) - 1;
const PHASE_SHIFT: u32 = FIELD_BITS;
const PHASE_ONE: u64 = 1 << PHASE_SHIFT;
const COMPLETION_SHIFT: u32 = FIELD_BITS + 2;
const COMPLETION: u64 = 1 << COMPLETION_SHIFT;
/// One request leaves: in flight - 1, completions + 1 (the carry out of bit 63 is the
/// completion counter wrapping, which is intended).
const LEAVE: u64 = COMPLETION - 1;

/// The in-flight counter and the drain's phase, in one atomic word, with the wake-up
/// the drain waits on.
///
/// This is the synchronous core of [`Drain`](crate::Drain), private to the crate (the
/// loom models in `tests/loom.rs` see it under `cfg(loom)`).
///
/// The protocol: requests call [`try_enter`](Tracker::try_enter) and, when it
/// succeeds, exactly one [`leave`](Tracker::leave). One driver calls
/// [`advance`](Tracker::advance) to move through the phases and, once closing, polls
/// [`poll_idle`](Tracker::poll_idle) until nothing is in flight. `poll_idle` registers
/// its waker *before* it re-reads the count, and the request that brings the count to
/// zero while closing wakes it, so that wake-up is never lost.
pub struct Tracker {
    state: AtomicU64,
    /// The driver's waker while it waits for the count to reach zero.
    waiter: Mutex<Option<Waker>>,
}

/// One consistent reading of a [`Tracker`]: phase, in-flight count and completions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Word(u64);

impl Word {
    /// The phase.
    pub fn phase(self) -> Phase {
        match (self.0 >> PHASE_SHIFT) & 0b11 {
            0 => Phase::Serving,
            1 => Phase::Announced,
            2 => Phase::Closing,
            _ => Phase::Done,
        }
    }

    /// Requests in flight.
    pub fn in_flight(self) -> u64 {
        self.0 & IN_FLIGHT_MASK
    }

    /// Requests that have left since the tracker was made, modulo 2^31: subtract two
    /// readings with [`Word::completions_since`] to count the completions between them.
    pub fn completions(self) -> u64 {
        self.0 >> COMPLETION_SHIFT
    }

    /// Completions between an `earlier` reading and this one (fewer than 2^31).
    pub fn completions_since(self, earlier: Word) -> u64 {
        self.completions().wrapping_sub(earlier.completions()) & IN_FLIGHT_MASK
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Word")
            .field("phase", &self.phase())
            .field("in_flight", &self.in_flight())
            .field("completions", &self.completions())
            .finish()
    }
}

impl Tracker {
    /// A tracker serving, with nothing in flight.
    pub fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            waiter: Mutex::new(None),
        }
    }

    /// Counts a new request in, unless the drain is closing or done (or 2^31 - 1
    /// requests are already in flight). Each `true` must be matched by one
    /// [`leave`](Tracker::leave).
    #[inline]
    pub fn try_enter(&self) -> bool {
        // Relaxed: the word is the only data involved, and compare-exchange on one
        // location sees the latest value in its modification order, so a request can
        // never be admitted after the move to closing.
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let word = Word(current);
            if word.phase() >= Phase::Closing || word.in_flight() == IN_FLIGHT_MASK {
                return false;
            }
            // Relaxed on both paths: see the load above.
            match self.state.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => {
                    current = actual;
                    tollgate_core::sync::spin_loop();
                }
            }
        }
    }

    /// Counts a request out, and wakes the driver if it was the last one while closing.
    /// Returns the word as it was before.
    #[inline]
    pub fn leave(&self) -> Word {
        // Release: what the request did happens-before the driver's Acquire read of
        // the count that no longer includes it.
        let before = Word(self.state.fetch_add(LEAVE, Ordering::Release));
        debug_assert!(before.in_flight() > 0, "leave without enter");
        if before.in_flight() == 1 && before.phase() == Phase::Closing {
            self.wake();
        }
        before
    }

    /// Moves to the next phase (Serving -> Announced -> Closing -> Done; no-op once
    /// done) and returns the word as it was just before. Only one driver calls it.
    pub fn advance(&self) -> Word {
        // AcqRel: Acquire pairs with every `leave`'s Release (the returned count and
        // completions are exact); Release publishes the phase to later readers.
        let result = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (Word(s).phase() != Phase::Done).then_some(s + PHASE_ONE)
            });
        Word(result.unwrap_or_else(|done| done))
    }

    /// The current word.
    #[inline]
    pub fn load(&self) -> Word {
        // Acquire: pairs with `leave`'s Release, so a reader that sees a count of zero
        // also sees everything those requests did.
        Word(self.state.load(Ordering::Acquire))
    }

    /// Ready once nothing is in flight. While pending, the caller is woken by the
    /// [`leave`](Tracker::leave) that brings the count to zero during
    /// [`Phase::Closing`]; only one task may wait at a time.
    pub fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<Word> {
        // Register first, re-check second: a `leave` that lands after the re-check
        // finds the waker; one that landed before is seen by the re-check.
        {
            let mut waiter = lock(&self.waiter);
            match waiter.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waiter = Some(cx.waker().clone()),
            }
        }
        let word = self.load();
        if word.in_flight() == 0 {
            lock(&self.waiter).take();
            Poll::Ready(word)
        } else {
            Poll::Pending
        }
    }

    fn wake(&self) {
        let waker = lock(&self.waiter).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> tollgate_core::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the `Option<Waker>` inconsistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Tracker").field(&self.load()).finish()
    }
}

// Two attributes, not `cfg(all(test, not(loom)))`: cargo-mutants skips a module by its
// plain `#[cfg(test)]`, and would otherwise mutate the test helpers.
#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_admits_until_closing_and_waits_for_the_last_leave() {
        let tracker = Tracker::new();
        assert!(tracker.try_enter());
        tracker.advance(); // announced: still admits
        assert!(tracker.try_enter());
        tracker.advance(); // closing: refuses
        assert!(!tracker.try_enter());

        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(tracker.poll_idle(&mut cx).is_pending());
        tracker.leave();
        tracker.leave();
        assert!(tracker.poll_idle(&mut cx).is_ready());

        let at_done = tracker.advance();
        assert_eq!(at_done.in_flight(), 0); // nothing cut
        assert_eq!(tracker.load().phase(), Phase::Done);
    }

    #[test]
    fn a_word_reads_phase_count_and_completions() {
        let tracker = Tracker::new();
        tracker.try_enter();
        let word = tracker.load();
        assert_eq!(
            (word.phase(), word.in_flight(), word.completions()),
            (Phase::Serving, 1, 0)
        );
    }

    #[test]
    fn leaving_moves_one_from_in_flight_to_completions() {
        let t = Tracker::new();
        for _ in 0..3 {
            assert!(t.try_enter());
        }
        t.leave();
        let w = t.load();
        assert_eq!((w.in_flight(), w.completions()), (2, 1));
    }

    #[test]
    fn completions_wrap_without_touching_phase_or_count() {
        let t = Tracker::new();
        // Start just below the wrap of the completion field.
        let start = Word((IN_FLIGHT_MASK) << COMPLETION_SHIFT);
        t.state.store(start.0, Ordering::Relaxed);
        t.advance();
        assert!(t.try_enter());
        assert!(t.try_enter());
        t.leave();
        t.leave();
        let w = t.load();
        assert_eq!(w.phase(), Phase::Announced);
        assert_eq!(w.in_flight(), 0);
        assert_eq!(w.completions_since(start), 2);
    }

    #[test]
    fn advance_stops_at_done() {
        let t = Tracker::new();
        for expected in [
            Phase::Serving,
            Phase::Announced,
            Phase::Closing,
            Phase::Done,
        ] {
            assert_eq!(t.advance().phase(), expected);
        }
        assert_eq!(t.advance().phase(), Phase::Done);
        assert_eq!(t.load().phase(), Phase::Done);
    }

    #[test]
    fn a_full_counter_refuses_instead_of_overflowing() {
        let t = Tracker::new();
        t.state.store(IN_FLIGHT_MASK, Ordering::Relaxed);
        assert!(!t.try_enter());
        assert_eq!(t.load().phase(), Phase::Serving);
    }

    /// A waker that counts its wake-ups.
    fn counting_waker() -> (Waker, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                // Relaxed: a test counter read on the same thread.
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let count = std::sync::Arc::default();
        (
            Waker::from(std::sync::Arc::new(Count(std::sync::Arc::clone(&count)))),
            count,
        )
    }

    fn wakes(count: &std::sync::atomic::AtomicUsize) -> usize {
        count.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn closing_with(in_flight: usize) -> Tracker {
        let t = Tracker::new();
        for _ in 0..in_flight {
            assert!(t.try_enter());
        }
        t.advance();
        t.advance();
        assert_eq!(t.load().phase(), Phase::Closing);
        t
    }

    /// A driver re-polled with a new waker (its task moved) is woken through the new
    /// one by the last leave.
    // Catches `poll_idle`'s `will_wake` guard forced to true: the old waker is kept,
    // the new task never woken: a lost wake-up.
    #[test]
    fn a_repoll_with_a_new_waker_is_woken_by_the_last_leave() {
        let t = closing_with(1);
        let (old, old_wakes) = counting_waker();
        let (new, new_wakes) = counting_waker();
        assert!(t.poll_idle(&mut Context::from_waker(&old)).is_pending());
        assert!(t.poll_idle(&mut Context::from_waker(&new)).is_pending());
        // The same waker again is kept and woken once.
        assert!(t.poll_idle(&mut Context::from_waker(&new)).is_pending());
        t.leave();
        assert_eq!((wakes(&old_wakes), wakes(&new_wakes)), (0, 1));
        assert!(t.poll_idle(&mut Context::from_waker(&new)).is_ready());
    }

    /// Only the leave that brings the count to zero while closing wakes the driver:
    /// not an earlier leave while closing, not the last leave before closing.
    // Catches `in_flight == 1 && phase == Closing` -> `||` in `leave` (a wake-up for
    // every leave while closing, or for the last one while announced), and `wake`
    // replaced by `()`.
    #[test]
    fn only_the_last_leave_while_closing_wakes_the_driver() {
        let t = closing_with(2);
        let (waker, count) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(t.poll_idle(&mut cx).is_pending());
        t.leave();
        assert_eq!(wakes(&count), 0, "one request is still in flight");
        assert!(t.poll_idle(&mut cx).is_pending());
        t.leave();
        assert_eq!(wakes(&count), 1, "the last leave wakes the driver");
        let idle = t.poll_idle(&mut cx);
        assert!(matches!(idle, Poll::Ready(w) if w.in_flight() == 0 && w.completions() == 2));

        // Before closing, the last leave wakes no one: the driver waits only once
        // closing.
        let t = Tracker::new();
        assert!(t.try_enter());
        t.advance();
        let (waker, count) = counting_waker();
        assert!(t.poll_idle(&mut Context::from_waker(&waker)).is_pending());
        t.leave();
        assert_eq!(wakes(&count), 0, "announced: not a wake-up");
    }

    /// A ready poll forgets the waker: a later leave wakes no stale task.
    // Catches the waker kept after `Poll::Ready` (a wake-up of a driver that moved on).
    #[test]
    fn a_ready_poll_drops_its_waker() {
        let t = Tracker::new();
        let (waker, count) = counting_waker();
        assert!(t.poll_idle(&mut Context::from_waker(&waker)).is_ready());
        assert!(t.try_enter());
        t.advance();
        t.advance();
        t.leave();
        assert_eq!(wakes(&count), 0);
    }

    /// The debug forms read the word's three fields.
    // Catches both `Debug` impls replaced by `Ok(())` (an empty debug string).
    #[test]
    fn debug_shows_phase_count_and_completions() {
        let t = Tracker::new();
        assert!(t.try_enter());
        assert!(t.try_enter());
        t.leave();
        t.advance();
        assert_eq!(
            format!("{:?}", t.load()),
            "Word { phase: Announced, in_flight: 1, completions: 1 }"
        );
        assert_eq!(
            format!("{t:?}"),
            "Tracker(Word { phase: Announced, in_flight: 1, completions: 1 })"
        );
    }
}
