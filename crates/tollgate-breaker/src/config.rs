//! Breaker configuration: a validated value built by [`BreakerConfigBuilder`].

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
/// use tollgate_breaker::{BreakerConfig, Window};
///
/// let config = BreakerConfig::builder()
///     .window(Window::Time { length: Duration::from_secs(10), buckets: 10 })
///     .build()
///     .unwrap();
/// assert_eq!(config.window(), Window::Time { length: Duration::from_secs(10), buckets: 10 });
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

/// A breaker's policies, validated: see [`BreakerConfig::builder`].
///
/// The default opens when at least half of the last 100 calls failed (judged once 10
/// calls are in the window), waits 5 s before probing (doubling on each re-open up to
/// 60 s), and closes after 3 successful probes, at most 3 at once.
///
/// ```
/// use std::time::Duration;
/// use tollgate_breaker::BreakerConfig;
///
/// let config = BreakerConfig::builder()
///     .name("payments")
///     .consecutive_failures(5)
///     .failure_rate(50.0)
///     .slow_calls(Duration::from_millis(500), 80.0)
///     .minimum_calls(20)
///     .open_wait(Duration::from_secs(1))
///     .backoff(2.0, Duration::from_secs(30))
///     .half_open(2, 4)
///     .build()?;
/// assert_eq!(config.name(), "payments");
///
/// let err = BreakerConfig::builder().failure_rate(150.0).build().unwrap_err();
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

impl Default for BreakerConfig {
    fn default() -> Self {
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
}

impl BreakerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            config: BreakerConfig::default(),
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
    /// use tollgate_breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder()
    ///     .open_wait(Duration::from_secs(1))
    ///     .backoff(2.0, Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.open_wait_for(0), Duration::from_secs(1));
    /// assert_eq!(config.open_wait_for(2), Duration::from_secs(4));
    /// assert_eq!(config.open_wait_for(3), Duration::from_secs(5));
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
}

/// Builds a [`BreakerConfig`]; [`build`](Self::build) validates every field.
///
/// See [`BreakerConfig`] for an example.
#[derive(Debug, Clone)]
pub struct BreakerConfigBuilder {
    config: BreakerConfig,
}

impl BreakerConfigBuilder {
    /// Names the breaker (default `"breaker"`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Opens after `n` failures in a row (off by default).
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.config.consecutive_failures = Some(n);
        self
    }

    /// Opens when the failure rate in the window reaches `percent`, in (0, 100]
    /// (default 50).
    pub fn failure_rate(mut self, percent: f64) -> Self {
        self.config.failure_rate = Some(percent);
        self
    }

    /// Turns the failure-rate policy off (for example to use consecutive failures only).
    pub fn no_failure_rate(mut self) -> Self {
        self.config.failure_rate = None;
        self
    }

    /// Calls at least `threshold` long are slow; opens when the slow-call rate in the
    /// window reaches `percent`, in (0, 100]. Off by default.
    pub fn slow_calls(mut self, threshold: Duration, percent: f64) -> Self {
        self.config.slow_call_duration = Some(threshold);
        self.config.slow_call_rate = Some(percent);
        self
    }

    /// The window the rates are measured over (default the last 100 calls).
    pub fn window(mut self, window: Window) -> Self {
        self.config.window = window;
        self
    }

    /// No rate is judged before the window holds `n` calls (default 10).
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.config.minimum_calls = n;
        self
    }

    /// The wait before the first probe after opening (default 5 s).
    pub fn open_wait(mut self, wait: Duration) -> Self {
        self.config.open_wait = wait;
        self
    }

    /// Each consecutive re-open multiplies the wait by `factor` (>= 1), up to `max`
    /// (default 2 and 60 s). A successful close resets the wait.
    pub fn backoff(mut self, factor: f64, max: Duration) -> Self {
        self.config.backoff_factor = factor;
        self.config.open_wait_max = max;
        self
    }

    /// Shortens each open wait by a random fraction in `[0, fraction)`, `fraction` in
    /// [0, 1), so that many breakers opened together do not probe together (default 0).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.config.jitter = fraction;
        self
    }

    /// Seeds the jitter's generator, for reproducible waits (default: a random seed).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.config.jitter_seed = Some(seed);
        self
    }

    /// Half-open admits at most `probes` calls at once and closes after `successes`
    /// successful probes (default 3 and 3). Each is at least 1 and at most 65535.
    pub fn half_open(mut self, probes: u32, successes: u32) -> Self {
        self.config.half_open_probes = probes;
        self.config.half_open_successes = successes;
        self
    }

    /// Validates every field.
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let c = self.config;
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

    fn field(b: BreakerConfigBuilder) -> &'static str {
        b.build().expect_err("should be refused").field()
    }

    #[test]
    fn every_bad_field_is_named() {
        let b = BreakerConfig::builder;
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
        let c = BreakerConfig::builder()
            .open_wait(Duration::from_millis(100))
            .backoff(3.0, Duration::from_secs(2))
            .build()
            .unwrap();
        let waits: Vec<_> = (0..5).map(|k| c.open_wait_for(k).as_millis()).collect();
        assert_eq!(waits, [100, 300, 900, 2000, 2000]);
        assert_eq!(c.open_wait_for(u32::MAX), Duration::from_secs(2));
    }
}
