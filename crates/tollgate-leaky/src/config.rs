use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::{Clock, ConfigError, SystemClock};

use crate::adaptive::Adaptive;
use crate::shaper::Shaper;

/// A source of uniform random numbers in `[0, 1)` for adaptive throttling.
///
/// Tests inject a fixed sequence to make local rejections exact.
pub(crate) type Random = Box<dyn FnMut() -> f64 + Send>;

/// Builds a [`Shaper`]; every setter is checked by [`build`](ShaperBuilder::build).
///
/// | setting | default | rule |
/// |---|---|---|
/// | [`interval`](Self::interval) / [`per_second`](Self::per_second) | required | above zero, at most one hour |
/// | [`burst`](Self::burst) | 1 | at least 1 |
/// | [`max_queue`](Self::max_queue) | 1024 | at least 1 |
/// | [`max_wait`](Self::max_wait) | 10 s | at most one day |
/// | [`max_pause`](Self::max_pause) | 60 s | above zero, at most one day |
/// | [`adaptive`](Self::adaptive) | off | `k` finite and at least 1, window above zero |
///
/// ```
/// use std::time::Duration;
/// use tollgate_leaky::Shaper;
///
/// let shaper = Shaper::builder()
///     .per_second(10)
///     .burst(2)
///     .max_queue(100)
///     .max_wait(Duration::from_secs(2))
///     .build()
///     .unwrap();
/// assert_eq!(shaper.interval(), Duration::from_millis(100));
///
/// let err = Shaper::builder().per_second(0).build().unwrap_err();
/// assert_eq!(err.field(), "per_second");
/// ```
pub struct ShaperBuilder {
    interval: Result<Option<Duration>, ConfigError>,
    burst: u32,
    max_queue: usize,
    max_wait: Duration,
    max_pause: Duration,
    adaptive: Option<(f64, Duration)>,
    random: Option<Random>,
    name: Option<Arc<str>>,
}

const ONE_HOUR: Duration = Duration::from_secs(3600);
const ONE_DAY: Duration = Duration::from_secs(86_400);

impl ShaperBuilder {
    pub(crate) fn new() -> Self {
        Self {
            interval: Ok(None),
            burst: 1,
            max_queue: 1024,
            max_wait: Duration::from_secs(10),
            max_pause: Duration::from_secs(60),
            adaptive: None,
            random: None,
            name: None,
        }
    }

    /// One unit is released every `interval`.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Ok(Some(interval));
        self
    }

    /// `n` units per second: an interval of `1 s / n`.
    pub fn per_second(mut self, n: u32) -> Self {
        self.interval = if n == 0 {
            Err(ConfigError::new("per_second", "must be at least 1"))
        } else {
            Ok(Some(Duration::from_secs(1) / n))
        };
        self
    }

    /// How many units may be released back to back after an idle period (default 1:
    /// strictly one per interval). A burst of 2 absorbs timer lateness, see the crate docs.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

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
    /// By default a small generator seeded from the system's hasher.
    pub fn random(mut self, random: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.random = Some(Box::new(random));
        self
    }

    /// Names the shaper in its rejections and tracing events.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A shaper on the [`SystemClock`].
    pub fn build(self) -> Result<Shaper, ConfigError> {
        self.build_with_clock(SystemClock::new())
    }

    /// A shaper on `clock` (a `ManualClock` or `TokioClock` in tests).
    pub fn build_with_clock<C: Clock>(self, clock: C) -> Result<Shaper<C>, ConfigError> {
        let interval = self
            .interval?
            .ok_or_else(|| ConfigError::new("interval", "is required (or `per_second`)"))?;
        if interval.is_zero() {
            return Err(ConfigError::new("interval", "must be above zero"));
        }
        if interval > ONE_HOUR {
            return Err(ConfigError::new("interval", "must be at most one hour"));
        }
        if self.burst == 0 {
            return Err(ConfigError::new("burst", "must be at least 1"));
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
                let random = self.random.unwrap_or_else(default_random);
                Some(Adaptive::new(k, window, random))
            }
        };
        let config = Config {
            // Fits: at most one hour of nanoseconds.
            interval: interval.as_nanos() as u64,
            burst: self.burst,
            max_queue: self.max_queue,
            max_wait: self.max_wait.as_nanos() as u64,
            max_pause: self.max_pause,
            adaptive: adaptive.is_some(),
            name: self.name,
        };
        Ok(Shaper::from_parts(clock, config, adaptive))
    }
}

impl fmt::Debug for ShaperBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShaperBuilder")
            .field("interval", &self.interval)
            .field("burst", &self.burst)
            .field("max_queue", &self.max_queue)
            .field("max_wait", &self.max_wait)
            .field("max_pause", &self.max_pause)
            .field("adaptive", &self.adaptive)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The validated configuration, in nanoseconds where the core computes.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) interval: u64,
    pub(crate) burst: u32,
    pub(crate) max_queue: usize,
    pub(crate) max_wait: u64,
    pub(crate) max_pause: Duration,
    /// Whether adaptive throttling is on (fixed at build time).
    pub(crate) adaptive: bool,
    pub(crate) name: Option<Arc<str>>,
}

/// splitmix64 seeded from std's randomly keyed hasher: good enough to draw a
/// throttling decision, and no dependency.
fn default_random() -> Random {
    use std::hash::{BuildHasher, RandomState};
    let mut state = RandomState::new().hash_one(0x5eed_u64);
    Box::new(move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits, as a float in [0, 1).
        (z >> 11) as f64 / (1u64 << 53) as f64
    })
}
