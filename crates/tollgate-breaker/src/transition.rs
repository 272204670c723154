//! What a breaker tells the world as it happens: its transitions.

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
/// use tollgate_breaker::{Breaker, State, TransitionReason};
///
/// let breaker = Breaker::builder().build()?;
/// let rx = breaker.subscribe();
/// assert_eq!(rx.borrow().to, State::Closed);
/// assert_eq!(rx.borrow().reason, TransitionReason::Created);
/// breaker.force_open();
/// assert_eq!(rx.borrow().from, State::Closed);
/// assert_eq!(rx.borrow().to, State::ForcedOpen);
/// # Ok::<(), tollgate_core::ConfigError>(())
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

pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
