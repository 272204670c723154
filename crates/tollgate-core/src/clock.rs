use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use crate::sync::{Arc, AtomicU64, Ordering};

/// A source of monotonic time for every tollgate algorithm.
///
/// Algorithms read the clock once per request and pass the [`Timestamp`] down: a read
/// costs more than a whole GCRA compare-exchange, so it is never repeated on a hot path.
/// Clones share one timeline.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Clock, ManualClock};
///
/// fn age<C: Clock>(clock: &C, since: tollgate_core::Timestamp) -> Duration {
///     clock.now() - since
/// }
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(age(&clock, t0), Duration::from_secs(1));
/// ```
pub trait Clock: Clone + Send + Sync + fmt::Debug + 'static {
    /// The current time on this clock's timeline.
    fn now(&self) -> Timestamp;

    /// The tokio instant of this clock's origin, when its timeline is tokio's (only
    /// [`TokioClock`]'s is). [`timer`](crate::timer) uses it to arm exact timers.
    #[cfg(feature = "tokio")]
    #[inline]
    fn tokio_origin(&self) -> Option<tokio::time::Instant> {
        None
    }
}

/// A point in time on a [`Clock`]'s timeline: nanoseconds since the clock's origin.
///
/// It fits in one `u64`, so algorithms can keep it in an atomic. Arithmetic saturates
/// instead of panicking: about 584 years of nanoseconds fit before it would matter.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::Timestamp;
///
/// let t = Timestamp::from_nanos(1_000);
/// assert_eq!((t + Duration::from_nanos(500)).as_nanos(), 1_500);
/// assert_eq!(Timestamp::from_nanos(1_500) - t, Duration::from_nanos(500));
/// // Saturating: an earlier timestamp minus a later one is zero, not a panic.
/// assert_eq!(t - Timestamp::from_nanos(1_500), Duration::ZERO);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The clock's origin.
    pub const ZERO: Timestamp = Timestamp(0);

    /// The timestamp `nanos` nanoseconds after the origin.
    #[inline]
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// Nanoseconds since the origin.
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    #[inline]
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + duration`, or `None` if it does not fit.
    #[inline]
    pub fn checked_add(self, duration: Duration) -> Option<Timestamp> {
        let nanos = u64::try_from(duration.as_nanos()).ok()?;
        self.0.checked_add(nanos).map(Timestamp)
    }
}

/// `d` in whole nanoseconds, saturating at `u64::MAX` (about 584 years): the one
/// conversion every algorithm uses to keep durations in atomics.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tollgate_core::saturating_nanos(Duration::from_micros(3)), 3_000);
/// assert_eq!(tollgate_core::saturating_nanos(Duration::MAX), u64::MAX);
/// ```
#[inline]
pub fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturating addition.
    #[inline]
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(saturating_nanos(rhs)))
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;

    /// Saturating subtraction: zero when `rhs` is later.
    #[inline]
    fn sub(self, rhs: Timestamp) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", Duration::from_nanos(self.0))
    }
}

// ===== SystemClock =====

/// The production clock: monotonic, and cheap to read.
///
/// It reads the CPU's time-stamp counter through `quanta`, calibrated against the
/// operating system's monotonic clock; where no stable counter exists, `quanta` falls
/// back to the OS clock. BENCHMARKS.md records why: a read costs about a third of
/// `std::time::Instant::now()` here. Every `SystemClock` in the process shares one
/// origin, so timestamps from different clocks (a deadline set by one layer, read by
/// another) are on one timeline.
///
/// ```
/// use tollgate_core::{Clock, SystemClock};
///
/// let clock = SystemClock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// ```
#[derive(Clone, Debug)]
pub struct SystemClock {
    clock: quanta::Clock,
    origin: u64,
}

impl SystemClock {
    /// The process's system clock: its origin is the first `SystemClock::new()`.
    pub fn new() -> Self {
        static SHARED: std::sync::OnceLock<SystemClock> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| {
                let clock = quanta::Clock::new();
                let origin = clock.raw();
                Self { clock, origin }
            })
            .clone()
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp(self.clock.delta_as_nanos(self.origin, self.clock.raw()))
    }
}

// ===== ManualClock =====

