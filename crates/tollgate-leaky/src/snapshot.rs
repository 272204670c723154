//! What the shaper reports to metrics exporters.

use std::time::Duration;

/// A counters-and-state view for metrics, from [`Shaper::snapshot`](crate::Shaper::snapshot) (or the layer's
/// and the service's `snapshot`, which read the same shaper).
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{ManualClock, Quota};
/// use tollgate_leaky::Shaper;
///
/// let shaper = Shaper::builder(Quota::per_second(10).burst(1)?).clock(ManualClock::new()).build()?;
/// shaper.admit(1).unwrap(); // goes now
/// let _waiting = shaper.admit(1).unwrap(); // queued for 100 ms
/// let snap = shaper.snapshot();
/// assert_eq!((snap.admitted, snap.queued, snap.rejected), (1, 1, 0));
/// assert_eq!(snap.current_wait, Duration::from_millis(200));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Requests released (let through) since creation.
    pub admitted: u64,
    /// Requests refused at admission (queue full, wait too long, throttled, over
    /// capacity) since creation.
    pub rejected: u64,
    /// Requests waiting now.
    pub queued: usize,
    /// Sum of their weights.
    pub queued_units: u64,
    /// Waiters that left the queue before their turn, since creation.
    pub cancelled: u64,
    /// How long a request of weight 1 arriving now would wait.
    pub current_wait: Duration,
    /// How long server feedback still pauses releases (zero when not paused).
    pub paused_for: Duration,
}
