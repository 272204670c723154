use std::task::{Context, Poll};

use tollgate_core::Clock;
use tower_service::Service;

use crate::feedback::{Feedback, NoFeedback};
use crate::future::ResponseFuture;
use crate::shaper::{Admit, Shaper};
use crate::weigh::{Unit, Weigh};

/// A service shaped by a [`Shaper`]; built by [`ShapeLayer`](crate::ShapeLayer), whose
/// docs have an example.
///
/// `poll_ready` passes through to the inner service. `call` decides admission at once;
/// a queued request keeps the ready inner service and is sent when released.
#[derive(Debug, Clone)]
pub struct Shape<S, C = tollgate_core::SystemClock, F = NoFeedback, W = Unit> {
    inner: S,
    shaper: Shaper<C>,
    feedback: F,
    weigh: W,
}

impl<S, C, F, W> Shape<S, C, F, W> {
    /// Wraps `inner`; `feedback` reads responses, `weigh` prices requests.
    pub fn new(inner: S, shaper: Shaper<C>, feedback: F, weigh: W) -> Self {
        Self {
            inner,
            shaper,
            feedback,
            weigh,
        }
    }

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

    /// The shared shaper, for snapshots.
    pub fn shaper(&self) -> &Shaper<C> {
        &self.shaper
    }
}

impl<S, C, F, W, Req> Service<Req> for Shape<S, C, F, W>
where
    S: Service<Req> + Clone,
    S::Error: Into<crate::BoxError>,
    C: Clock,
    F: Feedback<S::Response>,
    W: Weigh<Req>,
{
    type Response = S::Response;
    type Error = crate::BoxError;
    type Future = ResponseFuture<S, Req, C, F>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let feedback = self.feedback.clone();
        match self.shaper.admit(self.weigh.weigh(&request)) {
            Ok(Admit::Now) => {
                ResponseFuture::calling(self.inner.call(request), self.shaper.clone(), feedback)
            }
            Ok(Admit::Wait(waiter)) => {
                // The ready service goes with the request; we keep a fresh clone.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(waiter, ready, request, self.shaper.clone(), feedback)
            }
            Err(rejection) => ResponseFuture::rejected(rejection, self.shaper.clone(), feedback),
        }
    }
}
