use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tollgate_core::{Reason, Refusal, Rejection};

use crate::{RequestGuard, Tracking};

pin_project! {
    /// The response future of [`Drained`](crate::Drained): generic over the inner
    /// future `F`, the prepared refusal `P` and the request's tracking `K`.
    #[derive(Debug)]
    pub struct ResponseFuture<F, P, K> {
        #[pin]
        state: State<F>,
        // Taken once, when the future completes.
        refusal: Option<P>,
        tracking: Option<K>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Running {
            #[pin]
            inner: F,
            guard: Option<RequestGuard>,
        },
        Refused {
            rejection: Option<Rejection>,
        },
    }
}

impl<F, P, K> ResponseFuture<F, P, K> {
    #[inline]
    pub(crate) fn running(inner: F, guard: RequestGuard, refusal: P, tracking: K) -> Self {
        Self {
            state: State::Running {
                inner,
                guard: Some(guard),
            },
            refusal: Some(refusal),
            tracking: Some(tracking),
        }
    }

    #[cold]
    pub(crate) fn refused(rejection: Rejection, refusal: P, tracking: K) -> Self {
        Self {
            state: State::Refused {
                rejection: Some(rejection),
            },
            refusal: Some(refusal),
            tracking: Some(tracking),
        }
    }
}

const POLLED_AFTER_COMPLETION: &str = "polled after completion";

impl<F, P, K, Res, E> Future for ResponseFuture<F, P, K>
where
    F: Future<Output = Result<Res, E>>,
    P: Refusal<Res, E>,
    K: Tracking<Res>,
{
    type Output = Result<K::Response, P::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let rejection = match this.state.project() {
            StateProj::Running { inner, guard } => {
                if let Poll::Ready(result) = inner.poll(cx) {
                    let guard = guard.take().expect(POLLED_AFTER_COMPLETION);
                    let tracking = this.tracking.take().expect(POLLED_AFTER_COMPLETION);
                    return Poll::Ready(match result {
                        Ok(response) => Ok(tracking.track(response, guard)),
                        // The request ends with its error: the guard drops here.
                        Err(error) => Err(<P as Refusal<Res, E>>::error(error)),
                    });
                }
                let held = guard.as_mut().expect(POLLED_AFTER_COMPLETION);
                ready!(held.poll_cut(cx));
                // Cut at the deadline before the handler answered: drop the guard
                // (counted as cut, not finished) and the handler with this future.
                guard.take();
                Rejection::new(Reason::Draining)
            }
            StateProj::Refused { rejection } => rejection.take().expect(POLLED_AFTER_COMPLETION),
        };
        let refusal = this.refusal.take().expect(POLLED_AFTER_COMPLETION);
        let tracking = this.tracking.take().expect(POLLED_AFTER_COMPLETION);
        Poll::Ready(
            refusal
                .refuse(rejection)
                .map(|response| tracking.refused(response)),
        )
    }
}
