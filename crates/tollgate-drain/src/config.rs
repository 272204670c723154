//! The drain's timings, validated.

use std::sync::Arc;
use std::time::Duration;

use tollgate_core::{Clock, ConfigError, SystemClock};

use crate::clock::DrainClock;
use crate::Drain;

/// How a [`Drain`] paces itself, built with [`Drain::builder`].
///
/// - `propagation_delay` (default 5 s): after the drain is announced (readiness says
///   not ready), new requests are still served for this long, so that load balancers
///   notice and stop sending before anything is refused.
/// - `deadline` (default 30 s, counted from the trigger, like Kubernetes'
///   `terminationGracePeriodSeconds`): requests still in flight then are cut.
/// - `clock` (default [`SystemClock`]): where the drain reads the time of its phase
///   moves and arms its timers from. Tests pass a `TokioClock` and pause tokio's time,
///   so every phase lands at an exact instant.
///
/// The deadline must not be shorter than the propagation delay:
///
/// ```
/// use std::time::Duration;
/// use tollgate_drain::Drain;
///
/// let err = Drain::builder()
///     .propagation_delay(Duration::from_secs(10))
///     .deadline(Duration::from_secs(5))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "deadline");
/// assert_eq!(
///     err.to_string(),
///     "invalid `deadline`: must not be shorter than `propagation_delay` (5s < 10s)"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct DrainBuilder {
    propagation_delay: Duration,
    deadline: Duration,
    clock: Arc<dyn DrainClock>,
}

/// The validated timings of a [`Drain`].
///
/// ```
/// use std::time::Duration;
/// use tollgate_drain::Drain;
///
/// let drain = Drain::builder().deadline(Duration::from_secs(20)).build()?;
/// assert_eq!(drain.config().propagation_delay(), Duration::from_secs(5));
/// assert_eq!(drain.config().deadline(), Duration::from_secs(20));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainConfig {
    propagation_delay: Duration,
    deadline: Duration,
}

/// The longest timing accepted: far beyond any deploy, and safe to add to a
/// `Timestamp`.
const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

impl DrainBuilder {
    pub(crate) fn new() -> Self {
        Self {
            propagation_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
            clock: Arc::new(SystemClock::new()),
        }
    }

    /// How long new requests are still served after the drain is announced.
    pub fn propagation_delay(mut self, delay: Duration) -> Self {
        self.propagation_delay = delay;
        self
    }

    /// How long after the trigger requests still in flight are cut.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The clock the drain reads and arms its timers from (default [`SystemClock`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), tollgate_core::ConfigError> {
    /// use std::time::Duration;
    /// use tollgate_core::TokioClock;
    /// use tollgate_drain::Drain;
    ///
    /// let drain = Drain::builder()
    ///     .propagation_delay(Duration::from_millis(1_500))
    ///     .clock(TokioClock::new())
    ///     .build()?;
    /// drain.start();
    /// let report = drain.run().await; // paused time: exact
    /// assert_eq!(report.closing_after(), Duration::from_millis(1_500));
    /// # Ok(()) }
    /// ```
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the timings and makes the drain.
    pub fn build(self) -> Result<Drain, ConfigError> {
        let config = self.validate()?;
        Ok(Drain::with_config(config, self.clock))
    }

    /// Checks the timings without making a drain.
    pub fn validate(&self) -> Result<DrainConfig, ConfigError> {
        if self.propagation_delay > MAX {
            return Err(ConfigError::new(
                "propagation_delay",
                format!("must be at most one year, got {:?}", self.propagation_delay),
            ));
        }
        if self.deadline > MAX {
            return Err(ConfigError::new(
                "deadline",
                format!("must be at most one year, got {:?}", self.deadline),
            ));
        }
        if self.deadline < self.propagation_delay {
            return Err(ConfigError::new(
                "deadline",
                format!(
                    "must not be shorter than `propagation_delay` ({:?} < {:?})",
                    self.deadline, self.propagation_delay
                ),
            ));
        }
        Ok(DrainConfig {
            propagation_delay: self.propagation_delay,
            deadline: self.deadline,
        })
    }
}

impl DrainConfig {
    /// How long new requests are still served after the drain is announced.
    pub fn propagation_delay(&self) -> Duration {
        self.propagation_delay
    }

    /// How long after the trigger requests still in flight are cut.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_delay_and_deadline_is_valid() {
        let d = Duration::from_millis(300);
        let config = DrainBuilder::new()
            .propagation_delay(d)
            .deadline(d)
            .validate()
            .unwrap();
        assert_eq!((config.propagation_delay(), config.deadline()), (d, d));
    }

    #[test]
    fn durations_beyond_a_year_are_refused_by_name() {
        let err = DrainBuilder::new()
            .propagation_delay(Duration::MAX)
            .deadline(Duration::MAX)
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "propagation_delay");
        let err = DrainBuilder::new()
            .deadline(Duration::MAX)
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "deadline");
    }
}
