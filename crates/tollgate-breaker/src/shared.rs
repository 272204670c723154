//! The shared state of a breaker and every protocol on it: recording, probes and
//! transitions. See `state.rs` for the state word.

use std::time::Duration;

use tokio::sync::watch;
use tollgate_core::sync::{spin_loop, AtomicU32, AtomicU64, Mutex, MutexGuard, Ordering};
use tollgate_core::{Clock, Reason, Rejection, Timestamp};

use crate::config::BreakerConfig;
use crate::state::{Word, CLOSED, DISABLED, HALF_OPEN, OPEN};
use crate::transition::{percent, Transition, TransitionReason};
use crate::window::{Counts, Window};
use crate::State;

/// Keeps a value alone on its cache lines (two, for adjacent-line prefetching).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) struct Shared<C> {
    /// State, probe counters and generation: see `state.rs`. Read by every call, so
    /// kept away from the `Arc`'s reference counts and the window's counters, which
    /// every call writes.
    pub(crate) word: Padded<AtomicU64>,
    /// When the current open period ends (nanos); written before the open generation
    /// is published.
    pub(crate) open_until: AtomicU64,
    /// When the current state was entered (nanos).
    pub(crate) since: AtomicU64,
    pub(crate) consecutive: AtomicU32,
    pub(crate) transitions: AtomicU64,
    pub(crate) window: Window,
    control: Mutex<Control>,
    pub(crate) config: BreakerConfig,
    /// Slow-call detection is on: a permit needs its start time.
    pub(crate) needs_start: bool,
    /// A policy needs the time of an outcome.
    pub(crate) needs_end: bool,
    pub(crate) clock: C,
    pub(crate) watch: watch::Sender<Transition>,
}

/// What only transitions touch, under the transition lock.
struct Control {
    /// Opens since the last successful close: the backoff exponent.
    reopens: u32,
    /// splitmix64 state for jitter.
    rng: u64,
}
impl<C: Clock> Shared<C> {
    pub(crate) fn new(config: BreakerConfig, clock: C) -> Self {
        let now = clock.now();
        let seed = config.jitter_seed.unwrap_or_else(random_seed);
        let (watch, _) = watch::channel(Transition {
            from: State::Closed,
            to: State::Closed,
            reason: TransitionReason::Created,
            at: now,
            open_for: Duration::ZERO,
        });
        let window = Window::new(config.window, now);
        let needs_start = config.slow_call_duration.is_some();
        let needs_end = needs_start || window.needs_time();
        Shared {
            word: Padded(AtomicU64::new(Word::new(CLOSED, 0).0)),
            open_until: AtomicU64::new(0),
            since: AtomicU64::new(now.as_nanos()),
            consecutive: AtomicU32::new(0),
            transitions: AtomicU64::new(0),
            window,
            control: Mutex::new(Control {
                reopens: 0,
                rng: seed,
            }),
            config,
            needs_start,
            needs_end,
            clock,
            watch,
        }
    }

    #[cold]
    pub(crate) fn rejection(&self, retry_after: Option<Duration>) -> Rejection {
        tracing::debug!(
            target: "tollgate::breaker",
            breaker = %self.config.name,
            retry_after_ms = retry_after.map_or(0, |d| d.as_millis() as u64),
            "call rejected"
        );
        let rejection = Rejection::new(Reason::CircuitOpen).with_name(self.config.name.clone());
        match retry_after {
            Some(wait) => rejection.with_retry_after(wait),
            None => rejection,
        }
    }

    pub(crate) fn needs_start(&self) -> bool {
        self.needs_start
    }

    pub(crate) fn needs_end(&self) -> bool {
        self.needs_end
    }

    pub(crate) fn clock(&self) -> &C {
        &self.clock
    }

    pub(crate) fn slow_call_duration(&self) -> Option<Duration> {
        self.config.slow_call_duration
    }

