use std::task::{Context, Poll};

use tower_service::Service;

use crate::{Drain, ResponseFuture};

/// The service of [`InFlightLayer`](crate::InFlightLayer).
///
/// Each request is counted in flight from `call` until its response body has ended or
/// been dropped: the count moves from the response future into the
/// [`DrainBody`](crate::DrainBody). From [`Phase::Closing`](crate::Phase::Closing) on,
/// new requests fail with a [`Rejection`](tollgate_core::Rejection) of reason
/// `Draining` inside the `BoxError`, without reaching the inner service. A request
/// still in flight when the drain is done is cut: its response future fails the same
/// way, its body ends. For an axum router, use `tollgate_http::drain`, which answers
/// `503` instead and never fails.
///
/// `poll_ready` passes through to the inner service.
///
/// See [`InFlightLayer`](crate::InFlightLayer) for an example.
#[derive(Debug, Clone)]
pub struct InFlight<S> {
    inner: S,
    drain: Drain,
}

impl<S> InFlight<S> {
    /// Wraps `inner`, counting its requests in `drain`.
    pub fn new(inner: S, drain: Drain) -> Self {
        Self { inner, drain }
    }

    /// The drain requests are counted in.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, B> Service<R> for InFlight<S>
where
    S: Service<R, Response = http::Response<B>>,
    S::Error: Into<crate::BoxError>,
{
    type Response = http::Response<crate::DrainBody<B>>;
    type Error = crate::BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: R) -> Self::Future {
        match self.drain.enter() {
            Ok(guard) => ResponseFuture::running(self.inner.call(request), guard),
            Err(rejection) => ResponseFuture::refused(rejection),
        }
    }
}
