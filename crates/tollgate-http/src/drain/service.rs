use std::convert::Infallible;
use std::task::{Context, Poll};

use http::{Request, Response, Version};
use tollgate_drain::{DrainBody, InFlight};
use tower_service::Service;

use super::ResponseFuture;
use crate::{Protocol, RejectionResponder};

/// The service of [`DrainLayer`](super::DrainLayer): `tollgate_drain::InFlight`
/// accounting, with refusals answered by the responder and `Connection: close` on
/// HTTP/1 responses once the drain is announced. Never fails.
///
/// `poll_ready` passes through to the inner service.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tollgate_drain::Drain;
/// use tollgate_http::drain::DrainLayer;
///
/// let drain = Drain::builder().propagation_delay(Duration::ZERO).deadline(Duration::from_secs(1)).build()?;
/// let svc = DrainLayer::new(drain.clone()).layer(service_fn(|_: http::Request<()>| async {
///     Ok::<_, Infallible>(http::Response::new(String::from("ok")))
/// }));
/// drain.start();
/// drain.clone().run().await;
/// let response = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["connection"], "close");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DrainService<S, R> {
    inner: InFlight<S>,
    responder: R,
}

impl<S, R> DrainService<S, R> {
    pub(crate) fn new(inner: InFlight<S>, responder: R) -> Self {
        Self { inner, responder }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S, R, ReqBody, B> Service<Request<ReqBody>> for DrainService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<B>, Error = Infallible>,
    R: RejectionResponder<B>,
    B: Default,
{
    type Response = Response<DrainBody<B>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.inner.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let protocol = Protocol::of(&request);
        let http1 = request.version() <= Version::HTTP_11;
        ResponseFuture::new(
            self.inner.call(request),
            self.responder.clone(),
            protocol,
            http1,
        )
    }
}
