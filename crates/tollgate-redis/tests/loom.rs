//! loom models of the failover word (`Health`): one `AtomicU64`, 0 while Redis is up,
//! else one past the time until which no round trip is made. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p tollgate-redis --test loom`.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use tollgate_core::Timestamp;
use tollgate_redis::{Health, Observed};

const RETRY: Duration = Duration::from_secs(1);

fn at(secs: u64) -> Timestamp {
    Timestamp::from_nanos(secs * 1_000_000_000)
}

/// A probe that started after an older failover succeeds while another caller's probe
/// fails: whatever the interleaving, the newer failure's failover stands, and the
/// transitions reported agree with the order they took.
#[test]
fn a_success_that_saw_an_older_failure_never_ends_a_newer_one() {
    loom::model(|| {
        let health = Arc::new(Health::default());
        health.failed(at(0), RETRY);
        let Observed::TryRedis { seen } = health.observe(at(1)) else {
            panic!("the retry time has come");
        };
        let other = Arc::clone(&health);
        let failing = thread::spawn(move || other.failed(at(1), RETRY));
        let ended = health.succeeded(seen);
        let started = failing.join().unwrap();
        // Either the success ran first (it ended the old failover, and the failure then
        // started a new one: both report), or the failure ran first (it extended the
        // failover in force, and the success must not end it: neither reports).
        assert_eq!(ended, started, "the reported transitions match one order");
        assert!(health.is_down(at(1)), "the newer failure's failover stands");
    });
}

/// Two concurrent failures: one reports the failover, and the later retry time wins.
#[test]
fn concurrent_failures_start_one_failover_at_the_latest_time() {
    loom::model(|| {
        let health = Arc::new(Health::default());
        let other = Arc::clone(&health);
        let t = thread::spawn(move || other.failed(at(5), RETRY));
        let mine = health.failed(at(3), RETRY);
        let theirs = t.join().unwrap();
        assert!(mine ^ theirs, "one failover started");
        assert!(health.is_down(at(5)));
        assert!(!health.is_down(at(6)));
    });
}

/// The naive protocol: a success stores 0 whatever happened since it looked. A newer
/// failure is then lost, and callers pile onto a dead Redis.
#[test]
#[should_panic(expected = "newer failure lost")]
fn naive_success_loses_a_newer_failure() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(0));
        // Relaxed throughout: the naive version has the same orderings, only the
        // protocol differs.
        word.store(1, Ordering::Relaxed); // an old failover, its retry time come
        let other = Arc::clone(&word);
        let failing = thread::spawn(move || {
            other.fetch_max(
                at(1).as_nanos() + RETRY.as_secs() * 1_000_000_000 + 1,
                Ordering::Relaxed,
            );
        });
        word.store(0, Ordering::Relaxed); // the naive success
        failing.join().unwrap();
        assert_ne!(word.load(Ordering::Relaxed), 0, "newer failure lost");
    });
}
