//! The drain controller: phases, triggers, the report.

use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, Notify};
use tollgate_core::{Reason, Rejection};

use crate::clock::DrainClock;
use crate::metrics::Metrics;
use crate::tracker::{Tracker, Word};
use crate::{DrainBuilder, DrainConfig, DrainReport, Phase, RequestGuard, Snapshot};

/// The drain controller a server shares between its layers, its readiness probe and
/// its shutdown: cheap to clone, every clone the same drain.
///
/// It counts requests in flight ([`enter`](Drain::enter) hands out a
/// [`RequestGuard`]), and, once triggered, drives the phases: [`Phase::Announced`]
/// at once, [`Phase::Closing`] after the propagation delay, [`Phase::Done`] when
/// nothing is in flight or at the deadline. Watch them with
/// [`subscribe`](Drain::subscribe), or await [`closing`](Drain::closing) and
/// [`done`](Drain::done). Every move is traced at target `tollgate::drain`; the phase
/// moves read the time from the builder's [`clock`](DrainBuilder::clock).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tollgate_core::ConfigError> {
/// use std::time::Duration;
/// use tollgate_core::TokioClock;
/// use tollgate_drain::{Drain, Phase};
///
/// let drain = Drain::builder()
///     .propagation_delay(Duration::from_secs(2))
///     .deadline(Duration::from_secs(10))
///     .clock(TokioClock::new()) // paused tokio time in this example
///     .build()?;
/// let driver = tokio::spawn(drain.clone().run_until(async {
///     // In a server: `tollgate_drain::terminate()`, SIGTERM or Ctrl-C.
///     tokio::time::sleep(Duration::from_secs(1)).await;
/// }));
///
/// let request = drain.enter().expect("serving");
/// drain.closing().await;                     // t = 3 s
/// assert!(drain.enter().is_err());           // new requests are refused
/// tokio::time::sleep(Duration::from_secs(1)).await;
/// drop(request);                             // t = 4 s: the last one ends
///
/// let report = driver.await.unwrap();
/// assert_eq!(drain.phase(), Phase::Done);
/// assert_eq!((report.finished(), report.cut(), report.refused()), (1, 0, 1));
/// assert_eq!(report.done_after(), Duration::from_secs(3));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Drain {
    shared: Arc<Shared>,
}

struct Shared {
    tracker: Tracker,
    /// Requests admitted, ever.
    admitted: AtomicU64,
    /// Woken at [`Phase::Done`], so that cut bodies and handlers stop.
    cut: Arc<Notify>,
    refused: AtomicU64,
    metrics: Metrics,
    trigger: Notify,
    driving: AtomicBool,
    phase: watch::Sender<Phase>,
    /// Written by the driver at each move, under the lock, so a snapshot is consistent.
    marks: Mutex<Marks>,
    config: DrainConfig,
    clock: Arc<dyn DrainClock>,
}

#[derive(Default)]
struct Marks {
    at_trigger: Option<Word>,
    report: Option<DrainReport>,
}

impl Drain {
    /// Starts building a drain; see [`DrainBuilder`].
    pub fn builder() -> DrainBuilder {
        DrainBuilder::new()
    }

    pub(crate) fn with_config(config: DrainConfig, clock: Arc<dyn DrainClock>) -> Self {
        let (phase, _) = watch::channel(Phase::Serving);
        Drain {
            shared: Arc::new(Shared {
                tracker: Tracker::new(),
                admitted: AtomicU64::new(0),
                cut: Arc::new(Notify::new()),
                refused: AtomicU64::new(0),
                metrics: Metrics::new(),
                trigger: Notify::new(),
                driving: AtomicBool::new(false),
                phase,
                marks: Mutex::new(Marks::default()),
                config,
                clock,
            }),
        }
    }

    /// The validated timings.
    pub fn config(&self) -> &DrainConfig {
        &self.shared.config
    }

    /// Counts a request in, or refuses it with [`Reason::Draining`] from
    /// [`Phase::Closing`] on. The request counts until the guard is dropped: move it
    /// into the response body (the layers do).
    #[inline]
    pub fn enter(&self) -> Result<RequestGuard, Rejection> {
        if self.shared.tracker.try_enter() {
            // Relaxed: a statistic, ordered with nothing.
            self.shared.admitted.fetch_add(1, Ordering::Relaxed);
            self.shared.metrics.entered();
            Ok(RequestGuard::new(self.clone()))
        } else {
            Err(self.refuse())
        }
    }

    /// The rare path of [`enter`](Drain::enter), kept out of line so that the admitting
    /// path stays small enough to inline into the caller's `call`.
    #[cold]
    #[inline(never)]
    fn refuse(&self) -> Rejection {
        // Relaxed: a statistic, ordered with nothing.
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.refused();
        tracing::debug!(target: "tollgate::drain", phase = %self.phase(), "request refused");
        Rejection::new(Reason::Draining)
    }

    /// The current phase (one atomic load).
    #[inline]
    pub fn phase(&self) -> Phase {
        self.shared.tracker.load().phase()
    }

