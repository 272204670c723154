//! loom models of the shaper's queue protocol: concurrent admission, cancellation and
//! release never lose a wake-up, never release two waiters into one slot, and never
//! leave a slot unused while someone waits; a release without the lock never takes a
//! slot promised to a queued request.
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

/// GCRA's conformance, replayed: every release in `releases` (instant, weight), in
/// order, fits a bucket of `burst` that starts with TAT `tat`.
fn assert_conformant(mut tat: Duration, burst: u32, releases: &[(Duration, u32)]) {
    for &(t, weight) in releases {
        let earliest = tat.max(t).saturating_sub(INTERVAL * (burst - weight));
        assert!(
            earliest <= t,
            "over-admission: {weight} released at {t:?}, fits at {earliest:?}"
        );
        tat = tat.max(t) + INTERVAL * weight;
    }
}

/// Drives `waiters` (weight, waiter) until each is released, from `now` on, and returns
/// the releases in the order they happened.
fn release_all(
    mut waiters: Vec<(u32, Waiter<ManualClock>)>,
    now: Timestamp,
) -> Vec<(Duration, u32)> {
    let mut releases = Vec::new();
    let mut now = now;
    while !waiters.is_empty() {
        let mut next = None;
        let mut i = 0;
        while i < waiters.len() {
            match waiters[i].1.poll_turn(now, Waker::noop()) {
                Turn::Released => {
                    releases.push((now - Timestamp::ZERO, waiters.remove(i).0));
                    i = 0; // its successor is the head now
                    continue;
                }
                Turn::At(t) => next = Some(next.map_or(t, |n: Timestamp| n.min(t))),
                Turn::Queued => {}
            }
            i += 1;
        }
        if let Some(t) = next {
            now = t;
        } else {
            assert!(
                waiters.is_empty(),
                "waiters left with no instant to wait for"
            );
        }
    }
    releases
}

/// A request that fits now is released without the lock while another, heavier one
/// queues: the queued one's wait is computed from a schedule that includes the release
/// (the schedule is closed only from the very reading the wait came from), and the
/// light one never goes ahead of a queued request. Every release fits the bucket.
#[test]
fn a_release_without_the_lock_never_takes_a_slot_promised_to_a_waiter() {
    loom::model(|| {
        let shaper = Shaper::builder(Quota::with_period(1, INTERVAL).burst(2).unwrap())
            .max_wait(INTERVAL * 10)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        // One unit of the two spent: the light request fits at once, the heavy waits.
        assert!(matches!(shaper.admit_at(1, at(0)), Ok(Admit::Now)));
        let other = shaper.clone();
        let light = thread::spawn(move || other.admit_at(1, at(0)).unwrap());
        let heavy = shaper.admit_at(2, at(0)).unwrap();
        let light = light.join().unwrap();
        let mut releases = Vec::new();
        let mut waiters = Vec::new();
        // The heavy one is queued first in every order but one: the light goes first.
        for (weight, admit) in [(2, heavy), (1, light)] {
            match admit {
                Admit::Now => releases.push((Duration::ZERO, weight)),
                Admit::Wait(w) => waiters.push((weight, w)),
            }
        }
        assert!(
            !matches!(releases.as_slice(), [(_, 2)]),
            "the heavy request cannot fit at once"
        );
        releases.extend(release_all(waiters, at(0)));
        assert_eq!(releases.len(), 2);
        assert_conformant(INTERVAL, 2, &releases);
        assert_eq!(shaper.snapshot_at(at(10)).admitted, 3);
    });
}

/// The naive fast path: the lock's holder closes the schedule with a plain store of
/// what it read, so a release without the lock between its read and its store is
/// overwritten, and the queued request is promised a slot already taken. The real
/// shaper closes by a compare-exchange from that reading, so the model above holds.
#[test]
#[should_panic(expected = "over-admission")]
fn naive_close_by_store_promises_a_taken_slot() {
    use loom::sync::atomic::AtomicU64;
    use loom::sync::Arc;

    const OPEN: u64 = 1;
    let interval = INTERVAL.as_nanos() as u64;
    loom::model(move || {
        // TAT one interval ahead (one unit of a burst of two spent), open.
        let word = Arc::new(AtomicU64::new(interval << 1 | OPEN));
        let fast = word.clone();
        let light = thread::spawn(move || {
            // Release 1 unit at 0 if open and it fits (TAT - (2 - 1) intervals <= 0).
            let seen = fast.load(Ordering::SeqCst);
            let tat = seen >> 1;
            let fits = seen & OPEN != 0 && tat.saturating_sub(interval) == 0;
            fits && fast
                .compare_exchange(
                    seen,
                    (tat + interval) << 1 | OPEN,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
        });
        // The heavy request (2 units) waits until TAT: close the schedule by a store.
        let tat = word.load(Ordering::SeqCst) >> 1;
        word.store(tat << 1, Ordering::SeqCst);
        let heavy_at = Duration::from_nanos(tat);
        let mut releases = vec![];
        if light.join().unwrap() {
            releases.push((Duration::ZERO, 1));
        }
        releases.push((heavy_at, 2));
        assert_conformant(INTERVAL, 2, &releases);
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
