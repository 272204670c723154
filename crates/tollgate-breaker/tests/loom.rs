//! loom models of the breaker's atomic protocols.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!  cargo test --release -p tollgate-breaker --test loom`
#![cfg(loom)]

use std::time::Duration;

use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use tollgate_breaker::{Breaker, BreakerBuilder, Outcome, State, TransitionReason, Window};
use tollgate_core::{ManualClock, Timestamp};

const WAIT: Duration = Duration::from_secs(1);

fn config(probes: u32, successes: u32) -> BreakerBuilder {
    Breaker::builder()
        .no_failure_rate()
        .consecutive_failures(1)
        .open_wait(WAIT)
        .half_open(probes, successes)
}

/// A breaker whose open wait has just elapsed: the next caller half-opens it.
fn ready_to_probe(probes: u32, successes: u32) -> Breaker<ManualClock> {
    let clock = ManualClock::new();
    let breaker = config(probes, successes)
        .clock(clock.clone())
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
    clock.advance(WAIT);
    breaker
}

/// Racing callers never hold more than K probe permits (naive version: check the
/// count, then store count + 1; two callers both pass the check).
#[test]
fn half_open_never_exceeds_k_probes() {
    loom::model(|| {
        let breaker = ready_to_probe(1, 1);
        // Half-open with no probe in flight: both racers go for the one permit.
        drop(breaker.try_acquire().unwrap());
        assert_eq!(breaker.state(), State::HalfOpen);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = breaker.clone();
                // Each keeps its permit alive until joined, so admissions overlap.
                thread::spawn(move || b.try_acquire().ok())
            })
            .collect();
        let permits: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let admitted = permits.iter().filter(|p| p.is_some()).count();
        assert_eq!(admitted, 1, "K = 1 probe");
        assert_eq!(breaker.snapshot().probes_in_flight, 1);
        assert_eq!(
            breaker.snapshot().transitions,
            2,
            "open, then one half-open"
        );
    });
}

