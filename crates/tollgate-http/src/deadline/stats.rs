use tollgate_core::sync::{AtomicU64, Ordering};

/// What a [`ServerDeadlineLayer`](super::ServerDeadlineLayer) did, since it was built,
/// across all its clones.
///
/// ```
/// use tollgate_http::deadline::ServerDeadlineLayer;
///
/// let layer = ServerDeadlineLayer::builder().build().unwrap();
/// assert_eq!(layer.snapshot().cut_off, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerSnapshot {
    /// Requests that ran with a deadline.
    pub admitted: u64,
    /// Requests that ran with no deadline (none sent, no default).
    pub unbounded: u64,
    /// Requests refused before the handler: budget spent or below the minimum.
    pub refused_spent: u64,
    /// Requests refused for a malformed timeout value.
    pub refused_malformed: u64,
    /// Handlers cut off at the deadline.
    pub cut_off: u64,
}

/// What a [`ClientDeadlineLayer`](super::ClientDeadlineLayer) did, since it was built,
/// across all its clones.
///
/// ```
/// use tollgate_http::deadline::ClientDeadlineLayer;
///
/// let layer = ClientDeadlineLayer::builder().build().unwrap();
/// assert_eq!(layer.snapshot().failed_fast, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientSnapshot {
    /// Requests sent with a budget.
    pub sent: u64,
    /// Requests sent with no deadline (none inherited, no total).
    pub unbounded: u64,
    /// Requests failed without sending: the budget was below the minimum.
    pub failed_fast: u64,
    /// Calls cut off at the deadline.
    pub cut_off: u64,
}

/// Independent event counters. Relaxed everywhere: each counter is a statistic on its
/// own; no other memory is published through it, and a snapshot need not be a
/// consistent cut across counters.
#[derive(Debug)]
pub(super) struct Counters([AtomicU64; 5]);

impl Default for Counters {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl Counters {
    pub(super) fn bump(&self, i: usize) {
        // Relaxed: a lone statistic (see the type docs).
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> [u64; 5] {
        // Relaxed: a lone statistic (see the type docs).
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

pub(super) const ADMITTED: usize = 0;
pub(super) const UNBOUNDED: usize = 1;
pub(super) const REFUSED_SPENT: usize = 2;
pub(super) const REFUSED_MALFORMED: usize = 3;
pub(super) const CUT_OFF: usize = 4;
pub(super) const SENT: usize = 0;
pub(super) const FAILED_FAST: usize = 2;

impl Counters {
    pub(super) fn server_snapshot(&self) -> ServerSnapshot {
        let c = self.read();
        ServerSnapshot {
            admitted: c[ADMITTED],
            unbounded: c[UNBOUNDED],
            refused_spent: c[REFUSED_SPENT],
            refused_malformed: c[REFUSED_MALFORMED],
            cut_off: c[CUT_OFF],
        }
    }

    pub(super) fn client_snapshot(&self) -> ClientSnapshot {
        let c = self.read();
        ClientSnapshot {
            sent: c[SENT],
            unbounded: c[UNBOUNDED],
            failed_fast: c[FAILED_FAST],
            cut_off: c[CUT_OFF],
        }
    }
}