    fn lock(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcome of a call admitted closed in `generation`.
    #[inline]
    pub(crate) fn record_closed(
        &self,
        generation: u32,
        failure: bool,
        slow: bool,
        now: Option<Timestamp>,
    ) {
        // Acquire: see `Breaker::try_acquire`.
        let word = Word(self.word.load(Ordering::Acquire));
        if word.generation() != generation || !word.admits_all() {
            return; // admitted in an older generation
        }
        let mut trip = None;
        if failure {
            // Relaxed: a lone counter. A success racing a failure may reset it after the
            // failure's add, which is a legitimate order of the two calls.
            let count = self
                .consecutive
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1);
            if self
                .config
                .consecutive_failures
                .is_some_and(|limit| count >= limit)
            {
                trip = Some(TransitionReason::ConsecutiveFailures { count });
            }
        } else if self.consecutive.load(Ordering::Relaxed) != 0 {
            // Relaxed: as above; loading first keeps the success path free of writes.
            self.consecutive.store(0, Ordering::Relaxed);
        }
        let counts = self
            .window
            .record(failure, slow, now.unwrap_or(Timestamp::ZERO));
        if word.state_code() == DISABLED {
            return;
        }
        if trip.is_none() && (failure || slow) {
            trip = counts.and_then(|c| self.judge(c));
        }
        if let Some(reason) = trip {
            let now = now.unwrap_or_else(|| self.clock.now());
            let mut control = self.lock();
            // Relaxed: under the lock no other generation change can happen.
            let current = Word(self.word.load(Ordering::Relaxed));
            if current.generation() == generation && current.state_code() == CLOSED {
                self.open(&mut control, current, reason, now);
            }
        }
    }

    fn judge(&self, counts: Counts) -> Option<TransitionReason> {
        if counts.calls < u64::from(self.config.minimum_calls) {
            return None;
        }
        let failure_rate = percent(counts.failures, counts.calls);
        if self.config.failure_rate.is_some_and(|t| failure_rate >= t) {
            return Some(TransitionReason::FailureRate {
                rate: failure_rate,
                calls: counts.calls,
            });
        }
        let slow_rate = percent(counts.slow, counts.calls);
        if self.config.slow_call_rate.is_some_and(|t| slow_rate >= t) {
            return Some(TransitionReason::SlowCallRate {
                rate: slow_rate,
                calls: counts.calls,
            });
        }
        None
    }

