//! The shaper's figures on the `metrics` facade (feature `metrics`), recorded where the
//! [`Snapshot`](crate::Snapshot)'s counters change, labelled by the shaper's name
//! (`shaper` when unnamed): admissions, the queue's length and each request's wait.

use tollgate_core::Reason;

/// The queue's length (gauge, requests).
#[cfg(feature = "metrics")]
pub(crate) const QUEUE_LENGTH: &str = "tollgate_queue_length";
/// How long each released request waited in the queue (histogram, seconds).
#[cfg(feature = "metrics")]
pub(crate) const QUEUE_WAIT: &str = "tollgate_queue_wait_seconds";

/// The handles of one shaper, registered when it is built; zero-sized without the
/// feature.
#[derive(Debug)]
pub(crate) struct Metrics {
    #[cfg(feature = "metrics")]
    admissions: tollgate_core::metrics::Admissions,
    #[cfg(feature = "metrics")]
    queue_length: metrics::Gauge,
    #[cfg(feature = "metrics")]
    queue_wait: metrics::Histogram,
}

impl Metrics {
    pub(crate) fn new(_name: Option<&str>) -> Self {
        #[cfg(feature = "metrics")]
        {
            use metrics::Unit;
            use tollgate_core::metrics::{Admissions, LAYER};
            let layer = _name.unwrap_or("shaper").to_owned();
            metrics::describe_gauge!(
                QUEUE_LENGTH,
                Unit::Count,
                "Requests waiting in a shaper's queue"
            );
            metrics::describe_histogram!(
                QUEUE_WAIT,
                Unit::Seconds,
                "How long each released request waited in a shaper's queue"
            );
            Self {
                admissions: Admissions::new(&layer),
                queue_length: metrics::gauge!(QUEUE_LENGTH, LAYER => layer.clone()),
                queue_wait: metrics::histogram!(QUEUE_WAIT, LAYER => layer),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    /// A request left the queue (or skipped it) after waiting `_wait_ns`.
    #[inline]
    pub(crate) fn released(&self, _wait_ns: u64) {
        #[cfg(feature = "metrics")]
        {
            self.admissions.admitted(1);
            self.queue_wait.record(_wait_ns as f64 * 1e-9);
        }
    }

    #[inline]
    pub(crate) fn rejected(&self, _reason: Reason) {
        #[cfg(feature = "metrics")]
        self.admissions.rejected(_reason);
    }

    /// The queue now holds `_len` requests.
    #[inline]
    pub(crate) fn queue_length(&self, _len: usize) {
        #[cfg(feature = "metrics")]
        self.queue_length.set(_len as f64);
    }
}
