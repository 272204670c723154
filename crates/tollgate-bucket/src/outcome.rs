//! What an admission hands back: [`Admitted`] figures and [`Reservation`] guards.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::{Policy, Quota, Timestamp};

/// An admitted request: the bucket's state right after it, for `RateLimit` headers.
///
/// It is a copy of three numbers; the figures are computed only when asked for.
///
/// ```
/// use std::time::Duration;
/// use tollgate_bucket::{Quota, RateLimiter};
/// use tollgate_core::ManualClock;
///
/// let limiter = RateLimiter::builder(Quota::per_second(10).burst(3)?)
///     .clock(ManualClock::new())
///     .build()?;
/// let admitted = limiter.check().unwrap();
/// assert_eq!(admitted.remaining(), 2);
/// assert_eq!(admitted.reset(), Duration::from_millis(100));
/// assert_eq!(admitted.policy().limit(), 10);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    tat: u64,
    now: u64,
    quota: Quota,
}

impl Admitted {
    #[inline]
    pub(crate) fn new(tat: u64, now: u64, quota: Quota) -> Self {
        Self { tat, now, quota }
    }

    /// The figures of a GCRA bucket measured against `quota` whose theoretical arrival
    /// time is `tat` at `now`, right after an admission: how a limiter that keeps its
    /// buckets elsewhere (a remote store) reports what it admitted. See
    /// [`Decide`](crate::Decide).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_bucket::{Admitted, Quota};
    /// use tollgate_core::Timestamp;
    ///
    /// let quota = Quota::per_second(10).burst(3)?;
    /// let now = Timestamp::from_nanos(1_000_000_000);
    /// let admitted = Admitted::from_tat(quota, now, now + Duration::from_millis(200));
    /// assert_eq!((admitted.remaining(), admitted.reset()), (1, Duration::from_millis(200)));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn from_tat(quota: Quota, now: Timestamp, tat: Timestamp) -> Self {
        Self::new(tat.as_nanos(), now.as_nanos(), quota)
    }

    /// Cells still admissible at this instant, after this request.
    pub fn remaining(&self) -> u32 {
        let room = self
            .now
            .saturating_add(self.quota.capacity_nanos())
            .saturating_sub(self.tat);
        let cells = room / self.quota.interval_nanos();
        u32::try_from(cells)
            .unwrap_or(u32::MAX)
            .min(self.quota.burst())
    }

    /// The time until the bucket is full again (every cell replenished).
    pub fn reset(&self) -> Duration {
        Duration::from_nanos(self.tat.saturating_sub(self.now))
    }

    /// The quota the request was measured against.
    pub fn policy(&self) -> Policy {
        self.quota.policy()
    }
}

impl fmt::Debug for Admitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admitted")
            .field("remaining", &self.remaining())
            .field("reset", &self.reset())
            .field("policy", &self.policy())
            .finish()
    }
}

/// Where a reservation's cells go back to when it is dropped uncommitted.
pub(crate) trait GiveBack: Send + Sync {
    /// Moves the bucket's TAT from `reserved` back to `previous` if nothing changed it.
    fn give_back(&self, reserved: u64, previous: u64) -> bool;
}

/// A granted slot in the future: proceed at [`ready_at`](Reservation::ready_at), then
/// [`commit`](Reservation::commit).
///
/// # Cancellation
///
/// A reservation is a drop guard. Dropping it without calling `commit` (a waiter that
/// gave up, a cancelled future) gives its cells back if, and only if, the bucket has
/// not moved since it was made: no other request was admitted or reserved on that
/// bucket after it (and, for a keyed limiter, the key was not evicted). Then the
/// bucket is exactly as if the reservation had never happened. Otherwise the cells
/// stay spent: the bucket only ever errs towards admitting less, never more. Several
/// reservations dropped in reverse order of their making all give their cells back.
///
/// ```
/// use std::time::Duration;
/// use tollgate_bucket::{Quota, RateLimiter};
/// use tollgate_core::{Clock, ManualClock};
///
/// let limiter = RateLimiter::builder(Quota::per_second(10).burst(1)?)
///     .clock(ManualClock::new())
///     .build()?;
/// let now = limiter.clock().now();
/// limiter.check_at(1, now).unwrap(); // the bucket is now empty for 100 ms
///
/// let reservation = limiter.reserve_at(1, now, Duration::from_secs(1)).unwrap();
/// assert_eq!(reservation.wait(), Duration::from_millis(100));
/// drop(reservation); // cancelled: the slot goes back
/// let again = limiter.reserve_at(1, now, Duration::from_secs(1)).unwrap();
/// assert_eq!(again.wait(), Duration::from_millis(100));
/// again.commit(); // proceeded: the slot stays taken
/// assert!(limiter.check_at(1, now).is_err());
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[must_use = "dropping a Reservation gives its slot back; call `commit` once the caller proceeds"]
pub struct Reservation {
    bucket: Option<Arc<dyn GiveBack>>,
    previous: u64,
    reserved: u64,
    now: u64,
    quota: Quota,
}

