//! What a limiter allows: a rate (`count` cells per `period`) and a burst.

use std::fmt;
use std::time::Duration;

use crate::{ConfigError, Policy};

/// A validated rate limit: `count` cells per `period`, at most `burst` at one instant.
///
/// Built with [`Quota::per_second`], [`Quota::per_minute`], [`Quota::per_hour`] or
/// [`Quota::with_period`], then [`QuotaBuilder::burst`] or [`QuotaBuilder::build`]; both
/// validate and return a [`ConfigError`] naming the field and the rule instead of
/// panicking.
///
/// # Burst sizes
///
/// The token bucket refills one cell every [emission interval](Quota::emission_interval)
/// (`period / count`) and holds at most `burst` cells. A fresh bucket admits `burst`
/// requests at once, then one per emission interval. Stated exactly (this is GCRA): over
/// any window of length `w`, a bucket admits at most `burst + floor(w / interval)` cells.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::Quota;
///
/// // 50 per second, steady: up to 50 at once, one every 20 ms after that.
/// let steady = Quota::per_second(50).build()?;
/// assert_eq!(steady.burst(), 50);
/// assert_eq!(steady.emission_interval(), Duration::from_millis(20));
///
/// // Same rate, but only 10 at once: smoother traffic.
/// let smooth = Quota::per_second(50).burst(10)?;
/// assert_eq!(smooth.burst(), 10);
/// assert_eq!(smooth.count(), 50);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
///
/// Invalid values are errors, never panics:
///
/// ```
/// use tollgate_core::Quota;
///
/// let err = Quota::per_second(0).build().unwrap_err();
/// assert_eq!(err.field(), "count");
/// let err = Quota::per_second(5).burst(0).unwrap_err();
/// assert_eq!(err.field(), "burst");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Nanoseconds to replenish one cell: `period / count`, at least 1.
    interval: u64,
    /// `burst * interval`: how far ahead of now the theoretical arrival time may run.
    capacity: u64,
    burst: u32,
    count: u32,
    period: Duration,
}

/// An unvalidated [`Quota`]: a rate waiting for its burst.
///
/// Finish it with [`QuotaBuilder::burst`] or [`QuotaBuilder::build`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::Quota;
///
/// let quota = Quota::with_period(3, Duration::from_secs(9)).build()?;
/// assert_eq!(quota.emission_interval(), Duration::from_secs(3));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a QuotaBuilder does nothing until `build` or `burst` is called"]
pub struct QuotaBuilder {
    count: u32,
    period: Duration,
}

impl Quota {
    /// `count` cells per second.
    pub fn per_second(count: u32) -> QuotaBuilder {
        Self::with_period(count, Duration::from_secs(1))
    }

    /// `count` cells per minute.
    pub fn per_minute(count: u32) -> QuotaBuilder {
        Self::with_period(count, Duration::from_secs(60))
    }

    /// `count` cells per hour.
    pub fn per_hour(count: u32) -> QuotaBuilder {
        Self::with_period(count, Duration::from_secs(3600))
    }

    /// `count` cells per `period`.
    pub fn with_period(count: u32, period: Duration) -> QuotaBuilder {
        QuotaBuilder { count, period }
    }

    /// The most cells admitted at one instant (the bucket's size).
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Cells replenished per [`period`](Quota::period): the rate.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period the [`count`](Quota::count) applies to.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The time to replenish one cell: `period / count`, rounded down to whole
    /// nanoseconds.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// The policy (`count` per `period`) reported in rejections and headers.
    pub fn policy(&self) -> Policy {
        Policy::new(u64::from(self.count), self.period)
    }

    /// The emission interval in nanoseconds, as GCRA arithmetic uses it (rounded down
    /// from `period / count`, never zero).
    #[inline]
    pub fn interval_nanos(&self) -> u64 {
        self.interval
    }

    /// The bucket's capacity, `burst * interval`, in nanoseconds.
    #[inline]
    pub fn capacity_nanos(&self) -> u64 {
        self.capacity
    }
}

impl fmt::Debug for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quota")
            .field("count", &self.count)
            .field("period", &self.period)
            .field("burst", &self.burst)
            .field("emission_interval", &self.emission_interval())
            .finish()
    }
}

