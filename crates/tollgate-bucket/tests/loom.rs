//! loom models of the bucket's atomic protocols. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p tollgate-bucket --test loom`.
//! One more model of the sketch needs its internals and lives in `src/sketch.rs`
//! (`... --lib loom_model`; `cargo xtask loom` runs both).
#![cfg(loom)]

use std::collections::HashMap;
use std::time::Duration;

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex, RwLock};
use loom::thread;
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimiter, WhenFull};
use tollgate_core::{Clock, ManualClock, Timestamp};

fn quota(burst: u32) -> Quota {
    Quota::per_second(1).burst(burst).unwrap()
}

/// Cells admitted by `check_n(n)` at instant `now`, as 0 or `n`.
fn take(limiter: &RateLimiter<ManualClock>, n: u32, now: Timestamp) -> u32 {
    limiter.check_at(n, now).map_or(0, |_| n)
}

#[test]
fn two_threads_never_over_admit_and_fill_the_burst() {
    loom::model(|| {
        let limiter = RateLimiter::builder(quota(1))
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let now = Timestamp::ZERO;
        let other = limiter.clone();
        let t = thread::spawn(move || take(&other, 1, now));
        let mine = take(&limiter, 1, now);
        let total = mine + t.join().unwrap();
        // Exactly one: never both (over-admission), never neither (a lost update).
        assert_eq!(total, 1);
    });
}

#[test]
fn three_threads_weighted_never_over_admit() {
    loom::model(|| {
        let limiter = RateLimiter::builder(quota(3))
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let now = Timestamp::ZERO;
        let handles: Vec<_> = [2, 2]
            .into_iter()
            .map(|n| {
                let limiter = limiter.clone();
                thread::spawn(move || take(&limiter, n, now))
            })
            .collect();
        let mine = take(&limiter, 1, now);
        let total: u32 = mine + handles.into_iter().map(|h| h.join().unwrap()).sum::<u32>();
        assert!(total <= 3, "admitted {total} cells of a burst of 3");
        // Whatever order, the bucket ends as full as what it admitted allows.
        assert!(total >= 2, "admitted only {total}: a lost update");
    });
}

#[test]
fn dropped_reservation_racing_a_check_never_over_admits() {
    loom::model(|| {
        let limiter = RateLimiter::builder(quota(1))
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let now = Timestamp::ZERO;
        let other = limiter.clone();
        let t = thread::spawn(move || {
            let reservation = other.reserve_at(1, now, Duration::from_secs(10)).unwrap();
            drop(reservation); // cancelled: never proceeds
        });
        let mine = take(&limiter, 1, now);
        t.join().unwrap();
        let after = take(&limiter, 1, now);
        // Only committed work counts: at most one cell at this instant.
        assert!(
            mine + after <= 1,
            "admitted {} at one instant",
            mine + after
        );
    });
}

// ===== keyed: insert and evict racing checks =====

