//! The task-local deadline scope: while a request is served, its deadline lives on the
//! task, so outgoing calls inherit it without plumbing.
//!
//! # Spawned tasks
//!
//! A scope belongs to the task that polls it: `tokio::spawn` starts a task with no
//! deadline. Carry it explicitly with [`carry`], which wraps the spawned future in the
//! current scope (or read [`Deadline::current`] and scope the new task with
//! [`Deadline::scope`]); the server layer also puts the [`Deadline`] in the request's
//! extensions (through `tollgate_http`), where a handler can read it and hand it on.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tollgate_core::DeadlineKind;

use crate::Deadline;

type Current = Option<(Deadline, DeadlineKind)>;

std::thread_local! {
    // The deadline of the scope running on this thread: set while a `Scoped` future is
    // polled (or a scoped `call` runs) and restored on the way out, the protocol of
    // `tokio::task_local!`. A `Cell` of a `Copy` value with a const initialiser has no
    // borrow flag, no lazy initialisation and no destructor: entering a scope is two
    // plain thread-local moves.
    static CURRENT: Cell<Current> = const { Cell::new(None) };
}

/// Sets the current deadline until dropped, then restores the previous one (also when
/// the code inside panics).
struct Enter {
    prev: Current,
}

impl Enter {
    #[inline]
    fn new(value: Current) -> Self {
        Self {
            prev: CURRENT.replace(value),
        }
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        CURRENT.set(self.prev);
    }
}

pin_project! {
    /// A future running inside a deadline scope: see [`Deadline::scope`] and [`carry`].
    ///
    /// Every poll of the inner future, and its drop, sees the scope's deadline through
    /// [`Deadline::current`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tollgate_core::TokioClock;
    /// use tollgate_deadline::{Deadline, Scoped};
    ///
    /// let d = Deadline::from_now(&TokioClock::new(), Duration::from_secs(1));
    /// let fut: Scoped<_> = d.scope(async { Deadline::current() });
    /// assert_eq!(fut.await, Some(d));
    /// # }
    /// ```
    pub struct Scoped<F> {
        value: Current,
        // `None` once the inner future has finished (it is dropped inside the scope).
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                let _in = Enter::new(*this.value);
                this.future.set(None);
            }
        }
    }
}

impl<F> Scoped<F> {
    fn new(value: Current, future: F) -> Self {
        Self {
            value,
            future: Some(future),
        }
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("deadline", &self.value)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let _in = Enter::new(*this.value);
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("`Scoped` polled after completion");
        };
        let out = future.poll(cx);
        if out.is_ready() {
            this.future.set(None);
        }
        out
    }
}

/// The current deadline and which kind set it, if any.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::DeadlineKind;
/// use tollgate_core::TokioClock;
/// use tollgate_deadline::{current_with_kind, Deadline};
///
/// let d = Deadline::from_now(&TokioClock::new(), Duration::from_secs(1));
/// d.scope(async move {
///     assert_eq!(current_with_kind(), Some((d, DeadlineKind::Inherited)));
/// }).await;
/// # }
/// ```
pub fn current_with_kind() -> Option<(Deadline, DeadlineKind)> {
    CURRENT.get()
}

/// Runs `future` with `deadline` of `kind` as the task's deadline, unless the current
/// one is earlier (then the current one, with its kind, stays). The current deadline is
/// read when the scope is created, as tower services do in `call`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::DeadlineKind;
/// use tollgate_core::TokioClock;
/// use tollgate_deadline::{current_with_kind, scope_with_kind, Deadline};
///
/// let outer = Deadline::from_now(&TokioClock::new(), Duration::from_secs(1));
/// let inner = Deadline::from_now(&TokioClock::new(), Duration::from_secs(5));
/// outer.scope(async move {
///     scope_with_kind(inner, DeadlineKind::Total, async move {
///         // The later deadline does not extend the inherited one.
///         assert_eq!(current_with_kind(), Some((outer, DeadlineKind::Inherited)));
///     }).await
/// }).await;
/// # }
/// ```
pub fn scope_with_kind<F: Future>(deadline: Deadline, kind: DeadlineKind, future: F) -> Scoped<F> {
    Scoped::new(Some(tightest(deadline, kind)), future)
}

