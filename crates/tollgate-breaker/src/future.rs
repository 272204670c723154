//! The response future of [`CircuitBreaker`](crate::CircuitBreaker).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tollgate_core::{Clock, Rejection, SystemClock};
use tower::BoxError;

use crate::{Classifier, Permit};

pin_project! {
    /// The response future of [`CircuitBreaker`](crate::CircuitBreaker): the inner
    /// call holding its permit, or an immediate rejection.
    ///
    /// Dropping it before it completes drops the permit: a cancelled call counts as
    /// neither success nor failure, and a probe permit goes back.
    pub struct ResponseFuture<F, C = SystemClock, K = crate::DefaultClassifier> {
        #[pin]
        kind: Kind<F, C, K>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C, K> {
        Called {
            #[pin]
            future: F,
            permit: Option<Permit<C>>,
            classifier: K,
        },
        Rejected {
            // Boxed in `call`: a one-word payload keeps the enum's tag out of a
            // `Duration` niche, whose narrow store stalled every move of the future.
            error: Option<BoxError>,
        },
    }
}

impl<F, C, K> ResponseFuture<F, C, K> {
    pub(crate) fn called(future: F, permit: Permit<C>, classifier: K) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                future,
                permit: Some(permit),
                classifier,
            },
        }
    }

    pub(crate) fn rejected(rejection: Rejection) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                error: Some(Box::new(rejection)),
            },
        }
    }
}

impl<F, T, E, C, K> Future for ResponseFuture<F, C, K>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Clock,
    K: Classifier<T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                future,
                permit,
                classifier,
            } => {
                let result = ready!(future.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.record(classifier.classify(&result));
                }
                Poll::Ready(result.map_err(Into::into))
            }
            KindProj::Rejected { error } => {
                Poll::Ready(Err(error.take().expect("polled after completion")))
            }
        }
    }
}

impl<F, C, K> fmt::Debug for ResponseFuture<F, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
