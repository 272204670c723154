//! loom models of the shaper's queue protocol: concurrent admission, cancellation and
//! release never lose a wake-up, never release two waiters into one slot, and never
//! leave a slot unused while someone waits.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!  cargo test --release -p tollgate-leaky --test loom`

// The doc comment comes first so the crate is documented even when the cfg empties it.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use std::time::Duration;

use loom::thread;
use tollgate_core::{ManualClock, Quota, Timestamp};
use tollgate_leaky::{Admit, Shaper, Turn, Waiter};

#[derive(Default)]
struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        // SeqCst: a test counter read after `join`, which orders it anyway.
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Waker, std::sync::Arc<WakeCount>) {
    let count = std::sync::Arc::new(WakeCount::default());
    (Waker::from(count.clone()), count)
}

const INTERVAL: Duration = Duration::from_millis(100);

fn at(n: u64) -> Timestamp {
    Timestamp::ZERO + INTERVAL * n as u32
}

fn shaper() -> Shaper<ManualClock> {
    Shaper::builder(Quota::with_period(1, INTERVAL).burst(1).unwrap())
        .clock(ManualClock::new())
        .build()
        .unwrap()
}

fn queued(shaper: &Shaper<ManualClock>, now: Timestamp) -> Waiter<ManualClock> {
    match shaper.admit_at(1, now).unwrap() {
        Admit::Wait(w) => w,
        Admit::Now => panic!("expected to queue"),
    }
}

/// The head is released while its successor registers its waker: the successor is
/// either already the head when it polls, or is woken exactly once.
#[test]
fn release_and_successor_poll_never_lose_the_wake_up() {
    loom::model(|| {
        let shaper = shaper();
        assert!(matches!(shaper.admit_at(1, at(0)), Ok(Admit::Now)));
        let mut head = queued(&shaper, at(0));
        let mut next = queued(&shaper, at(0));
        let releaser = thread::spawn(move || {
            assert_eq!(head.poll_turn(at(1), Waker::noop()), Turn::Released);
        });
        let (waker, wakes) = counting_waker();
        let first = next.poll_turn(at(1), &waker);
        releaser.join().unwrap();
        match first {
            Turn::Queued => assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "lost wake-up"),
            Turn::At(t) => assert_eq!(t, at(2)),
            Turn::Released => panic!("two waiters released into one slot"),
        }
        // One slot per interval: the successor goes one interval after the head.
        assert_eq!(next.poll_turn(at(1), &waker), Turn::At(at(2)));
        assert_eq!(next.poll_turn(at(2), &waker), Turn::Released);
        assert!(wakes.0.load(Ordering::SeqCst) <= 1, "woken twice");
    });
}

/// The head is cancelled while its successor polls and a newcomer arrives: the
/// successor inherits the head's slot (released at once, the slot is due), is woken at
/// most once, and the newcomer queues behind it.
#[test]
fn cancelled_head_hands_its_slot_on_under_concurrent_arrival() {
    loom::model(|| {
        let shaper = shaper();
        assert!(matches!(shaper.admit_at(1, at(0)), Ok(Admit::Now)));
        let head = queued(&shaper, at(0));
        let mut next = queued(&shaper, at(0));
        let canceller = thread::spawn(move || drop(head));
        let arrivals = shaper.clone();
        let newcomer = thread::spawn(move || queued(&arrivals, at(1)));
        let (waker, wakes) = counting_waker();
        let first = next.poll_turn(at(1), &waker);
        canceller.join().unwrap();
        let mut newcomer = newcomer.join().unwrap();
        match first {
            Turn::Released => {}
            Turn::Queued => {
                assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "lost wake-up");
                assert_eq!(
                    next.poll_turn(at(1), &waker),
                    Turn::Released,
                    "slot left unused"
                );
            }
            Turn::At(t) => panic!("the head's slot at {t:?} was due and left unused"),
        }
        assert_eq!(newcomer.poll_turn(at(1), Waker::noop()), Turn::At(at(2)));
        let snap = shaper.snapshot_at(at(1));
        assert_eq!((snap.admitted, snap.cancelled, snap.queued), (2, 1, 1));
    });
}

/// Two callers admit at the same instant into an idle shaper with no burst: exactly one
/// goes now, the other is scheduled one interval later.
#[test]
fn concurrent_admissions_never_share_a_slot() {
    loom::model(|| {
        let shaper = shaper();
        let other = shaper.clone();
        let t = thread::spawn(move || other.admit_at(1, at(0)).unwrap());
        let mine = shaper.admit_at(1, at(0)).unwrap();
        let theirs = t.join().unwrap();
        let (now, mut waiting) = match (mine, theirs) {
            (Admit::Now, Admit::Wait(w)) | (Admit::Wait(w), Admit::Now) => ((), w),
            _ => panic!("two releases in one slot, or none"),
        };
        let () = now;
        assert_eq!(waiting.poll_turn(at(0), Waker::noop()), Turn::At(at(1)));
    });
}

/// The naive protocol the real waiter avoids: the successor checks whether it is the
/// head and registers its waker in two critical sections. A release in between finds
/// no waker and wakes nobody, and the successor waits for ever. [`Waiter::poll_turn`]
/// checks and registers under one lock, so the model above holds.
#[test]
#[should_panic(expected = "lost wake-up")]
fn naive_check_then_register_loses_the_wake_up() {
    use std::collections::{HashMap, VecDeque};

    use loom::sync::{Arc, Mutex};

    struct Naive {
        queue: Mutex<VecDeque<u64>>,
        wakers: Mutex<HashMap<u64, Waker>>,
    }

    loom::model(|| {
        let naive = Arc::new(Naive {
            queue: Mutex::new(VecDeque::from([1, 2])),
            wakers: Mutex::new(HashMap::new()),
        });
        let shared = naive.clone();
        let releaser = thread::spawn(move || {
            // Release the head, then wake its successor if it registered.
            let next = {
                let mut queue = shared.queue.lock().unwrap();
                queue.pop_front();
                queue.front().copied()
            };
            let waker = next.and_then(|id| shared.wakers.lock().unwrap().remove(&id));
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        let (waker, wakes) = counting_waker();
        let is_head = naive.queue.lock().unwrap().front() == Some(&2);
        if !is_head {
            naive.wakers.lock().unwrap().insert(2, waker);
        }
        releaser.join().unwrap();
        if !is_head {
            assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "lost wake-up");
        }
    });
}
