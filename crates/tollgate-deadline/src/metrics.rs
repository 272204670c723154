//! The deadline policies' figures on the `metrics` facade (feature `metrics`), recorded
//! where their snapshots' counters change: each outcome, the admissions and refusals,
//! and the budget each admitted request runs under. Labelled `deadline` for a
//! [`DeadlinePolicy`](crate::DeadlinePolicy), `timeout_total`, `timeout_per_try` or
//! `timeout` for a [`TimeoutPolicy`](crate::TimeoutPolicy).

use std::time::Duration;

use tollgate_core::{DeadlineKind, Reason};

/// Each decision and cut-off (counter, labelled `outcome`: the snapshot's field).
#[cfg(feature = "metrics")]
pub(crate) const OUTCOMES: &str = "tollgate_deadline_outcomes_total";
/// The budget an admitted request runs under (histogram, seconds).
#[cfg(feature = "metrics")]
pub(crate) const REMAINING: &str = "tollgate_deadline_remaining_seconds";

/// The `outcome` label of each counter of `stats.rs`, in its index order.
#[cfg(feature = "metrics")]
const OUTCOME_LABELS: [&str; 5] = ["admitted", "unbounded", "spent", "malformed", "cut_off"];

/// The handles of one policy, registered when it is built; zero-sized without the
/// feature.
#[derive(Debug)]
pub(crate) struct Metrics {
    #[cfg(feature = "metrics")]
    admissions: tollgate_core::metrics::Admissions,
    #[cfg(feature = "metrics")]
    outcomes: [metrics::Counter; OUTCOME_LABELS.len()],
    #[cfg(feature = "metrics")]
    remaining: metrics::Histogram,
}

impl Metrics {
    pub(crate) fn new(_layer: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            use metrics::Unit;
            use tollgate_core::metrics::{Admissions, LAYER};
            metrics::describe_counter!(
                OUTCOMES,
                Unit::Count,
                "Deadline decisions and cut-offs, by outcome"
            );
            metrics::describe_histogram!(
                REMAINING,
                Unit::Seconds,
                "The budget each admitted request runs under"
            );
            Self {
                admissions: Admissions::new(_layer),
                outcomes: OUTCOME_LABELS.map(
                    |o| metrics::counter!(OUTCOMES, LAYER => _layer.to_owned(), "outcome" => o),
                ),
                remaining: metrics::histogram!(REMAINING, LAYER => _layer.to_owned()),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    /// The counter of index `_i` (of `stats.rs`) moved.
    #[inline]
    pub(crate) fn outcome(&self, _i: usize) {
        #[cfg(feature = "metrics")]
        if let Some(counter) = self.outcomes.get(_i) {
            counter.increment(1);
        }
    }

    /// A request was admitted with `_budget` to run under (`None`: unbounded).
    #[inline]
    pub(crate) fn admitted(&self, _budget: Option<Duration>) {
        #[cfg(feature = "metrics")]
        {
            self.admissions.admitted(1);
            if let Some(budget) = _budget {
                self.remaining.record(budget.as_secs_f64());
            }
        }
    }

    /// A request was refused before the call.
    #[inline]
    pub(crate) fn rejected(&self, _reason: Reason) {
        #[cfg(feature = "metrics")]
        self.admissions.rejected(_reason);
    }
}

/// The label of a client policy whose own timeout is `kind`.
pub(crate) fn timeout_layer(kind: Option<DeadlineKind>) -> &'static str {
    match kind {
        Some(DeadlineKind::Total) => "timeout_total",
        Some(DeadlineKind::PerTry) => "timeout_per_try",
        _ => "timeout",
    }
}
