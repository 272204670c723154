//! loom models of the drain's one-word protocol: the in-flight count and the wake-up
//! of the driver waiting for it to reach zero.
#![cfg(loom)]

use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use tollgate_drain::{Phase, Tracker};

/// The driver's closing sequence: announce, close, wait until idle, move to done.
/// Returns the word read at the move to done.
fn drive(tracker: &Tracker) -> tollgate_drain::Word {
    tracker.advance();
    tracker.advance();
    loom::future::block_on(poll_fn(|cx| tracker.poll_idle(cx)));
    tracker.advance()
}

/// The last request finishing while the drain starts: the driver is always woken
/// (loom reports a deadlock otherwise), and the move to done never counts a request
/// that has already left as cut.
#[test]
fn last_request_leaving_during_closing_always_wakes_the_driver() {
    loom::model(|| {
        let tracker = Arc::new(Tracker::new());
        assert!(tracker.try_enter());
        let t = tracker.clone();
        let request = thread::spawn(move || {
            t.leave();
        });
        let at_done = drive(&tracker);
        request.join().unwrap();
        assert_eq!(at_done.in_flight(), 0, "a finished request reported as cut");
        assert_eq!(at_done.completions(), 1);
        assert_eq!(tracker.load().phase(), Phase::Done);
    });
}

/// Two requests leaving concurrently with the drain: whichever leaves last wakes the
/// driver, and both are counted as completed, none as cut.
#[test]
fn two_requests_leaving_concurrently_are_both_counted() {
    loom::model(|| {
        let tracker = Arc::new(Tracker::new());
        assert!(tracker.try_enter());
        assert!(tracker.try_enter());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let t = tracker.clone();
                thread::spawn(move || {
                    t.leave();
                })
            })
            .collect();
        let at_done = drive(&tracker);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(at_done.in_flight(), 0);
        assert_eq!(at_done.completions(), 2);
    });
}

/// A request arriving while the drain closes is either refused, or admitted and then
/// waited for: never admitted after closing, never left out of the wait.
#[test]
fn a_request_racing_the_close_is_refused_or_waited_for() {
    loom::model(|| {
        let tracker = Arc::new(Tracker::new());
        let t = tracker.clone();
        let request = thread::spawn(move || {
            if t.try_enter() {
                t.leave();
                true
            } else {
                false
            }
        });
        let at_done = drive(&tracker);
        let admitted = request.join().unwrap();
        assert_eq!(at_done.in_flight(), 0);
        assert_eq!(at_done.completions(), u64::from(admitted));
        assert!(!tracker.try_enter(), "admitted after done");
    });
}

// ===== the naive protocol, to show the models catch it =====

/// The naive wake-up: check the count, *then* register the waker. A request that
/// leaves between the two finds no waker, and the driver sleeps forever.
struct Naive {
    in_flight: AtomicU64,
    closing: AtomicU64,
    waiter: Mutex<Option<Waker>>,
}

impl Naive {
    fn leave(&self) {
        // SeqCst everywhere: the bug is the order of check and registration, not the
        // orderings.
        let before = self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.closing.load(Ordering::SeqCst) == 1 {
            if let Some(w) = self.waiter.lock().unwrap().take() {
                w.wake();
            }
        }
    }

    fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            return Poll::Ready(());
        }
        *self.waiter.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The same race as the first model, on the naive protocol: loom must find the lost
/// wake-up (it panics with a deadlock), which is what makes the models above worth
/// their name.
#[test]
#[should_panic]
fn naive_check_then_register_loses_the_wake_up() {
    loom::model(|| {
        let naive = Arc::new(Naive {
            in_flight: AtomicU64::new(1),
            closing: AtomicU64::new(0),
            waiter: Mutex::new(None),
        });
        let n = naive.clone();
        let request = thread::spawn(move || n.leave());
        naive.closing.store(1, Ordering::SeqCst);
        loom::future::block_on(poll_fn(|cx| naive.poll_idle(cx)));
        request.join().unwrap();
    });
}
