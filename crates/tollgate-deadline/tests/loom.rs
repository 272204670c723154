//! loom model of the deadline layers' counters: clones of a policy, on different
//! threads, count into one set of counters, and no count is lost. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p tollgate-deadline --test loom`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use tollgate_deadline::Counters;

/// Index of the `admitted` counter (the first).
const ADMITTED: usize = 0;

#[test]
fn concurrent_admissions_are_all_counted() {
    loom::model(|| {
        let counters = Arc::new(Counters::new("loom"));
        let other = Arc::clone(&counters);
        let t = thread::spawn(move || {
            other.bump(ADMITTED);
            other.bump(ADMITTED);
        });
        counters.bump(ADMITTED);
        // A snapshot taken meanwhile never reads more than was counted.
        assert!(counters.deadline_snapshot().admitted <= 3);
        t.join().unwrap();
        assert_eq!(counters.deadline_snapshot().admitted, 3);
    });
}

/// The naive counter, a load then a store: two threads counting at once lose one.
#[test]
#[should_panic(expected = "lost count")]
fn naive_load_then_store_loses_a_count() {
    loom::model(|| {
        let count = Arc::new(AtomicU64::new(0));
        let other = Arc::clone(&count);
        // Relaxed, as the real counters: only the protocol differs.
        let t = thread::spawn(move || {
            let n = other.load(Ordering::Relaxed);
            other.store(n + 1, Ordering::Relaxed);
        });
        let n = count.load(Ordering::Relaxed);
        count.store(n + 1, Ordering::Relaxed);
        t.join().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), 2, "lost count");
    });
}
