//! The path around an unconfigured shaper: responses in the shaper's response type.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tollgate_http::body::WatchedBody;
use tollgate_http::shape::TrailerFeedback;
use tower_service::Service;

/// `S` with every response's body wrapped unwatched, so a client stack without a shaper
/// answers the same type as one with `HttpFeedback` (which watches gRPC trailers).
///
/// It appears only in the type of a client stack's services.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tollgate::stack::Unshaped;
/// use tower::ServiceExt;
///
/// let inner = tower::service_fn(|_: ()| async { Ok::<_, std::convert::Infallible>(http::Response::new("hi")) });
/// let response = Unshaped(inner).oneshot(()).await.unwrap();
/// assert_eq!(*response.body().get_ref(), "hi");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Unshaped<S>(pub S);

impl<S, Req, B> Service<Req> for Unshaped<S>
where
    S: Service<Req, Response = Response<B>>,
{
    type Response = Response<WatchedBody<B, TrailerFeedback>>;
    type Error = S::Error;
    type Future = UnshapedFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        UnshapedFuture {
            inner: self.0.call(request),
        }
    }
}

pin_project! {
    /// The response future of [`Unshaped`].
    #[derive(Debug)]
    pub struct UnshapedFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for UnshapedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<WatchedBody<B, TrailerFeedback>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(response.map(WatchedBody::unwatched)))
    }
}
