//! A breaker's policies: the validated value that [`Breaker::builder`](crate::Breaker::builder)
//! builds, and the rules it is checked against.

use std::sync::Arc;
use std::time::Duration;

use tollgate_core::ConfigError;

/// The largest count window: the window's totals pack three 21-bit counters in one word.
pub(crate) const MAX_COUNT_WINDOW: u32 = 1 << 20;
/// The most buckets a time window may have.
pub(crate) const MAX_BUCKETS: u32 = 1024;
/// Probe counters live in 16-bit fields of the state word.
pub(crate) const MAX_PROBES: u32 = u16::MAX as u32;

/// Which calls the failure and slow-call rates are measured over.
///
/// ```
/// use std::time::Duration;
/// use tollgate_breaker::{Breaker, Window};
///
/// let breaker = Breaker::builder()
///     .window(Window::Time { length: Duration::from_secs(10), buckets: 10 })
///     .build()?;
/// assert_eq!(breaker.config().window(), Window::Time { length: Duration::from_secs(10), buckets: 10 });
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last `n` calls (at most 2^20).
    Count(u32),
    /// The calls of the last `length`, kept in `buckets` equal buckets (at most 1024):
    /// the window slides one bucket at a time.
    Time {
        /// How far back the window reaches.
        length: Duration,
        /// How many buckets the length is cut into.
        buckets: u32,
    },
}

/// A breaker's policies, validated: what [`Breaker::builder`](crate::Breaker::builder)
/// builds and [`Breaker::config`](crate::Breaker::config) reads back.
///
/// The default opens when at least half of the last 100 calls failed (judged once 10
/// calls are in the window), waits 5 s before probing (doubling on each re-open up to
/// 60 s), and closes after 3 successful probes, at most 3 at once.
///
/// ```
/// use std::time::Duration;
/// use tollgate_breaker::Breaker;
///
/// let breaker = Breaker::builder()
///     .name("payments")
///     .consecutive_failures(5)
///     .failure_rate(50.0)
///     .slow_calls(Duration::from_millis(500), 80.0)
///     .minimum_calls(20)
///     .open_wait(Duration::from_secs(1))
///     .backoff(2.0, Duration::from_secs(30))
///     .half_open(2, 4)
///     .build()?;
/// assert_eq!(breaker.config().name(), "payments");
///
/// let err = Breaker::builder().failure_rate(150.0).build().unwrap_err();
/// assert_eq!(err.field(), "failure_rate");
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    pub(crate) name: Arc<str>,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) slow_call_duration: Option<Duration>,
    pub(crate) slow_call_rate: Option<f64>,
    pub(crate) window: Window,
    pub(crate) minimum_calls: u32,
    pub(crate) open_wait: Duration,
    pub(crate) backoff_factor: f64,
    pub(crate) open_wait_max: Duration,
    pub(crate) jitter: f64,
    pub(crate) jitter_seed: Option<u64>,
    pub(crate) half_open_probes: u32,
    pub(crate) half_open_successes: u32,
}

impl BreakerConfig {
    /// The defaults (see the type docs), not yet validated.
    pub(crate) fn defaults() -> Self {
        Self {
            name: Arc::from("breaker"),
            consecutive_failures: None,
            failure_rate: Some(50.0),
            slow_call_duration: None,
            slow_call_rate: None,
            window: Window::Count(100),
            minimum_calls: 10,
            open_wait: Duration::from_secs(5),
            backoff_factor: 2.0,
            open_wait_max: Duration::from_secs(60),
            jitter: 0.0,
            jitter_seed: None,
            half_open_probes: 3,
            half_open_successes: 3,
        }
    }

    /// The breaker's name, carried by its rejections and tracing events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The window the rates are measured over.
    pub fn window(&self) -> Window {
        self.window
    }

    /// The slow-call threshold, when slow calls are tracked.
    pub fn slow_call_duration(&self) -> Option<Duration> {
        self.slow_call_duration
    }