impl Reservation {
    #[inline]
    pub(crate) fn new(
        bucket: Option<Arc<dyn GiveBack>>,
        previous: u64,
        reserved: u64,
        now: u64,
        quota: Quota,
    ) -> Self {
        Self {
            bucket,
            previous,
            reserved,
            now,
            quota,
        }
    }

    /// A slot that a limiter keeping its buckets elsewhere (a remote store) granted at
    /// `now` in a bucket of `quota` whose theoretical arrival time became `tat`: the
    /// caller proceeds at `tat - burst x interval` (or at once). Nothing is given back
    /// when it is dropped uncommitted. See [`Decide`](crate::Decide).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_bucket::{Quota, Reservation};
    /// use tollgate_core::Timestamp;
    ///
    /// let quota = Quota::per_second(10).burst(1)?;
    /// let now = Timestamp::from_nanos(0);
    /// let reservation = Reservation::kept(quota, now, now + Duration::from_millis(300));
    /// assert_eq!(reservation.wait(), Duration::from_millis(200));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn kept(quota: Quota, now: Timestamp, tat: Timestamp) -> Self {
        let (now, tat) = (now.as_nanos(), tat.as_nanos());
        Self::new(None, tat, tat, now, quota)
    }

    /// When the caller may proceed: the reservation time, or later.
    pub fn ready_at(&self) -> Timestamp {
        crate::gcra::ready_at(self.reserved, &self.quota, self.now)
    }

    /// How long after the reservation the caller may proceed (zero: at once).
    pub fn wait(&self) -> Duration {
        self.ready_at() - Timestamp::from_nanos(self.now)
    }

    /// The bucket's figures as seen at [`ready_at`](Reservation::ready_at).
    pub fn admitted(&self) -> Admitted {
        Admitted::new(self.reserved, self.ready_at().as_nanos(), self.quota)
    }

    /// Keeps the slot: the caller proceeded.
    pub fn commit(mut self) {
        self.bucket = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(bucket) = self.bucket.take() {
            let returned = bucket.give_back(self.reserved, self.previous);
            tracing::trace!(
                target: "tollgate::bucket",
                returned,
                "uncommitted reservation dropped"
            );
        }
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("ready_at", &self.ready_at())
            .field("wait", &self.wait())
            .field("committed", &self.bucket.is_none())
            .finish()
    }
}

/// Counters of a limiter, its layer or its service, for metrics: the same fields for
/// the direct and the keyed limiter.
///
/// ```
/// use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimiter};
///
/// let limiter = RateLimiter::new(Quota::per_hour(1).build()?);
/// let _ = limiter.check();
/// let _ = limiter.check();
/// let snapshot = limiter.snapshot();
/// assert_eq!((snapshot.admitted, snapshot.rejected, snapshot.keys), (1, 1, 0));
///
/// let keyed = KeyedRateLimiter::<u32>::builder(Quota::per_hour(1).build()?).build()?;
/// let _ = keyed.check_key(&1);
/// let _ = keyed.check_key(&1);
/// let snapshot = keyed.snapshot();
/// assert_eq!((snapshot.admitted, snapshot.rejected, snapshot.keys), (1, 1, 1));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Snapshot {
    /// Requests admitted (including reservations and, for a keyed limiter, the
    /// overflow bucket).
    pub admitted: u64,
    /// Requests rejected, for any reason.
    pub rejected: u64,
    /// Keys tracked now (always 0 for a direct limiter).
    pub keys: usize,
}