fn tightest(deadline: Deadline, kind: DeadlineKind) -> (Deadline, DeadlineKind) {
    match current_with_kind() {
        Some((current, current_kind)) if current <= deadline => (current, current_kind),
        _ => (deadline, kind),
    }
}

/// Like [`scope_with_kind`], but `call` itself (a service's synchronous `call`, which
/// may already start outgoing work) also runs inside the scope. This is what the
/// layers of this crate use around their inner service.
pub(crate) fn scoped_call<F: Future>(
    deadline: Deadline,
    kind: DeadlineKind,
    call: impl FnOnce() -> F,
) -> Scoped<F> {
    let value = Some(tightest(deadline, kind));
    let future = {
        let _in = Enter::new(value);
        call()
    };
    Scoped::new(value, future)
}

/// Carries the current deadline (if any) into `future`, for work handed to another
/// task: task-locals are not inherited by `tokio::spawn`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::TokioClock;
/// use tollgate_deadline::{carry, Deadline};
///
/// let d = Deadline::from_now(&TokioClock::new(), Duration::from_secs(1));
/// d.scope(async move {
///     let plain = tokio::spawn(async { Deadline::current() });
///     let carried = tokio::spawn(carry(async { Deadline::current() }));
///     assert_eq!(plain.await.unwrap(), None);
///     assert_eq!(carried.await.unwrap(), Some(d));
/// }).await;
/// # }
/// ```
pub fn carry<F: Future>(future: F) -> Scoped<F> {
    Scoped::new(current_with_kind(), future)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tollgate_core::Timestamp;

    use super::*;

    fn at(ms: u64) -> Deadline {
        Deadline::at(Timestamp::from_nanos(ms * 1_000_000))
    }

    #[test]
    fn nested_scopes_keep_the_earliest_and_its_kind() {
        let (long, short) = (at(10_000), at(2_000));
        let fut = long.scope(async move {
            scope_with_kind(short, DeadlineKind::Total, async move {
                assert_eq!(current_with_kind(), Some((short, DeadlineKind::Total)));
            })
            .await
        });
        block_on(fut);
        assert_eq!(Deadline::current(), None);
    }

    #[test]
    fn scoped_call_runs_the_call_and_its_future_in_the_scope() {
        let d = at(1_000);
        let seen_in_call = Cell::new(None);
        let fut = scoped_call(d, DeadlineKind::Total, || {
            seen_in_call.set(current_with_kind());
            async { current_with_kind() }
        });
        assert_eq!(seen_in_call.get(), Some((d, DeadlineKind::Total)));
        assert_eq!(Deadline::current(), None);
        assert_eq!(block_on(fut), Some((d, DeadlineKind::Total)));
        // A later deadline inside an earlier scope keeps the earlier one and its kind.
        let later = Deadline::after(d.timestamp(), Duration::from_secs(1));
        let inner = block_on(d.scope(async move {
            scoped_call(later, DeadlineKind::PerTry, || async {
                current_with_kind()
            })
            .await
        }));
        assert_eq!(inner, Some((d, DeadlineKind::Inherited)));
    }

    /// Seen by a value's destructor: the deadline current while it drops.
    struct SeeOnDrop(std::rc::Rc<Cell<Current>>);

    impl Drop for SeeOnDrop {
        fn drop(&mut self) {
            self.0.set(current_with_kind());
        }
    }

    #[test]
    fn an_unfinished_future_drops_inside_its_scope() {
        let d = at(1_000);
        let seen = std::rc::Rc::new(Cell::new(None));
        let guard = SeeOnDrop(seen.clone());
        let fut = d.scope(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        drop(fut);
        assert_eq!(seen.get(), Some((d, DeadlineKind::Inherited)));
        assert_eq!(Deadline::current(), None);
    }

    #[test]
    fn a_panic_inside_a_scope_restores_the_outer_deadline() {
        let d = at(1_000);
        let caught = std::panic::catch_unwind(|| {
            scoped_call(d, DeadlineKind::Total, || -> std::future::Ready<()> {
                panic!("inside the scope")
            })
        });
        assert!(caught.is_err());
        assert_eq!(Deadline::current(), None);
    }

    /// Polls a future that needs no waker to completion (every future here is ready
    /// without waiting).
    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }
}
