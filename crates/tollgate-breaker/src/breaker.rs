//! The breaker: admission, outcome recording and every transition.

use std::fmt;

use tokio::sync::watch;
use tollgate_core::sync::{spin_loop, Arc, Ordering};
use tollgate_core::{Clock, Rejection, SystemClock, Timestamp};

use crate::builder::BreakerBuilder;
use crate::config::BreakerConfig;
use crate::metrics::Metrics;
use crate::permit::Permit;
use crate::shared::Shared;
use crate::snapshot::Snapshot;
use crate::state::{Word, CLOSED, DISABLED, FORCED_OPEN, HALF_OPEN, OPEN};
use crate::transition::{percent, Transition, TransitionReason};
use crate::State;

/// A circuit breaker: cheap to clone, clones share one state.
///
/// The closed path is one atomic load to admit and a few atomic adds to record (only
/// loads for a success into a count window full of successes); the clock is read only when a policy needs time (a time window or slow-call
/// detection) or the breaker is not closed. Transitions take a small lock, so exactly
/// one caller performs each, and publish a new generation in the state word: outcomes
/// of calls admitted in an older generation are ignored.
///
/// ```
/// use std::time::Duration;
/// use tollgate_breaker::{Breaker, Outcome, State};
/// use tollgate_core::{ManualClock, Reason};
///
/// let clock = ManualClock::new();
/// let breaker = Breaker::builder()
///     .name("inventory")
///     .consecutive_failures(2)
///     .open_wait(Duration::from_secs(1))
///     .half_open(1, 1)
///     .clock(clock.clone())
///     .build()?;
///
/// breaker.try_acquire()?.record(Outcome::Failure);
/// breaker.try_acquire()?.record(Outcome::Failure);
/// assert_eq!(breaker.state(), State::Open);
///
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.reason(), Reason::CircuitOpen);
/// assert_eq!(rejected.name(), Some("inventory"));
/// assert_eq!(rejected.retry_after(), Some(Duration::from_secs(1)));
///
/// clock.advance(Duration::from_secs(1));
/// let probe = breaker.try_acquire()?;
/// assert_eq!(breaker.state(), State::HalfOpen);
/// probe.record(Outcome::Success);
/// assert_eq!(breaker.state(), State::Closed);
///
/// let s = breaker.snapshot();
/// assert_eq!((s.admitted, s.rejected), (3, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Breaker<C = SystemClock> {
    shared: Arc<Shared<C>>,
}

impl<C> Clone for Breaker<C> {
    fn clone(&self) -> Self {
        Breaker {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> fmt::Debug for Breaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a report; it orders nothing.
        let word = Word(self.shared.word.load(Ordering::Relaxed));
        f.debug_struct("Breaker")
            .field("name", &self.shared.config.name)
            .field("state", &word.state())
            .field("generation", &word.generation())
            .finish()
    }
}

impl Breaker<SystemClock> {
    /// A builder starting from the defaults (see [`BreakerConfig`]), on the system
    /// clock until [`clock`](BreakerBuilder::clock) says otherwise.
    pub fn builder() -> BreakerBuilder {
        BreakerBuilder::new()
    }
}

impl<C: Clock> Breaker<C> {
    pub(crate) fn from_parts(
        config: BreakerConfig,
        clock: C,
        metrics: std::sync::Arc<Metrics>,
    ) -> Self {
        Breaker {
            shared: Arc::new(Shared::new(config, clock, metrics)),
        }
    }

    /// Admits a call or refuses it. Reads the clock only when needed.
    ///
    /// On a closed (or disabled) breaker this is one atomic load. The permit records
    /// the call's outcome; dropping it unrecorded counts as a cancellation. The
    /// rejection of an open breaker carries the time left before probing.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<C>, Rejection> {
        // Acquire: pairs with the Release publication of a transition, so this
        // generation's recorders see the window reset that preceded it.
        let word = Word(self.shared.word.load(Ordering::Acquire));
        if word.admits_all() {
            let start = if self.shared.needs_start {
                self.shared.clock.now()
            } else {
                Timestamp::ZERO
            };
            self.shared.admitted.add(1);
            self.shared.metrics.admitted();
            return Ok(Permit::new(
                Arc::clone(&self.shared),
                word.generation(),
                false,
                start,
            ));
        }
        self.acquire_slow(self.shared.clock.now())
    }

    /// [`try_acquire`](Self::try_acquire) at a given time.
    pub fn try_acquire_at(&self, now: Timestamp) -> Result<Permit<C>, Rejection> {
        self.acquire_slow(now)
    }

    #[cold]
    fn acquire_slow(&self, now: Timestamp) -> Result<Permit<C>, Rejection> {
        let permit = self.acquire_at(now)?;
        self.shared.admitted.add(1);
        self.shared.metrics.admitted();
        Ok(permit)
    }

