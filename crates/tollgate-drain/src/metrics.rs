//! The drain's figures on the `metrics` facade (feature `metrics`), recorded where the
//! [`Snapshot`](crate::Snapshot)'s counters change, labelled `layer="drain"`: the
//! requests counted in and refused, those in flight, the phase, and what the drain
//! finished and cut.

use crate::Phase;

/// Requests in flight (gauge).
#[cfg(feature = "metrics")]
pub(crate) const IN_FLIGHT: &str = "tollgate_in_flight_requests";
/// The drain's phase: 0 serving, 1 announced, 2 closing, 3 done (gauge).
#[cfg(feature = "metrics")]
pub(crate) const PHASE: &str = "tollgate_drain_phase";
/// Requests that finished during a drain (counter).
#[cfg(feature = "metrics")]
pub(crate) const FINISHED: &str = "tollgate_drain_finished_total";
/// Requests still in flight at a drain's deadline, cut (counter).
#[cfg(feature = "metrics")]
pub(crate) const CUT: &str = "tollgate_drain_cut_total";

/// The handles of one drain, registered when it is built; zero-sized without the
/// feature.
#[derive(Debug)]
pub(crate) struct Metrics {
    #[cfg(feature = "metrics")]
    admissions: tollgate_core::metrics::Admissions,
    #[cfg(feature = "metrics")]
    in_flight: metrics::Gauge,
    #[cfg(feature = "metrics")]
    phase: metrics::Gauge,
    #[cfg(feature = "metrics")]
    finished: metrics::Counter,
    #[cfg(feature = "metrics")]
    cut: metrics::Counter,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        #[cfg(feature = "metrics")]
        {
            use metrics::Unit;
            use tollgate_core::metrics::{Admissions, LAYER};
            metrics::describe_gauge!(IN_FLIGHT, Unit::Count, "Requests in flight through a drain");
            metrics::describe_gauge!(
                PHASE,
                "The drain's phase: 0 serving, 1 announced, 2 closing, 3 done"
            );
            metrics::describe_counter!(
                FINISHED,
                Unit::Count,
                "Requests that finished during a drain"
            );
            metrics::describe_counter!(CUT, Unit::Count, "Requests cut at a drain's deadline");
            let phase = metrics::gauge!(PHASE, LAYER => "drain");
            phase.set(0.0);
            Self {
                admissions: Admissions::new("drain"),
                in_flight: metrics::gauge!(IN_FLIGHT, LAYER => "drain"),
                phase,
                finished: metrics::counter!(FINISHED, LAYER => "drain"),
                cut: metrics::counter!(CUT, LAYER => "drain"),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    #[inline]
    pub(crate) fn entered(&self) {
        #[cfg(feature = "metrics")]
        {
            self.admissions.admitted(1);
            self.in_flight.increment(1.0);
        }
    }

    #[inline]
    pub(crate) fn left(&self) {
        #[cfg(feature = "metrics")]
        self.in_flight.decrement(1.0);
    }

    pub(crate) fn refused(&self) {
        #[cfg(feature = "metrics")]
        self.admissions.rejected(tollgate_core::Reason::Draining);
    }

    pub(crate) fn phase(&self, _phase: Phase) {
        #[cfg(feature = "metrics")]
        self.phase.set(match _phase {
            Phase::Serving => 0.0,
            Phase::Announced => 1.0,
            Phase::Closing => 2.0,
            Phase::Done => 3.0,
        });
    }

    pub(crate) fn done(&self, _finished: u64, _cut: u64) {
        #[cfg(feature = "metrics")]
        {
            self.phase(Phase::Done);
            self.finished.increment(_finished);
            self.cut.increment(_cut);
        }
    }
}
