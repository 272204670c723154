//! The shaper's state machine: pure, synchronous, time passed in by the caller.
//!
//! One mutex guards a FIFO of waiters and one "theoretical arrival time" (`tat`, as in
//! GCRA). The head of the queue is released at `tat - (burst - weight) * interval`; each
//! release moves `tat` on by `weight * interval`. Only the head ever holds a timer; the
//! others wait to be woken when they become the head, so a waiter that leaves the queue
//! (cancelled) takes no capacity with it: its successor inherits its turn.

use std::collections::VecDeque;
use std::fmt;
use std::task::Waker;
use std::time::Duration;

use tollgate_core::sync::{Arc, Mutex, MutexGuard};
use tollgate_core::{Clock, Reason, Rejection, Timestamp};

use crate::adaptive::Adaptive;
use crate::config::{Config, ShaperBuilder};
use crate::feedback::Signal;

const TARGET: &str = "tollgate::leaky";

/// A leaky-bucket shaper: admits requests into a bounded FIFO and releases them at a
/// constant rate. Clones share one queue.
///
/// See the [crate docs](crate) for the model. The core API takes `now` from the caller
/// ([`admit_at`](Self::admit_at), [`Waiter::poll_turn`]); [`acquire`](Self::acquire) is
/// the async form and the [`ShapeLayer`](crate::ShapeLayer) the tower form.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Clock, ManualClock, Reason};
/// use tollgate_leaky::{Admit, Shaper, Turn};
///
/// let clock = ManualClock::new();
/// let shaper = Shaper::builder()
///     .interval(Duration::from_millis(100))
///     .max_wait(Duration::from_millis(150))
///     .build_with_clock(clock.clone())
///     .unwrap();
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
/// ```
pub struct Shaper<C = tollgate_core::SystemClock> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    clock: C,
    config: Config,
    state: Mutex<State>,
}

struct State {
    /// GCRA's theoretical arrival time, in nanoseconds of the clock.
    tat: u64,
    queue: VecDeque<Entry>,
    /// Sum of the weights in `queue`.
    queued_units: u64,
    /// Ids are handed out in order, so `queue` is sorted by id.
    next_id: u64,
    paused_until: u64,
    released: u64,
    rejected: u64,
    cancelled: u64,
    adaptive: Option<Adaptive>,
}

struct Entry {
    id: u64,
    weight: u32,
    waker: Option<Waker>,
}

/// The outcome of a successful admission: go now, or wait your turn.
#[derive(Debug)]
pub enum Admit<C = tollgate_core::SystemClock> {
    /// Released at once: the queue was empty and capacity was there.
    Now,
    /// Queued; poll the [`Waiter`] until it is released. Dropping it gives its turn to
    /// the next waiter.
    Wait(Waiter<C>),
}

/// What a queued request should do next, from [`Waiter::poll_turn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Released: go.
    Released,
    /// Head of the queue, released at this instant: sleep until then, and poll again.
    At(Timestamp),
    /// Behind others: the waker given will be woken when this request is the head.
    Queued,
}

/// A counters-and-state view for metrics, from [`Shaper::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Requests waiting now.
    pub queue_len: usize,
    /// Sum of their weights.
    pub queued_units: u64,
    /// How long a request of weight 1 arriving now would wait.
    pub current_wait: Duration,
    /// Requests released since creation.
    pub released: u64,
    /// Requests refused at admission (queue full, wait too long, throttled).
    pub rejected: u64,
    /// Waiters that left the queue before their turn.
    pub cancelled: u64,
    /// Until when server feedback paused releases, if that is still ahead.
    pub paused_for: Duration,
}

