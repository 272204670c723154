//! The direct limiter: one bucket shared by every caller.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::sync::{AtomicU64, Ordering};
use tollgate_core::{Clock, ConfigError, Quota, Rejection, SystemClock, Timestamp};

use crate::gcra;
use crate::metrics::Metrics;
use crate::outcome::{Admitted, GiveBack, Reservation, Snapshot};
use tollgate_core::StripedCounter;

/// One token bucket (GCRA) shared by every clone: lock-free, no background task.
///
/// The state is one atomic theoretical arrival time updated by compare-exchange; the
/// clock is read once per [`check`](RateLimiter::check). Clones share the bucket.
///
/// ```
/// use std::time::Duration;
/// use tollgate_bucket::{Quota, RateLimiter};
/// use tollgate_core::{ManualClock, Reason};
///
/// let clock = ManualClock::new();
/// let limiter = RateLimiter::builder(Quota::per_second(2).build()?)
///     .clock(clock.clone())
///     .build()?;
/// assert!(limiter.check().is_ok());
/// assert!(limiter.check().is_ok());
///
/// let rejected = limiter.check().unwrap_err();
/// assert_eq!(rejected.reason(), Reason::RateLimited);
/// assert_eq!(rejected.retry_after(), Some(Duration::from_millis(500)));
///
/// clock.advance(Duration::from_millis(500));
/// assert!(limiter.check().is_ok());
///
/// // Larger than the burst: waiting cannot help, and it says so.
/// assert_eq!(limiter.check_n(3).unwrap_err().reason(), Reason::OverCapacity);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub struct RateLimiter<C = SystemClock> {
    quota: Quota,
    clock: C,
    shared: Arc<Shared>,
}

/// Builds a [`RateLimiter`]; start from [`RateLimiter::builder`].
///
/// ```
/// use tollgate_bucket::{Quota, RateLimiter};
/// use tollgate_core::{ManualClock, Reason};
///
/// let limiter = RateLimiter::builder(Quota::per_minute(1).build()?)
///     .name("login")
///     .clock(ManualClock::new())
///     .build()?;
/// limiter.check().unwrap();
/// let refused = limiter.check().unwrap_err();
/// assert_eq!(refused.name(), Some("login"));
/// assert_eq!(refused.to_string(), "login: rate limited, retry after 60s");
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Builder does nothing until `build` is called"]
pub struct Builder<C> {
    quota: Quota,
    name: Option<Arc<str>>,
    clock: C,
}

impl<C> Builder<C> {
    /// Names the limiter's policy: its rejections carry the name (the HTTP face states
    /// it in the `RateLimit` headers). Printable ASCII, not empty; no name by default.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Reads time from `clock` instead of the system clock.
    pub fn clock<C2: Clock>(self, clock: C2) -> Builder<C2> {
        Builder {
            quota: self.quota,
            name: self.name,
            clock,
        }
    }

    /// Validates and builds: the name, when set, must be printable ASCII and not empty.
    ///
    /// ```
    /// use tollgate_bucket::{Quota, RateLimiter};
    ///
    /// let err = RateLimiter::builder(Quota::per_second(1).build()?)
    ///     .name("caf\u{e9}")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "name");
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<RateLimiter<C>, ConfigError>
    where
        C: Clock,
    {
        check_name(self.name.as_deref())?;
        Ok(RateLimiter {
            quota: self.quota,
            clock: self.clock,
            shared: Arc::new(Shared::new(self.name)),
        })
    }
}

/// A policy name is printable ASCII, so that every face can state it as is.
pub(crate) fn check_name(name: Option<&str>) -> Result<(), ConfigError> {
    match name {
        Some("") => Err(ConfigError::new("name", "must not be empty")),
        Some(name) if !name.bytes().all(|b| (0x20..=0x7e).contains(&b)) => Err(ConfigError::new(
            "name",
            "must be printable ASCII (0x20 to 0x7E)",
        )),
        _ => Ok(()),
    }
}

/// The bucket, alone on its cache line(s) so that neighbours do not slow its CAS.
#[repr(align(128))]
struct Shared {
    tat: AtomicU64,
    rejected: AtomicU64,
    admitted: StripedCounter,
    metrics: Metrics,
    name: Option<Arc<str>>,
}

impl Shared {
    fn new(name: Option<Arc<str>>) -> Self {
        Self {
            tat: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            admitted: StripedCounter::default(),
            metrics: Metrics::new(name.as_deref()),
            name,
        }
    }
}

impl GiveBack for Shared {
    fn give_back(&self, reserved: u64, previous: u64) -> bool {
        gcra::give_back(&self.tat, reserved, previous)
    }
}