/// A keyed limiter holding key 1 with a bucket that is full again at `now` (1 s):
/// equivalent to fresh, so evictable.
fn keyed_with_expired_key() -> (KeyedRateLimiter<u32, ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::builder(quota(1))
        .max_keys(2)
        .shards(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    limiter.check_key(&1).unwrap();
    clock.advance(Duration::from_secs(1));
    (limiter, clock)
}

#[test]
fn keyed_sweep_racing_check_never_resets_an_active_key() {
    loom::model(|| {
        let (limiter, clock) = keyed_with_expired_key();
        let now = clock.now();
        let checker = limiter.clone();
        let sweeper = limiter.clone();
        let t1 = thread::spawn(move || checker.check_key_at(&1, 1, now).is_ok() as u32);
        let t2 = thread::spawn(move || sweeper.sweep());
        let first = t1.join().unwrap();
        t2.join().unwrap();
        let second = limiter.check_key_at(&1, 1, now).is_ok() as u32;
        // Burst 1: one admission at this instant, whatever the sweeper did.
        assert_eq!(first + second, 1);
    });
}

#[test]
fn keyed_insert_evicting_races_check_never_resets_an_active_key() {
    loom::model(|| {
        // max_keys 1: inserting key 2 must evict key 1 (expired), racing a check of 1.
        let clock = ManualClock::new();
        let limiter = KeyedRateLimiter::builder(quota(1))
            .max_keys(1)
            .shards(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        limiter.check_key(&1).unwrap();
        clock.advance(Duration::from_secs(1));
        let now = clock.now();
        let a = limiter.clone();
        let b = limiter.clone();
        let t1 = thread::spawn(move || a.check_key_at(&1, 1, now).is_ok() as u32);
        let t2 = thread::spawn(move || b.check_key_at(&2, 1, now).is_ok() as u32);
        let ones = t1.join().unwrap();
        let twos = t2.join().unwrap();
        let ones = ones + limiter.check_key_at(&1, 1, now).is_ok() as u32;
        let twos = twos + limiter.check_key_at(&2, 1, now).is_ok() as u32;
        assert!(ones <= 1, "key 1 admitted {ones} times at one instant");
        assert!(twos <= 1, "key 2 admitted {twos} times at one instant");
        assert!(limiter.len() <= 1);
    });
}

// Regression (issue 17): without the re-check in `insert` once the write lock is
// taken, two first checks of one new key both inserted it, and both were admitted.
#[test]
fn keyed_two_first_checks_of_one_new_key_admit_once() {
    loom::model(|| {
        let limiter = KeyedRateLimiter::builder(quota(1))
            .max_keys(2)
            .shards(1)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let now = Timestamp::ZERO;
        let other = limiter.clone();
        let t = thread::spawn(move || other.check_key_at(&1, 1, now).is_ok() as u32);
        let mine = limiter.check_key_at(&1, 1, now).is_ok() as u32;
        let total = mine + t.join().unwrap();
        assert_eq!(total, 1, "key 1 admitted {total} times with burst 1");
        assert_eq!(limiter.len(), 1);
    });
}

// ===== keys without room: the sketch, and the move into the table =====

/// A limiter whose one-key table holds key 0 until 1 s, so that at 0 s every other key
/// is decided by `policy`.
fn full_table(burst: u32, policy: WhenFull) -> KeyedRateLimiter<u32, ManualClock> {
    let limiter = KeyedRateLimiter::builder(quota(burst))
        .max_keys(1)
        .shards(1)
        .when_full(policy)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    limiter.check_key_at(&0, burst, Timestamp::ZERO).unwrap();
    // Records that nothing is evictable before 1 s: checks of other keys then go
    // straight to the policy under the read lock, side by side.
    assert_eq!(limiter.sweep(), 0);
    limiter
}

/// Two rows of two cells.
const SMALL_SKETCH: WhenFull = WhenFull::Sketch { bytes: 32, rows: 2 };

#[test]
fn sketch_one_key_racing_itself_admits_exactly_its_burst() {
    loom::model(|| {
        let limiter = full_table(1, SMALL_SKETCH);
        let now = Timestamp::ZERO;
        let other = limiter.clone();
        let t = thread::spawn(move || other.check_key_at(&1, 1, now).is_ok() as u32);
        let mine = limiter.check_key_at(&1, 1, now).is_ok() as u32;
        let total = mine + t.join().unwrap();
        // Never both (over-admission); never neither (the key is alone in the sketch).
        assert_eq!(total, 1, "key 1 admitted {total} times with burst 1");
    });
}

#[test]
fn a_key_moving_into_the_table_never_resets_what_the_policy_admitted() {
    for policy in [SMALL_SKETCH, WhenFull::SharedOverflowBucket] {
        loom::model(move || {
            // Burst 2, one cell a second. At 0 s key 1 takes 2 cells from the policy
            // (the table is full); at 1 s key 0 is evictable and key 1 moves in.
            let limiter = full_table(2, policy);
            let second = Timestamp::ZERO + Duration::from_secs(1);
            let other = limiter.clone();
            let t = thread::spawn(move || {
                2 * other.check_key_at(&1, 2, Timestamp::ZERO).is_ok() as u32
            });
            let mut cells = limiter.check_key_at(&1, 1, second).is_ok() as u32;
            cells += t.join().unwrap();
            cells += limiter.check_key_at(&1, 1, second).is_ok() as u32;
            // Over [0 s, 1 s]: at most the burst and one interval's worth.
            assert!(
                cells <= 3,
                "{policy:?}: key 1 admitted {cells} cells in 1 s"
            );
        });
    }
}

/// The naive sketch: read the minimum of the key's cells, decide, then raise each cell
/// with `fetch_max`. Two admissions of one key can both read the old cells.
struct NaiveSketch {
    cells: [AtomicU64; 2],
}

impl NaiveSketch {
    /// Burst 1: admit when the estimate is at or before now.
    fn check(&self, now: u64, interval: u64) -> bool {
        let estimate = self
            .cells
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .min()
            .unwrap();
        if estimate > now {
            return false;
        }
        for cell in &self.cells {
            cell.fetch_max(now + interval, Ordering::Relaxed);
        }
        true
    }
}

#[test]
#[should_panic(expected = "naive sketch admitted 2")]
fn naive_sketch_over_admits() {
    loom::model(|| {
        let sketch = Arc::new(NaiveSketch {
            cells: [AtomicU64::new(0), AtomicU64::new(0)],
        });
        let other = sketch.clone();
        let t = thread::spawn(move || other.check(0, 10) as u32);
        let total = sketch.check(0, 10) as u32 + t.join().unwrap();
        assert!(total <= 1, "naive sketch admitted {total} at one instant");
    });
}

/// The naive insertion: find the key under the read lock, and if it is absent, insert
/// a bucket under the write lock without looking again.
struct NaiveInsert {
    map: RwLock<HashMap<u32, AtomicU64>>,
}

impl NaiveInsert {
    /// Burst 1 at `now` 0: the first admission of a key inserts its spent bucket.
    fn check(&self, key: u32, interval: u64) -> bool {
        if let Some(tat) = self.map.read().unwrap().get(&key) {
            return tat
                .compare_exchange(0, interval, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        }
        self.map
            .write()
            .unwrap()
            .insert(key, AtomicU64::new(interval));
        true
    }
}

#[test]
#[should_panic(expected = "naive insert admitted 2")]
fn naive_insert_without_recheck_over_admits() {
    loom::model(|| {
        let table = Arc::new(NaiveInsert {
            map: RwLock::new(HashMap::new()),
        });
        let other = table.clone();
        let t = thread::spawn(move || other.check(1, 10) as u32);
        let total = table.check(1, 10) as u32 + t.join().unwrap();
        assert!(total <= 1, "naive insert admitted {total} for one new key");
    });
}

// ===== the naive table, which the model above must (and does) catch =====

/// The naive keyed table: look the bucket up under the lock, release the lock, then
/// compare-exchange. The sweeper can remove the bucket in between.
struct NaiveTable {
    map: Mutex<HashMap<u32, Arc<AtomicU64>>>,
}

impl NaiveTable {
    fn check(&self, key: u32, now: u64, interval: u64) -> bool {
        let bucket = self
            .map
            .lock()
            .unwrap()
            .entry(key)
            .or_insert_with(|| Arc::new(AtomicU64::new(0)))
            .clone();
        // Burst 1: admit when the TAT is at or before now.
        let tat = bucket.load(Ordering::Relaxed);
        tat <= now
            && bucket
                .compare_exchange(tat, now + interval, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn sweep(&self, now: u64) {
        self.map
            .lock()
            .unwrap()
            .retain(|_, bucket| bucket.load(Ordering::Relaxed) > now);
    }
}

#[test]
#[should_panic(expected = "naive table admitted 2")]
fn naive_eviction_over_admits() {
    loom::model(|| {
        let table = Arc::new(NaiveTable {
            map: Mutex::new(HashMap::new()),
        });
        let (now, interval) = (10, 10);
        let checker = table.clone();
        let sweeper = table.clone();
        let t1 = thread::spawn(move || checker.check(1, now, interval) as u32);
        let t2 = thread::spawn(move || sweeper.sweep(now));
        let first = t1.join().unwrap();
        t2.join().unwrap();
        let total = first + table.check(1, now, interval) as u32;
        assert!(total <= 1, "naive table admitted {total} at one instant");
    });
}
