//! The waiter protocol: how a queued request learns its turn.
//!
//! Only the head of the queue is ever told an instant ([`Turn::At`]); everyone behind it
//! leaves a waker in its entry and is woken exactly once, when it becomes the head
//! (the head was released, or cancelled). A released or cancelled head takes its
//! successor's waker under the lock and wakes it after releasing the lock, so the
//! successor either sees itself as the head when it polls, or has a wake-up coming:
//! never neither (`tests/loom.rs` checks it).

use std::fmt;
use std::task::Waker;

use tollgate_core::Timestamp;

use crate::shaper::{advance, release_at, Shaper, TARGET};

/// What a queued request should do next, from [`Waiter::poll_turn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Released: go.
    Released,
    /// Head of the queue, released at this instant: sleep until then, and poll again.
    At(Timestamp),
    /// Behind others: the waker given will be woken when this request is the head.
    Queued,
}

/// A queued request. Poll it with [`poll_turn`](Self::poll_turn) until
/// [`Turn::Released`]; drop it to leave the queue and hand its turn on.
///
/// See [`Shaper`] for an example.
pub struct Waiter<C = tollgate_core::SystemClock> {
    shaper: Shaper<C>,
    id: u64,
    weight: u32,
    /// When it was queued, in nanoseconds of the clock, for the wait it is recorded with.
    queued_at: u64,
    done: bool,
}

impl<C> Waiter<C> {
    pub(crate) fn new(shaper: Shaper<C>, id: u64, weight: u32, queued_at: u64) -> Self {
        Self {
            shaper,
            id,
            weight,
            queued_at,
            done: false,
        }
    }

    pub(crate) fn shaper(&self) -> &Shaper<C> {
        &self.shaper
    }

    /// Where this request stands at `now`. `waker` is woken when the request becomes
    /// the head of the queue; the head is released by polling at or after its instant.
    /// Polling after [`Turn::Released`] returns `Released` again.
    pub fn poll_turn(&mut self, now: Timestamp, waker: &Waker) -> Turn {
        if self.done {
            return Turn::Released;
        }
        let config = self.shaper.config();
        let mut guard = self.shaper.lock();
        let state = &mut *guard;
        let head = state.queue.front_mut().expect("a live waiter is queued");
        if head.id != self.id {
            let entry = match state.queue.binary_search_by_key(&self.id, |e| e.id) {
                Ok(i) => &mut state.queue[i],
                Err(_) => unreachable!("a live waiter is queued"),
            };
            register(&mut entry.waker, waker);
            return Turn::Queued;
        }
        let now_ns = now.as_nanos();
        // Closed while anyone is queued: only this lock writes it.
        let tat = self.shaper.schedule().load().tat();
        let release = release_at(config, tat, now_ns, 0, self.weight);
        if release > now_ns {
            register(&mut head.waker, waker);
            return Turn::At(Timestamp::from_nanos(release));
        }
        state.queue.pop_front();
        state.queued_units -= u64::from(self.weight);
        let tat = advance(config, tat, now_ns, self.weight);
        self.shaper.schedule().set(tat, state.queue.is_empty());
        self.shaper.released(now_ns.saturating_sub(self.queued_at));
        self.shaper.metrics().queue_length(state.queue.len());
        let next = state.queue.front_mut().and_then(|e| e.waker.take());
        drop(guard);
        self.done = true;
        tracing::trace!(target: TARGET, id = self.id, weight = self.weight, "released");
        if let Some(next) = next {
            next.wake();
        }
        Turn::Released
    }
}

fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

impl<C> Drop for Waiter<C> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut guard = self.shaper.lock();
        let state = &mut *guard;
        let Ok(i) = state.queue.binary_search_by_key(&self.id, |e| e.id) else {
            return;
        };
        state.queue.remove(i);
        state.queued_units -= u64::from(self.weight);
        state.cancelled += 1;
        if state.queue.is_empty() {
            let schedule = self.shaper.schedule();
            schedule.set(schedule.load().tat(), true);
        }
        self.shaper.metrics().queue_length(state.queue.len());
        // The head left: its successor inherits the turn and must arm its timer now,
        // or the slot would pass unused.
        let next = if i == 0 {
            state.queue.front_mut().and_then(|e| e.waker.take())
        } else {
            None
        };
        drop(guard);
        tracing::trace!(target: TARGET, id = self.id, "cancelled");
        if let Some(next) = next {
            next.wake();
        }
    }
}

impl<C> fmt::Debug for Waiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("id", &self.id)
            .field("weight", &self.weight)
            .field("done", &self.done)
            .finish()
    }
}
