//! The [`Deadline`] value and its budget arithmetic.

use std::future::Future;
use std::time::Duration;

use tollgate_core::{Clock, DeadlineKind, Timestamp};

use crate::scope::{current_with_kind, scope_with_kind, Scoped};

/// The point in time after which an answer is no longer useful.
///
/// A `Deadline` is a [`Timestamp`] on a [`tollgate_core::Clock`]'s timeline, not a
/// duration: a duration goes stale the moment it is read, an instant does not. Every
/// clock of a kind shares one origin (every `TokioClock`, every `SystemClock`), so a
/// deadline set by one layer is read correctly by another layer using a clock of the
/// same kind. Keep every deadline layer of a process on one kind of clock: the
/// default, `TokioClock`, follows tokio's time, which also arms the timers and which
/// `tokio::time::pause` drives.
///
/// Arithmetic saturates: a budget larger than the clock can hold is "far in the future",
/// and the remaining time of a passed deadline is zero.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::{Clock, TokioClock};
/// use tollgate_deadline::Deadline;
///
/// let clock = TokioClock::new();
/// let now = clock.now();
/// let deadline = Deadline::after(now, Duration::from_millis(800));
/// assert_eq!(deadline.remaining(now), Duration::from_millis(800));
/// // What to send downstream: the remaining budget minus a margin for the network.
/// assert_eq!(deadline.budget(now, Duration::from_millis(50)), Duration::from_millis(750));
///
/// tokio::time::advance(Duration::from_secs(1)).await;
/// assert!(deadline.is_expired(clock.now()));
/// assert_eq!(deadline.remaining(clock.now()), Duration::ZERO);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Timestamp,
}

/// About 30 years: where a budget that does not fit the clock is placed.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl Deadline {
    /// The deadline at `at`.
    pub const fn at(at: Timestamp) -> Self {
        Self { at }
    }

    /// The deadline `budget` after `now` (far in the future if that overflows the clock).
    pub fn after(now: Timestamp, budget: Duration) -> Self {
        let at = now
            .checked_add(budget)
            .unwrap_or_else(|| now + FAR_FUTURE.min(budget));
        Self { at }
    }

    /// The deadline `budget` from `clock`'s now. Prefer [`Deadline::after`] with a `now`
    /// read once per request.
    pub fn from_now<C: Clock>(clock: &C, budget: Duration) -> Self {
        Self::after(clock.now(), budget)
    }

    /// The instant it fires, on its clock's timeline.
    pub const fn timestamp(self) -> Timestamp {
        self.at
    }

    /// Time left at `now`; zero once passed.
    pub fn remaining(self, now: Timestamp) -> Duration {
        self.at.saturating_duration_since(now)
    }

    /// Time left at `now` minus `margin` (for network time or cleanup); zero if the
    /// margin does not fit.
    pub fn budget(self, now: Timestamp, margin: Duration) -> Duration {
        self.remaining(now).saturating_sub(margin)
    }

    /// Whether the deadline has passed at `now` (a deadline equal to `now` has).
    pub fn is_expired(self, now: Timestamp) -> bool {
        self.at <= now
    }

    /// The earlier of this deadline and `other`, when there is one.
    pub fn tighten(self, other: Option<Deadline>) -> Self {
        other.map_or(self, |o| self.min(o))
    }

    /// The deadline of the request being served on this task, if any (see
    /// [`Deadline::scope`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tollgate_core::TokioClock;
    /// use tollgate_deadline::Deadline;
    ///
    /// assert_eq!(Deadline::current(), None);
    /// let deadline = Deadline::from_now(&TokioClock::new(), Duration::from_secs(1));
    /// deadline.scope(async move {
    ///     assert_eq!(Deadline::current(), Some(deadline));
    /// }).await;
    /// # }
    /// ```
    pub fn current() -> Option<Deadline> {
        current_with_kind().map(|(d, _)| d)
    }

    /// Runs `future` with this deadline as the task's current deadline, as an
    /// [`DeadlineKind::Inherited`] deadline. A scope never extends the deadline around
    /// it: inside an existing scope the earlier of the two wins.
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        scope_with_kind(self, DeadlineKind::Inherited, future)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_arithmetic_saturates() {
        let now = Timestamp::from_nanos(1_000_000_000);
        let d = Deadline::after(now, Duration::from_millis(100));
        assert_eq!(
            d.budget(now, Duration::from_millis(30)),
            Duration::from_millis(70)
        );
        assert_eq!(d.budget(now, Duration::from_secs(1)), Duration::ZERO);
        assert!(!d.is_expired(now));
        assert!(d.is_expired(now + Duration::from_millis(100)));
        assert_eq!(d.remaining(now + Duration::from_secs(9)), Duration::ZERO);
        // A budget beyond the clock is far in the future, not a panic.
        let far = Deadline::after(now, Duration::MAX);
        assert_eq!(far.remaining(now), FAR_FUTURE);
        let early = Deadline::after(now, Duration::from_millis(5));
        assert_eq!(d.tighten(Some(early)), early);
        assert_eq!(d.tighten(None), d);
    }
}