    fn acquire_at(&self, now: Timestamp) -> Result<Permit<C>, Rejection> {
        let shared = &self.shared;
        loop {
            // Acquire: see `try_acquire`; also makes `open_until` of this generation visible.
            let word = Word(shared.word.load(Ordering::Acquire));
            match word.state_code() {
                CLOSED | DISABLED => {
                    return Ok(Permit::new(
                        Arc::clone(shared),
                        word.generation(),
                        false,
                        now,
                    ))
                }
                OPEN => {
                    // Relaxed: written before the Release that published this word.
                    let until = Timestamp::from_nanos(shared.open_until.load(Ordering::Relaxed));
                    if now < until {
                        return Err(shared.rejection(Some(until - now)));
                    }
                    if shared.enter_half_open(word, now) {
                        return Ok(Permit::new(
                            Arc::clone(shared),
                            word.generation().wrapping_add(1),
                            true,
                            now,
                        ));
                    }
                }
                HALF_OPEN => {
                    if word.in_flight() >= shared.config.half_open_probes {
                        return Err(shared.rejection(None));
                    }
                    let next = word.with_probes(word.in_flight() + 1, word.successes());
                    // Acquire on success: the permit is tied to this generation; Relaxed
                    // on failure: the loop reloads with Acquire.
                    if shared
                        .word
                        .compare_exchange(word.0, next.0, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return Ok(Permit::new(
                            Arc::clone(shared),
                            word.generation(),
                            true,
                            now,
                        ));
                    }
                    spin_loop();
                }
                _ => return Err(shared.rejection(None)),
            }
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        // Relaxed: a report; it orders nothing.
        Word(self.shared.word.load(Ordering::Relaxed)).state()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The breaker's configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    /// The breaker's clock.
    pub fn clock(&self) -> &C {
        &self.shared.clock
    }

    /// A receiver of state transitions; its first value is the latest transition (or
    /// [`TransitionReason::Created`]). Readiness probes can await `changed()`.
    pub fn subscribe(&self) -> watch::Receiver<Transition> {
        self.shared.watch.subscribe()
    }

    /// The state and counters now. See [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(self.shared.clock.now())
    }

    /// [`snapshot`](Self::snapshot) at a given time.
    pub fn snapshot_at(&self, now: Timestamp) -> Snapshot {
        let s = &self.shared;
        // Acquire: the counters read below belong at least to this generation.
        let word = Word(s.word.load(Ordering::Acquire));
        let counts = s.window.counts(now);
        // Relaxed (all below): figures for metrics; each is one value.
        let since = Timestamp::from_nanos(s.since.load(Ordering::Relaxed));
        let retry_after = (word.state_code() == OPEN)
            .then(|| Timestamp::from_nanos(s.open_until.load(Ordering::Relaxed)) - now);
        let half_open = word.state_code() == HALF_OPEN;
        Snapshot {
            state: word.state(),
            admitted: s.admitted.sum(),
            rejected: s.rejected.load(Ordering::Relaxed),
            calls: counts.calls,
            failures: counts.failures,
            slow_calls: counts.slow,
            failure_rate: percent(counts.failures, counts.calls),
            slow_call_rate: percent(counts.slow, counts.calls),
            consecutive_failures: s.consecutive.load(Ordering::Relaxed),
            probes_in_flight: if half_open { word.in_flight() } else { 0 },
            probe_successes: if half_open { word.successes() } else { 0 },
            time_in_state: now - since,
            retry_after,
            transitions: s.transitions.load(Ordering::Relaxed),
        }
    }

    /// Calls admitted and refused so far.
    pub(crate) fn totals(&self) -> (u64, u64) {
        // Relaxed: figures for metrics.
        (
            self.shared.admitted.sum(),
            self.shared.rejected.load(Ordering::Relaxed),
        )
    }

    /// Holds the breaker open: every call is rejected until [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.shared.operator(
            FORCED_OPEN,
            TransitionReason::ForcedOpen,
            self.shared.clock.now(),
        );
    }

    /// Switches the breaker off: every call passes (outcomes are still recorded) and it
    /// never opens until [`reset`](Self::reset).
    pub fn disable(&self) {
        self.shared.operator(
            DISABLED,
            TransitionReason::Disabled,
            self.shared.clock.now(),
        );
    }

    /// Closes the breaker with an empty window and the open wait back at its base.
    pub fn reset(&self) {
        self.shared
            .operator(CLOSED, TransitionReason::Reset, self.shared.clock.now());
    }

    /// The window's counts recomputed from its slots (tests and models only).
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn recount_matches(&self) -> bool {
        use crate::window::Window;
        match &self.shared.window {
            Window::Count(w) => w.recount() == w.counts().unwrap_or_default(),
            Window::Time(_) => true,
        }
    }
}