impl Shaper {
    /// Starts a [`ShaperBuilder`].
    pub fn builder() -> ShaperBuilder {
        ShaperBuilder::new()
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
            tat: 0,
            queue: VecDeque::new(),
            queued_units: 0,
            next_id: 0,
            paused_until: 0,
            released: 0,
            rejected: 0,
            cancelled: 0,
            adaptive,
        };
        Self {
            inner: Arc::new(Inner {
                clock,
                config,
                state: Mutex::new(state),
            }),
        }
    }

    /// The release interval of one unit.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.inner.config.interval)
    }

    /// The clock this shaper reads.
    pub fn clock(&self) -> &C {
        &self.inner.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (every update is a
        // few arithmetic steps), so a poisoned lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reject(
        &self,
        state: &mut State,
        reason: Reason,
        retry_after: Option<Duration>,
    ) -> Rejection {
        state.rejected += 1;
        let mut rejection = Rejection::new(reason);
        if let Some(after) = retry_after {
            rejection = rejection.with_retry_after(after);
        }
        if let Some(name) = &self.inner.config.name {
            rejection = rejection.with_name(std::sync::Arc::clone(name));
        }
        tracing::debug!(target: TARGET, reason = %reason, retry_after = ?retry_after, queue_len = state.queue.len(), "rejected");
        rejection
    }

    /// Admits a request of `weight` units at `now`, or refuses it at once.
    ///
    /// Refusals: [`Reason::OverCapacity`] when `weight` exceeds the burst (waiting cannot
    /// help), [`Reason::Throttled`] by adaptive throttling, [`Reason::QueueFull`] with
    /// the time until the head leaves, [`Reason::WaitTooLong`] with the time after which
    /// the same request would fit. A weight of 0 is released at once and costs nothing.
    pub fn admit_at(&self, weight: u32, now: Timestamp) -> Result<Admit<C>, Rejection> {
        if weight == 0 {
            return Ok(Admit::Now);
        }
        let config = &self.inner.config;
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
        let now_ns = now.as_nanos();
        if state.queue.is_empty() {
            let release = release_at(config, state.tat, now_ns, 0, weight);
            if release <= now_ns {
                state.tat = advance(config, state.tat, now_ns, weight);
                state.released += 1;
                return Ok(Admit::Now);
            }
        } else if state.queue.len() >= config.max_queue {
            let head = state.queue[0].weight;
            let wait = release_at(config, state.tat, now_ns, 0, head) - now_ns;
            return Err(self.reject(state, Reason::QueueFull, Some(Duration::from_nanos(wait))));
        }
        let release = release_at(config, state.tat, now_ns, state.queued_units, weight);
        let wait = release - now_ns;
        if wait > config.max_wait {
            let after = Duration::from_nanos(wait - config.max_wait);
            return Err(self.reject(state, Reason::WaitTooLong, Some(after)));
        }
        let id = state.next_id;
        state.next_id += 1;
        state.queue.push_back(Entry {
            id,
            weight,
            waker: None,
        });
        state.queued_units += u64::from(weight);
        tracing::trace!(target: TARGET, id, weight, wait_ns = wait, queue_len = state.queue.len(), "queued");
        Ok(Admit::Wait(Waiter {
            shaper: self.clone(),
            id,
            weight,
            done: false,
        }))
    }

    /// Pauses releases until `until` (server pushback), capped at `max_pause` after
    /// `now`. After the pause, releases resume one interval apart, without a burst.
    /// A pause never shortens an earlier, longer one.
    ///
    /// Requests already queued wait for the pause too, even past `max_wait`: the
    /// server's word wins over the admission estimate (their callers' deadlines still
    /// cancel them). New requests are admitted against the paused schedule.
    pub fn pause_until(&self, until: Timestamp, now: Timestamp) {
        let config = &self.inner.config;
        let cap = now + config.max_pause;
        let until = until.min(cap).as_nanos();
        let mut state = self.lock();
        // The bucket is empty at `until`: one unit is available then, the next one
        // interval later.
        let slack = u64::from(config.burst - 1).saturating_mul(config.interval);
        state.tat = state.tat.max(until.saturating_add(slack));
        state.paused_until = state.paused_until.max(until);
        tracing::info!(target: TARGET, pause_ns = until.saturating_sub(now.as_nanos()), queue_len = state.queue.len(), "paused by server feedback");
    }

    /// Applies what a response said ([`Signal`]) at `now`: pauses on pushback, and
    /// counts accepted calls for adaptive throttling.
    pub fn observe(&self, signal: Signal, now: Timestamp) {
        match signal {
            Signal::Accepted => {
                let mut state = self.lock();
                if let Some(adaptive) = state.adaptive.as_mut() {
                    adaptive.accept(now);
                }
            }
            Signal::Throttled { retry_after } => {
                if let Some(after) = retry_after {
                    self.pause_until(now + after, now);
                }
            }
            Signal::Exhausted { reset } => {
                self.observe(Signal::Accepted, now);
                self.pause_until(now + reset, now);
            }
            Signal::Ignored => {}
        }
    }

    /// Whether [`observe`](Self::observe) needs to be told about accepted calls
    /// (adaptive throttling is on), so adapters can skip a clock read otherwise.
    pub fn counts_accepts(&self) -> bool {
        self.inner.config.adaptive
    }

    /// The current counters and state, as of `now`.
    pub fn snapshot_at(&self, now: Timestamp) -> Snapshot {
        let config = &self.inner.config;
        let state = self.lock();
        let now_ns = now.as_nanos();
        let release = release_at(config, state.tat, now_ns, state.queued_units, 1);
        Snapshot {
            queue_len: state.queue.len(),
            queued_units: state.queued_units,
            current_wait: Duration::from_nanos(release - now_ns),
            released: state.released,
            rejected: state.rejected,
            cancelled: state.cancelled,
            paused_for: Duration::from_nanos(state.paused_until.saturating_sub(now_ns)),
        }
    }
}

