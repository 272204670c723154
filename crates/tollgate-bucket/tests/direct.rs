//! Exact decisions of the direct limiter on a manual clock.

use std::time::Duration;

use tollgate_bucket::{Quota, RateLimiter};
use tollgate_core::{Clock, ManualClock, Policy, Reason, Timestamp};

const MS: Duration = Duration::from_millis(1);

fn limiter(count: u32, burst: u32) -> (RateLimiter<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let quota = Quota::per_second(count).burst(burst).unwrap();
    (
        RateLimiter::builder(quota)
            .clock(clock.clone())
            .build()
            .unwrap(),
        clock,
    )
}

#[test]
fn burst_is_admitted_at_once_then_exact_retry_after() {
    let (limiter, clock) = limiter(10, 3); // one cell per 100 ms, 3 at once
    for remaining in [2, 1, 0] {
        let admitted = limiter.check().expect("within the burst");
        assert_eq!(admitted.remaining(), remaining, "at {:?}", clock.now());
    }
    let refused = limiter.check().unwrap_err();
    assert_eq!(refused.reason(), Reason::RateLimited);
    assert_eq!(refused.retry_after(), Some(100 * MS));
    assert_eq!(
        refused.policy(),
        Some(Policy::new(10, Duration::from_secs(1)))
    );

    clock.advance(40 * MS);
    assert_eq!(limiter.check().unwrap_err().retry_after(), Some(60 * MS));
    clock.advance(60 * MS - Duration::from_nanos(1));
    assert_eq!(
        limiter.check().unwrap_err().retry_after(),
        Some(Duration::from_nanos(1))
    );
    clock.advance(Duration::from_nanos(1));
    let admitted = limiter.check().expect("exactly at the retry time");
    assert_eq!(admitted.remaining(), 0);
    assert_eq!(admitted.reset(), 300 * MS);
}

#[test]
fn refill_after_idle_is_capped_at_the_burst() {
    let (limiter, clock) = limiter(10, 3);
    for _ in 0..3 {
        limiter.check().unwrap();
    }
    clock.advance(Duration::from_secs(60));
    for _ in 0..3 {
        limiter.check().unwrap();
    }
    assert_eq!(limiter.check().unwrap_err().retry_after(), Some(100 * MS));
}

#[test]
fn partial_refill_admits_exactly_the_replenished_cells() {
    let (limiter, clock) = limiter(10, 5);
    for _ in 0..5 {
        limiter.check().unwrap();
    }
    clock.advance(250 * MS); // two whole cells back, half of a third
    limiter.check().unwrap();
    let admitted = limiter.check().unwrap();
    assert_eq!(admitted.remaining(), 0);
    assert_eq!(admitted.reset(), 450 * MS);
    assert_eq!(limiter.check().unwrap_err().retry_after(), Some(50 * MS));
}

#[test]
fn weighted_requests_are_all_or_nothing() {
    let (limiter, clock) = limiter(10, 5);
    assert_eq!(limiter.check_n(3).unwrap().remaining(), 2);
    // 3 more do not fit: wait until one more cell is back.
    let refused = limiter.check_n(3).unwrap_err();
    assert_eq!(refused.reason(), Reason::RateLimited);
    assert_eq!(refused.retry_after(), Some(100 * MS));
    // Nothing was taken by the refusal: 2 still fit.
    assert_eq!(limiter.check_n(2).unwrap().remaining(), 0);
    clock.advance(300 * MS);
    assert_eq!(limiter.check_n(3).unwrap().remaining(), 0);
}

#[test]
fn over_capacity_is_distinct_and_has_no_retry_after() {
    let (limiter, _clock) = limiter(10, 5);
    let refused = limiter.check_n(6).unwrap_err();
    assert_eq!(refused.reason(), Reason::OverCapacity);
    assert_eq!(refused.retry_after(), None);
    // A full burst is fine.
    assert_eq!(limiter.check_n(5).unwrap().remaining(), 0);
    // Still over capacity, not "rate limited", when the bucket is empty.
    assert_eq!(
        limiter.check_n(6).unwrap_err().reason(),
        Reason::OverCapacity
    );
}

