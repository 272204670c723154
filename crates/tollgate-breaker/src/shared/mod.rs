//! The shared state of a breaker and every protocol on it: recording closed calls
//! (`closed.rs`), half-open probes (`half_open.rs`) and transitions (`transition.rs`).
//! See `state.rs` for the state word.

use std::time::Duration;

use tokio::sync::watch;
use tollgate_core::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard, Ordering};
use tollgate_core::{Clock, Reason, Rejection, SplitMix64, StripedCounter};

use crate::config::BreakerConfig;
use crate::metrics::Metrics;
use crate::state::{Word, CLOSED};
use crate::transition::{Transition, TransitionReason};
use crate::window::Window;
use crate::State;

mod closed;
mod half_open;
mod transition;

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
    /// Calls admitted (permits issued), striped so that the closed path writes no
    /// shared line and takes no locked instruction for it.
    pub(crate) admitted: StripedCounter,
    /// Calls refused; only the refusing path writes it.
    pub(crate) rejected: AtomicU64,
    /// The `metrics` handles, shared by the breakers of a keyed table.
    pub(crate) metrics: std::sync::Arc<Metrics>,
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
    /// Draws the jitter.
    rng: SplitMix64,
}

impl<C: Clock> Shared<C> {
    pub(crate) fn new(config: BreakerConfig, clock: C, metrics: std::sync::Arc<Metrics>) -> Self {
        metrics.created();
        let now = clock.now();
        let rng = config
            .jitter_seed
            .map_or_else(SplitMix64::random, SplitMix64::new);
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
            admitted: StripedCounter::default(),
            rejected: AtomicU64::new(0),
            metrics,
            window,
            control: Mutex::new(Control { reopens: 0, rng }),
            config,
            needs_start,
            needs_end,
            clock,
            watch,
        }
    }

    #[cold]
    pub(crate) fn rejection(&self, retry_after: Option<Duration>) -> Rejection {
        // Relaxed: a counter for metrics.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.rejected(Reason::CircuitOpen);
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
}