impl RateLimiter<SystemClock> {
    /// A builder for a limiter of `quota`, unnamed, on the system clock.
    pub fn builder(quota: Quota) -> Builder<SystemClock> {
        Builder {
            quota,
            name: None,
            clock: SystemClock::new(),
        }
    }

    /// An unnamed limiter on the system clock: `RateLimiter::builder(quota).build()`,
    /// which cannot fail.
    ///
    /// ```
    /// use tollgate_bucket::{Quota, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Quota::per_second(100).build()?);
    /// assert!(limiter.check().is_ok());
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            clock: SystemClock::new(),
            shared: Arc::new(Shared::new(None)),
        }
    }
}

impl<C: Clock> RateLimiter<C> {
    /// The policy name set by [`Builder::name`].
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// The clock this limiter reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The quota this limiter enforces.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Admits one cell now, or says how long to wait.
    #[inline]
    pub fn check(&self) -> Result<Admitted, Rejection> {
        self.check_at(1, self.clock.now())
    }

    /// Admits `n` cells now: all or none. `n` above the burst is
    /// [`Reason::OverCapacity`](tollgate_core::Reason::OverCapacity); `n = 0` is always
    /// admitted and changes nothing.
    #[inline]
    pub fn check_n(&self, n: u32) -> Result<Admitted, Rejection> {
        self.check_at(n, self.clock.now())
    }

    /// Admits `n` cells at `now` (a time read once from [`clock`](RateLimiter::clock)).
    ///
    /// A `now` earlier than an earlier call's (a clock going backwards) is safe: the
    /// bucket never refills backwards, so it is as if time had stood still.
    #[inline]
    pub fn check_at(&self, n: u32, now: Timestamp) -> Result<Admitted, Rejection> {
        let now = now.as_nanos();
        if n > self.quota.burst() {
            return Err(self.reject(gcra::over_capacity(self.quota.policy())));
        }
        match gcra::acquire(&self.shared.tat, &self.quota, n, now, 0) {
            Ok((_, next)) => {
                self.count_admitted();
                Ok(Admitted::new(next, now, self.quota))
            }
            Err(wait) => Err(self.reject(gcra::rate_limited(wait, self.quota.policy()))),
        }
    }

    /// Reserves `n` cells at the earliest time at or after `now`, if that is at most
    /// `max_wait` away; otherwise rejects at once with
    /// [`Reason::WaitTooLong`](tollgate_core::Reason::WaitTooLong), whose retry-after
    /// is how much longer than `max_wait` the wait would have been. `n` above the burst
    /// is [`Reason::OverCapacity`](tollgate_core::Reason::OverCapacity).
    ///
    /// See [`Reservation`] for what dropping it does.
    pub fn reserve_at(
        &self,
        n: u32,
        now: Timestamp,
        max_wait: Duration,
    ) -> Result<Reservation, Rejection> {
        let now = now.as_nanos();
        if n > self.quota.burst() {
            return Err(self.reject(gcra::over_capacity(self.quota.policy())));
        }
        let slack = gcra::nanos(max_wait);
        match gcra::acquire(&self.shared.tat, &self.quota, n, now, slack) {
            Ok((previous, next)) => {
                self.count_admitted();
                let bucket: Arc<dyn GiveBack> = self.shared.clone();
                Ok(Reservation::new(
                    Some(bucket),
                    previous,
                    next,
                    now,
                    self.quota,
                ))
            }
            Err(excess) => Err(self.reject(gcra::wait_too_long(excess, self.quota.policy()))),
        }
    }

    /// The counters so far.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            // Relaxed: a metrics read needs no ordering with the bucket.
            admitted: self.shared.admitted.sum(),
            rejected: self.shared.rejected.load(Ordering::Relaxed),
            keys: 0,
        }
    }

    #[inline]
    fn count_admitted(&self) {
        self.shared.admitted.add(1);
        self.shared.metrics.admitted();
    }

    #[cold]
    fn reject(&self, rejection: Rejection) -> Rejection {
        // Relaxed: a lone counter.
        self.shared.rejected.fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.rejected(rejection.reason());
        crate::trace::rejected(&rejection, &self.quota);
        match &self.shared.name {
            Some(name) => rejection.with_name(Arc::clone(name)),
            None => rejection,
        }
    }
}

impl<C: Clone> Clone for RateLimiter<C> {
    fn clone(&self) -> Self {
        Self {
            quota: self.quota,
            clock: self.clock.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", &self.quota)
            .field("name", &self.shared.name)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
