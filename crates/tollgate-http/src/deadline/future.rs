use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tollgate_core::DeadlineKind;
use tollgate_deadline::{exceeded, Deadline, Scoped};

use super::stats::{Counters, CUT_OFF};
use crate::{Protocol, RejectionResponder};
use tollgate_core::sync::Arc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ===== ServerFuture =====

pin_project! {
    /// The response future of [`ServerDeadline`](super::ServerDeadline).
    #[derive(Debug)]
    pub struct ServerFuture<F, R, B> {
        #[pin]
        state: ServerState<F, R, B>,
    }
}

pin_project! {
    #[project = ServerProj]
    #[derive(Debug)]
    enum ServerState<F, R, B> {
        // Answered before the handler ran (spent budget, malformed header).
        Done { response: Option<Response<B>> },
        Unbounded { #[pin] inner: F },
        Running {
            #[pin]
            inner: Scoped<F>,
            // Armed only when the handler is not ready at once.
            #[pin]
            sleep: Option<Sleep>,
            deadline: Deadline,
            responder: R,
            protocol: Protocol,
            counters: Arc<Counters>,
        },
    }
}

impl<F, R, B> ServerFuture<F, R, B> {
    pub(super) fn done(response: Response<B>) -> Self {
        Self {
            state: ServerState::Done {
                response: Some(response),
            },
        }
    }

    pub(super) fn unbounded(inner: F) -> Self {
        Self {
            state: ServerState::Unbounded { inner },
        }
    }

    pub(super) fn running(
        inner: Scoped<F>,
        deadline: Deadline,
        responder: R,
        protocol: Protocol,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            state: ServerState::Running {
                inner,
                sleep: None,
                deadline,
                responder,
                protocol,
                counters,
            },
        }
    }
}

impl<F, R, B, E> Future for ServerFuture<F, R, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    R: RejectionResponder<B>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            ServerProj::Done { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ServerFuture polled after completion"),
            },
            ServerProj::Unbounded { inner } => inner.poll(cx),
            ServerProj::Running {
                inner,
                mut sleep,
                deadline,
                responder,
                protocol,
                counters,
            } => {
                if let Poll::Ready(out) = inner.poll(cx) {
                    return Poll::Ready(out);
                }
                if sleep.is_none() {
                    sleep.set(Some(tokio::time::sleep_until(deadline.instant())));
                }
                let Some(sleep) = sleep.as_pin_mut() else {
                    return Poll::Pending;
                };
                match sleep.poll(cx) {
                    Poll::Ready(()) => {
                        tracing::debug!(target: "tollgate::deadline", "handler cut off at the deadline");
                        counters.bump(CUT_OFF);
                        let rejection = exceeded(DeadlineKind::Inherited);
                        Poll::Ready(Ok(responder.respond(&rejection, *protocol)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

// ===== ClientFuture =====

pin_project! {
    /// The response future of [`ClientDeadline`](super::ClientDeadline).
    #[derive(Debug)]
    pub struct ClientFuture<F> {
        #[pin]
        state: ClientState<F>,
    }
}

pin_project! {
    #[project = ClientProj]
    #[derive(Debug)]
    enum ClientState<F> {
        // Not sent: too little budget left.
        Spent { kind: DeadlineKind },
        Unbounded { #[pin] inner: F },
        Running {
            #[pin]
            inner: Scoped<F>,
            // Armed only when the call is not ready at once.
            #[pin]
            sleep: Option<Sleep>,
            deadline: Deadline,
            kind: DeadlineKind,
            counters: Arc<Counters>,
        },
    }
}

impl<F> ClientFuture<F> {
    pub(super) fn spent(kind: DeadlineKind) -> Self {
        Self {
            state: ClientState::Spent { kind },
        }
    }

    pub(super) fn unbounded(inner: F) -> Self {
        Self {
            state: ClientState::Unbounded { inner },
        }
    }

    pub(super) fn running(
        inner: Scoped<F>,
        deadline: Deadline,
        kind: DeadlineKind,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            state: ClientState::Running {
                inner,
                sleep: None,
                deadline,
                kind,
                counters,
            },
        }
    }
}

impl<F, T, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            ClientProj::Spent { kind } => Poll::Ready(Err(exceeded(*kind).into())),
            ClientProj::Unbounded { inner } => inner.poll(cx).map_err(Into::into),
            ClientProj::Running {
                inner,
                mut sleep,
                deadline,
                kind,
                counters,
            } => {
                if let Poll::Ready(out) = inner.poll(cx) {
                    return Poll::Ready(out.map_err(Into::into));
                }
                if sleep.is_none() {
                    sleep.set(Some(tokio::time::sleep_until(deadline.instant())));
                }
                let Some(sleep) = sleep.as_pin_mut() else {
                    return Poll::Pending;
                };
                match sleep.poll(cx) {
                    Poll::Ready(()) => {
                        tracing::debug!(target: "tollgate::deadline", kind = ?kind, "call cut off at the deadline");
                        counters.bump(CUT_OFF);
                        Poll::Ready(Err(exceeded(*kind).into()))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}
