//! The response future of [`RateLimit`](crate::RateLimit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tollgate_core::{Refusal, Refuse, Rejection, Timestamp};
use tower_service::Service;

use crate::admitted::OnAdmitted;
use crate::decide::{Decision, Later};
use crate::outcome::Reservation;

pin_project! {
    /// The response future of [`RateLimit`](crate::RateLimit): the inner call, a
    /// refusal ready at once, a wait for a reserved slot followed by the call, or a
    /// remote limiter's answer followed by one of those.
    ///
    /// Dropping it while it waits drops its [`Reservation`], which gives the slot back
    /// when nothing was admitted after it.
    pub struct ResponseFuture<F, S, Req, R, P, N> {
        #[pin]
        state: State<F, S, Req, R, P>,
        // What admitted responses are told; a zero-sized `None` for `AsError`.
        note: Option<N>,
    }
}

pin_project! {
    // Every variant but the inner call and the refusal is one pointer, so the future a
    // request carries stays about the size of the inner future: moving a large future
    // costs more than the whole rate-limit decision.
    #[project = StateProj]
    enum State<F, S, Req, R, P> {
        Called {
            #[pin]
            future: F,
        },
        Refused {
            refused: Option<(P, Rejection)>,
        },
        Waiting {
            // Only a request that really waits pays for this allocation.
            waiting: Option<Box<Waiting<S, Req>>>,
        },
        Deciding {
            // Only a remote limiter's requests pay for this one.
            deciding: Option<Box<Deciding<S, Req, R>>>,
        },
    }
}

/// A request waiting for its reserved slot.
struct Waiting<S, Req> {
    sleep: Pin<Box<Sleep>>,
    reservation: Reservation,
    service: S,
    req: Req,
}

/// A request waiting for a remote limiter's answer.
struct Deciding<S, Req, R> {
    later: Later,
    service: S,
    req: Req,
    refuse: R,
    name: Option<Arc<str>>,
    /// `now` on tokio's timeline, to arm a timer for a reservation.
    base: Instant,
    now: Timestamp,
}

impl<F, S, Req, R, P, N> ResponseFuture<F, S, Req, R, P, N> {
    #[inline]
    pub(crate) fn called(future: F, note: Option<N>) -> Self {
        Self {
            state: State::Called { future },
            note,
        }
    }

    #[inline]
    pub(crate) fn refused(refusal: P, rejection: Rejection) -> Self {
        Self {
            state: State::Refused {
                refused: Some((refusal, rejection)),
            },
            note: None,
        }
    }

    pub(crate) fn waiting(
        sleep: Sleep,
        reservation: Reservation,
        service: S,
        req: Req,
        note: Option<N>,
    ) -> Self {
        Self {
            state: State::Waiting {
                waiting: Some(Box::new(Waiting {
                    sleep: Box::pin(sleep),
                    reservation,
                    service,
                    req,
                })),
            },
            note,
        }
    }

    pub(crate) fn deciding(
        later: Later,
        service: S,
        req: Req,
        refuse: R,
        name: Option<Arc<str>>,
        (base, now): (Instant, Timestamp),
    ) -> Self {
        Self {
            state: State::Deciding {
                deciding: Some(Box::new(Deciding {
                    later,
                    service,
                    req,
                    refuse,
                    name,
                    base,
                    now,
                })),
            },
            note: None,
        }
    }
}

impl<F, S, Req, R, P, N, T, E> Future for ResponseFuture<F, S, Req, R, P, N>
where
    F: Future<Output = Result<T, E>>,
    S: Service<Req, Future = F, Response = T, Error = E>,
    R: Refuse<Req, Refusal = P> + OnAdmitted<T, Note = N>,
    P: Refusal<T, E>,
{
    type Output = Result<T, P::Error>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let this = self.as_mut().project();
            let next = match this.state.project() {
                StateProj::Called { future } => {
                    let mut response = ready!(future.poll(cx)).map_err(P::error)?;
                    if let Some(note) = this.note.take() {
                        R::annotate(note, &mut response);
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Refused { refused } => {
                    let (refusal, rejection) = refused.take().expect("polled after completion");
                    return Poll::Ready(refusal.refuse(rejection));
                }
                StateProj::Waiting { waiting } => {
                    let state = waiting.as_mut().expect("polled after completion");
                    ready!(state.sleep.as_mut().poll(cx));
                    let Waiting {
                        reservation,
                        mut service,
                        req,
                        ..
                    } = *waiting.take().expect("polled after completion");
                    // The slot is ours from here on: dropping the future now is
                    // dropping an admitted request, not a waiter.
                    reservation.commit();
                    State::Called {
                        future: service.call(req),
                    }
                }
                StateProj::Deciding { deciding } => {
                    let state = deciding.as_mut().expect("polled after completion");
                    let decision = ready!(state.later.as_mut().poll(cx));
                    if let Decision::Later(later) = decision {
                        // The remote limiter answered with another answer to wait for.
                        state.later = later;
                        continue;
                    }
                    let Deciding {
                        mut service,
                        req,
                        refuse,
                        name,
                        base,
                        now,
                        ..
                    } = *deciding.take().expect("polled after completion");
                    match decision {
                        Decision::Admit(admitted) => {
                            *this.note = refuse.note(&admitted, name.as_deref());
                            State::Called {
                                future: service.call(req),
                            }
                        }
                        Decision::Wait(reservation) => {
                            *this.note = refuse.note(&reservation.admitted(), name.as_deref());
                            // `base` is `now` on tokio's timeline, from `tollgate_core::timer`.
                            let at = base + (reservation.ready_at() - now);
                            State::Waiting {
                                waiting: Some(Box::new(Waiting {
                                    sleep: Box::pin(tokio::time::sleep_until(at)),
                                    reservation,
                                    service,
                                    req,
                                })),
                            }
                        }
                        Decision::Reject(rejection) => State::Refused {
                            refused: Some((refuse.prepare(&req), rejection)),
                        },
                        Decision::Later(_) => unreachable!("handled above"),
                    }
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

impl<F, S, Req, R, P, N> fmt::Debug for ResponseFuture<F, S, Req, R, P, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Refused { .. } => "refused",
            State::Waiting { .. } => "waiting",
            State::Deciding { .. } => "deciding",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
