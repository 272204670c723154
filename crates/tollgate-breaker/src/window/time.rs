//! The time window: the calls of the last T, in buckets.

use tollgate_core::sync::{AtomicU64, Mutex, Ordering};
use tollgate_core::Timestamp;

use super::Counts;

/// The calls of the last `length`, in a ring of buckets of `length / buckets` each.
///
/// `head` is the index (time / width) of the newest bucket. A recorder whose time is
/// past the head advances it under a small lock, zeroing the buckets it reuses (once
/// per bucket width, not per call); otherwise it only increments its bucket's counters.
/// Increments are never lost. One race is documented rather than prevented: a recorder
/// preempted for longer than the whole window between reading the head and adding can
/// add into a bucket that has since been reused for a newer period.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    width: u64,
    head: AtomicU64,
    rotate: Mutex<()>,
}

#[derive(Debug)]
struct Bucket {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Bucket {
    fn zero(&self) {
        // Relaxed: ordered before readers by the Release store of `head`.
        self.calls.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        self.slow.store(0, Ordering::Relaxed);
    }
}

impl TimeWindow {
    pub(crate) fn new(length: u64, buckets: u32, now: Timestamp) -> TimeWindow {
        let width = length / u64::from(buckets);
        TimeWindow {
            buckets: (0..buckets)
                .map(|_| Bucket {
                    calls: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    slow: AtomicU64::new(0),
                })
                .collect(),
            width,
            head: AtomicU64::new(now.as_nanos() / width),
            rotate: Mutex::new(()),
        }
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    #[inline]
    pub(super) fn record(&self, failure: bool, slow: bool, now: Timestamp) -> Option<Counts> {
        let index = now.as_nanos() / self.width;
        // Acquire: pairs with the Release store in `advance`, so the zeroing of a reused
        // bucket happens before our increments into it.
        let head = self.head.load(Ordering::Acquire);
        if index > head {
            self.advance(index);
        } else if index + self.len() <= head {
            // Read long before recording: the outcome is older than the window.
            return None;
        }
        let bucket = &self.buckets[(index % self.len()) as usize];
        // Relaxed: a counter; the Release below orders it before the failure/slow counts.
        bucket.calls.fetch_add(1, Ordering::Relaxed);
        if failure {
            // Release: a reader that sees this failure (Acquire) also sees its call.
            bucket.failures.fetch_add(1, Ordering::Release);
        }
        if slow {
            // Release: as for failures.
            bucket.slow.fetch_add(1, Ordering::Release);
        }
        (failure || slow).then(|| self.counts(now))
    }

    #[cold]
    fn advance(&self, index: u64) {
        let _guard = self.rotate.lock().unwrap_or_else(|e| e.into_inner());
        // Relaxed: under the lock, every earlier advance is visible.
        let head = self.head.load(Ordering::Relaxed);
        if index <= head {
            return;
        }
        let stale = (index - head).min(self.len());
        for k in 0..stale {
            self.buckets[((index - k) % self.len()) as usize].zero();
        }
        // Release: publishes the zeroing to recorders that read the new head.
        self.head.store(index, Ordering::Release);
    }

    pub(crate) fn counts(&self, now: Timestamp) -> Counts {
        let index = now.as_nanos() / self.width;
        // Acquire: see `record`.
        let head = self.head.load(Ordering::Acquire);
        let mut counts = Counts::default();
        for back in 0..self.len() {
            let Some(at) = head.checked_sub(back) else {
                break;
            };
            if at + self.len() <= index {
                break;
            }
            let bucket = &self.buckets[(at % self.len()) as usize];
            // Acquire, failures and slow before calls: a failure we count has its call
            // counted too, so failures <= calls.
            let failures = bucket.failures.load(Ordering::Acquire);
            let slow = bucket.slow.load(Ordering::Acquire);
            // Relaxed: ordered after the Acquire loads above.
            let calls = bucket.calls.load(Ordering::Relaxed);
            counts.calls += calls;
            counts.failures += failures;
            counts.slow += slow;
        }
        counts
    }

    pub(super) fn reset(&self, now: Timestamp) {
        let _guard = self.rotate.lock().unwrap_or_else(|e| e.into_inner());
        for bucket in self.buckets.iter() {
            bucket.zero();
        }
        // Release: see `advance`.
        self.head
            .store(now.as_nanos() / self.width, Ordering::Release);
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    use super::*;

    #[test]
    fn time_window_rolls_bucket_by_bucket() {
        let ms = |n: u64| Timestamp::from_nanos(n * 1_000_000);
        // 4 buckets of 250 ms.
        let w = TimeWindow::new(1_000_000_000, 4, ms(0));
        w.record(true, false, ms(0));
        w.record(false, false, ms(300));
        w.record(false, true, ms(600));
        assert_eq!(
            w.counts(ms(999)),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // At 1000 ms the first bucket [0, 250) has left the window.
        assert_eq!(
            w.counts(ms(1000)),
            Counts {
                calls: 2,
                failures: 0,
                slow: 1
            }
        );
        // A record at 1100 ms reuses that bucket, zeroed.
        w.record(true, false, ms(1100));
        assert_eq!(
            w.counts(ms(1100)),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // Far later every bucket is stale.
        assert_eq!(w.counts(ms(10_000)), Counts::default());
        assert_eq!(
            w.record(true, false, ms(10_000)),
            Some(Counts {
                calls: 1,
                failures: 1,
                slow: 0
            })
        );
        // An outcome timed before the window is dropped.
        assert_eq!(w.record(true, false, ms(1_000)), None);
        w.reset(ms(20_000));
        assert_eq!(w.counts(ms(20_000)), Counts::default());
    }
}
