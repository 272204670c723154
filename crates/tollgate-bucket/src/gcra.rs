//! The GCRA arithmetic on one theoretical arrival time (TAT), and the compare-exchange
//! loop that applies it. Pure: time comes in as `now`, nothing here reads a clock.
//!
//! A bucket is one `u64`: the TAT, in nanoseconds on the clock's timeline. A fresh bucket
//! has TAT 0 (or any TAT <= now: all are equivalent). Admitting `n` cells at `now` moves
//! the TAT to `max(tat, now) + n * interval`, and is allowed when the new TAT is at most
//! `now + burst * interval`. The amount by which it would exceed that is exactly how long
//! the caller must wait.

use std::time::Duration;

use tollgate_core::sync::{spin_loop, AtomicU64, Ordering};
use tollgate_core::{Policy, Reason, Rejection, Timestamp};

use tollgate_core::Quota;

/// The TAT after admitting `n` cells at `now` while the TAT may run up to `slack`
/// nanoseconds past `now + capacity`; or, if that is too far, by how many nanoseconds.
#[inline]
pub(crate) fn decide(tat: u64, quota: &Quota, n: u32, now: u64, slack: u64) -> Result<u64, u64> {
    // n <= burst is checked by every caller, so `n * interval <= capacity` fits.
    let cost = u64::from(n) * quota.interval_nanos();
    let next = tat.max(now).saturating_add(cost);
    let limit = now
        .saturating_add(quota.capacity_nanos())
        .saturating_add(slack);
    if next <= limit {
        Ok(next)
    } else {
        Err(next - limit)
    }
}

/// Applies [`decide`] to `cell` atomically: `Ok((previous, next))` when admitted, or
/// `Err(nanos)` to wait.
#[inline]
pub(crate) fn acquire(
    cell: &AtomicU64,
    quota: &Quota,
    n: u32,
    now: u64,
    slack: u64,
) -> Result<(u64, u64), u64> {
    // Relaxed: the TAT publishes no other memory. Every update is a read-modify-write
    // on this one location, so all of them form one total order and none is lost.
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let next = decide(current, quota, n, now, slack)?;
        // Relaxed on both sides, for the reason above: the CAS alone serialises updates.
        match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok((current, next)),
            Err(actual) => {
                current = actual;
                spin_loop();
            }
        }
    }
}

/// Gives a reserved slot back: moves `cell` from `reserved` back to `previous` only if
/// nothing changed it since. Returns whether it did.
#[inline]
pub(crate) fn give_back(cell: &AtomicU64, reserved: u64, previous: u64) -> bool {
    // Relaxed: see `acquire`; success means no later update happened in between.
    cell.compare_exchange(reserved, previous, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
}

/// A rejection for a request that must wait `nanos`.
#[cold]
pub(crate) fn rate_limited(nanos: u64, policy: Policy) -> Rejection {
    Rejection::new(Reason::RateLimited)
        .with_retry_after(Duration::from_nanos(nanos))
        .with_policy(policy)
}

/// A rejection for a request larger than the burst: waiting cannot help.
#[cold]
pub(crate) fn over_capacity(policy: Policy) -> Rejection {
    Rejection::new(Reason::OverCapacity).with_policy(policy)
}

/// A rejection for a wait longer than the maximum, `nanos` more than allowed.
#[cold]
pub(crate) fn wait_too_long(nanos: u64, policy: Policy) -> Rejection {
    Rejection::new(Reason::WaitTooLong)
        .with_retry_after(Duration::from_nanos(nanos))
        .with_policy(policy)
}

/// `Duration` to whole nanoseconds, saturating.
pub(crate) use tollgate_core::saturating_nanos as nanos;

/// The state a decision left behind, turned into user-facing figures on demand.
#[inline]
pub(crate) fn ready_at(next: u64, quota: &Quota, now: u64) -> Timestamp {
    Timestamp::from_nanos(next.saturating_sub(quota.capacity_nanos()).max(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(count: u32, burst: u32) -> Quota {
        Quota::per_second(count).burst(burst).unwrap()
    }

    #[test]
    fn decide_is_exact() {
        let quota = q(10, 2); // interval 100 ms, capacity 200 ms
        let ms = 1_000_000;
        assert_eq!(decide(0, &quota, 1, 0, 0), Ok(100 * ms));
        assert_eq!(decide(100 * ms, &quota, 1, 0, 0), Ok(200 * ms));
        assert_eq!(decide(200 * ms, &quota, 1, 0, 0), Err(100 * ms));
        assert_eq!(decide(200 * ms, &quota, 2, 0, 0), Err(200 * ms));
        assert_eq!(decide(200 * ms, &quota, 1, 0, 100 * ms), Ok(300 * ms));
        // A stale TAT counts as now.
        assert_eq!(decide(5, &quota, 2, 10 * ms, 0), Ok(210 * ms));
    }

    #[test]
    fn give_back_only_when_unchanged() {
        let cell = AtomicU64::new(0);
        let quota = q(10, 2);
        let (prev, next) = acquire(&cell, &quota, 1, 0, 0).unwrap();
        assert!(give_back(&cell, next, prev));
        assert_eq!(cell.load(Ordering::Relaxed), 0);
        let (prev, next) = acquire(&cell, &quota, 1, 0, 0).unwrap();
        acquire(&cell, &quota, 1, 0, 0).unwrap();
        assert!(!give_back(&cell, next, prev));
    }
}
