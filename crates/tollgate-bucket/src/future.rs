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
    #[project = StateProj]
    enum State<F, S, Req, C> {
        Called {
            #[pin]
            future: F,
        },
        Rejected {
            rejection: Option<Rejection>,
        },
        Waiting {
            // Boxed so the common (admitted, rejected) futures stay small; only a
            // request that really waits pays for the allocation.
            sleep: Pin<Box<Sleep>>,
            reservation: Option<Reservation<C>>,
            call: Option<(S, Req)>,
        },
    }
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
                rejection: Some(rejection),
            },
        }
    }

    pub(crate) fn waiting(reservation: Reservation<C>, service: S, req: Req) -> Self {
        let sleep = Box::pin(tokio::time::sleep(reservation.wait()));
        Self {
            state: State::Waiting {
                sleep,
                reservation: Some(reservation),
                call: Some((service, req)),
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

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Called { future } => return future.poll(cx).map_err(Into::into),
                StateProj::Rejected { rejection } => {
                    let rejection = rejection.take().expect("polled after completion");
                    return Poll::Ready(Err(Box::new(rejection)));
                }
                StateProj::Waiting {
                    sleep,
                    reservation,
                    call,
                } => {
                    ready!(sleep.as_mut().poll(cx));
                    if let Some(reservation) = reservation.take() {
                        reservation.commit();
                    }
                    let (mut service, req) = call.take().expect("polled after completion");
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
