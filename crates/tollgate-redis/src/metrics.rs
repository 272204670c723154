//! The Redis limiter's figures on the `metrics` facade (feature `metrics`), recorded
//! where the [`Snapshot`](crate::Snapshot)'s counters change, labelled
//! `layer="redis"`: admissions and refusals, and how each decision was reached (round
//! trips, local decisions, failures, failovers, recoveries). A key is never a label.

use tollgate_core::Reason;

/// How a decision was reached, one counter each: (name, help).
#[cfg(feature = "metrics")]
pub(crate) const EVENTS: [(&str, &str); Event::COUNT] = [
    (
        "tollgate_redis_round_trips_total",
        "Decisions that went to Redis",
    ),
    (
        "tollgate_redis_local_decisions_total",
        "Decisions answered from a local lease or refusal",
    ),
    (
        "tollgate_redis_failures_total",
        "Redis round trips that failed",
    ),
    (
        "tollgate_redis_failovers_total",
        "Moves to the failure policy after Redis failed",
    ),
    (
        "tollgate_redis_recoveries_total",
        "Moves back to Redis after a failover",
    ),
];

/// Which of [`EVENTS`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    RoundTrip = 0,
    Local = 1,
    Failure = 2,
    Failover = 3,
    Recovery = 4,
}

impl Event {
    pub(crate) const COUNT: usize = 5;
}

/// The handles of one limiter, registered when it is built; zero-sized without the
/// feature.
#[derive(Debug)]
pub(crate) struct Metrics {
    #[cfg(feature = "metrics")]
    admissions: tollgate_core::metrics::Admissions,
    #[cfg(feature = "metrics")]
    events: [metrics::Counter; EVENTS.len()],
}

// Derivable only with the feature off, where the struct is empty.
#[allow(clippy::derivable_impls)]
impl Default for Metrics {
    fn default() -> Self {
        #[cfg(feature = "metrics")]
        {
            use tollgate_core::metrics::{Admissions, LAYER};
            Self {
                admissions: Admissions::new("redis"),
                events: EVENTS.map(|(name, help)| {
                    metrics::describe_counter!(name, metrics::Unit::Count, help);
                    metrics::counter!(name, LAYER => "redis")
                }),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }
}

impl Metrics {
    pub(crate) fn decided(&self, _decision: Result<(), Reason>) {
        #[cfg(feature = "metrics")]
        match _decision {
            Ok(()) => self.admissions.admitted(1),
            Err(reason) => self.admissions.rejected(reason),
        }
    }

    pub(crate) fn event(&self, _event: Event) {
        #[cfg(feature = "metrics")]
        self.events[_event as usize].increment(1);
    }
}
