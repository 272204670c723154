//! A deterministic event-driven simulation of tasks waiting on a shaper: a waiter is
//! polled only when it is new, was woken, or its timer is due, exactly as an executor
//! would. A live waiter with no wake-up and no timer pending is a lost wake-up.

#![allow(dead_code, unreachable_pub)] // each test file uses part of it

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

use tollgate_core::{Clock, ManualClock, Rejection, Timestamp};
use tollgate_leaky::{Admit, Shaper, ShaperBuilder, Turn, Waiter};

#[derive(Default)]
pub(crate) struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        // Relaxed: a test counter, read on the same thread.
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl WakeCount {
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A waker that counts its wake-ups.
pub(crate) fn counting_waker() -> (Waker, Arc<WakeCount>) {
    let count = Arc::new(WakeCount::default());
    (Waker::from(count.clone()), count)
}

pub(crate) struct Slot {
    pub(crate) weight: u32,
    pub(crate) admitted_at: Timestamp,
    pub(crate) released_at: Option<Timestamp>,
    pub(crate) cancelled: bool,
    pub(crate) saw_queued: bool,
    waiter: Option<Waiter<ManualClock>>,
    wakes: Arc<WakeCount>,
    waker: Waker,
    seen_wakes: usize,
    polled: bool,
    timer: Option<Timestamp>,
}

impl Slot {
    pub(crate) fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::Relaxed)
    }
}

pub(crate) struct Sim {
    pub(crate) clock: ManualClock,
    pub(crate) shaper: Shaper<ManualClock>,
    pub(crate) slots: Vec<Slot>,
    /// Indices in the order they were released.
    pub(crate) order: Vec<usize>,
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn at_ms(n: u64) -> Timestamp {
    Timestamp::ZERO + ms(n)
}

impl Sim {
    pub(crate) fn new(builder: ShaperBuilder) -> Self {
        let clock = ManualClock::new();
        let shaper = builder.clock(clock.clone()).build().expect("valid config");
        Self {
            clock,
            shaper,
            slots: Vec::new(),
            order: Vec::new(),
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Admits a request now; `Ok(index)` into `slots`.
    pub(crate) fn admit(&mut self, weight: u32) -> Result<usize, Rejection> {
        let now = self.now();
        let admit = self.shaper.admit_at(weight, now)?;
        let wakes = Arc::new(WakeCount::default());
        let mut slot = Slot {
            weight,
            admitted_at: now,
            released_at: None,
            cancelled: false,
            saw_queued: false,
            waiter: None,
            waker: Waker::from(wakes.clone()),
            wakes,
            seen_wakes: 0,
            polled: false,
            timer: None,
        };
        match admit {
            Admit::Now => {
                slot.released_at = Some(now);
                self.order.push(self.slots.len());
            }
            Admit::Wait(w) => slot.waiter = Some(w),
        }
        self.slots.push(slot);
        Ok(self.slots.len() - 1)
    }

    pub(crate) fn cancel(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.waiter.take().is_some() {
            slot.cancelled = true;
            slot.timer = None;
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.waiter.is_some()).count()
    }

    /// Polls every waiter an executor would poll now, until none is runnable.
    fn settle(&mut self) {
        loop {
            let now = self.now();
            let mut progressed = false;
            for (i, slot) in self.slots.iter_mut().enumerate() {
                let Some(waiter) = slot.waiter.as_mut() else {
                    continue;
                };
                let wakes = slot.wakes.0.load(Ordering::Relaxed);
                let woken = wakes > slot.seen_wakes;
                let due = slot.timer.is_some_and(|t| t <= now);
                if slot.polled && !woken && !due {
                    continue;
                }
                slot.polled = true;
                slot.seen_wakes = wakes;
                progressed = true;
                match waiter.poll_turn(now, &slot.waker) {
                    Turn::Released => {
                        slot.released_at = Some(now);
                        slot.waiter = None;
                        self.order.push(i);
                        slot.timer = None;
                    }
                    Turn::At(t) => {
                        assert!(t > now, "a due head must be released, not told to wait");
                        slot.timer = Some(t);
                    }
                    Turn::Queued => {
                        slot.saw_queued = true;
                        slot.timer = None;
                    }
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// Runs the executor until `until`, firing timers on the way.
    pub(crate) fn run_until(&mut self, until: Timestamp) {
        loop {
            self.settle();
            let next = self.slots.iter().filter_map(|s| s.timer).min();
            match next {
                Some(t) if t <= until => self.clock.set(t),
                _ => break,
            }
        }
        if until > self.now() {
            self.clock.set(until);
        }
        self.settle();
    }

    /// Runs until every waiter is released; panics on a lost wake-up.
    pub(crate) fn run_to_end(&mut self) {
        loop {
            self.settle();
            if self.live() == 0 {
                return;
            }
            let next = self
                .slots
                .iter()
                .filter_map(|s| s.timer)
                .min()
                .expect("lost wake-up: waiters remain with no timer and no wake pending");
            self.clock.set(next);
        }
    }

    /// `(index, release instant)` of every released request, in release order.
    pub(crate) fn releases(&self) -> Vec<(usize, Timestamp)> {
        self.order
            .iter()
            .map(|&i| (i, self.slots[i].released_at.expect("released")))
            .collect()
    }
}
