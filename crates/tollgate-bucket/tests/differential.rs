//! Differential test against governor, the reference GCRA: on the same fake clock,
//! random quotas and random request runs get the same decisions and the same earliest
//! retry time from both, direct and keyed.
//!
//! Differences by design, kept out of the generated inputs and checked here instead:
//! - `n = 0`: governor's `check_n` takes a `NonZeroU32`; tollgate admits zero cells
//!   without charging anything.
//! - A key table full of active keys: governor's keyed limiter has no bound; tollgate
//!   refuses (or overflows) new keys. The keyed run uses a bound above its key count,
//!   and sweeps at random, which must change nothing.
//! - Quotas finer than 1 ns per cell: governor rounds the interval up to 1 ns;
//!   tollgate's builder refuses them.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimiter};
use tollgate_core::{ManualClock, Reason, Rejection};

type Decision = Result<(), Option<Duration>>;

fn quotas(interval: u64, burst: u32) -> (Quota, governor::Quota) {
    let ours = Quota::with_period(1, Duration::from_nanos(interval))
        .burst(burst)
        .unwrap();
    let theirs = governor::Quota::with_period(Duration::from_nanos(interval))
        .unwrap()
        .allow_burst(NonZeroU32::new(burst).unwrap());
    (ours, theirs)
}

fn ours(result: Result<tollgate_bucket::Admitted, Rejection>) -> Decision {
    result.map(drop).map_err(|r| match r.reason() {
        Reason::OverCapacity => None,
        Reason::RateLimited => Some(r.retry_after().expect("a retry time")),
        other => panic!("unexpected rejection {other:?}"),
    })
}

fn theirs<P: governor::clock::Reference>(
    result: Result<Result<(), governor::NotUntil<P>>, governor::InsufficientCapacity>,
    now: P,
) -> Decision {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => Err(Some(not_until.wait_time_from(now))),
        Err(governor::InsufficientCapacity(_)) => Err(None),
    }
}

fn run() -> impl Strategy<Value = (u64, u32, Vec<(u64, u32, u8)>)> {
    (1u64..5_000_000, 1u32..16).prop_flat_map(|(interval, burst)| {
        let gaps = prop_oneof![
            Just(0u64),
            0..interval,
            0..interval * (u64::from(burst) + 2)
        ];
        let steps = prop::collection::vec((gaps, 1..=burst + 2, 0u8..6), 1..150);
        (Just(interval), Just(burst), steps)
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Kept in the repository: every case that ever failed is replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/differential.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn direct_decisions_and_retry_times_match_governor((interval, burst, steps) in run()) {
        let (quota, gquota) = quotas(interval, burst);
        let clock = ManualClock::new();
        let limiter = RateLimiter::builder(quota).clock(clock.clone()).build().unwrap();
        let gclock = FakeRelativeClock::default();
        let glimiter = governor::RateLimiter::direct_with_clock(gquota, gclock.clone());
        for (step, (gap, n, _)) in steps.into_iter().enumerate() {
            clock.advance(Duration::from_nanos(gap));
            gclock.advance(Duration::from_nanos(gap));
            let n_nz = NonZeroU32::new(n).unwrap();
            let expected = theirs(glimiter.check_n(n_nz), gclock.now());
            let actual = ours(limiter.check_n(n));
            prop_assert_eq!(actual, expected, "step {}: {} cells", step, n);
        }
    }

    #[test]
    fn keyed_decisions_and_retry_times_match_governor((interval, burst, steps) in run()) {
        let (quota, gquota) = quotas(interval, burst);
        let clock = ManualClock::new();
        let limiter = KeyedRateLimiter::builder(quota)
            .max_keys(16) // 8 per shard: room for all 6 keys
            .shards(2)
            .clock(clock.clone())
            .build()
            .unwrap();
        let gclock = FakeRelativeClock::default();
        let glimiter: governor::RateLimiter<u8, _, _, NoOpMiddleware<_>> = governor::RateLimiter::new(
            gquota,
            DashMapStateStore::<u8>::default(),
            gclock.clone(),
        );
        for (step, (gap, n, key)) in steps.into_iter().enumerate() {
            clock.advance(Duration::from_nanos(gap));
            gclock.advance(Duration::from_nanos(gap));
            if gap % 3 == 0 {
                limiter.sweep(); // eviction never changes a decision
            }
            let n_nz = NonZeroU32::new(n).unwrap();
            let expected = theirs(glimiter.check_key_n(&key, n_nz), gclock.now());
            let actual = ours(limiter.check_key_n(&key, n));
            prop_assert_eq!(actual, expected, "step {}: key {} {} cells", step, key, n);
        }
    }
}

#[test]
fn zero_cells_differ_by_design() {
    let (quota, _) = quotas(1_000, 1);
    let limiter = RateLimiter::builder(quota)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    limiter.check().unwrap();
    // governor cannot express it; tollgate admits it and charges nothing.
    assert!(limiter.check_n(0).is_ok());
    assert!(limiter.check().is_err());
}
