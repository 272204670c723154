//! What a drain tells the outside: its phase, a snapshot of its counters, its report.

use std::fmt;
use std::time::Duration;

/// Where a [`Drain`](crate::Drain) is. Phases only move forward, in this order.
///
/// ```
/// use tollgate_drain::Phase;
///
/// assert!(Phase::Serving < Phase::Announced);
/// assert!(Phase::Closing.refuses_new_requests());
/// assert!(Phase::Announced.accepts_connections() && !Phase::Closing.accepts_connections());
/// assert!(!Phase::Announced.is_ready());
/// assert_eq!(Phase::Closing.as_str(), "closing");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Normal operation: ready, every request served.
    Serving,
    /// The drain was triggered: readiness says not ready, but new requests are still
    /// served for the propagation delay, while load balancers take the server out.
    Announced,
    /// New requests are refused (503 with `Connection: close` on the HTTP face);
    /// long-lived streams are told to finish; the drain waits for requests in flight,
    /// up to the deadline.
    Closing,
    /// Nothing is in flight any more, or the deadline cut what was: the server can
    /// stop.
    Done,
}

impl Phase {
    /// `true` only while [`Serving`](Phase::Serving): what a readiness probe reports.
    pub fn is_ready(self) -> bool {
        self == Phase::Serving
    }

    /// `true` from [`Closing`](Phase::Closing) on.
    pub fn refuses_new_requests(self) -> bool {
        self >= Phase::Closing
    }

    /// `true` before [`Closing`](Phase::Closing): where a server's listener accepts new
    /// connections. From closing on it stops (`tollgate_http::drain::DrainListener`
    /// does): a client's connect is refused at the TCP level, before it sent anything,
    /// and it goes to another instance, instead of being handed a connection whose
    /// every request would be refused.
    pub fn accepts_connections(self) -> bool {
        self < Phase::Closing
    }

    /// The lowercase name used in tracing events and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Serving => "serving",
            Phase::Announced => "announced",
            Phase::Closing => "closing",
            Phase::Done => "done",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cheap reading of a drain's phase and counters, for metrics: what
/// [`Drain::snapshot`](crate::Drain::snapshot), [`DrainLayer::snapshot`](crate::DrainLayer::snapshot)
/// and [`Drained::snapshot`](crate::Drained::snapshot) answer.
///
/// ```
/// use tollgate_drain::{Drain, Phase};
///
/// let drain = Drain::builder().build()?;
/// let guard = drain.enter().unwrap();
/// let snapshot = drain.snapshot();
/// assert_eq!(snapshot.state, Phase::Serving);
/// assert_eq!((snapshot.in_flight, snapshot.admitted, snapshot.rejected), (1, 1, 0));
/// assert_eq!((snapshot.finished, snapshot.cut), (0, 0));
/// drop(guard);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The current phase.
    pub state: Phase,
    /// Requests in flight now (cut requests count until their response is dropped).
    pub in_flight: u64,
    /// Requests admitted since the drain was made.
    pub admitted: u64,
    /// Requests refused because the drain was closing or done.
    pub rejected: u64,
    /// Requests that finished since the drain was triggered, up to the end of the drain.
    pub finished: u64,
    /// Requests cut at the deadline (0 until the drain is done).
    pub cut: u64,
}

/// What a finished drain did, with the time of each phase counted from the trigger.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tollgate_core::ConfigError> {
/// use std::time::Duration;
/// use tollgate_core::TokioClock;
/// use tollgate_drain::Drain;
///
/// let drain = Drain::builder()
///     .propagation_delay(Duration::from_secs(1))
///     .deadline(Duration::from_secs(10))
///     .clock(TokioClock::new())
///     .build()?;
/// drain.start();
/// let report = drain.run().await;
/// assert_eq!(report.closing_after(), Duration::from_secs(1));
/// assert_eq!(report.done_after(), Duration::from_secs(1)); // nothing was in flight
/// assert_eq!((report.finished(), report.cut()), (0, 0));
/// assert!(report.is_clean());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    pub(crate) in_flight_at_trigger: u64,
    pub(crate) finished: u64,
    pub(crate) cut: u64,
    pub(crate) refused: u64,
    pub(crate) closing_after: Duration,
    pub(crate) done_after: Duration,
}

impl DrainReport {
    /// Requests in flight when the drain was triggered.
    pub fn in_flight_at_trigger(&self) -> u64 {
        self.in_flight_at_trigger
    }

    /// Requests that finished (body fully sent or dropped) between the trigger and the
    /// end of the drain.
    pub fn finished(&self) -> u64 {
        self.finished
    }

    /// Requests still in flight at the deadline, told to stop.
    pub fn cut(&self) -> u64 {
        self.cut
    }

    /// Requests refused (closing or done) by the time the drain ended: the snapshot's
    /// `rejected` at that moment.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// From the trigger to [`Phase::Closing`]: the propagation delay.
    pub fn closing_after(&self) -> Duration {
        self.closing_after
    }

    /// From the trigger to [`Phase::Done`].
    pub fn done_after(&self) -> Duration {
        self.done_after
    }

    /// How long the requests in flight at closing kept the drain waiting: the time from
    /// [`Phase::Closing`] until the last of them ended, or until the deadline cut them.
    pub fn longest_remaining(&self) -> Duration {
        self.done_after.saturating_sub(self.closing_after)
    }

    /// `true` when no request was cut.
    pub fn is_clean(&self) -> bool {
        self.cut == 0
    }
}

impl fmt::Display for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in flight at trigger {}, finished {}, cut {}, refused {}, closing after {:?}, done after {:?}",
            self.in_flight_at_trigger,
            self.finished,
            self.cut,
            self.refused,
            self.closing_after,
            self.done_after
        )
    }
}
