//! The limiter's counters on the `metrics` facade (feature `metrics`): the same figures
//! as [`Snapshot`](crate::Snapshot), recorded where its counters change, labelled by
//! the limiter's name (`bucket` when unnamed). A keyed limiter records aggregates: a
//! key is never a label.

use tollgate_core::Reason;

/// The handles of one limiter, registered when it is built; zero-sized without the
/// feature.
#[derive(Debug)]
pub(crate) struct Metrics {
    #[cfg(feature = "metrics")]
    admissions: tollgate_core::metrics::Admissions,
}

impl Metrics {
    pub(crate) fn new(_name: Option<&str>) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            admissions: tollgate_core::metrics::Admissions::new(_name.unwrap_or("bucket")),
        }
    }

    #[inline]
    pub(crate) fn admitted(&self) {
        #[cfg(feature = "metrics")]
        self.admissions.admitted(1);
    }

    #[inline]
    pub(crate) fn rejected(&self, _reason: Reason) {
        #[cfg(feature = "metrics")]
        self.admissions.rejected(_reason);
    }
}
