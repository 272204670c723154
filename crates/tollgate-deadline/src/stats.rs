//! What the deadline layers did: one relaxed counter per event, shared by every clone
//! of a policy and by every layer and service built from it.

use std::time::Duration;
use tollgate_core::sync::{AtomicU64, Ordering};

use tollgate_core::{DeadlineKind, Reason};

use crate::metrics::Metrics;

/// What a [`DeadlinePolicy`](crate::DeadlinePolicy) (the server side) decided since it
/// was built, across every layer, service and clone sharing it.
///
/// ```
/// use tollgate_deadline::DeadlinePolicy;
///
/// let policy = DeadlinePolicy::builder().build().unwrap();
/// let snapshot = policy.snapshot();
/// assert_eq!((snapshot.admitted, snapshot.rejected, snapshot.cut_off), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadlineSnapshot {
    /// Requests let through to the handler, with a deadline or without one.
    pub admitted: u64,
    /// Of the admitted, those that ran with no deadline (none sent, no default).
    pub unbounded: u64,
    /// Requests refused before the handler: `spent + malformed`.
    pub rejected: u64,
    /// Refused because the budget was spent or below the minimum ("budget too small").
    pub spent: u64,
    /// Refused because the sent budget was malformed.
    pub malformed: u64,
    /// Handlers cut off at the deadline.
    pub cut_off: u64,
}

/// What a [`TimeoutPolicy`](crate::TimeoutPolicy) (the client side) decided since it
/// was built, across every layer, service and clone sharing it.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::TimeoutPolicy;
///
/// let policy = TimeoutPolicy::total(Duration::from_secs(1)).unwrap();
/// let snapshot = policy.snapshot();
/// assert_eq!((snapshot.admitted, snapshot.rejected, snapshot.fired.total), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeoutSnapshot {
    /// Calls let through to the inner service (and sent a budget when there was one).
    pub admitted: u64,
    /// Of the admitted, those with no deadline (none inherited, no timeout of its own).
    pub unbounded: u64,
    /// Calls failed fast without calling: the budget was spent or below the minimum.
    pub rejected: u64,
    /// Calls cut off at the deadline.
    pub cut_off: u64,
    /// The deadline refusals (`rejected + cut_off`) by the deadline that fired.
    pub fired: Fired,
}

/// Deadline refusals by which deadline fired ([`DeadlineKind`]).
///
/// ```
/// let fired = tollgate_deadline::Fired::default();
/// assert_eq!(fired.inherited + fired.total + fired.per_try, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// The caller's deadline, inherited through the scope or the request.
    pub inherited: u64,
    /// This client's total timeout.
    pub total: u64,
    /// This client's per-try timeout.
    pub per_try: u64,
}

pub(crate) const ADMITTED: usize = 0;
pub(crate) const UNBOUNDED: usize = 1;
pub(crate) const SPENT: usize = 2;
pub(crate) const MALFORMED: usize = 3;
pub(crate) const CUT_OFF: usize = 4;
const FIRED_INHERITED: usize = 5;
const FIRED_TOTAL: usize = 6;
const FIRED_PER_TRY: usize = 7;
const N: usize = 8;

/// Independent event counters. Relaxed everywhere: each counter is a statistic on its
/// own; no other memory is published through it, and a snapshot need not be a
/// consistent cut across counters.
/// Each event also goes to the `metrics` facade (feature `metrics`).
#[derive(Debug)]
pub struct Counters([AtomicU64; N], Metrics);

impl Counters {
    /// The counters of the policy labelled `layer`.
    pub fn new(layer: &str) -> Self {
        Self(
            std::array::from_fn(|_| AtomicU64::new(0)),
            Metrics::new(layer),
        )
    }

    /// Counts one event of counter `i`.
    #[inline]
    pub fn bump(&self, i: usize) {
        // Relaxed: a lone statistic (see the type docs).
        self.0[i].fetch_add(1, Ordering::Relaxed);
        self.1.outcome(i);
        match i {
            MALFORMED => self.1.rejected(Reason::MalformedHeader),
            UNBOUNDED => self.1.admitted(None),
            _ => {}
        }
    }

    /// A request admitted with `budget` to run under.
    #[inline]
    pub(crate) fn admitted(&self, budget: Duration) {
        self.bump(ADMITTED);
        self.1.admitted(Some(budget));
    }

    /// A deadline of `kind` fired: before the call (`at`: [`SPENT`]) or during it
    /// ([`CUT_OFF`]).
    #[inline]
    pub(crate) fn fired(&self, at: usize, kind: DeadlineKind) {
        self.bump(at);
        if at == SPENT {
            self.1.rejected(Reason::DeadlineExceeded(kind));
        }
        self.bump(match kind {
            DeadlineKind::Total => FIRED_TOTAL,
            DeadlineKind::PerTry => FIRED_PER_TRY,
            _ => FIRED_INHERITED,
        });
    }

    fn read(&self) -> [u64; N] {
        // Relaxed: a lone statistic (see the type docs).
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }

    /// The server layer's figures.
    pub fn deadline_snapshot(&self) -> DeadlineSnapshot {
        let c = self.read();
        DeadlineSnapshot {
            admitted: c[ADMITTED],
            unbounded: c[UNBOUNDED],
            rejected: c[SPENT] + c[MALFORMED],
            spent: c[SPENT],
            malformed: c[MALFORMED],
            cut_off: c[CUT_OFF],
        }
    }

    pub(crate) fn timeout_snapshot(&self) -> TimeoutSnapshot {
        let c = self.read();
        TimeoutSnapshot {
            admitted: c[ADMITTED],
            unbounded: c[UNBOUNDED],
            rejected: c[SPENT],
            cut_off: c[CUT_OFF],
            fired: Fired {
                inherited: c[FIRED_INHERITED],
                total: c[FIRED_TOTAL],
                per_try: c[FIRED_PER_TRY],
            },
        }
    }
}
