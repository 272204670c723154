//! What a breaker tells the world: its transitions and its snapshot.

use std::fmt;
use std::time::Duration;

use tollgate_core::Timestamp;

use crate::State;

/// Why a breaker changed state, with the figures that decided it.
///
/// ```
/// use tollgate_breaker::TransitionReason;
///
/// let reason = TransitionReason::FailureRate { rate: 60.0, calls: 10 };
/// assert_eq!(reason.to_string(), "failure rate 60.0% over 10 calls");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// The breaker was created (the first value of [`Breaker::subscribe`](crate::Breaker::subscribe)).
    Created,
    /// `count` failures in a row reached the consecutive-failure threshold.
    ConsecutiveFailures {
        /// Failures in a row.
        count: u32,
    },
    /// The failure rate (percent) over `calls` calls reached its threshold.
    FailureRate {
        /// Failed calls in the window, in percent.
        rate: f64,
        /// Calls in the window.
        calls: u64,
    },
    /// The slow-call rate (percent) over `calls` calls reached its threshold.
    SlowCallRate {
        /// Slow calls in the window, in percent.
        rate: f64,
        /// Calls in the window.
        calls: u64,
    },
    /// The open wait passed; the caller that noticed became the first probe.
    OpenWaitElapsed,
    /// A half-open probe failed.
    ProbeFailed,
    /// A half-open probe was slow while the slow-call policy is on.
    ProbeSlow,
    /// `successes` probes succeeded.
    ProbesSucceeded {
        /// Successful probes.
        successes: u32,
    },
    /// An operator called [`Breaker::force_open`](crate::Breaker::force_open).
    ForcedOpen,
    /// An operator called [`Breaker::disable`](crate::Breaker::disable).
    Disabled,
    /// An operator called [`Breaker::reset`](crate::Breaker::reset).
    Reset,
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionReason::Created => f.write_str("created"),
            TransitionReason::ConsecutiveFailures { count } => {
                write!(f, "{count} consecutive failures")
            }
            TransitionReason::FailureRate { rate, calls } => {
                write!(f, "failure rate {rate:.1}% over {calls} calls")
            }
            TransitionReason::SlowCallRate { rate, calls } => {
                write!(f, "slow-call rate {rate:.1}% over {calls} calls")
            }
            TransitionReason::OpenWaitElapsed => f.write_str("open wait elapsed"),
            TransitionReason::ProbeFailed => f.write_str("probe failed"),
            TransitionReason::ProbeSlow => f.write_str("probe was slow"),
            TransitionReason::ProbesSucceeded { successes } => {
                write!(f, "{successes} probes succeeded")
            }
            TransitionReason::ForcedOpen => f.write_str("forced open"),
            TransitionReason::Disabled => f.write_str("disabled"),
            TransitionReason::Reset => f.write_str("reset"),
        }
    }
}

/// One state change, as sent on [`Breaker::subscribe`](crate::Breaker::subscribe).
///
/// ```
/// use tollgate_breaker::{Breaker, BreakerConfig, State, TransitionReason};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// let rx = breaker.subscribe();
/// assert_eq!(rx.borrow().to, State::Closed);
/// assert_eq!(rx.borrow().reason, TransitionReason::Created);
/// breaker.force_open();
/// assert_eq!(rx.borrow().from, State::Closed);
/// assert_eq!(rx.borrow().to, State::ForcedOpen);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub reason: TransitionReason,
    /// When, on the breaker's clock.
    pub at: Timestamp,
    /// How long the breaker stays open before probing (zero unless `to` is open).
    pub open_for: Duration,
}

/// A breaker's state and counters, cheap to take: see [`Breaker::snapshot`](crate::Breaker::snapshot).
///
/// ```
/// use tollgate_breaker::{Breaker, BreakerConfig, Outcome, State};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// breaker.try_acquire().unwrap().record(Outcome::Failure);
/// breaker.try_acquire().unwrap().record(Outcome::Success);
/// let s = breaker.snapshot();
/// assert_eq!(s.state, State::Closed);
/// assert_eq!((s.calls, s.failures), (2, 1));
/// assert_eq!(s.failure_rate, 50.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The current state.
    pub state: State,
    /// Calls in the window.
    pub calls: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Failed calls in the window, in percent (0 when the window is empty).
    pub failure_rate: f64,
    /// Slow calls in the window, in percent (0 when the window is empty).
    pub slow_call_rate: f64,
    /// Failures in a row, in the closed state.
    pub consecutive_failures: u32,
    /// Half-open probes in flight.
    pub probes_in_flight: u32,
    /// Successful probes in this half-open period.
    pub probe_successes: u32,
    /// Time since the current state was entered.
    pub time_in_state: Duration,
    /// Time left before probing, when open.
    pub retry_after: Option<Duration>,
    /// Transitions since the breaker was created.
    pub transitions: u64,
}

pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
