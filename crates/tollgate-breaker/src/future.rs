//! The response future of [`CircuitBreaker`](crate::CircuitBreaker).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tollgate_core::{AsError, Clock, Refusal, Rejection, SystemClock};

use crate::{Classifier, DefaultClassifier, Permit};

pin_project! {
    /// The response future of [`CircuitBreaker`](crate::CircuitBreaker): the inner
    /// call holding its permit, or the breaker's refusal, ready at once.
    ///
    /// `P` is the prepared refusal of the layer's [`Refuse`](tollgate_core::Refuse)
    /// (by default [`AsError`]: `Err(BoxError)` holding the rejection). When the inner
    /// call ends, the classifier records the permit or hands it to the response (see
    /// [`Classifier`]). Dropping the
    /// future before it completes drops the permit: a cancelled call counts as neither
    /// success nor failure, and a probe permit goes back.
    pub struct ResponseFuture<F, C = SystemClock, K = DefaultClassifier, P = AsError> {
        #[pin]
        kind: Kind<F, C, K, P>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C, K, P> {
        Called {
            #[pin]
            future: F,
            permit: Option<Permit<C>>,
            classifier: K,
            refusal: PhantomData<fn() -> P>,
        },
        Refused {
            // Boxed in `call`: a one-word payload keeps the enum's tag out of a
            // `Duration` niche, whose narrow store stalled every move of the future.
            refused: Option<(P, Box<Rejection>)>,
        },
    }
}

impl<F, C, K, P> ResponseFuture<F, C, K, P> {
    #[inline]
    pub(crate) fn called(future: F, permit: Permit<C>, classifier: K) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                future,
                permit: Some(permit),
                classifier,
                refusal: PhantomData,
            },
        }
    }

    #[cold]
    pub(crate) fn refused(refusal: P, rejection: Rejection) -> Self {
        ResponseFuture {
            kind: Kind::Refused {
                refused: Some((refusal, Box::new(rejection))),
            },
        }
    }
}

impl<F, T, E, C, K, P> Future for ResponseFuture<F, C, K, P>
where
    F: Future<Output = Result<T, E>>,
    C: Clock,
    K: Classifier<T, E, C>,
    P: Refusal<K::Response, E>,
{
    type Output = Result<K::Response, P::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                future,
                permit,
                classifier,
                ..
            } => {
                let result = ready!(future.poll(cx));
                let permit = permit.take().expect("polled after completion");
                Poll::Ready(classifier.classify(result, permit).map_err(P::error))
            }
            KindProj::Refused { refused } => {
                let (refusal, rejection) = refused.take().expect("polled after completion");
                Poll::Ready(refusal.refuse(*rejection))
            }
        }
    }
}

impl<F, C, K, P> fmt::Debug for ResponseFuture<F, C, K, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Refused { .. } => "refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
