//! Building a [`Shaper`]: a [`Quota`] in, every other setting checked at `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::{Clock, ConfigError, Quota, SplitMix64, SystemClock};

use crate::adaptive::{Adaptive, Random};
use crate::shaper::Shaper;

/// Builds a [`Shaper`] from [`Shaper::builder`]; every setter is checked by
/// [`build`](ShaperBuilder::build), which names the field it refuses.
///
/// | setting | default | rule |
/// |---|---|---|
/// | the [`Quota`] | required | its emission interval at most one hour |
/// | [`max_queue`](Self::max_queue) | 1024 | at least 1 |
/// | [`max_wait`](Self::max_wait) | 10 s | at most one day |
/// | [`max_pause`](Self::max_pause) | 60 s | above zero, at most one day |
/// | [`adaptive`](Self::adaptive) | off | `k` finite and at least 1, window above zero and at most one day |
/// | [`clock`](Self::clock) | [`SystemClock`] | |
///
/// The quota's burst is how many units may be released back to back after an idle
/// period: a burst of 1 releases strictly one per interval; a burst of 2 absorbs
/// timer lateness (see the crate docs).
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::Quota;
/// use tollgate_leaky::Shaper;
///
/// let shaper = Shaper::builder(Quota::per_second(10).burst(2)?)
///     .max_queue(100)
///     .max_wait(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(shaper.quota().emission_interval(), Duration::from_millis(100));
///
/// let err = Shaper::builder(Quota::per_second(10).burst(2)?).max_queue(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_queue");
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub struct ShaperBuilder<C = SystemClock> {
    quota: Quota,
    max_queue: usize,
    max_wait: Duration,
    max_pause: Duration,
    adaptive: Option<(f64, Duration)>,
    random: Option<Random>,
    name: Option<Arc<str>>,
    clock: C,
}

const ONE_HOUR: Duration = Duration::from_secs(3600);
const ONE_DAY: Duration = Duration::from_secs(86_400);

impl ShaperBuilder {
    pub(crate) fn new(quota: Quota) -> Self {
        Self {
            quota,
            max_queue: 1024,
            max_wait: Duration::from_secs(10),
            max_pause: Duration::from_secs(60),
            adaptive: None,
            random: None,
            name: None,
            clock: SystemClock::new(),
        }
    }
}

impl<C> ShaperBuilder<C> {
    /// The most requests that may wait at once; one more is refused with
    /// [`Reason::QueueFull`](tollgate_core::Reason::QueueFull).
    pub fn max_queue(mut self, max_queue: usize) -> Self {
        self.max_queue = max_queue;
        self
    }

    /// The longest a request may be scheduled to wait; a request that would wait longer
    /// is refused at once with [`Reason::WaitTooLong`](tollgate_core::Reason::WaitTooLong).
    /// Zero means "never wait".
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The longest pause a server may impose through feedback; longer pauses are cut to
    /// this, so a hostile or broken server cannot stall the client for ever.
    pub fn max_pause(mut self, max_pause: Duration) -> Self {
        self.max_pause = max_pause;
        self
    }

    /// Turns on client-side adaptive throttling (Google SRE book, "Handling Overload"):
    /// a request is refused locally with probability
    /// `max(0, (requests - k * accepts) / (requests + 1))` over the last `window`.
    /// `k = 2.0` is the book's advice.
    pub fn adaptive(mut self, k: f64, window: Duration) -> Self {
        self.adaptive = Some((k, window));
        self
    }

    /// The random source of adaptive throttling: uniform numbers in `[0, 1)`.
    /// By default a [`SplitMix64`] seeded differently in every process.
    pub fn random(mut self, random: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.random = Some(Random::Custom(Box::new(random)));
        self
    }

    /// Names the shaper in its rejections and tracing events.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The clock the shaper reads (a `ManualClock`, or a `TokioClock` under
    /// `tokio::time::pause`, in tests).
    pub fn clock<C2: Clock>(self, clock: C2) -> ShaperBuilder<C2> {
        ShaperBuilder {
            quota: self.quota,
            max_queue: self.max_queue,
            max_wait: self.max_wait,
            max_pause: self.max_pause,
            adaptive: self.adaptive,
            random: self.random,
            name: self.name,
            clock,
        }
    }
}

impl<C: Clock> ShaperBuilder<C> {
    /// Validates the settings (see the table above) and builds the shaper.
    pub fn build(self) -> Result<Shaper<C>, ConfigError> {
        let quota = self.quota;
        if quota.emission_interval() > ONE_HOUR {
            return Err(ConfigError::new(
                "quota",
                "its emission interval must be at most one hour",
            ));
        }
        if self.max_queue == 0 {
            return Err(ConfigError::new("max_queue", "must be at least 1"));
        }
        if self.max_wait > ONE_DAY {
            return Err(ConfigError::new("max_wait", "must be at most one day"));
        }
        if self.max_pause.is_zero() || self.max_pause > ONE_DAY {
            return Err(ConfigError::new(
                "max_pause",
                "must be above zero and at most one day",
            ));
        }
        let adaptive = match self.adaptive {
            None => None,
            Some((k, window)) => {
                if !k.is_finite() || k < 1.0 {
                    return Err(ConfigError::new("adaptive.k", "must be finite and >= 1"));
                }
                if window.is_zero() || window > ONE_DAY {
                    return Err(ConfigError::new(
                        "adaptive.window",
                        "must be above zero and at most one day",
                    ));
                }
                let random = self
                    .random
                    .unwrap_or_else(|| Random::Seeded(SplitMix64::random()));
                Some(Adaptive::new(k, window, random))
            }
        };
        let config = Config {
            quota,
            interval: quota.interval_nanos(),
            burst: quota.burst(),
            max_queue: self.max_queue,
            // Fits: at most one day of nanoseconds.
            max_wait: self.max_wait.as_nanos() as u64,
            max_pause: self.max_pause,
            adaptive: adaptive.is_some(),
            name: self.name,
        };
        Ok(Shaper::from_parts(self.clock, config, adaptive))
    }
}

impl<C: fmt::Debug> fmt::Debug for ShaperBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShaperBuilder")
            .field("quota", &self.quota)
            .field("max_queue", &self.max_queue)
            .field("max_wait", &self.max_wait)
            .field("max_pause", &self.max_pause)
            .field("adaptive", &self.adaptive)
            .field("name", &self.name)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The validated configuration, in nanoseconds where the core computes.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) quota: Quota,
    /// The quota's emission interval.
    pub(crate) interval: u64,
    /// The quota's burst.
    pub(crate) burst: u32,
    pub(crate) max_queue: usize,
    pub(crate) max_wait: u64,
    pub(crate) max_pause: Duration,
    /// Whether adaptive throttling is on (fixed at build time).
    pub(crate) adaptive: bool,
    pub(crate) name: Option<Arc<str>>,
}
