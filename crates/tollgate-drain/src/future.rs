use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tollgate_core::{Reason, Rejection};

use crate::guard::Cut;
use crate::{BoxError, DrainBody, RequestGuard};

pin_project! {
    /// The response future of [`InFlight`](crate::InFlight).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
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
            cut: Cut,
        },
        Refused {
            rejection: Option<Rejection>,
        },
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn running(inner: F, guard: RequestGuard) -> Self {
        Self {
            state: State::Running {
                inner,
                guard: Some(guard),
                cut: Cut::default(),
            },
        }
    }

    #[cold]
    pub(crate) fn refused(rejection: Rejection) -> Self {
        Self {
            state: State::Refused {
                rejection: Some(rejection),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<DrainBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { inner, guard, cut } => {
                if let Poll::Ready(result) = inner.poll(cx) {
                    let guard = guard.take().expect("polled after completion");
                    return Poll::Ready(match result {
                        Ok(response) => Ok(response.map(|body| DrainBody::new(body, guard))),
                        // The request ends with its error: the guard drops here.
                        Err(error) => Err(error.into()),
                    });
                }
                let held = guard.as_ref().expect("polled after completion");
                ready!(cut.poll_cut(held, cx));
                // Cut at the deadline before the handler answered: drop the guard
                // (counted as cut, not finished) and the handler with this future.
                guard.take();
                Poll::Ready(Err(Box::new(Rejection::new(Reason::Draining))))
            }
            StateProj::Refused { rejection } => Poll::Ready(Err(Box::new(
                rejection.take().expect("polled after completion"),
            ))),
        }
    }
}