    /// The open wait before the `reopens`-th consecutive re-open is multiplied by
    /// the backoff factor, capped, without jitter (`reopens` = 0 for a first open).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_breaker::Breaker;
    ///
    /// let breaker = Breaker::builder()
    ///     .open_wait(Duration::from_secs(1))
    ///     .backoff(2.0, Duration::from_secs(5))
    ///     .build()?;
    /// let config = breaker.config();
    /// assert_eq!(config.open_wait_for(0), Duration::from_secs(1));
    /// assert_eq!(config.open_wait_for(2), Duration::from_secs(4));
    /// assert_eq!(config.open_wait_for(3), Duration::from_secs(5));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn open_wait_for(&self, reopens: u32) -> Duration {
        let base = self.open_wait.as_secs_f64();
        let cap = self.open_wait_max.as_secs_f64();
        let exponent = i32::try_from(reopens).unwrap_or(i32::MAX);
        let wait = base * self.backoff_factor.powi(exponent);
        if wait.is_finite() && wait < cap {
            // Exact for whole nanoseconds up to 2^53 ns (104 days).
            Duration::from_nanos((wait * 1e9).round() as u64)
        } else {
            self.open_wait_max
        }
    }

    /// Checks every field; the first that breaks its rule is named.
    pub(crate) fn validate(self) -> Result<BreakerConfig, ConfigError> {
        let c = self;
        if c.consecutive_failures == Some(0) {
            return Err(ConfigError::new(
                "consecutive_failures",
                "must be at least 1",
            ));
        }
        check_percent("failure_rate", c.failure_rate)?;
        check_percent("slow_call_rate", c.slow_call_rate)?;
        if c.slow_call_duration == Some(Duration::ZERO) {
            return Err(ConfigError::new("slow_call_duration", "must be above zero"));
        }
        if c.consecutive_failures.is_none()
            && c.failure_rate.is_none()
            && c.slow_call_rate.is_none()
        {
            return Err(ConfigError::new(
                "failure_rate",
                "at least one of consecutive_failures, failure_rate or slow_calls must be set",
            ));
        }
        match c.window {
            Window::Count(0) => return Err(ConfigError::new("window", "count must be at least 1")),
            Window::Count(n) if n > MAX_COUNT_WINDOW => {
                return Err(ConfigError::new("window", "count must be at most 2^20"))
            }
            Window::Count(n) if c.minimum_calls > n => {
                return Err(ConfigError::new(
                    "minimum_calls",
                    "must not exceed the count window",
                ))
            }
            Window::Time { buckets, .. } if buckets == 0 || buckets > MAX_BUCKETS => {
                return Err(ConfigError::new("window", "buckets must be in 1..=1024"))
            }
            Window::Time { length, buckets } if length.as_nanos() < u128::from(buckets) => {
                return Err(ConfigError::new(
                    "window",
                    "length must be at least one nanosecond per bucket",
                ))
            }
            Window::Time { length, .. } if u64::try_from(length.as_nanos()).is_err() => {
                return Err(ConfigError::new("window", "length must fit in 584 years"))
            }
            _ => {}
        }
        if c.minimum_calls == 0 {
            return Err(ConfigError::new("minimum_calls", "must be at least 1"));
        }
        if c.open_wait.is_zero() {
            return Err(ConfigError::new("open_wait", "must be above zero"));
        }
        if !(c.backoff_factor >= 1.0 && c.backoff_factor.is_finite()) {
            return Err(ConfigError::new(
                "backoff",
                "factor must be finite and at least 1",
            ));
        }
        if c.open_wait_max < c.open_wait {
            return Err(ConfigError::new(
                "backoff",
                "max must not be below open_wait",
            ));
        }
        if u64::try_from(c.open_wait_max.as_nanos()).is_err() {
            return Err(ConfigError::new("backoff", "max must fit in 584 years"));
        }
        if !(0.0..1.0).contains(&c.jitter) {
            return Err(ConfigError::new("jitter", "must be in [0, 1)"));
        }
        if c.half_open_probes == 0 || c.half_open_probes > MAX_PROBES {
            return Err(ConfigError::new("half_open", "probes must be in 1..=65535"));
        }
        if c.half_open_successes == 0 || c.half_open_successes > MAX_PROBES {
            return Err(ConfigError::new(
                "half_open",
                "successes must be in 1..=65535",
            ));
        }
        Ok(c)
    }
}

