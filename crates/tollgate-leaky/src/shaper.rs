//! The shaper's state machine: pure, synchronous, time passed in by the caller.
//!
//! One mutex guards a FIFO of waiters; one atomic word holds the "theoretical arrival
//! time" (`tat`, as in GCRA), so that while nobody waits a request that fits is
//! released without the lock (see [`schedule`]). The head of the queue is released at
//! `tat - (burst - weight) * interval`; each release moves `tat` on by
//! `weight * interval`. Only the head ever holds a timer; the others wait to be woken
//! when they become the head (see [`waiter`](crate::waiter)), so a waiter that leaves
//! the queue (cancelled) takes no capacity with it: its successor inherits its turn.

use std::collections::VecDeque;
use std::fmt;
use std::task::Waker;
use std::time::Duration;

use tollgate_core::sync::{Arc, Mutex, MutexGuard};
use tollgate_core::{Clock, Quota, Reason, Rejection, StripedCounter, SystemClock, Timestamp};

use crate::adaptive::Adaptive;
use crate::builder::{Config, ShaperBuilder};
use crate::feedback::{Signal, Verdict};
use crate::metrics::Metrics;

// What a response's verdict reaches, whatever the clock.
mod observe;
pub(crate) mod schedule;
use crate::snapshot::Snapshot;
use crate::waiter::Waiter;
use schedule::Schedule;

pub(crate) const TARGET: &str = "tollgate::leaky";

/// A leaky-bucket shaper: admits requests into a bounded FIFO and releases them at a
/// constant rate. Clones share one queue.
///
/// See the [crate docs](crate) for the model. The core API takes `now` from the caller
/// ([`admit_at`](Self::admit_at), [`Waiter::poll_turn`]); [`acquire`](Self::acquire) is
/// the async form and the [`ShapeLayer`](crate::ShapeLayer) the tower form.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Clock, ManualClock, Quota, Reason};
/// use tollgate_leaky::{Admit, Shaper, Turn};
///
/// let clock = ManualClock::new();
/// let shaper = Shaper::builder(Quota::with_period(1, Duration::from_millis(100)).build()?)
///     .max_wait(Duration::from_millis(150))
///     .clock(clock.clone())
///     .build()?;
///
/// // The first request goes at once, the second waits one interval, the third would
/// // wait 200 ms > 150 ms and is refused at once, knowing when it would fit.
/// assert!(matches!(shaper.admit_at(1, clock.now()), Ok(Admit::Now)));
/// let Ok(Admit::Wait(mut second)) = shaper.admit_at(1, clock.now()) else { panic!() };
/// let refused = shaper.admit_at(1, clock.now()).unwrap_err();
/// assert_eq!(refused.reason(), Reason::WaitTooLong);
/// assert_eq!(refused.retry_after(), Some(Duration::from_millis(50)));
///
/// let waker = std::task::Waker::noop();
/// let at = clock.now() + Duration::from_millis(100);
/// assert_eq!(second.poll_turn(clock.now(), waker), Turn::At(at));
/// clock.advance(Duration::from_millis(100));
/// assert_eq!(second.poll_turn(clock.now(), waker), Turn::Released);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub struct Shaper<C = SystemClock> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    clock: C,
    config: Config,
    metrics: Metrics,
    /// GCRA's theoretical arrival time, in nanoseconds of the clock, and whether a
    /// request may be released without the lock.
    schedule: Schedule,
    /// Requests released, at once or after waiting.
    released: StripedCounter,
    state: Mutex<State>,
}

pub(crate) struct State {
    pub(crate) queue: VecDeque<Entry>,
    /// Sum of the weights in `queue`.
    pub(crate) queued_units: u64,
    /// Ids are handed out in order, so `queue` is sorted by id.
    next_id: u64,
    paused_until: u64,
    rejected: u64,
    pub(crate) cancelled: u64,
    adaptive: Option<Adaptive>,
}

pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) weight: u32,
    pub(crate) waker: Option<Waker>,
}

/// The outcome of a successful admission: go now, or wait your turn.
#[derive(Debug)]
pub enum Admit<C = SystemClock> {
    /// Released at once: the queue was empty and capacity was there.
    Now,
    /// Queued; poll the [`Waiter`] until it is released. Dropping it gives its turn to
    /// the next waiter.
    Wait(Waiter<C>),
}

impl Shaper {
    /// Starts a [`ShaperBuilder`] releasing at `quota`'s rate, with its burst (a burst
    /// of 1 releases strictly one request per emission interval).
    pub fn builder(quota: Quota) -> ShaperBuilder {
        ShaperBuilder::new(quota)
    }
}

