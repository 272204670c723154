use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::{HeaderValue, CONNECTION};
use http::{HeaderMap, Response};
use pin_project_lite::pin_project;
use tollgate_core::{Reason, Rejection};
use tollgate_drain::DrainBody;

use crate::{DefaultResponder, Protocol, RejectionResponder};

pin_project! {
    /// The response future of [`DrainService`](super::DrainService).
    #[derive(Debug)]
    pub struct ResponseFuture<F, R> {
        #[pin]
        inner: tollgate_drain::ResponseFuture<F>,
        responder: R,
        protocol: Protocol,
        http1: bool,
    }
}

impl<F, R> ResponseFuture<F, R> {
    pub(crate) fn new(
        inner: tollgate_drain::ResponseFuture<F>,
        responder: R,
        protocol: Protocol,
        http1: bool,
    ) -> Self {
        Self {
            inner,
            responder,
            protocol,
            http1,
        }
    }
}

impl<F, R, B> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
    R: RejectionResponder<B>,
    B: Default,
{
    type Output = Result<Response<DrainBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match ready!(this.inner.poll(cx)) {
            Ok(response) if *this.protocol == Protocol::Grpc => {
                response.map(|body| body.with_cut_trailers(grpc_cut_trailers))
            }
            Ok(response) => response,
            Err(error) => {
                // The inner service is infallible, so the only error is the drain's own
                // refusal (closing) or cut (deadline).
                let rejection = error
                    .downcast::<Rejection>()
                    .map_or_else(|_| Rejection::new(Reason::Draining), |r| *r);
                this.responder
                    .respond(&rejection, *this.protocol)
                    .map(DrainBody::unguarded)
            }
        };
        // A refusal or a cut (no guard) happens while closing or done.
        let announced = response
            .body()
            .guard()
            .is_none_or(|guard| !guard.drain().phase().is_ready());
        if *this.http1 && announced {
            // Once the drain is announced, no HTTP/1 connection is kept alive: the
            // client reconnects through the load balancer (elsewhere) instead of
            // racing the close of an idle keep-alive connection at the end.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
}

/// The trailers that end a gRPC stream cut at the deadline: `UNAVAILABLE`.
fn grpc_cut_trailers() -> HeaderMap {
    let refusal: Response<()> =
        DefaultResponder.respond(&Rejection::new(Reason::Draining), Protocol::Grpc);
    let mut trailers = refusal.into_parts().0.headers;
    trailers.remove(http::header::CONTENT_TYPE);
    trailers
}