    /// A watch of the phase, for code that reacts to each move.
    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.shared.phase.subscribe()
    }

    /// Resolves once the phase is at least `phase`.
    pub fn reached(&self, phase: Phase) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.subscribe();
        async move {
            // The sender lives in the drain this receiver came from, and a sender
            // dropped without ever reaching `phase` means that drain is gone: either
            // way there is nothing left to wait for.
            let _ = rx.wait_for(|p| *p >= phase).await;
        }
    }

    /// Resolves when the drain is announced: where readiness turns to not ready.
    pub fn announced(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Phase::Announced)
    }

    /// Resolves when new requests start being refused: where the server stops
    /// accepting connections and long-lived streams (server-sent events, watches)
    /// should finish. Select on it in such handlers.
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Phase::Closing)
    }

    /// Resolves when the drain is done: what a server's graceful shutdown waits for
    /// (tonic's `serve_with_incoming_shutdown`; under `axum::serve`,
    /// `tollgate_http::drain::DrainListener::shutdown_signal`, which also lets idle
    /// HTTP/1 connections close first).
    pub fn done(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Phase::Done)
    }

    /// Triggers the drain programmatically (idempotent). A driver
    /// ([`run`](Drain::run) or [`run_until`](Drain::run_until)) must be running or
    /// started later.
    pub fn start(&self) {
        // A stored permit: a driver that starts later still sees the trigger.
        self.shared.trigger.notify_one();
    }

    /// Drives the drain once [`start`](Drain::start) is called, and returns its report.
    pub async fn run(self) -> DrainReport {
        self.run_until(std::future::pending()).await
    }

    /// Drives the drain once `trigger` resolves or [`start`](Drain::start) is called,
    /// and returns its report. Pass [`terminate()`](crate::terminate) for SIGTERM and
    /// Ctrl-C. If a driver is already running, this one waits for its report.
    pub async fn run_until<F: Future<Output = ()>>(self, trigger: F) -> DrainReport {
        // AcqRel: exactly one caller wins the swap and drives.
        if self.shared.driving.swap(true, Ordering::AcqRel) {
            self.done().await;
            return self
                .report()
                .expect("the driver stores its report before done");
        }
        tokio::select! {
            () = trigger => {}
            () = self.shared.trigger.notified() => {}
        }
        let config = self.shared.config;
        let clock = &self.shared.clock;
        let t0 = clock.now();
        let at_trigger = {
            let mut marks = self.marks();
            let word = self.shared.tracker.advance();
            marks.at_trigger = Some(word);
            word
        };
        self.announce(Phase::Announced, at_trigger.in_flight());

        clock.sleep_until(t0, t0 + config.propagation_delay()).await;
        let closing_at = clock.now();
        let at_closing = self.shared.tracker.advance();
        self.announce(Phase::Closing, at_closing.in_flight());

        let tracker = &self.shared.tracker;
        tokio::select! {
            _ = poll_fn(|cx| tracker.poll_idle(cx)) => {}
            () = clock.sleep_until(closing_at, t0 + config.deadline()) => {}
        }
        let done_at = clock.now();
        let report = {
            let mut marks = self.marks();
            let word = tracker.advance();
            let report = DrainReport {
                in_flight_at_trigger: at_trigger.in_flight(),
                finished: word.completions_since(at_trigger),
                cut: word.in_flight(),
                // Relaxed: a statistic; see `enter`.
                refused: self.shared.refused.load(Ordering::Relaxed),
                closing_after: closing_at - t0,
                done_after: done_at - t0,
            };
            marks.report = Some(report);
            report
        };
        // After the move to done: a cut listener either registered before this (and is
        // woken) or re-checks the phase after registering and sees done.
        self.shared.cut.notify_waiters();
        self.shared.phase.send_replace(Phase::Done);
        self.shared.metrics.done(report.finished, report.cut);
        tracing::info!(
            target: "tollgate::drain",
            phase = "done",
            finished = report.finished,
            cut = report.cut,
            refused = report.refused,
            elapsed_ms = millis(report.done_after),
            "drain done"
        );
        report
    }

    fn announce(&self, phase: Phase, in_flight: u64) {
        self.shared.phase.send_replace(phase);
        self.shared.metrics.phase(phase);
        tracing::info!(
            target: "tollgate::drain",
            phase = phase.as_str(),
            in_flight,
            "drain {}",
            phase.as_str()
        );
    }

    /// The report, once the drain is done.
    pub fn report(&self) -> Option<DrainReport> {
        self.marks().report
    }

    /// The phase and counters now; see [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        let marks = self.marks();
        let word = self.shared.tracker.load();
        // Relaxed: statistics; see `enter`.
        let refused = self.shared.refused.load(Ordering::Relaxed);
        let admitted = self.shared.admitted.load(Ordering::Relaxed);
        let (finished, cut) = match (&marks.report, marks.at_trigger) {
            (Some(report), _) => (report.finished, report.cut),
            (None, Some(at_trigger)) => (word.completions_since(at_trigger), 0),
            (None, None) => (0, 0),
        };
        Snapshot {
            state: word.phase(),
            in_flight: word.in_flight(),
            admitted,
            rejected: refused,
            finished,
            cut,
        }
    }

    fn marks(&self) -> MutexGuard<'_, Marks> {
        // Marks are plain values written whole: a poisoned lock still holds good ones.
        self.shared
            .marks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn is_done(&self) -> bool {
        self.phase() == Phase::Done
    }

    /// Counts a request out: the other half of [`enter`](Drain::enter), run by the
    /// guard's drop.
    #[inline]
    pub(crate) fn leave(&self) {
        self.shared.tracker.leave();
        self.shared.metrics.left();
    }

    /// Woken when the drain is done, so that cut requests stop.
    pub(crate) fn cut_notify(&self) -> Arc<Notify> {
        self.shared.cut.clone()
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for Drain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("config", &self.shared.config)
            .field("clock", &self.shared.clock)
            .field("snapshot", &self.snapshot())
            .finish()
    }
}