/// A clock for tests: time moves only when told to, and clones share it.
///
/// It is an `Arc<AtomicU64>` of nanoseconds, so a test can hand clones to several
/// threads and advance time from any of them; concurrent advances never lose time
/// (`tests/loom.rs`). Its atomic comes from the [`sync`](crate::sync) shim, so under
/// `cfg(loom)` create it inside `loom::model`, like every other shared state.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new();
/// let shared = clock.clone();
/// clock.advance(Duration::from_millis(10));
/// assert_eq!(shared.now(), Timestamp::from_nanos(10_000_000));
/// shared.set(Timestamp::from_nanos(42));
/// assert_eq!(clock.now().as_nanos(), 42);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at its origin, [`Timestamp::ZERO`].
    pub fn new() -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves time forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = saturating_nanos(by);
        // Relaxed: the clock value is the only data it publishes. A read-modify-write, so
        // that two threads advancing at once never lose either advance.
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the time. Tests may move it backwards to check that nothing panics.
    pub fn set(&self, to: Timestamp) {
        // Relaxed: see `advance`.
        self.nanos.store(to.0, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Timestamp {
        // Relaxed: see `advance`.
        Timestamp(self.nanos.load(Ordering::Relaxed))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

// ===== TokioClock =====

/// A clock that follows tokio's time, so `tokio::time::pause` and `advance` drive it.
///
/// Use it for tests of layers that sleep: the algorithm and tokio's timers then agree
/// on every instant. In production prefer [`SystemClock`], which is cheaper to read.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::{Clock, TokioClock};
///
/// let clock = TokioClock::new();
/// let t0 = clock.now();
/// tokio::time::advance(Duration::from_secs(3)).await;
/// assert_eq!(clock.now() - t0, Duration::from_secs(3));
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Clone, Debug)]
pub struct TokioClock {
    // Zero-sized: the origin is the process's, so the clock is a name for it, and the
    // layers, policies and futures that keep one pay nothing for it.
    _origin: (),
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// The process's tokio clock. Every `TokioClock` shares one origin, a day before the
    /// first one was made, so timestamps from different clocks are on one timeline and
    /// a runtime paused a little earlier still reads a time after the origin.
    pub fn new() -> Self {
        origin();
        Self { _origin: () }
    }

    /// The tokio instant of a timestamp on this clock, for `sleep_until`.
    pub fn instant(&self, at: Timestamp) -> tokio::time::Instant {
        origin() + Duration::from_nanos(at.0)
    }
}

/// The origin of every [`TokioClock`], fixed by the first one made.
#[cfg(feature = "tokio")]
#[inline]
fn origin() -> tokio::time::Instant {
    static ORIGIN: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(|| {
        let now = tokio::time::Instant::now();
        now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now)
    })
}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(origin());
        Timestamp(saturating_nanos(elapsed))
    }

    #[inline]
    fn tokio_origin(&self) -> Option<tokio::time::Instant> {
        Some(origin())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_arithmetic_saturates() {
        let max = Timestamp::from_nanos(u64::MAX);
        assert_eq!(max + Duration::from_secs(1), max);
        assert_eq!(max.checked_add(Duration::from_nanos(1)), None);
        assert_eq!(Timestamp::ZERO.checked_add(Duration::MAX), None);
        assert_eq!(Timestamp::ZERO + Duration::MAX, max);
        assert_eq!(Timestamp::ZERO - max, Duration::ZERO);
    }

    #[test]
    fn manual_clock_is_shared_and_saturates() {
        let clock = ManualClock::new();
        let other = clock.clone();
        clock.advance(Duration::from_nanos(5));
        assert_eq!(other.now(), Timestamp::from_nanos(5));
        other.advance(Duration::MAX);
        assert_eq!(clock.now(), Timestamp::from_nanos(u64::MAX));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let now = clock.now();
            assert!(now >= last, "{now:?} < {last:?}");
            last = now;
        }
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let clock = TokioClock::new();
        let t0 = clock.now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now() - t0, Duration::from_millis(1500));
        assert_eq!(
            clock.instant(t0) + Duration::from_millis(1500),
            tokio::time::Instant::now()
        );
    }
}