fn check_percent(field: &'static str, value: Option<f64>) -> Result<(), ConfigError> {
    match value {
        Some(p) if !(p > 0.0 && p <= 100.0) => {
            Err(ConfigError::new(field, "must be a percentage in (0, 100]"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Breaker, BreakerBuilder};

    fn field(b: BreakerBuilder) -> &'static str {
        b.build().expect_err("should be refused").field()
    }

    #[test]
    fn every_bad_field_is_named() {
        let b = Breaker::builder;
        assert_eq!(field(b().consecutive_failures(0)), "consecutive_failures");
        assert_eq!(field(b().failure_rate(0.0)), "failure_rate");
        assert_eq!(field(b().failure_rate(100.5)), "failure_rate");
        assert_eq!(field(b().failure_rate(f64::NAN)), "failure_rate");
        assert_eq!(
            field(b().slow_calls(Duration::from_secs(1), -1.0)),
            "slow_call_rate"
        );
        assert_eq!(
            field(b().slow_calls(Duration::ZERO, 50.0)),
            "slow_call_duration"
        );
        assert_eq!(field(b().no_failure_rate()), "failure_rate");
        assert_eq!(field(b().window(Window::Count(0))), "window");
        assert_eq!(
            field(b().window(Window::Count(MAX_COUNT_WINDOW + 1))),
            "window"
        );
        assert_eq!(field(b().window(Window::Count(5))), "minimum_calls");
        let time = |length, buckets| Window::Time { length, buckets };
        assert_eq!(field(b().window(time(Duration::from_secs(1), 0))), "window");
        assert_eq!(
            field(b().window(time(Duration::from_secs(1), 1025))),
            "window"
        );
        assert_eq!(
            field(b().window(time(Duration::from_nanos(3), 4))),
            "window"
        );
        assert_eq!(field(b().window(time(Duration::MAX, 4))), "window");
        assert_eq!(field(b().minimum_calls(0)), "minimum_calls");
        assert_eq!(field(b().open_wait(Duration::ZERO)), "open_wait");
        assert_eq!(field(b().backoff(0.5, Duration::from_secs(60))), "backoff");
        assert_eq!(
            field(b().backoff(f64::INFINITY, Duration::from_secs(60))),
            "backoff"
        );
        assert_eq!(field(b().backoff(2.0, Duration::from_secs(1))), "backoff");
        assert_eq!(field(b().backoff(2.0, Duration::MAX)), "backoff");
        assert_eq!(field(b().jitter(1.0)), "jitter");
        assert_eq!(field(b().jitter(-0.1)), "jitter");
        assert_eq!(field(b().half_open(0, 1)), "half_open");
        assert_eq!(field(b().half_open(1, 0)), "half_open");
        assert_eq!(field(b().half_open(70_000, 1)), "half_open");
    }

    #[test]
    fn backoff_grows_and_caps() {
        let breaker = Breaker::builder()
            .open_wait(Duration::from_millis(100))
            .backoff(3.0, Duration::from_secs(2))
            .build()
            .unwrap();
        let c = breaker.config();
        let waits: Vec<_> = (0..5).map(|k| c.open_wait_for(k).as_millis()).collect();
        assert_eq!(waits, [100, 300, 900, 2000, 2000]);
        assert_eq!(c.open_wait_for(u32::MAX), Duration::from_secs(2));
    }
}
