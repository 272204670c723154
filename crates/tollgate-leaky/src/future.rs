use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tollgate_core::{Clock, Rejection};
use tower_service::Service;

use crate::acquire::Acquire;
use crate::feedback::{Feedback, Signal};
use crate::shaper::{Admit, Shaper, Waiter};
use crate::BoxError;

pin_project! {
    /// The response future of [`Shape`](crate::Shape): waits for the request's turn,
    /// then calls the inner service and reads the response for server feedback.
    pub struct ResponseFuture<S, Req, C, F>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, C>,
        shaper: Shaper<C>,
        feedback: F,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, C>
    where
        S: Service<Req>,
    {
        Waiting {
            #[pin]
            acquire: Acquire<C>,
            // `None` for a refused request: nothing to send.
            call: Option<(S, Req)>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
    }
}

impl<S: Service<Req>, Req, C, F> ResponseFuture<S, Req, C, F> {
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
                acquire: Acquire::new(Ok(Admit::Wait(waiter))),
                call: Some((service, request)),
            },
            shaper,
            feedback,
        }
    }

    pub(crate) fn rejected(rejection: Rejection, shaper: Shaper<C>, feedback: F) -> Self {
        Self {
            state: State::Waiting {
                acquire: Acquire::new(Err(rejection)),
                call: None,
            },
            shaper,
            feedback,
        }
    }
}

impl<S, Req, C, F> Future for ResponseFuture<S, Req, C, F>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Clock,
    F: Feedback<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { acquire, call } => {
                    ready!(acquire.poll(cx))?;
                    let (mut service, request) = call.take().expect("polled after refusal");
                    let future = service.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx)).map_err(Into::into)?;
                    let signal = this.feedback.signal(&response);
                    let worth_a_clock_read = match signal {
                        Signal::Ignored => false,
                        Signal::Accepted => this.shaper.counts_accepts(),
                        Signal::Throttled { .. } | Signal::Exhausted { .. } => true,
                    };
                    if worth_a_clock_read {
                        this.shaper.observe(signal, this.shaper.clock().now());
                    }
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

impl<S: Service<Req>, Req, C, F> fmt::Debug for ResponseFuture<S, Req, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { call: None, .. } => "refused",
            State::Waiting { .. } => "waiting",
            State::Calling { .. } => "calling",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
