use std::task::{ready, Context, Poll};

use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use http::{HeaderMap, Request, Response, Version};
use tollgate_core::{Reason, Rejection};
use tollgate_drain::{RequestGuard, Track, Tracking};

use crate::body::{BodyEnd, BodyWatch, WatchedBody};
use crate::{DefaultResponder, Protocol, RejectionResponder};

/// Counts an HTTP or gRPC request until its response body has been sent (or dropped):
/// plug it into a [`DrainLayer`](tollgate_drain::DrainLayer) with
/// [`track_with`](tollgate_drain::DrainLayer::track_with). See the
/// [module docs](crate::drain).
///
/// The request's guard moves into the body ([`WatchedBody`] with a [`DrainWatch`]).
/// At the drain's deadline a body still streaming ends at a frame boundary: gRPC
/// streams with `grpc-status: 14` (`UNAVAILABLE`) trailers, HTTP bodies with their
/// end. From the moment the drain is announced, every HTTP/1 response, refusals
/// included, carries `Connection: close`, so the client reconnects through the load
/// balancer instead of racing the close of an idle keep-alive connection at the end.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use std::convert::Infallible;
/// use http_body_util::BodyExt;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tollgate_drain::{Drain, DrainLayer};
/// use tollgate_http::drain::UntilBodyEnd;
/// use tollgate_http::AsResponse;
///
/// let drain = Drain::builder().build()?;
/// let svc = DrainLayer::new(drain.clone())
///     .refuse_with(AsResponse::new())
///     .track_with(UntilBodyEnd)
///     .layer(service_fn(|_: http::Request<()>| async {
///         Ok::<_, Infallible>(http::Response::new(String::from("hello")))
///     }));
/// let response = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(drain.snapshot().in_flight, 1); // until the body is sent
/// let body = response.into_body().collect().await?.to_bytes();
/// assert_eq!((&body[..], drain.snapshot().in_flight), (&b"hello"[..], 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct UntilBodyEnd;

impl<B> Track<Request<B>> for UntilBodyEnd {
    type Tracking = BodyTracking;

    #[inline]
    fn prepare(&self, request: &Request<B>) -> BodyTracking {
        BodyTracking {
            protocol: Protocol::of(request),
            http1: request.version() <= Version::HTTP_11,
        }
    }
}

/// One request's [`UntilBodyEnd`] tracking: its protocol and whether it came over
/// HTTP/1. See [`UntilBodyEnd`].
///
/// It also marks the drain's own refusals: on HTTP/1 they carry `Connection: close`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tollgate_drain::{Drain, DrainLayer};
/// use tollgate_http::drain::UntilBodyEnd;
/// use tollgate_http::AsResponse;
///
/// let drain = Drain::builder().propagation_delay(Duration::ZERO).deadline(Duration::from_secs(1)).build()?;
/// let svc = DrainLayer::new(drain.clone())
///     .refuse_with(AsResponse::new())
///     .track_with(UntilBodyEnd)
///     .layer(service_fn(|_: http::Request<()>| async {
///         Ok::<_, Infallible>(http::Response::new(String::from("ok")))
///     }));
/// drain.start();
/// drain.clone().run().await;
/// let response = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["connection"], "close");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BodyTracking {
    protocol: Protocol,
    http1: bool,
}

impl<B> Tracking<Response<B>> for BodyTracking {
    type Response = Response<WatchedBody<B, DrainWatch>>;

    #[inline]
    fn track(self, response: Response<B>, guard: RequestGuard) -> Self::Response {
        let announced = !guard.drain().phase().is_ready();
        let watch = DrainWatch {
            guard,
            protocol: self.protocol,
        };
        let mut response = response.map(|body| WatchedBody::new(body, watch));
        if announced {
            self.close_http1(&mut response);
        }
        response
    }

    #[cold]
    fn refused(self, response: Response<B>) -> Self::Response {
        // A refusal or a cut: the drain is closing or done.
        let mut response = response.map(WatchedBody::unwatched);
        self.close_http1(&mut response);
        response
    }
}

impl BodyTracking {
    fn close_http1<B>(self, response: &mut Response<B>) {
        // HTTP/2 has no `Connection` header: its connections end with GOAWAY.
        if self.http1 {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

/// The [`BodyWatch`] of [`UntilBodyEnd`]: holds the request's guard until the body
/// ends, and cuts the stream when the drain is done with the body still running.
#[derive(Debug)]
pub struct DrainWatch {
    guard: RequestGuard,
    protocol: Protocol,
}

impl DrainWatch {
    /// The guard of the request whose body this is.
    pub fn guard(&self) -> &RequestGuard {
        &self.guard
    }
}

impl BodyWatch for DrainWatch {
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> Poll<Option<HeaderMap>> {
        ready!(self.guard.poll_cut(cx));
        Poll::Ready((self.protocol == Protocol::Grpc).then(grpc_cut_trailers))
    }

    fn end(self, _: BodyEnd) {
        // Dropping the guard ends the request, however the body ended.
    }
}

/// The trailers that end a gRPC stream cut at the deadline: the refusal's status
/// (`UNAVAILABLE`, "server is draining"), as trailers.
fn grpc_cut_trailers() -> HeaderMap {
    let refusal: Response<()> =
        DefaultResponder.respond(&Rejection::new(Reason::Draining), Protocol::Grpc);
    let mut trailers = refusal.into_parts().0.headers;
    trailers.remove(CONTENT_TYPE);
    trailers
}
