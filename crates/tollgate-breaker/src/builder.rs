//! [`BreakerBuilder`]: the one way to make a [`Breaker`].

use std::sync::Arc;
use std::time::Duration;

use tollgate_core::{Clock, ConfigError, SystemClock};

use crate::config::{BreakerConfig, Window};
use crate::metrics::Metrics;
use crate::Breaker;

/// Builds a [`Breaker`]: start from [`Breaker::builder`], set the policies, set the
/// clock with [`clock`](Self::clock) (a `ManualClock` in tests), and
/// [`build`](Self::build), which validates every field and names the first it refuses.
///
/// See [`Breaker`] and [`BreakerConfig`] for examples.
#[derive(Debug, Clone)]
pub struct BreakerBuilder<C = SystemClock> {
    pub(crate) config: BreakerConfig,
    clock: C,
}

impl BreakerBuilder {
    pub(crate) fn new() -> Self {
        BreakerBuilder {
            config: BreakerConfig::defaults(),
            clock: SystemClock::new(),
        }
    }
}

impl<C> BreakerBuilder<C> {
    /// Reads time from `clock` instead of the system clock.
    pub fn clock<C2: Clock>(self, clock: C2) -> BreakerBuilder<C2> {
        BreakerBuilder {
            config: self.config,
            clock,
        }
    }

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
}

impl<C: Clock> BreakerBuilder<C> {
    /// Validates every field and makes the breaker.
    pub fn build(self) -> Result<Breaker<C>, ConfigError> {
        let config = self.config.validate()?;
        let metrics = Arc::new(Metrics::new(config.name()));
        Ok(Breaker::from_parts(config, self.clock, metrics))
    }
}