impl QuotaBuilder {
    /// Sets the burst and validates: see [`QuotaBuilder::build`] for the rules.
    ///
    /// ```
    /// use tollgate_core::Quota;
    ///
    /// let quota = Quota::per_second(50).burst(10)?;
    /// assert_eq!((quota.count(), quota.burst()), (50, 10));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn burst(self, burst: u32) -> Result<Quota, ConfigError> {
        self.validate(burst)
    }

    /// Validates with `burst = count`.
    ///
    /// The rules: `count` at least 1; `period` above zero and at most `u64::MAX`
    /// nanoseconds; `period / count` at least one nanosecond; `burst` at least 1; and
    /// `burst * period / count` at most `u64::MAX` nanoseconds (the arithmetic's range).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_core::Quota;
    ///
    /// assert_eq!(Quota::per_minute(6).build()?.burst(), 6);
    /// let err = Quota::with_period(1, Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `period`: must be greater than zero");
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<Quota, ConfigError> {
        self.validate(self.count)
    }

    fn validate(self, burst: u32) -> Result<Quota, ConfigError> {
        if self.count == 0 {
            return Err(ConfigError::new("count", "must be at least 1"));
        }
        if self.period.is_zero() {
            return Err(ConfigError::new("period", "must be greater than zero"));
        }
        let period = u64::try_from(self.period.as_nanos()).map_err(|_| {
            ConfigError::new(
                "period",
                "must be at most u64::MAX nanoseconds (about 584 years)",
            )
        })?;
        let interval = period / u64::from(self.count);
        if interval == 0 {
            return Err(ConfigError::new(
                "count",
                "must not exceed the period in nanoseconds (one cell per nanosecond at most)",
            ));
        }
        if burst == 0 {
            return Err(ConfigError::new("burst", "must be at least 1"));
        }
        let capacity = interval.checked_mul(u64::from(burst)).ok_or_else(|| {
            ConfigError::new(
                "burst",
                "burst x emission interval must be at most u64::MAX nanoseconds",
            )
        })?;
        Ok(Quota {
            interval,
            capacity,
            burst,
            count: self.count,
            period: self.period,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_the_period() {
        assert_eq!(
            Quota::per_second(2).build().unwrap().period(),
            Duration::from_secs(1)
        );
        assert_eq!(
            Quota::per_minute(2).build().unwrap().period(),
            Duration::from_secs(60)
        );
        assert_eq!(
            Quota::per_hour(2).build().unwrap().period(),
            Duration::from_secs(3600)
        );
        let q = Quota::per_hour(3600).burst(7).unwrap();
        assert_eq!(q.emission_interval(), Duration::from_secs(1));
        assert_eq!(q.burst(), 7);
        assert_eq!(q.count(), 3600);
        assert_eq!(q.policy(), Policy::new(3600, Duration::from_secs(3600)));
        assert_eq!(q.capacity_nanos(), 7_000_000_000);
    }

    #[test]
    fn interval_rounds_down_to_nanos() {
        let q = Quota::per_second(3).build().unwrap();
        assert_eq!(q.interval_nanos(), 333_333_333);
        let q = Quota::with_period(1_000_000_000, Duration::from_secs(1))
            .build()
            .unwrap();
        assert_eq!(q.interval_nanos(), 1);
    }

    #[test]
    fn every_rule_names_its_field() {
        let cases = [
            (Quota::per_second(0).build(), "count", "must be at least 1"),
            (
                Quota::with_period(1, Duration::ZERO).build(),
                "period",
                "must be greater than zero",
            ),
            (
                Quota::with_period(1, Duration::MAX).build(),
                "period",
                "must be at most u64::MAX nanoseconds (about 584 years)",
            ),
            (
                Quota::with_period(10, Duration::from_nanos(9)).build(),
                "count",
                "must not exceed the period in nanoseconds (one cell per nanosecond at most)",
            ),
            (Quota::per_second(1).burst(0), "burst", "must be at least 1"),
            (
                Quota::with_period(1, Duration::from_nanos(u64::MAX)).burst(2),
                "burst",
                "burst x emission interval must be at most u64::MAX nanoseconds",
            ),
        ];
        for (result, field, rule) in cases {
            let err = result.unwrap_err();
            assert_eq!((err.field(), err.rule()), (field, rule));
        }
    }

    #[test]
    fn largest_values_fit() {
        let q = Quota::with_period(1, Duration::from_nanos(u64::MAX))
            .build()
            .unwrap();
        assert_eq!(q.capacity_nanos(), u64::MAX);
        let q = Quota::with_period(u32::MAX, Duration::from_secs(3600))
            .burst(u32::MAX)
            .unwrap();
        assert_eq!(q.burst(), u32::MAX);
        assert!(format!("{q:?}").contains("burst: 4294967295"));
    }
}
