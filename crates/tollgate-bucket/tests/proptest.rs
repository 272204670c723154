//! The quantitative promises of GCRA, for any quota and any request times.
//!
//! With emission interval `T` and burst `b`, GCRA promises, exactly:
//! - over any closed window `[t1, t2]` of length `w`, the cells admitted at instants in
//!   the window sum to at most `b + floor(w / T)`;
//! - a request of `n <= b` cells is admitted exactly when a token bucket of capacity
//!   `b * T` nanoseconds of credit, refilled one nanosecond per nanosecond, holds at
//!   least `n * T` of credit; when it is refused, the retry-after is exactly the
//!   missing credit. So it never refuses while there is room.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tollgate_bucket::{Quota, RateLimiter};
use tollgate_core::{ManualClock, Reason, Timestamp};

/// A quota with interval 1 ns .. 10 ms and burst 1 .. 20, and a run of requests:
/// (nanoseconds since the previous request, cells).
fn scenario() -> impl Strategy<Value = (u64, u32, Vec<(u64, u32)>)> {
    (1u64..10_000_000, 1u32..20).prop_flat_map(|(interval, burst)| {
        let gaps = prop_oneof![
            Just(0u64),
            0..interval,
            0..interval * (u64::from(burst) + 2)
        ];
        let run = prop::collection::vec((gaps, 1..=burst + 1), 1..120);
        (Just(interval), Just(burst), run)
    })
}

fn limiter(interval: u64, burst: u32) -> RateLimiter<ManualClock> {
    let quota = Quota::with_period(1, Duration::from_nanos(interval))
        .burst(burst)
        .unwrap();
    RateLimiter::builder(quota)
        .clock(ManualClock::new())
        .build()
        .unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Kept in the repository: every case that ever failed is replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/proptest.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_window_admits_more_than_burst_plus_elapsed_intervals(
        (interval, burst, run) in scenario()
    ) {
        let limiter = limiter(interval, burst);
        let mut now = 0u64;
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        for (gap, n) in run {
            now += gap;
            if limiter.check_at(n, Timestamp::from_nanos(now)).is_ok() {
                admitted.push((now, u64::from(n)));
            }
        }
        for (i, &(start, _)) in admitted.iter().enumerate() {
            let mut cells = 0;
            for &(end, n) in &admitted[i..] {
                cells += n;
                let bound = u64::from(burst) + (end - start) / interval;
                prop_assert!(
                    cells <= bound,
                    "{cells} cells in [{start}, {end}] ns, bound {bound}"
                );
            }
        }
    }

    #[test]
    fn admits_exactly_when_a_credit_bucket_has_room(
        (interval, burst, run) in scenario()
    ) {
        let limiter = limiter(interval, burst);
        let capacity = interval * u64::from(burst);
        let (mut credit, mut last, mut now) = (capacity, 0u64, 0u64);
        for (gap, n) in run {
            now += gap;
            credit = (credit + (now - last)).min(capacity);
            last = now;
            let cost = interval * u64::from(n);
            let decision = limiter.check_at(n, Timestamp::from_nanos(now));
            if n > burst {
                prop_assert_eq!(decision.unwrap_err().reason(), Reason::OverCapacity);
            } else if credit >= cost {
                prop_assert!(decision.is_ok(), "refused with room at {} ns", now);
                credit -= cost;
            } else {
                let refused = decision.expect_err("admitted without room");
                prop_assert_eq!(refused.reason(), Reason::RateLimited);
                prop_assert_eq!(refused.retry_after(), Some(Duration::from_nanos(cost - credit)));
            }
        }
    }
}
