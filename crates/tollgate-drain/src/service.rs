use std::task::{Context, Poll};

use tollgate_core::{AsError, Refusal, Refuse};
use tower_service::Service;

use crate::{Drain, ResponseFuture, Snapshot, Track, Tracking, UntilResponse};

/// The service of [`DrainLayer`](crate::DrainLayer).
///
/// Each request is counted in flight from `call` until its response has ended: the
/// [`RequestGuard`](crate::RequestGuard) moves from the response future into the
/// response, as the layer's [`Track`] decides. From [`Phase::Closing`](crate::Phase::Closing)
/// on, new requests are refused with a [`Rejection`](tollgate_core::Rejection) of
/// reason `Draining`, which the layer's [`Refuse`] turns into its output, without
/// reaching the inner service. A request whose handler has not answered when the drain
/// is done is cut: its response future ends with the same refusal and drops the
/// handler.
///
/// `poll_ready` passes through to the inner service.
///
/// See [`DrainLayer`](crate::DrainLayer) for an example.
#[derive(Debug, Clone)]
pub struct Drained<S, R = AsError, T = UntilResponse> {
    inner: S,
    drain: Drain,
    refuse: R,
    track: T,
}

impl<S, R, T> Drained<S, R, T> {
    pub(crate) fn new(inner: S, drain: Drain, refuse: R, track: T) -> Self {
        Self {
            inner,
            drain,
            refuse,
            track,
        }
    }

    /// The drain requests are counted in.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// The drain's phase and counters; see [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.drain.snapshot()
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

impl<S, Req, R, T> Service<Req> for Drained<S, R, T>
where
    S: Service<Req>,
    R: Refuse<Req>,
    R::Refusal: Refusal<S::Response, S::Error>,
    T: Track<Req>,
    T::Tracking: Tracking<S::Response>,
{
    type Response = <T::Tracking as Tracking<S::Response>>::Response;
    type Error = <R::Refusal as Refusal<S::Response, S::Error>>::Error;
    type Future = ResponseFuture<S::Future, R::Refusal, T::Tracking>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(<R::Refusal as Refusal<S::Response, S::Error>>::error)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        // Prepared for every request: an admitted one may still be cut at the deadline.
        let refusal = self.refuse.prepare(&request);
        let tracking = self.track.prepare(&request);
        match self.drain.enter() {
            Ok(guard) => {
                ResponseFuture::running(self.inner.call(request), guard, refusal, tracking)
            }
            Err(rejection) => ResponseFuture::refused(rejection, refusal, tracking),
        }
    }
}
