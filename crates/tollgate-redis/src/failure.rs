//! What the limiter does when Redis fails, and how it knows Redis is back.

use std::time::Duration;

use tollgate_core::sync::{AtomicU64, Ordering};
use tollgate_core::Timestamp;

/// What a [`RedisRateLimiter`](crate::RedisRateLimiter) decides while Redis errs or
/// answers slower than the limiter's timeout.
///
/// | policy | while Redis is down | risk |
/// |---|---|---|
/// | [`Open`](OnFailure::Open) | admit every request | no limit at all |
/// | [`Closed`](OnFailure::Closed) | refuse every request (503 / `UNAVAILABLE`) | an outage of the store is an outage of the service |
/// | [`Local`](OnFailure::Local) (default, with 1 instance) | a local limiter at the quota divided by `instances` | `instances` must be right: too few over-admits, too many refuses |
///
/// After a failure the limiter makes no round trip for
/// [`retry_after_failure`](crate::RedisBuilder::retry_after_failure) (default 1 s): callers
/// do not each wait for a timeout. The first request after that tries Redis again; its
/// success ends the failover. Every failover and recovery is a `tracing` event at target
/// `tollgate::redis` and a counter in the snapshot.
///
/// ```
/// use tollgate_redis::OnFailure;
///
/// // 20 instances share the quota: each keeps a twentieth of it when Redis is away.
/// let policy = OnFailure::Local { instances: 20 };
/// assert_ne!(policy, OnFailure::Open);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Admit everything until Redis answers again.
    Open,
    /// Refuse everything until Redis answers again, with
    /// [`Reason::StoreUnavailable`](tollgate_core::Reason::StoreUnavailable).
    Closed,
    /// Decide locally at the quota divided by `instances` (the rate exactly; the burst
    /// rounded down, at least 1).
    Local {
        /// How many instances share the quota.
        instances: u32,
    },
}

impl Default for OnFailure {
    fn default() -> Self {
        OnFailure::Local { instances: 1 }
    }
}

/// Which way decisions are being taken now, for the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Redis decides.
    Redis,
    /// Redis failed; the [`OnFailure`] policy decides until the retry time.
    Failover(OnFailure),
}

/// Whether Redis is considered down, and until when.
///
/// One word: 0 while Redis is up, else one past the local time until which no round
/// trip is made. A success clears only the failure it saw when its round trip started,
/// so a slow success that began before a newer failure cannot end that failover early
/// (`tests/loom.rs`).
#[derive(Debug, Default)]
pub(crate) struct Health {
    down_until: AtomicU64,
}

/// What [`Health::observe`] found before a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    /// Up, or the retry time has come: make the round trip. `seen` is handed back to
    /// [`Health::succeeded`].
    TryRedis { seen: u64 },
    /// Down: decide by the policy, `for_` more.
    Down { for_: Duration },
}

impl Health {
    /// Reads the state at `now`.
    #[inline]
    pub(crate) fn observe(&self, now: Timestamp) -> Observed {
        // Relaxed: the word publishes no other memory; a stale read only delays or
        // hastens one round trip.
        let word = self.down_until.load(Ordering::Relaxed);
        let until = Timestamp::from_nanos(word.saturating_sub(1));
        if word == 0 || now >= until {
            Observed::TryRedis { seen: word }
        } else {
            Observed::Down { for_: until - now }
        }
    }

    /// A round trip failed at `now`: no more until `now + retry`. Returns whether this
    /// started a failover (Redis was considered up).
    pub(crate) fn failed(&self, now: Timestamp, retry: Duration) -> bool {
        let until = (now + retry).as_nanos().saturating_add(1);
        // Relaxed: as in `observe`; `fetch_max` keeps the latest retry time whatever
        // the order in which concurrent failures land.
        self.down_until.fetch_max(until, Ordering::Relaxed) == 0
    }

    /// A round trip that started having seen `seen` succeeded. Returns whether this
    /// ended a failover.
    pub(crate) fn succeeded(&self, seen: u64) -> bool {
        if seen == 0 {
            return false;
        }
        // Relaxed: as in `observe`. The exchange fails if a newer failure moved the
        // word since `seen`: that failover stands.
        self.down_until
            .compare_exchange(seen, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether a failover is in force at `now`.
    pub(crate) fn is_down(&self, now: Timestamp) -> bool {
        matches!(self.observe(now), Observed::Down { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_nanos(secs * 1_000_000_000)
    }

    #[test]
    fn a_failure_stops_round_trips_until_the_retry_time() {
        let health = Health::default();
        assert_eq!(health.observe(at(0)), Observed::TryRedis { seen: 0 });
        assert!(health.failed(at(10), S));
        assert!(!health.failed(at(10), S), "already down");
        assert_eq!(health.observe(at(10)), Observed::Down { for_: S });
        let Observed::TryRedis { seen } = health.observe(at(11)) else {
            panic!("the retry time has come");
        };
        assert!(health.succeeded(seen));
        assert_eq!(health.observe(at(11)), Observed::TryRedis { seen: 0 });
        assert!(!health.succeeded(0), "no failover to end");
    }

    #[test]
    fn a_success_that_saw_an_older_failure_does_not_end_a_newer_one() {
        let health = Health::default();
        health.failed(at(0), S);
        let Observed::TryRedis { seen } = health.observe(at(1)) else {
            panic!("retry time");
        };
        health.failed(at(1), S); // the probe of another caller failed meanwhile
        assert!(!health.succeeded(seen));
        assert!(health.is_down(at(1)));
    }
}