impl<C> Clone for Shaper<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> Shaper<C> {
    pub(crate) fn from_parts(clock: C, config: Config, adaptive: Option<Adaptive>) -> Self {
        let state = State {
            queue: VecDeque::new(),
            queued_units: 0,
            next_id: 0,
            paused_until: 0,
            rejected: 0,
            cancelled: 0,
            adaptive,
        };
        Self {
            inner: Arc::new(Inner {
                clock,
                metrics: Metrics::new(config.name.as_deref()),
                schedule: Schedule::new(!config.adaptive),
                released: StripedCounter::default(),
                config,
                state: Mutex::new(state),
            }),
        }
    }

    /// The quota this shaper releases at.
    pub fn quota(&self) -> Quota {
        self.inner.config.quota
    }

    pub(crate) fn clock(&self) -> &C {
        &self.inner.clock
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    pub(crate) fn schedule(&self) -> &Schedule {
        &self.inner.schedule
    }

    /// Counts a release: `waited` nanoseconds in the queue.
    #[inline]
    pub(crate) fn released(&self, waited: u64) {
        self.inner.released.add(1);
        self.inner.metrics.released(waited);
    }

    fn reject(
        &self,
        state: &mut State,
        reason: Reason,
        retry_after: Option<Duration>,
    ) -> Rejection {
        state.rejected += 1;
        self.inner.metrics.rejected(reason);
        let mut rejection = Rejection::new(reason);
        if let Some(after) = retry_after {
            rejection = rejection.with_retry_after(after);
        }
        if let Some(name) = &self.inner.config.name {
            rejection = rejection.with_name(std::sync::Arc::clone(name));
        }
        tracing::debug!(target: TARGET, reason = %reason, retry_after = ?retry_after, queued = state.queue.len(), "rejected");
        rejection
    }

    /// Admits a request of `weight` units at `now`, or refuses it at once.
    ///
    /// Refusals: [`Reason::OverCapacity`] when `weight` exceeds the burst (waiting cannot
    /// help), [`Reason::Throttled`] by adaptive throttling, [`Reason::QueueFull`] with
    /// the time until the head leaves, [`Reason::WaitTooLong`] with the time after which
    /// the same request would fit. A weight of 0 is released at once and costs nothing.
    #[inline]
    pub fn admit_at(&self, weight: u32, now: Timestamp) -> Result<Admit<C>, Rejection> {
        if weight == 0 {
            return Ok(Admit::Now);
        }
        let config = &self.inner.config;
        if weight <= config.burst
            && self
                .inner
                .schedule
                .try_release(config, weight, now.as_nanos())
        {
            self.released(0);
            return Ok(Admit::Now);
        }
        self.admit_locked(weight, now)
    }

    /// [`admit_at`](Self::admit_at) under the lock: someone is queued, the request does
    /// not fit now, or adaptive throttling must count it.
    #[inline(never)]
    fn admit_locked(&self, weight: u32, now: Timestamp) -> Result<Admit<C>, Rejection> {
        let config = &self.inner.config;
        let now_ns = now.as_nanos();
        let mut state = self.lock();
        let state = &mut *state;
        if weight > config.burst {
            return Err(self.reject(state, Reason::OverCapacity, None));
        }
        if let Some(adaptive) = state.adaptive.as_mut() {
            if adaptive.attempt(now) {
                return Err(self.reject(state, Reason::Throttled, None));
            }
        }
        let schedule = &self.inner.schedule;
        // Loops only while releases without the lock move the schedule under us; once
        // anyone is queued, the schedule is closed and only this lock writes it.
        loop {
            let seen = schedule.load();
            let tat = seen.tat();
            if state.queue.is_empty() {
                let release = release_at(config, tat, now_ns, 0, weight);
                if release <= now_ns {
                    if !schedule.replace(seen, advance(config, tat, now_ns, weight), true) {
                        continue;
                    }
                    self.released(0);
                    return Ok(Admit::Now);
                }
            } else if state.queue.len() >= config.max_queue {
                let head = state.queue[0].weight;
                let wait = release_at(config, tat, now_ns, 0, head) - now_ns;
                return Err(self.reject(
                    state,
                    Reason::QueueFull,
                    Some(Duration::from_nanos(wait)),
                ));
            }
            let release = release_at(config, tat, now_ns, state.queued_units, weight);
            let wait = release - now_ns;
            if wait > config.max_wait {
                let after = Duration::from_nanos(wait - config.max_wait);
                return Err(self.reject(state, Reason::WaitTooLong, Some(after)));
            }
            // The first to queue closes the schedule, from the very reading its wait
            // was computed from.
            if state.queue.is_empty() && !schedule.replace(seen, tat, false) {
                continue;
            }
            return Ok(Admit::Wait(self.enqueue(state, weight, now_ns, wait)));
        }
    }

    fn enqueue(&self, state: &mut State, weight: u32, now_ns: u64, wait: u64) -> Waiter<C> {
        let id = state.next_id;
        state.next_id += 1;
        state.queue.push_back(Entry {
            id,
            weight,
            waker: None,
        });
        state.queued_units += u64::from(weight);
        self.inner.metrics.queue_length(state.queue.len());
        tracing::trace!(target: TARGET, id, weight, wait_ns = wait, queued = state.queue.len(), "queued");
        Waiter::new(self.clone(), id, weight, now_ns)
    }

    /// Pauses releases until `until` (server pushback), capped at `max_pause` after
    /// `now`. After the pause, releases resume one interval apart, without a burst.
    /// A pause never shortens an earlier, longer one.
    ///
    /// Requests already queued wait for the pause too, even past `max_wait`: the
    /// server's word wins over the admission estimate (their callers' deadlines still
    /// cancel them). New requests are admitted against the paused schedule.
    pub fn pause_until(&self, until: Timestamp, now: Timestamp) {
        self.inner.pause_until(until, now);
    }

    /// Applies what a response said ([`Signal`]) at `now`: pauses on pushback, and
    /// counts accepted calls for adaptive throttling.
    pub fn observe_at(&self, signal: Signal, now: Timestamp) {
        self.inner.observe_at(signal, now);
    }

    /// The current counters and state, as of `now`.
    pub fn snapshot_at(&self, now: Timestamp) -> Snapshot {
        let config = &self.inner.config;
        let state = self.lock();
        let now_ns = now.as_nanos();
        let tat = self.inner.schedule.load().tat();
        let release = release_at(config, tat, now_ns, state.queued_units, 1);
        Snapshot {
            admitted: self.inner.released.sum(),
            rejected: state.rejected,
            queued: state.queue.len(),
            queued_units: state.queued_units,
            cancelled: state.cancelled,
            current_wait: Duration::from_nanos(release - now_ns),
            paused_for: Duration::from_nanos(state.paused_until.saturating_sub(now_ns)),
        }
    }
}

impl<C: Clock> Shaper<C> {
    /// [`admit_at`](Self::admit_at) now.
    #[inline]
    pub fn admit(&self, weight: u32) -> Result<Admit<C>, Rejection> {
        self.admit_at(weight, self.inner.clock.now())
    }

