//! The response future of the HTTP breaker services.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tollgate_breaker::{is_timeout, Outcome, Permit};
use tollgate_core::Clock;

use super::{ClassifiedBody, ResponseClassifier};

pin_project! {
    /// The response future of [`BreakerService`](super::BreakerService) and
    /// [`ServerBreakerService`](super::ServerBreakerService): the inner call holding
    /// its permit, or the breaker's answer, ready at once.
    pub struct ResponseFuture<F, B, C, K, E> {
        #[pin]
        kind: Kind<F, B, C, K, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, C, K, E> {
        Called {
            #[pin]
            future: F,
            permit: Option<Permit<C>>,
            classifier: K,
        },
        Ready {
            output: Option<Result<Response<ClassifiedBody<B, C, K>>, E>>,
        },
    }
}

impl<F, B, C, K, E> ResponseFuture<F, B, C, K, E> {
    pub(crate) fn called(future: F, permit: Permit<C>, classifier: K) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                future,
                permit: Some(permit),
                classifier,
            },
        }
    }

    pub(crate) fn ready(output: Result<Response<ClassifiedBody<B, C, K>>, E>) -> Self {
        ResponseFuture {
            kind: Kind::Ready {
                output: Some(output),
            },
        }
    }
}

impl<F, B, Ei, C, K, E> Future for ResponseFuture<F, B, C, K, E>
where
    F: Future<Output = Result<Response<B>, Ei>>,
    Ei: Into<E> + 'static,
    C: Clock,
    K: ResponseClassifier,
{
    type Output = Result<Response<ClassifiedBody<B, C, K>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                future,
                permit,
                classifier,
            } => {
                let result = ready!(future.poll(cx));
                let permit = permit.take().expect("polled after completion");
                Poll::Ready(match result {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        let pending = match classifier.classify_head(parts.status, &parts.headers) {
                            Some(outcome) => {
                                permit.record(outcome);
                                None
                            }
                            None => Some((permit, classifier.clone())),
                        };
                        Ok(Response::from_parts(
                            parts,
                            ClassifiedBody::new(body, pending),
                        ))
                    }
                    Err(error) => {
                        permit.record(if is_timeout(&error) {
                            Outcome::Timeout
                        } else {
                            Outcome::Failure
                        });
                        Err(error.into())
                    }
                })
            }
            KindProj::Ready { output } => {
                Poll::Ready(output.take().expect("polled after completion"))
            }
        }
    }
}

impl<F, B, C, K, E> fmt::Debug for ResponseFuture<F, B, C, K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Ready { .. } => "ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
