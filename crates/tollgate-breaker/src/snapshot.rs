//! What a breaker, or a table of them, reports for metrics: cheap to take, plain data.

use std::time::Duration;

use crate::State;

/// A breaker's state and counters, cheap to take: see [`Breaker::snapshot`](crate::Breaker::snapshot).
///
/// ```
/// use tollgate_breaker::{Breaker, Outcome, State};
///
/// let breaker = Breaker::builder().build()?;
/// breaker.try_acquire()?.record(Outcome::Failure);
/// breaker.try_acquire()?.record(Outcome::Success);
/// let s = breaker.snapshot();
/// assert_eq!(s.state, State::Closed);
/// assert_eq!((s.admitted, s.rejected), (2, 0));
/// assert_eq!((s.calls, s.failures), (2, 1));
/// assert_eq!(s.failure_rate, 50.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The current state.
    pub state: State,
    /// Calls admitted since the breaker was created (probes included).
    pub admitted: u64,
    /// Calls refused since the breaker was created.
    pub rejected: u64,
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

/// A table of keyed breakers, summed: see [`KeyedBreakers::snapshot`](crate::KeyedBreakers::snapshot).
///
/// `admitted` and `rejected` are totals since the table was created: they keep the
/// counts of evicted breakers, and `rejected` includes the calls the table itself
/// refused (no key, or a table full of open breakers).
///
/// ```
/// use std::time::Duration;
/// use tollgate_breaker::{Breaker, KeyedBreakers, Outcome};
///
/// let table = KeyedBreakers::builder()
///     .breaker(Breaker::builder().no_failure_rate().consecutive_failures(1))
///     .max_keys(10)
///     .build()?;
/// table.get(&"a")?.try_acquire()?.record(Outcome::Failure);
/// table.get(&"b")?.try_acquire()?.record(Outcome::Success);
/// assert!(table.get(&"a")?.try_acquire().is_err());
/// let s = table.snapshot();
/// assert_eq!((s.keys, s.open, s.half_open), (2, 1, 0));
/// assert_eq!((s.admitted, s.rejected), (2, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyedBreakersSnapshot {
    /// Keys (breakers) in the table now.
    pub keys: usize,
    /// Calls admitted by the table's breakers, evicted ones included.
    pub admitted: u64,
    /// Calls refused: by the table's breakers, evicted ones included, and by the table.
    pub rejected: u64,
    /// Breakers open now (held open by an operator included).
    pub open: usize,
    /// Breakers half-open now.
    pub half_open: usize,
    /// Closed breakers evicted to make room or swept as idle, since the table was created.
    pub evicted: u64,
}