/// Two failures racing in the closed state open the breaker exactly once, and two
/// probes racing to the last success close it exactly once (naive version: a plain
/// store of the next state lets both perform the transition).
#[test]
fn exactly_one_caller_performs_each_transition() {
    loom::model(|| {
        let clock = ManualClock::new();
        let breaker = config(2, 1).clock(clock.clone()).build().unwrap();
        let permits = [
            breaker.try_acquire().unwrap(),
            breaker.try_acquire().unwrap(),
        ];
        let handles: Vec<_> = permits
            .into_iter()
            .map(|p| thread::spawn(move || p.record(Outcome::Failure)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(breaker.snapshot().transitions, 1, "opened once");

        clock.advance(WAIT);
        let first = breaker.try_acquire().unwrap();
        let second = breaker.try_acquire().unwrap();
        let handles: Vec<_> = [first, second]
            .into_iter()
            .map(|p| thread::spawn(move || p.record(Outcome::Success)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(
            breaker.snapshot().transitions,
            3,
            "half-opened once, closed once"
        );
    });
}

/// A probe cancelled while another probe is admitted and cancelled always gives its
/// permit back: afterwards no permit is in flight (naive version: the drop stores
/// `in_flight - 1` from a stale load and overwrites the other probe's change).
#[test]
fn a_cancelled_probe_always_returns_its_permit() {
    loom::model(|| {
        let breaker = ready_to_probe(2, 2);
        let probe = breaker.try_acquire().unwrap();
        let b = breaker.clone();
        let racer = thread::spawn(move || b.try_acquire().map(drop).is_ok());
        let cancel = thread::spawn(move || drop(probe));
        let _ = racer.join().unwrap();
        cancel.join().unwrap();
        assert_eq!(breaker.state(), State::HalfOpen);
        assert_eq!(breaker.snapshot().probes_in_flight, 0);
        assert!(breaker.try_acquire().is_ok(), "the permit is back");
    });
}

/// Concurrent recording into a count window that laps itself loses no count: once the
/// recorders are done the totals equal the slots (naive version: load the totals,
/// then store the sum, and two recorders lose one add).
#[test]
fn concurrent_recording_loses_no_count() {
    loom::model(|| {
        let breaker = Breaker::builder()
            .failure_rate(100.0)
            .window(Window::Count(2))
            .minimum_calls(2)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let handles: Vec<_> = [Outcome::Success, Outcome::Success, Outcome::Failure]
            .into_iter()
            .map(|outcome| {
                let p = breaker.try_acquire().unwrap();
                thread::spawn(move || p.record(outcome))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = breaker.snapshot();
        assert_eq!(s.calls, 2, "the window holds the last 2 calls");
        assert!(s.failures <= 1);
        assert!(breaker.recount_matches(), "totals equal the slots");
    });
}

/// A failure racing a success into a count window full of successes (the success
/// skips recording after one load of the totals) is counted, and the totals still equal
/// the slots (naive version: skip on a stale "no failures" read of a slot, and a racing
/// failure's add is overwritten or its slot never counted).
#[test]
fn a_failure_racing_a_skipped_success_is_counted() {
    loom::model(|| {
        let breaker = Breaker::builder()
            .failure_rate(100.0)
            .window(Window::Count(2))
            .minimum_calls(2)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        breaker.try_acquire().unwrap().record(Outcome::Success);
        breaker.try_acquire().unwrap().record(Outcome::Success);
        let handles: Vec<_> = [Outcome::Success, Outcome::Failure]
            .into_iter()
            .map(|outcome| {
                let p = breaker.try_acquire().unwrap();
                thread::spawn(move || p.record(outcome))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = breaker.snapshot();
        // Whether the success skipped (window full of successes) or took a slot, the
        // failure is one of the last 2 outcomes.
        assert_eq!((s.calls, s.failures), (2, 1));
        assert!(breaker.recount_matches(), "totals equal the slots");
        assert_eq!(breaker.state(), State::Closed, "50% < 100%");
    });
}

/// Recorders in the same and the next bucket of a time window, one of them rotating
/// it, lose no count (naive version: the rotation zeroes a bucket after a recorder of
/// the new period added to it).
#[test]
fn time_window_rotation_loses_no_count() {
    loom::model(|| {
        let breaker = Breaker::builder()
            .failure_rate(100.0)
            .window(Window::Time {
                length: Duration::from_secs(2),
                buckets: 2,
            })
            .minimum_calls(10)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let t = Timestamp::from_nanos(1_000_000_000);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let p = breaker.try_acquire_at(t).unwrap();
                thread::spawn(move || p.record_at(Outcome::Failure, t))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = breaker.snapshot_at(t);
        assert_eq!((s.calls, s.failures), (2, 2));
    });
}

/// A failure and a slow success lapping the one slot of a count window: a judgment that
/// reads the totals between the two adds sees them mid-update (say the slow call's
/// "+1 slow, -1 failure" added before the failure's "+1 failure": failures wrap below
/// zero) and must skip, never judge such totals (naive version below: decoding the
/// totals unchecked judges 2097151 failures of 1 call, a failure rate far above 100%).
#[test]
fn a_judgment_never_reads_count_totals_mid_update() {
    loom::model(|| {
        let clock = ManualClock::new();
        let breaker = Breaker::builder()
            .failure_rate(100.0)
            .slow_calls(Duration::from_millis(100), 100.0)
            .window(Window::Count(1))
            .minimum_calls(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        breaker.try_acquire().unwrap().record(Outcome::Success);
        let failing = breaker.try_acquire().unwrap();
        let slow = breaker.try_acquire().unwrap();
        let a = thread::spawn(move || failing.record_at(Outcome::Failure, Timestamp::ZERO));
        let slow_end = Timestamp::ZERO + Duration::from_millis(200);
        let b = thread::spawn(move || slow.record_at(Outcome::Success, slow_end));
        a.join().unwrap();
        b.join().unwrap();
        // Either judgment may legitimately open (the window held only a failure, or only
        // a slow call, at the moment of its add), but on counts the window really held.
        let reason = breaker.subscribe().borrow().reason;
        match reason {
            TransitionReason::Created => {}
            TransitionReason::FailureRate { rate, calls }
            | TransitionReason::SlowCallRate { rate, calls } => {
                assert!(
                    rate <= 100.0 && calls == 1,
                    "judged totals mid-update: {reason:?}"
                )
            }
            other => panic!("unexpected transition {other:?}"),
        }
        assert!(breaker.snapshot().transitions <= 1);
        assert!(breaker.recount_matches(), "totals equal the slots");
    });
}

// ===== the naive count window, which the model above must (and does) catch =====

const CALL: u32 = 1;
const FAILURE: u32 = 2;
const SLOW: u32 = 4;
const FIELD_BITS: u32 = 21;
const FIELD: u64 = (1 << FIELD_BITS) - 1;

/// An outcome as a difference of the packed totals (calls, failures, slow: 21 bits each).
fn packed(slot: u32) -> u64 {
    u64::from(slot & CALL)
        | (u64::from((slot & FAILURE) >> 1) << FIELD_BITS)
        | (u64::from((slot & SLOW) >> 2) << (2 * FIELD_BITS))
}

/// The count window's swap-then-add protocol on one slot, with its totals decoded
/// unchecked: a recorder judges whatever its add returned.
struct NaiveCountWindow {
    slot: AtomicU32,
    totals: AtomicU64,
}

impl NaiveCountWindow {
    /// Records `outcome`; returns (calls, failures, slow) as its judgment would see them.
    fn record(&self, outcome: u32) -> (u64, u64, u64) {
        let old = self.slot.swap(outcome, Ordering::Relaxed);
        let delta = packed(outcome).wrapping_sub(packed(old));
        let t = self
            .totals
            .fetch_add(delta, Ordering::Relaxed)
            .wrapping_add(delta);
        (
            t & FIELD,
            (t >> FIELD_BITS) & FIELD,
            (t >> (2 * FIELD_BITS)) & FIELD,
        )
    }
}

#[test]
#[should_panic(expected = "naive window judged totals mid-update")]
fn naive_count_window_judges_totals_mid_update() {
    loom::model(|| {
        let window = Arc::new(NaiveCountWindow {
            slot: AtomicU32::new(CALL),
            totals: AtomicU64::new(packed(CALL)),
        });
        let other = window.clone();
        let failing = thread::spawn(move || other.record(CALL | FAILURE));
        let slow = window.record(CALL | SLOW);
        for (calls, failures, slow) in [failing.join().unwrap(), slow] {
            assert!(
                failures <= calls && slow <= calls,
                "naive window judged totals mid-update: {failures} failures, {slow} slow of {calls} calls"
            );
        }
    });
}
