//! The response future of [`RateLimit`](crate::RateLimit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tollgate_core::Rejection;
use tower_service::Service;

use crate::outcome::Reservation;
use crate::BoxError;

pin_project! {
    /// The response future of [`RateLimit`](crate::RateLimit): the inner call, a
    /// rejection ready at once, or a wait for a reserved slot followed by the call.
    ///
    /// Dropping it while it waits drops its [`Reservation`], which gives the slot back
    /// when nothing was admitted after it.
    pub struct ResponseFuture<F, S, Req, C> {
        #[pin]
        state: State<F, S, Req, C>,
    }
}

pin_project! {
    // Every variant but the inner call is one pointer, so the future a request
    // carries stays the size of the inner future: moving a large future costs more
    // than the whole rate-limit decision.
    #[project = StateProj]
    enum State<F, S, Req, C> {
        Called {
            #[pin]
            future: F,
        },
        Rejected {
            // Boxed already: it leaves as a `BoxError` without another allocation.
            rejection: Option<Box<Rejection>>,
        },
        Waiting {
            // Only a request that really waits pays for this allocation.
            waiting: Option<Box<Waiting<S, Req, C>>>,
        },
    }
}

/// A request waiting for its reserved slot.
struct Waiting<S, Req, C> {
    sleep: Pin<Box<Sleep>>,
    reservation: Reservation<C>,
    service: S,
    req: Req,
}

impl<F, S, Req, C> ResponseFuture<F, S, Req, C> {
    #[inline]
    pub(crate) fn called(future: F) -> Self {
        Self {
            state: State::Called { future },
        }
    }

    pub(crate) fn rejected(rejection: Rejection) -> Self {
        Self {
            state: State::Rejected {
                rejection: Some(Box::new(rejection)),
            },
        }
    }

    pub(crate) fn waiting(reservation: Reservation<C>, service: S, req: Req) -> Self {
        let sleep = Box::pin(tokio::time::sleep(reservation.wait()));
        Self {
            state: State::Waiting {
                waiting: Some(Box::new(Waiting {
                    sleep,
                    reservation,
                    service,
                    req,
                })),
            },
        }
    }
}

impl<F, S, Req, C, T, E> Future for ResponseFuture<F, S, Req, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    S: Service<Req, Future = F, Response = T, Error = E>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Called { future } => return future.poll(cx).map_err(Into::into),
                StateProj::Rejected { rejection } => {
                    let rejection = rejection.take().expect("polled after completion");
                    return Poll::Ready(Err(rejection));
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
                    reservation.commit();
                    service.call(req)
                }
            };
            self.as_mut()
                .project()
                .state
                .set(State::Called { future: next });
        }
    }
}

impl<F, S, Req, C> fmt::Debug for ResponseFuture<F, S, Req, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
            State::Waiting { .. } => "waiting",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
