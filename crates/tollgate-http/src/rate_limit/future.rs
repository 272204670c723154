use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::header::HeaderValue;
use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tollgate_bucket::Reservation;
use tower_service::Service;

use super::{RATELIMIT, RATELIMIT_POLICY};

/// `RateLimit-Policy` and `RateLimit` values for an admitted response.
#[derive(Debug)]
pub(crate) struct ExtraHeaders {
    policy: HeaderValue,
    limit: HeaderValue,
}

impl ExtraHeaders {
    pub(crate) fn new(policy: HeaderValue, limit: HeaderValue) -> Self {
        Self { policy, limit }
    }
}

/// A request waiting for its reserved slot, with the ready service that will run it.
struct Waiting<S, Req, C> {
    reservation: Reservation<C>,
    service: S,
    request: Req,
}

pin_project! {
    /// The response future of [`RateLimit`](super::RateLimit): the inner service's
    /// future, a wait for a reserved slot, or a ready-made refusal.
    pub struct ResponseFuture<F, S, Req, C, ResB> {
        #[pin]
        state: State<F, S, Req, C, ResB>,
        // Boxed, like the wait and the refusal below: they are rare or allocate
        // anyway, and a small future is cheap to move on the common path.
        extra: Option<Box<ExtraHeaders>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, Req, C, ResB> {
        Called {
            #[pin]
            future: F,
        },
        Waiting {
            // Boxed: only waiting requests pay for a timer and the parked request.
            sleep: Pin<Box<Sleep>>,
            waiting: Option<Box<Waiting<S, Req, C>>>,
        },
        Rejected {
            response: Option<Box<Response<ResB>>>,
        },
    }
}

impl<F, S, Req, C, ResB> ResponseFuture<F, S, Req, C, ResB> {
    pub(crate) fn called(future: F, extra: Option<Box<ExtraHeaders>>) -> Self {
        Self {
            state: State::Called { future },
            extra,
        }
    }

    pub(crate) fn waiting(
        wait: Duration,
        reservation: Reservation<C>,
        service: S,
        request: Req,
        extra: Option<Box<ExtraHeaders>>,
    ) -> Self {
        Self {
            state: State::Waiting {
                sleep: Box::pin(tokio::time::sleep(wait)),
                waiting: Some(Box::new(Waiting {
                    reservation,
                    service,
                    request,
                })),
            },
            extra,
        }
    }

    pub(crate) fn rejected(response: Response<ResB>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(Box::new(response)),
            },
            extra: None,
        }
    }
}

impl<F, S, Req, C, ResB, E> Future for ResponseFuture<F, S, Req, C, ResB>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    S: Service<Req, Response = Response<ResB>, Error = E, Future = F>,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(extra) = this.extra.take() {
                        let headers = response.headers_mut();
                        headers.insert(RATELIMIT_POLICY, extra.policy);
                        headers.insert(RATELIMIT, extra.limit);
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Waiting { sleep, waiting } => {
                    ready!(sleep.as_mut().poll(cx));
                    let Waiting {
                        reservation,
                        mut service,
                        request,
                    } = *waiting.take().expect("polled after completion");
                    // The slot is ours from here on: dropping the future now is
                    // dropping an admitted request, not a waiter.
                    reservation.commit();
                    let future = service.call(request);
                    this.state.set(State::Called { future });
                }
                StateProj::Rejected { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(*response));
                }
            }
        }
    }
}

impl<F, S, Req, C, ResB> fmt::Debug for ResponseFuture<F, S, Req, C, ResB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}