    /// Records the outcome of a probe admitted in `generation`.
    pub(crate) fn record_probe(&self, generation: u32, failure: bool, slow: bool, now: Timestamp) {
        let mut control = self.lock();
        let slow = slow && self.config.slow_call_rate.is_some();
        loop {
            // Relaxed: under the lock only probe counters change concurrently, and the
            // compare-exchange below catches that.
            let current = Word(self.word.load(Ordering::Relaxed));
            if current.generation() != generation || current.state_code() != HALF_OPEN {
                return; // a probe of an older half-open period
            }
            if failure || slow {
                let reason = if failure {
                    TransitionReason::ProbeFailed
                } else {
                    TransitionReason::ProbeSlow
                };
                self.open(&mut control, current, reason, now);
                return;
            }
            let successes = current.successes() + 1;
            if successes >= self.config.half_open_successes {
                self.window.reset(now);
                // Relaxed: published by the Release below.
                self.consecutive.store(0, Ordering::Relaxed);
                if self.publish(current, current.next(CLOSED), now) {
                    control.reopens = 0;
                    self.announce(
                        current.state(),
                        State::Closed,
                        TransitionReason::ProbesSucceeded { successes },
                        now,
                        Duration::ZERO,
                    );
                    return;
                }
            } else {
                let next = current.with_probes(current.in_flight().saturating_sub(1), successes);
                // Relaxed: the probe counters publish no other data.
                if self
                    .word
                    .compare_exchange(current.0, next.0, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
            spin_loop();
        }
    }

    /// Open -> half-open by the first caller after the wait; that caller is a probe.
    pub(crate) fn enter_half_open(&self, seen: Word, now: Timestamp) -> bool {
        let _control = self.lock();
        let next = seen.next(HALF_OPEN).with_probes(1, 0);
        if !self.publish(seen, next, now) {
            return false;
        }
        self.announce(
            State::Open,
            State::HalfOpen,
            TransitionReason::OpenWaitElapsed,
            now,
            Duration::ZERO,
        );
        true
    }

    /// Opens from `current` (closed or half-open), under the lock.
    fn open(&self, control: &mut Control, current: Word, reason: TransitionReason, now: Timestamp) {
        let mut wait = self.config.open_wait_for(control.reopens);
        if self.config.jitter > 0.0 {
            let unit = next_unit(&mut control.rng);
            wait = wait.mul_f64(1.0 - self.config.jitter * unit);
        }
        // Relaxed: published by the Release in `publish`.
        self.open_until
            .store((now + wait).as_nanos(), Ordering::Relaxed);
        loop {
            // Relaxed: under the lock only probe counters change concurrently.
            let word = Word(self.word.load(Ordering::Relaxed));
            if word.generation() != current.generation() {
                return;
            }
            if self.publish(word, current.next(OPEN), now) {
                break;
            }
            spin_loop();
        }
        control.reopens = control.reopens.saturating_add(1);
        self.announce(current.state(), State::Open, reason, now, wait);
    }

    /// An operator transition to `state`.
    pub(crate) fn operator(&self, state: u64, reason: TransitionReason, now: Timestamp) {
        let mut control = self.lock();
        loop {
            // Relaxed: under the lock only probe counters change concurrently.
            let current = Word(self.word.load(Ordering::Relaxed));
            if state == CLOSED {
                self.window.reset(now);
                // Relaxed: published by the Release in `publish`.
                self.consecutive.store(0, Ordering::Relaxed);
                control.reopens = 0;
            }
            if self.publish(current, current.next(state), now) {
                let to = current.next(state).state();
                self.announce(current.state(), to, reason, now, Duration::ZERO);
                return;
            }
            spin_loop();
        }
    }

    /// Replaces `from` with `to`; true if this caller did it.
    fn publish(&self, from: Word, to: Word, now: Timestamp) -> bool {
        // Release: publishes the side data written before (open_until, the window
        // reset); Acquire on failure is not needed, callers reload.
        let done = self
            .word
            .compare_exchange(from.0, to.0, Ordering::Release, Ordering::Relaxed)
            .is_ok();
        if done {
            // Relaxed: a figure for snapshots, written only by the transition's owner
            // (under the lock), so a caller that lost the exchange cannot overwrite it.
            self.since.store(now.as_nanos(), Ordering::Relaxed);
        }
        done
    }

    fn announce(
        &self,
        from: State,
        to: State,
        reason: TransitionReason,
        at: Timestamp,
        open_for: Duration,
    ) {
        // Relaxed: a counter for metrics.
        self.transitions.fetch_add(1, Ordering::Relaxed);
        let counts = self.window.counts(at);
        tracing::info!(
            target: "tollgate::breaker",
            breaker = %self.config.name,
            from = %from,
            to = %to,
            reason = %reason,
            calls = counts.calls,
            failures = counts.failures,
            slow_calls = counts.slow,
            // Relaxed: a figure for the event.
            consecutive_failures = self.consecutive.load(Ordering::Relaxed),
            open_for_ms = open_for.as_millis() as u64,
            "circuit breaker transition"
        );
        self.watch.send_replace(Transition {
            from,
            to,
            reason,
            at,
            open_for,
        });
    }
}

/// A uniform number in [0, 1) from splitmix64.
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x7011_6a7e);
    hasher.finish()
}

impl<C> Shared<C> {
    /// Returns the permit of a probe whose call was cancelled (or ignored).
    pub(crate) fn cancel_probe(&self, generation: u32) {
        loop {
            // Relaxed: only the probe counter of this generation is touched.
            let current = Word(self.word.load(Ordering::Relaxed));
            if current.generation() != generation
                || current.state_code() != HALF_OPEN
                || current.in_flight() == 0
            {
                return;
            }
            let next = current.with_probes(current.in_flight() - 1, current.successes());
            // Relaxed: as above; a failed exchange reloads.
            if self
                .word
                .compare_exchange(current.0, next.0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            spin_loop();
        }
    }
}
