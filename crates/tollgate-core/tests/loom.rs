//! loom model of the one atomic protocol in tollgate-core: the manual clock's time,
//! which several threads of a test may advance and read at once.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p tollgate-core --test loom`
#![cfg(loom)]

use std::time::Duration;

use loom::thread;
use tollgate_core::{Clock, ManualClock, Timestamp};

/// Two threads advance while a third reads: no advance is lost, and the reader never
/// sees time go backwards or a value that is not a sum of whole advances.
#[test]
fn concurrent_advances_are_never_lost() {
    loom::model(|| {
        let clock = ManualClock::new();
        let advancers: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|n| {
                let clock = clock.clone();
                thread::spawn(move || clock.advance(Duration::from_nanos(n)))
            })
            .collect();
        let reader = {
            let clock = clock.clone();
            thread::spawn(move || {
                let first = clock.now().as_nanos();
                let second = clock.now().as_nanos();
                assert!(second >= first, "time went back: {first} then {second}");
                for seen in [first, second] {
                    assert!([0, 1, 2, 3].contains(&seen), "torn time {seen}");
                }
            })
        };
        for t in advancers {
            t.join().unwrap();
        }
        reader.join().unwrap();
        assert_eq!(clock.now(), Timestamp::from_nanos(3));
    });
}
