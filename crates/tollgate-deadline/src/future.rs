//! The one race of this crate: the inner future against its deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tollgate_core::sync::Arc;
use tollgate_core::{timer, Clock, DeadlineKind, Refusal, Rejection, TokioClock};

use crate::scope::Scoped;
use crate::stats::{Counters, CUT_OFF};
use crate::{exceeded, Deadline};

pin_project! {
    /// The response future of [`ServerDeadline`](crate::ServerDeadline) and
    /// [`Timeout`](crate::Timeout): the inner call raced against its deadline, run
    /// inside the deadline's scope. `P` is the prepared refusal
    /// ([`tollgate_core::Refuse::Refusal`]) that a deadline which fires becomes.
    ///
    /// See the crate docs for an example.
    pub struct ResponseFuture<F, P, C = TokioClock> {
        #[pin]
        state: State<F, P, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, P, C> {
        // Refused before the inner service was called.
        Refused { refusal: Option<(P, Rejection)> },
        // No deadline: the inner future alone.
        Unbounded { #[pin] inner: F },
        Running {
            #[pin]
            inner: Scoped<F>,
            // Armed only when the inner future is not ready at once: a fast answer
            // never touches the timer wheel.
            #[pin]
            sleep: Option<Sleep>,
            deadline: Deadline,
            kind: DeadlineKind,
            refusal: Option<P>,
            clock: C,
            counters: Arc<Counters>,
        },
    }
}

impl<F, P, C> ResponseFuture<F, P, C> {
    pub(crate) fn refused(refusal: P, rejection: Rejection) -> Self {
        Self {
            state: State::Refused {
                refusal: Some((refusal, rejection)),
            },
        }
    }

    pub(crate) fn unbounded(inner: F) -> Self {
        Self {
            state: State::Unbounded { inner },
        }
    }

    pub(crate) fn running(
        inner: Scoped<F>,
        deadline: Deadline,
        kind: DeadlineKind,
        refusal: P,
        clock: C,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            state: State::Running {
                inner,
                sleep: None,
                deadline,
                kind,
                refusal: Some(refusal),
                clock,
                counters,
            },
        }
    }
}

impl<F, P, C> std::fmt::Debug for ResponseFuture<F, P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Refused { .. } => "refused",
            State::Unbounded { .. } => "unbounded",
            State::Running { .. } => "running",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<F, P, C, T, E> Future for ResponseFuture<F, P, C>
where
    F: Future<Output = Result<T, E>>,
    P: Refusal<T, E>,
    C: Clock,
{
    type Output = Result<T, P::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Refused { refusal } => {
                let (refusal, rejection) = refusal
                    .take()
                    .expect("ResponseFuture polled after completion");
                Poll::Ready(refusal.refuse(rejection))
            }
            StateProj::Unbounded { inner } => inner.poll(cx).map_err(P::error),
            StateProj::Running {
                inner,
                mut sleep,
                deadline,
                kind,
                refusal,
                clock,
                counters,
            } => {
                if let Poll::Ready(out) = inner.poll(cx) {
                    return Poll::Ready(out.map_err(P::error));
                }
                if sleep.is_none() {
                    // Off the fast path: one more clock read to arm the timer exactly.
                    let now = clock.now();
                    sleep.set(Some(timer::sleep_until(&*clock, now, deadline.timestamp())));
                }
                let Some(sleep) = sleep.as_pin_mut() else {
                    return Poll::Pending;
                };
                match sleep.poll(cx) {
                    Poll::Ready(()) => {
                        tracing::debug!(target: "tollgate::deadline", kind = ?kind, "cut off at the deadline");
                        counters.fired(CUT_OFF, *kind);
                        let refusal = refusal
                            .take()
                            .expect("ResponseFuture polled after completion");
                        Poll::Ready(refusal.refuse(exceeded(*kind)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}
