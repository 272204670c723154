//! The permit: a drop guard that records a call's outcome, or returns itself when the
//! call is cancelled.

use std::fmt;

use tollgate_core::sync::Arc;
use tollgate_core::{Clock, SystemClock, Timestamp};

use crate::shared::Shared;

/// How a call ended, as the breaker counts it.
///
/// ```
/// use tollgate_breaker::Outcome;
///
/// assert!(Outcome::Timeout.is_failure());
/// assert!(!Outcome::Ignored.is_failure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded (it may still count as slow by its duration).
    Success,
    /// The call failed.
    Failure,
    /// The call timed out: a failure and a slow call.
    Timeout,
    /// The call does not count either way (as if cancelled).
    Ignored,
}

impl Outcome {
    /// Whether the outcome counts as a failure.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failure | Outcome::Timeout)
    }
}

/// The right to make one call through a breaker, from
/// [`Breaker::try_acquire`](crate::Breaker::try_acquire).
///
/// Record the call's outcome with [`record`](Self::record). Dropping the permit
/// unrecorded means the call was cancelled: it counts as neither success nor failure,
/// and a half-open probe permit goes back so another probe can run. An outcome is
/// ignored if the breaker has changed generation since the permit was issued.
///
/// ```
/// use tollgate_breaker::{Breaker, Outcome};
///
/// let breaker = Breaker::builder().build()?;
/// let permit = breaker.try_acquire()?;
/// assert!(!permit.is_probe());
/// permit.record(Outcome::Success);
/// drop(breaker.try_acquire()?); // cancelled: admitted, but its outcome not counted
/// let s = breaker.snapshot();
/// assert_eq!((s.admitted, s.calls), (2, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a permit unrecorded counts the call as cancelled"]
pub struct Permit<C = SystemClock> {
    shared: Arc<Shared<C>>,
    start: Timestamp,
    /// The generation (low 32 bits) and the `PROBE` and `ARMED` flags, in one word:
    /// separate narrow fields cost a store-forwarding stall each time the permit is
    /// moved (stored field by field, then copied as one 8-byte word).
    tag: u64,
}

const PROBE: u64 = 1 << 32;
const ARMED: u64 = 1 << 33;

impl<C: Clock> Permit<C> {
    pub(crate) fn new(
        shared: Arc<Shared<C>>,
        generation: u32,
        probe: bool,
        start: Timestamp,
    ) -> Self {
        Permit {
            shared,
            start,
            tag: u64::from(generation) | if probe { PROBE } else { 0 } | ARMED,
        }
    }

    fn generation(&self) -> u32 {
        self.tag as u32
    }

    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.tag & PROBE != 0
    }

    /// Records the call's outcome, reading the clock only if a policy needs the time.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let now = (self.is_probe() || self.shared.needs_end()).then(|| self.shared.clock().now());
        self.finish(outcome, now);
    }

    /// Records the call's outcome at a given time.
    pub fn record_at(self, outcome: Outcome, now: Timestamp) {
        self.finish(outcome, Some(now));
    }

    #[inline]
    fn finish(mut self, outcome: Outcome, now: Option<Timestamp>) {
        if outcome == Outcome::Ignored {
            return; // Drop returns a probe permit.
        }
        self.tag &= !ARMED;
        let failure = outcome.is_failure();
        let slow = outcome == Outcome::Timeout
            || match (self.shared.slow_call_duration(), now) {
                (Some(threshold), Some(now)) => {
                    self.shared.needs_start() && now - self.start >= threshold
                }
                _ => false,
            };
        if self.is_probe() {
            let now = now.unwrap_or_else(|| self.shared.clock().now());
            self.shared
                .record_probe(self.generation(), failure, slow, now);
        } else {
            self.shared
                .record_closed(self.generation(), failure, slow, now);
        }
    }
}

impl<C> Drop for Permit<C> {
    fn drop(&mut self) {
        if self.tag & (ARMED | PROBE) == ARMED | PROBE {
            self.shared.cancel_probe(self.tag as u32);
        }
    }
}

impl<C> fmt::Debug for Permit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("generation", &(self.tag as u32))
            .field("probe", &(self.tag & PROBE != 0))
            .field("start", &self.start)
            .finish()
    }
}
