//! A response body that records its call's outcome when the stream ends.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tollgate_breaker::{Outcome, Permit};
use tollgate_core::{Clock, SystemClock};

use super::ResponseClassifier;

pin_project! {
    /// The body of a response that passed a breaker layer of this module.
    ///
    /// When the response's head did not decide the outcome (a gRPC stream), the body
    /// holds the call's permit and records the outcome from the trailers when the
    /// stream ends; a body error is a failure, and a body dropped before its end
    /// counts as a cancelled call. Otherwise it passes frames through untouched.
    pub struct ClassifiedBody<B, C = SystemClock, K = super::HttpClassifier> {
        #[pin]
        inner: B,
        pending: Option<(Permit<C>, K)>,
    }
}

impl<B, C, K> ClassifiedBody<B, C, K> {
    pub(crate) fn new(inner: B, pending: Option<(Permit<C>, K)>) -> Self {
        ClassifiedBody { inner, pending }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B, C, K> Body for ClassifiedBody<B, C, K>
where
    B: Body,
    C: Clock,
    K: ResponseClassifier,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some((permit, classifier)) = this.pending.take() {
            let outcome = match &frame {
                Some(Ok(frame)) => frame
                    .trailers_ref()
                    .map(|trailers| classifier.classify_trailers(Some(trailers))),
                Some(Err(_)) => Some(Outcome::Failure),
                None => Some(classifier.classify_trailers(None)),
            };
            match outcome {
                Some(outcome) => permit.record(outcome),
                None => *this.pending = Some((permit, classifier)),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Default, C, K> Default for ClassifiedBody<B, C, K> {
    fn default() -> Self {
        ClassifiedBody::new(B::default(), None)
    }
}

impl<B, C, K> fmt::Debug for ClassifiedBody<B, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifiedBody")
            .field("awaiting_trailers", &self.pending.is_some())
            .finish()
    }
}
