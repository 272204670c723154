use std::task::{Context, Poll};

use tollgate_core::{AsError, Clock, Refusal, Refuse, SystemClock};
use tower_service::Service;

use crate::feedback::{Feedback, NoFeedback};
use crate::future::ResponseFuture;
use crate::shaper::{Admit, Shaper};
use crate::snapshot::Snapshot;
use crate::weigh::{Unit, Weigh};

/// A service shaped by a [`Shaper`]; built by [`ShapeLayer`](crate::ShapeLayer), whose
/// docs have an example.
///
/// `poll_ready` passes through to the inner service. `call` decides admission at once:
/// a request that can go is sent, a refused one is answered through the layer's
/// [`Refuse`] without reaching the inner service, and a queued one keeps the ready
/// inner service and is sent when released.
#[derive(Debug, Clone)]
pub struct Shape<S, C = SystemClock, F = NoFeedback, W = Unit, R = AsError> {
    inner: S,
    shaper: Shaper<C>,
    feedback: F,
    weigh: W,
    refuse: R,
}

impl<S, C> Shape<S, C> {
    /// Wraps `inner`, one unit per request, no feedback, refusing with an error.
    pub fn new(inner: S, shaper: Shaper<C>) -> Self {
        Self::from_parts(inner, shaper, NoFeedback, Unit, AsError)
    }
}

impl<S, C, F, W, R> Shape<S, C, F, W, R> {
    pub(crate) fn from_parts(
        inner: S,
        shaper: Shaper<C>,
        feedback: F,
        weigh: W,
        refuse: R,
    ) -> Self {
        Self {
            inner,
            shaper,
            feedback,
            weigh,
            refuse,
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
}

impl<S, C: Clock, F, W, R> Shape<S, C, F, W, R> {
    /// The shared shaper's counters and state: see [`Shaper::snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.shaper.snapshot()
    }
}

impl<S, C, F, W, R, Req> Service<Req> for Shape<S, C, F, W, R>
where
    S: Service<Req> + Clone,
    C: Clock,
    F: Feedback<S::Response>,
    W: Weigh<Req>,
    R: Refuse<Req>,
    R::Refusal: Refusal<S::Response, S::Error>,
{
    type Response = F::Response;
    type Error = <R::Refusal as Refusal<S::Response, S::Error>>::Error;
    type Future = ResponseFuture<S, Req, C, F, R::Refusal>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(<R::Refusal as Refusal<S::Response, S::Error>>::error)
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
            Err(rejection) => {
                let refusal = self.refuse.prepare(&request);
                ResponseFuture::refused(refusal, rejection, self.shaper.clone(), feedback)
            }
        }
    }
}
