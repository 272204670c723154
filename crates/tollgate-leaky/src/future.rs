use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tollgate_core::{Clock, Refusal, Rejection};
use tower_service::Service;

use crate::acquire::Queued;
use crate::feedback::Feedback;
use crate::shaper::Shaper;
use crate::waiter::Waiter;

pin_project! {
    /// The response future of [`Shape`](crate::Shape): waits for the request's turn,
    /// then calls the inner service and hands the response to the feedback `F` (which
    /// reads it, now or as it ends); or answers a refused request through the prepared
    /// refusal `P`.
    ///
    /// It holds the request (and the ready inner service) while the request waits, so
    /// it names the request type.
    pub struct ResponseFuture<S, Req, C, F, P>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, C, P>,
        shaper: Shaper<C>,
        feedback: F,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, C, P>
    where
        S: Service<Req>,
    {
        Waiting {
            // Boxed: only a request that really waits pays for this allocation, and
            // the future every request carries stays about the size of the inner one
            // (it holds the request and the service only while it waits).
            waiting: Pin<Box<Waiting<S, Req, C>>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Refused {
            // Taken when answered.
            refused: Option<(P, Rejection)>,
        },
    }
}

pin_project! {
    /// A request waiting for its turn, with what it calls when released.
    struct Waiting<S, Req, C> {
        #[pin]
        turn: Queued<C>,
        // Taken when released.
        call: Option<(S, Req)>,
    }
}

impl<S: Service<Req>, Req, C, F, P> ResponseFuture<S, Req, C, F, P> {
    pub(crate) fn calling(future: S::Future, shaper: Shaper<C>, feedback: F) -> Self {
        Self {
            state: State::Calling { future },
            shaper,
            feedback,
        }
    }

    pub(crate) fn waiting(
        waiter: Waiter<C>,
        service: S,
        request: Req,
        shaper: Shaper<C>,
        feedback: F,
    ) -> Self {
        Self {
            state: State::Waiting {
                waiting: Box::pin(Waiting {
                    turn: Queued::new(waiter),
                    call: Some((service, request)),
                }),
            },
            shaper,
            feedback,
        }
    }

    pub(crate) fn refused(
        refusal: P,
        rejection: Rejection,
        shaper: Shaper<C>,
        feedback: F,
    ) -> Self {
        Self {
            state: State::Refused {
                refused: Some((refusal, rejection)),
            },
            shaper,
            feedback,
        }
    }
}

impl<S, Req, C, F, P> Future for ResponseFuture<S, Req, C, F, P>
where
    S: Service<Req>,
    C: Clock,
    F: Feedback<S::Response>,
    P: Refusal<S::Response, S::Error>,
{
    type Output = Result<F::Response, P::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { waiting } => {
                    let waiting = waiting.as_mut().project();
                    ready!(waiting.turn.poll(cx));
                    let (mut service, request) =
                        waiting.call.take().expect("polled after completion");
                    let future = service.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx)).map_err(P::error)?;
                    let verdict = this.shaper.verdict();
                    return Poll::Ready(Ok(this.feedback.observe(response, verdict)));
                }
                StateProj::Refused { refused } => {
                    let (refusal, rejection) = refused.take().expect("polled after completion");
                    let refused = refusal.refuse(rejection);
                    return Poll::Ready(refused.map(|response| this.feedback.refused(response)));
                }
            }
        }
    }
}

impl<S: Service<Req>, Req, C, F, P> fmt::Debug for ResponseFuture<S, Req, C, F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Calling { .. } => "calling",
            State::Refused { .. } => "refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