impl<C: Clock> Shaper<C> {
    /// [`admit_at`](Self::admit_at) now.
    pub fn admit(&self, weight: u32) -> Result<Admit<C>, Rejection> {
        self.admit_at(weight, self.inner.clock.now())
    }

    /// [`pause_until`](Self::pause_until) `now + pause`.
    pub fn pause_for(&self, pause: Duration) {
        let now = self.inner.clock.now();
        self.pause_until(now + pause, now);
    }

    /// [`snapshot_at`](Self::snapshot_at) now.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(self.inner.clock.now())
    }
}

impl<C> fmt::Debug for Shaper<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shaper")
            .field("interval", &self.interval())
            .field("burst", &self.inner.config.burst)
            .field("max_queue", &self.inner.config.max_queue)
            .field(
                "max_wait",
                &Duration::from_nanos(self.inner.config.max_wait),
            )
            .finish_non_exhaustive()
    }
}

/// When a request of `weight`, behind `units_ahead` queued units, is released.
///
/// While anyone waits the schedule is saturated (`tat > now`), so each queued unit
/// moves the release one interval later; an empty queue releases at
/// `max(now, tat - (burst - weight) * interval)`.
fn release_at(config: &Config, tat: u64, now: u64, units_ahead: u64, weight: u32) -> u64 {
    let base = tat
        .max(now)
        .saturating_add(units_ahead.saturating_mul(config.interval));
    let slack = u64::from(config.burst - weight).saturating_mul(config.interval);
    base.saturating_sub(slack).max(now)
}

/// `tat` after releasing `weight` units at `now`: the release is conformant to GCRA,
/// so lateness is never made up by releasing closer than the interval.
fn advance(config: &Config, tat: u64, now: u64, weight: u32) -> u64 {
    tat.max(now)
        .saturating_add(u64::from(weight).saturating_mul(config.interval))
}

// ===== Waiter =====

/// A queued request. Poll it with [`poll_turn`](Self::poll_turn) until
/// [`Turn::Released`]; drop it to leave the queue and hand its turn on.
///
/// See [`Shaper`] for an example.
pub struct Waiter<C = tollgate_core::SystemClock> {
    shaper: Shaper<C>,
    id: u64,
    weight: u32,
    done: bool,
}

impl<C> Waiter<C> {
    /// The shaper this waiter is queued in.
    pub fn shaper(&self) -> &Shaper<C> {
        &self.shaper
    }

    /// Where this request stands at `now`. `waker` is woken when the request becomes
    /// the head of the queue; the head is released by polling at or after its instant.
    /// Polling after [`Turn::Released`] returns `Released` again.
    pub fn poll_turn(&mut self, now: Timestamp, waker: &Waker) -> Turn {
        if self.done {
            return Turn::Released;
        }
        let config = &self.shaper.inner.config;
        let mut guard = self.shaper.lock();
        let state = &mut *guard;
        let head = state.queue.front_mut().expect("a live waiter is queued");
        if head.id != self.id {
            let entry = match state.queue.binary_search_by_key(&self.id, |e| e.id) {
                Ok(i) => &mut state.queue[i],
                Err(_) => unreachable!("a live waiter is queued"),
            };
            register(&mut entry.waker, waker);
            return Turn::Queued;
        }
        let now_ns = now.as_nanos();
        let release = release_at(config, state.tat, now_ns, 0, self.weight);
        if release > now_ns {
            register(&mut head.waker, waker);
            return Turn::At(Timestamp::from_nanos(release));
        }
        state.queue.pop_front();
        state.queued_units -= u64::from(self.weight);
        state.tat = advance(config, state.tat, now_ns, self.weight);
        state.released += 1;
        let next = state.queue.front_mut().and_then(|e| e.waker.take());
        drop(guard);
        self.done = true;
        tracing::trace!(target: TARGET, id = self.id, weight = self.weight, "released");
        if let Some(next) = next {
            next.wake();
        }
        Turn::Released
    }
}

fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

impl<C> Drop for Waiter<C> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut guard = self.shaper.lock();
        let state = &mut *guard;
        let Ok(i) = state.queue.binary_search_by_key(&self.id, |e| e.id) else {
            return;
        };
        state.queue.remove(i);
        state.queued_units -= u64::from(self.weight);
        state.cancelled += 1;
        // The head left: its successor inherits the turn and must arm its timer now,
        // or the slot would pass unused.
        let next = if i == 0 {
            state.queue.front_mut().and_then(|e| e.waker.take())
        } else {
            None
        };
        drop(guard);
        tracing::trace!(target: TARGET, id = self.id, "cancelled");
        if let Some(next) = next {
            next.wake();
        }
    }
}

impl<C> fmt::Debug for Waiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("id", &self.id)
            .field("weight", &self.weight)
            .field("done", &self.done)
            .finish()
    }
}
