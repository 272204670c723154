use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tollgate_core::{Clock, SystemClock};
use tollgate_leaky::{Acquire, Shaper};
use tower_layer::Layer;
use tower_service::Service;

use crate::{DefaultResponder, Protocol, RejectionResponder};

/// Smooths a server's load through a [`Shaper`]: requests wait their turn, refused
/// ones are answered by a [`RejectionResponder`] (`429` + `Retry-After` by default,
/// or a gRPC status). The error type is `Infallible`, so it sits on an axum router.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::TokioClock;
/// use tollgate_http::shape::ServerShapeLayer;
/// use tollgate_leaky::Shaper;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// let shaper = Shaper::builder()
///     .per_second(10)
///     .max_queue(1)
///     .build_with_clock(TokioClock::new())
///     .unwrap();
/// let handler = service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
/// });
/// let mut server = ServerShapeLayer::new(shaper).layer(handler);
///
/// let first = server.ready().await.unwrap().call(http::Request::new(()));
/// let second = server.ready().await.unwrap().call(http::Request::new(()));
/// let third = server.ready().await.unwrap().call(http::Request::new(()));
/// let refused = third.await.unwrap();
/// assert_eq!(refused.status(), 429);
/// assert_eq!(refused.headers()["retry-after"], "1");
/// assert_eq!(first.await.unwrap().status(), 200);
/// assert_eq!(second.await.unwrap().status(), 200);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServerShapeLayer<C = SystemClock, R = DefaultResponder> {
    shaper: Shaper<C>,
    responder: R,
}

impl<C> ServerShapeLayer<C> {
    /// Shapes with `shaper`, answering refusals with [`DefaultResponder`].
    pub fn new(shaper: Shaper<C>) -> Self {
        Self {
            shaper,
            responder: DefaultResponder,
        }
    }
}

impl<C, R> ServerShapeLayer<C, R> {
    /// Answers refusals with `responder` instead.
    pub fn responder<R2>(self, responder: R2) -> ServerShapeLayer<C, R2> {
        ServerShapeLayer {
            shaper: self.shaper,
            responder,
        }
    }

    /// The shared shaper, for snapshots.
    pub fn shaper(&self) -> &Shaper<C> {
        &self.shaper
    }
}

impl<S, C, R: Clone> Layer<S> for ServerShapeLayer<C, R> {
    type Service = ServerShape<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerShape {
            inner,
            shaper: self.shaper.clone(),
            responder: self.responder.clone(),
        }
    }
}

/// The service of [`ServerShapeLayer`] (see its docs).
#[derive(Debug, Clone)]
pub struct ServerShape<S, C = SystemClock, R = DefaultResponder> {
    inner: S,
    shaper: Shaper<C>,
    responder: R,
}

impl<S, C, R> ServerShape<S, C, R> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, R, ReqB, ResB> Service<Request<ReqB>> for ServerShape<S, C, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>, Error = Infallible> + Clone,
    C: Clock,
    R: RejectionResponder<ResB>,
{
    type Response = Response<ResB>;
    type Error = Infallible;
    type Future = ServerShapeFuture<S, Request<ReqB>, C, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let protocol = Protocol::of(&request);
        // The ready service goes with the request; we keep a fresh clone.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ServerShapeFuture {
            state: State::Waiting {
                acquire: self.shaper.acquire(1),
                call: Some((ready, request)),
                protocol,
                responder: self.responder.clone(),
            },
        }
    }
}

pin_project! {
    /// The response future of [`ServerShape`].
    pub struct ServerShapeFuture<S, Req, C, R>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, C, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, C, R>
    where
        S: Service<Req>,
    {
        Waiting {
            #[pin]
            acquire: Acquire<C>,
            call: Option<(S, Req)>,
            protocol: Protocol,
            responder: R,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
    }
}

impl<S, Req, C, R, ResB> Future for ServerShapeFuture<S, Req, C, R>
where
    S: Service<Req, Response = Response<ResB>, Error = Infallible>,
    C: Clock,
    R: RejectionResponder<ResB>,
{
    type Output = Result<Response<ResB>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting {
                    acquire,
                    call,
                    protocol,
                    responder,
                } => {
                    if let Err(rejection) = ready!(acquire.poll(cx)) {
                        return Poll::Ready(Ok(responder.respond(&rejection, *protocol)));
                    }
                    let (mut service, request) = call.take().expect("polled after completion");
                    let future = service.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => return future.poll(cx),
            }
        }
    }
}

impl<S: Service<Req>, Req, C, R> fmt::Debug for ServerShapeFuture<S, Req, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Calling { .. } => "calling",
        };
        f.debug_struct("ServerShapeFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tollgate_core::TokioClock;
    use tower::{service_fn, ServiceExt};

    use super::*;

    fn handler(
    ) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future = impl Send>
           + Clone {
        service_fn(|_: Request<()>| async { Ok(Response::new(String::from("ok"))) })
    }

    #[tokio::test(start_paused = true)]
    async fn grpc_requests_are_refused_with_a_status_and_pushback() {
        let shaper = Shaper::builder()
            .per_second(10)
            .max_wait(Duration::from_millis(50))
            .build_with_clock(TokioClock::new())
            .unwrap();
        let mut server = ServerShapeLayer::new(shaper).layer(handler());
        let grpc = || {
            Request::builder()
                .header("content-type", "application/grpc")
                .body(())
                .unwrap()
        };
        let first = server.ready().await.unwrap().call(grpc());
        let refused = server.ready().await.unwrap().call(grpc()).await.unwrap();
        assert_eq!(refused.status(), 200, "trailers-only");
        assert_eq!(refused.headers()["grpc-status"], "8");
        // Would wait 100 ms with 50 ms allowed: fits 50 ms later.
        assert_eq!(refused.headers()["grpc-retry-pushback-ms"], "50");
        assert_eq!(first.await.unwrap().body(), "ok");
    }

    #[tokio::test(start_paused = true)]
    async fn admitted_requests_wait_their_turn() {
        let shaper = Shaper::builder()
            .per_second(10)
            .build_with_clock(TokioClock::new())
            .unwrap();
        let server = ServerShapeLayer::new(shaper).layer(handler());
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            let response = server.clone().oneshot(Request::new(())).await.unwrap();
            assert_eq!(response.status(), 200);
        }
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }
}
