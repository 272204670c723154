//! What every layer records through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`): the admission counters they share, the `layer` label, and the
//! stable label value of each [`Reason`].
//!
//! A library emits, the application installs the recorder. Handles are registered when
//! a layer's core is built, never per request, so the recorder must be installed
//! before the layers are built; with none installed every handle is a no-op.
//!
//! ```
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use tollgate_core::metrics::Admissions;
//! use tollgate_core::Reason;
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! let admissions = metrics::with_local_recorder(&recorder, || Admissions::new("login"));
//! admissions.admitted(2);
//! admissions.rejected(Reason::RateLimited);
//!
//! let counters: Vec<_> = snapshotter
//!     .snapshot()
//!     .into_vec()
//!     .into_iter()
//!     .filter_map(|(key, _, _, value)| match value {
//!         DebugValue::Counter(n) if n > 0 => Some((key.key().name().to_owned(), n)),
//!         _ => None,
//!     })
//!     .collect();
//! assert!(counters.contains(&("tollgate_requests_admitted_total".to_owned(), 2)));
//! assert!(counters.contains(&("tollgate_requests_rejected_total".to_owned(), 1)));
//! ```

use metrics::{counter, describe_counter, Counter, Unit};

use crate::rejection::{DeadlineKind, Reason};

/// The label every tollgate series carries: the name of the layer that recorded it.
pub const LAYER: &str = "layer";
/// Requests a layer let through (counter).
pub const REQUESTS_ADMITTED: &str = "tollgate_requests_admitted_total";
/// Requests a layer refused, labelled by `reason` (counter).
pub const REQUESTS_REJECTED: &str = "tollgate_requests_rejected_total";

/// Every reason, in the order of [`reason_label`]'s index.
const REASONS: [Reason; 14] = [
    Reason::RateLimited,
    Reason::OverCapacity,
    Reason::WaitTooLong,
    Reason::QueueFull,
    Reason::Throttled,
    Reason::MissingKey,
    Reason::MalformedHeader,
    Reason::KeyTableFull,
    Reason::StoreUnavailable,
    Reason::CircuitOpen,
    Reason::DeadlineExceeded(DeadlineKind::Inherited),
    Reason::DeadlineExceeded(DeadlineKind::Total),
    Reason::DeadlineExceeded(DeadlineKind::PerTry),
    Reason::Draining,
];

/// The `reason` label value of `reason`: stable, snake case.
///
/// ```
/// use tollgate_core::{metrics::reason_label, DeadlineKind, Reason};
///
/// assert_eq!(reason_label(Reason::RateLimited), "rate_limited");
/// assert_eq!(reason_label(Reason::DeadlineExceeded(DeadlineKind::PerTry)), "deadline_per_try");
/// ```
pub fn reason_label(reason: Reason) -> &'static str {
    LABELS[index(reason)]
}

const LABELS: [&str; 14] = [
    "rate_limited",
    "over_capacity",
    "wait_too_long",
    "queue_full",
    "throttled",
    "missing_key",
    "malformed_header",
    "key_table_full",
    "store_unavailable",
    "circuit_open",
    "deadline_inherited",
    "deadline_total",
    "deadline_per_try",
    "draining",
];

fn index(reason: Reason) -> usize {
    match reason {
        Reason::RateLimited => 0,
        Reason::OverCapacity => 1,
        Reason::WaitTooLong => 2,
        Reason::QueueFull => 3,
        Reason::Throttled => 4,
        Reason::MissingKey => 5,
        Reason::MalformedHeader => 6,
        Reason::KeyTableFull => 7,
        Reason::StoreUnavailable => 8,
        Reason::CircuitOpen => 9,
        Reason::DeadlineExceeded(DeadlineKind::Inherited) => 10,
        Reason::DeadlineExceeded(DeadlineKind::Total) => 11,
        Reason::DeadlineExceeded(DeadlineKind::PerTry) => 12,
        Reason::Draining => 13,
    }
}

/// The admitted and rejected counters of one layer, registered once: recording is an
/// increment on a handle, with no lookup.
///
/// See the [module docs](self) for an example.
#[derive(Debug, Clone)]
pub struct Admissions {
    admitted: Counter,
    rejected: [Counter; REASONS.len()],
}

impl Admissions {
    /// Registers the counters of the layer named `layer` with the recorder installed
    /// now (and describes them).
    pub fn new(layer: &str) -> Self {
        describe_counter!(
            REQUESTS_ADMITTED,
            Unit::Count,
            "Requests a tollgate layer let through"
        );
        describe_counter!(
            REQUESTS_REJECTED,
            Unit::Count,
            "Requests a tollgate layer refused, by reason"
        );
        let layer = layer.to_owned();
        Self {
            admitted: counter!(REQUESTS_ADMITTED, LAYER => layer.clone()),
            rejected: REASONS.map(|reason| {
                counter!(REQUESTS_REJECTED, LAYER => layer.clone(), "reason" => reason_label(reason))
            }),
        }
    }

    /// Counts `n` admitted requests.
    #[inline]
    pub fn admitted(&self, n: u64) {
        self.admitted.increment(n);
    }

    /// Counts one refused request.
    #[inline]
    pub fn rejected(&self, reason: Reason) {
        self.rejected[index(reason)].increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_label() {
        for (i, reason) in REASONS.iter().enumerate() {
            assert_eq!(index(*reason), i);
        }
        let mut labels = LABELS.to_vec();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), REASONS.len());
    }
}