    /// [`pause_until`](Self::pause_until) `now + pause`: what a client does when the
    /// server answers `429` with `Retry-After`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_core::{ManualClock, Quota};
    /// use tollgate_leaky::Shaper;
    ///
    /// let shaper = Shaper::builder(Quota::per_second(10).burst(1)?).clock(ManualClock::new()).build()?;
    /// shaper.pause_for(Duration::from_secs(2));
    /// assert_eq!(shaper.snapshot().paused_for, Duration::from_secs(2));
    /// # Ok::<(), tollgate_core::ConfigError>(())
    /// ```
    pub fn pause_for(&self, pause: Duration) {
        let now = self.inner.clock.now();
        self.pause_until(now + pause, now);
    }

    /// [`observe_at`](Self::observe_at) now, reading the clock only when the signal
    /// changes something (a pushback, or an accepted call while adaptive throttling
    /// counts them).
    pub fn observe(&self, signal: Signal) {
        self.inner.observe(signal);
    }

    /// Where one response's signal goes (see [`Feedback`](crate::Feedback)): report it
    /// now or defer it.
    pub fn verdict(&self) -> Verdict<'_> {
        Verdict::new(self)
    }

    /// [`snapshot_at`](Self::snapshot_at) now.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(self.inner.clock.now())
    }
}

impl<C> fmt::Debug for Shaper<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("Shaper")
            .field("quota", &config.quota)
            .field("max_queue", &config.max_queue)
            .field("max_wait", &Duration::from_nanos(config.max_wait))
            .finish_non_exhaustive()
    }
}

/// When a request of `weight`, behind `units_ahead` queued units, is released.
///
/// While anyone waits the schedule is saturated (`tat > now`), so each queued unit
/// moves the release one interval later; an empty queue releases at
/// `max(now, tat - (burst - weight) * interval)`.
#[inline]
pub(crate) fn release_at(
    config: &Config,
    tat: u64,
    now: u64,
    units_ahead: u64,
    weight: u32,
) -> u64 {
    let base = tat
        .max(now)
        .saturating_add(units_ahead.saturating_mul(config.interval));
    let slack = u64::from(config.burst - weight).saturating_mul(config.interval);
    base.saturating_sub(slack).max(now)
}

/// `tat` after releasing `weight` units at `now`: the release is conformant to GCRA,
/// so lateness is never made up by releasing closer than the interval.
#[inline]
pub(crate) fn advance(config: &Config, tat: u64, now: u64, weight: u32) -> u64 {
    tat.max(now)
        .saturating_add(u64::from(weight).saturating_mul(config.interval))
}