#[test]
fn zero_cells_are_always_admitted_and_take_nothing() {
    let (limiter, _clock) = limiter(10, 1);
    limiter.check().unwrap();
    assert_eq!(limiter.check_n(0).unwrap().remaining(), 0);
    assert_eq!(limiter.check().unwrap_err().retry_after(), Some(100 * MS));
}

#[test]
fn same_instant_checks_see_each_other() {
    let (limiter, clock) = limiter(1, 2);
    let now = clock.now();
    limiter.check_at(1, now).unwrap();
    limiter.check_at(1, now).unwrap();
    let refused = limiter.check_at(1, now).unwrap_err();
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(
        limiter.check_at(1, now).unwrap_err().retry_after(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn clock_going_backwards_never_panics_or_refills() {
    let (limiter, clock) = limiter(10, 2);
    clock.set(Timestamp::from_nanos(10_000_000_000));
    limiter.check().unwrap();
    limiter.check().unwrap();
    clock.set(Timestamp::ZERO);
    let refused = limiter.check().unwrap_err();
    // Measured from the earlier `now`, the wait is longer, never shorter.
    assert_eq!(
        refused.retry_after(),
        Some(Duration::from_secs(10) + 100 * MS)
    );
    assert!(limiter
        .reserve_at(1, Timestamp::ZERO, Duration::ZERO)
        .is_err());
    clock.set(Timestamp::from_nanos(u64::MAX));
    assert!(limiter.check().is_ok());
}

#[test]
fn clones_share_the_bucket() {
    let (limiter, _clock) = limiter(10, 1);
    let other = limiter.clone();
    limiter.check().unwrap();
    assert!(other.check().is_err());
    assert_eq!(other.quota(), limiter.quota());
}

#[test]
fn snapshot_counts_every_decision() {
    let (limiter, _clock) = limiter(10, 2);
    limiter.check().unwrap();
    limiter.check_n(1).unwrap();
    limiter.check().unwrap_err();
    limiter.check_n(3).unwrap_err();
    let snapshot = limiter.snapshot();
    assert_eq!((snapshot.admitted, snapshot.rejected), (2, 2));
}

// ===== wait mode =====

#[test]
fn reservation_waits_exactly_and_rejects_beyond_max_wait() {
    let (limiter, clock) = limiter(10, 1);
    let now = clock.now();
    limiter.check_at(1, now).unwrap();

    let first = limiter.reserve_at(1, now, 250 * MS).unwrap();
    assert_eq!(first.wait(), 100 * MS);
    assert_eq!(first.ready_at(), Timestamp::from_nanos(100_000_000));
    assert_eq!(first.admitted().remaining(), 0);
    let second = limiter.reserve_at(1, now, 250 * MS).unwrap();
    assert_eq!(second.wait(), 200 * MS);

    // The third would wait 300 ms: 50 ms more than allowed. Decided at once.
    let refused = limiter.reserve_at(1, now, 250 * MS).unwrap_err();
    assert_eq!(refused.reason(), Reason::WaitTooLong);
    assert_eq!(refused.retry_after(), Some(50 * MS));
    first.commit();
    second.commit();
    assert_eq!(
        limiter
            .reserve_at(2, now, Duration::MAX)
            .unwrap_err()
            .reason(),
        Reason::OverCapacity
    );
}

#[test]
fn reservation_with_room_is_ready_now() {
    let (limiter, clock) = limiter(10, 2);
    let reservation = limiter.reserve_at(1, clock.now(), Duration::ZERO).unwrap();
    assert_eq!(reservation.wait(), Duration::ZERO);
    assert_eq!(reservation.ready_at(), clock.now());
    assert_eq!(reservation.admitted().remaining(), 1);
    reservation.commit();
    assert_eq!(limiter.check().unwrap().remaining(), 0);
}

#[test]
fn dropped_reservation_gives_its_slot_back_when_it_is_the_last() {
    let (limiter, clock) = limiter(10, 1);
    let now = clock.now();
    limiter.check_at(1, now).unwrap();
    let a = limiter.reserve_at(1, now, Duration::from_secs(1)).unwrap();
    let b = limiter.reserve_at(1, now, Duration::from_secs(1)).unwrap();
    assert_eq!((a.wait(), b.wait()), (100 * MS, 200 * MS));
    // Dropped in reverse order: both slots come back.
    drop(b);
    drop(a);
    let c = limiter.reserve_at(1, now, Duration::from_secs(1)).unwrap();
    assert_eq!(c.wait(), 100 * MS);
    c.commit();
}

#[test]
fn dropped_reservation_is_lost_when_a_later_one_was_made() {
    let (limiter, clock) = limiter(10, 1);
    let now = clock.now();
    limiter.check_at(1, now).unwrap();
    let a = limiter.reserve_at(1, now, Duration::from_secs(1)).unwrap();
    let b = limiter.reserve_at(1, now, Duration::from_secs(1)).unwrap();
    // `a` is not the last: its slot stays spent (never over-admit), `b` keeps its own.
    drop(a);
    assert_eq!(b.wait(), 200 * MS);
    let c = limiter.reserve_at(1, now, Duration::from_secs(1)).unwrap();
    assert_eq!(c.wait(), 300 * MS);
    b.commit();
    c.commit();
}

#[test]
fn dropped_reservation_after_a_check_is_lost() {
    let (limiter, clock) = limiter(10, 1);
    let now = clock.now();
    let a = limiter.reserve_at(1, now, Duration::ZERO).unwrap();
    clock.advance(Duration::from_secs(1));
    limiter.check().unwrap(); // the bucket moved on
    drop(a);
    assert_eq!(limiter.check().unwrap_err().retry_after(), Some(100 * MS));
}

#[test]
fn committed_reservation_keeps_its_slot() {
    let (limiter, clock) = limiter(10, 1);
    let now = clock.now();
    limiter.reserve_at(1, now, Duration::ZERO).unwrap().commit();
    assert_eq!(
        limiter.check_at(1, now).unwrap_err().retry_after(),
        Some(100 * MS)
    );
    assert!(format!("{limiter:?}").contains("RateLimiter"));
}

#[test]
fn a_named_limiter_names_its_rejections_and_bad_names_are_config_errors() {
    let limiter = RateLimiter::builder(Quota::per_second(1).build().unwrap())
        .name("per-user")
        .clock(ManualClock::new())
        .build()
        .unwrap();
    assert_eq!(limiter.name(), Some("per-user"));
    limiter.check().unwrap();
    let refused = limiter.check().unwrap_err();
    assert_eq!(refused.name(), Some("per-user"));
    assert_eq!(
        refused.to_string(),
        "per-user: rate limited, retry after 1s"
    );
    assert!(refused.policy().is_some());
    for (bad, rule) in [
        ("", "must not be empty"),
        ("tab\there", "must be printable ASCII (0x20 to 0x7E)"),
        ("caf\u{e9}", "must be printable ASCII (0x20 to 0x7E)"),
    ] {
        let err = RateLimiter::builder(Quota::per_second(1).build().unwrap())
            .name(bad)
            .build()
            .unwrap_err();
        assert_eq!((err.field(), err.rule()), ("name", rule), "{bad:?}");
    }
    // Unnamed by default, and `new` is the builder's defaults.
    let plain = RateLimiter::new(Quota::per_second(1).build().unwrap());
    assert_eq!(plain.name(), None);
    plain.check().unwrap();
    assert_eq!(plain.check().unwrap_err().name(), None);
}
