//! Total and per-try timeouts as tower layers that know about the inherited deadline.
//!
//! Both layers fire at the earlier of their own timeout and the deadline of the task's
//! scope, and run the inner service inside a scope holding that earlier deadline, so
//! the layers and clients below see what is left. The error is a
//! [`Rejection`](tollgate_core::Rejection) with
//! [`Reason::DeadlineExceeded`](tollgate_core::Reason::DeadlineExceeded) saying which
//! deadline fired: the inherited one, the total, or the per-try.
//!
//! Put the total outside the retry layer and the per-try inside it:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tollgate_core::{DeadlineKind, Reason, Rejection};
//! use tollgate_deadline::TimeoutLayer;
//! use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
//!
//! let (total, per_try) =
//!     TimeoutLayer::pair(Duration::from_secs(2), Duration::from_millis(500)).unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(total)
//!     .layer(per_try)
//!     .service(service_fn(|_: ()| async {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         Ok::<_, BoxError>("late")
//!     }));
//! let err = svc.oneshot(()).await.unwrap_err();
//! let rejection = err.downcast_ref::<Rejection>().unwrap();
//! assert_eq!(rejection.reason(), Reason::DeadlineExceeded(DeadlineKind::PerTry));
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tollgate_core::{ConfigError, DeadlineKind, Reason, Rejection};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use crate::deadline::{current_with_kind, scoped_call, Deadline, Scoped};

/// The rejection for a deadline of `kind` that fired.
///
/// ```
/// use tollgate_core::{DeadlineKind, Reason};
/// let r = tollgate_deadline::exceeded(DeadlineKind::Total);
/// assert_eq!(r.reason(), Reason::DeadlineExceeded(DeadlineKind::Total));
/// ```
pub fn exceeded(kind: DeadlineKind) -> Rejection {
    Rejection::new(Reason::DeadlineExceeded(kind))
}

/// A total or per-try timeout. See the module docs.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::DeadlineKind;
/// use tollgate_deadline::TimeoutLayer;
///
/// let layer = TimeoutLayer::total(Duration::from_secs(3)).unwrap();
/// assert_eq!(layer.kind(), DeadlineKind::Total);
/// assert!(TimeoutLayer::per_try(Duration::ZERO).is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    timeout: Duration,
    kind: DeadlineKind,
}

impl TimeoutLayer {
    /// A total timeout across all tries (place it outside the retry layer).
    pub fn total(timeout: Duration) -> Result<Self, ConfigError> {
        Self::new("total", timeout, DeadlineKind::Total)
    }

    /// A per-try timeout (place it inside the retry layer).
    pub fn per_try(timeout: Duration) -> Result<Self, ConfigError> {
        Self::new("per_try", timeout, DeadlineKind::PerTry)
    }

    /// A total and a per-try timeout, checking per-try <= total.
    pub fn pair(total: Duration, per_try: Duration) -> Result<(Self, Self), ConfigError> {
        if per_try > total {
            return Err(ConfigError::new(
                "per_try",
                format!("must not exceed the total timeout ({per_try:?} > {total:?})"),
            ));
        }
        Ok((Self::total(total)?, Self::per_try(per_try)?))
    }

    fn new(
        field: &'static str,
        timeout: Duration,
        kind: DeadlineKind,
    ) -> Result<Self, ConfigError> {
        if timeout.is_zero() {
            return Err(ConfigError::new(field, "must be greater than zero"));
        }
        Ok(Self { timeout, kind })
    }

    /// Which deadline this layer enforces.
    pub fn kind(&self) -> DeadlineKind {
        self.kind
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            timeout: self.timeout,
            kind: self.kind,
        }
    }
}

/// The service of a [`TimeoutLayer`]. See the module docs.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::TimeoutLayer;
/// use tower::{service_fn, Layer};
///
/// let svc = TimeoutLayer::per_try(Duration::from_secs(1))
///     .unwrap()
///     .layer(service_fn(|x: u8| async move { Ok::<_, tower::BoxError>(x) }));
/// let _inner = svc.into_inner();
/// ```
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    timeout: Duration,
    kind: DeadlineKind,
}

impl<S> Timeout<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let now = Instant::now();
        let own = Deadline::after(now, self.timeout);
        let (deadline, kind) = match current_with_kind() {
            Some((inherited, kind)) if inherited <= own => (inherited, kind),
            _ => (own, self.kind),
        };
        if deadline.is_expired(now) {
            tracing::debug!(target: "tollgate::deadline", kind = ?kind, "deadline spent before the call");
            return ResponseFuture::spent(kind);
        }
        ResponseFuture::running(
            scoped_call(deadline, kind, || self.inner.call(req)),
            deadline,
            kind,
        )
    }
}

pin_project! {
    /// The response future of [`Timeout`].
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
        Spent { kind: DeadlineKind },
        Running {
            #[pin]
            inner: Scoped<F>,
            // Armed only when the inner future is not ready at once: a fast answer
            // never touches the timer wheel.
            #[pin]
            sleep: Option<Sleep>,
            deadline: Deadline,
            kind: DeadlineKind,
        },
    }
}

impl<F> ResponseFuture<F> {
    fn spent(kind: DeadlineKind) -> Self {
        Self {
            state: State::Spent { kind },
        }
    }

    fn running(inner: Scoped<F>, deadline: Deadline, kind: DeadlineKind) -> Self {
        Self {
            state: State::Running {
                inner,
                sleep: None,
                deadline,
                kind,
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Spent { kind } => Poll::Ready(Err(exceeded(*kind).into())),
            StateProj::Running {
                inner,
                mut sleep,
                deadline,
                kind,
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
                        tracing::debug!(target: "tollgate::deadline", kind = ?kind, "deadline fired");
                        Poll::Ready(Err(exceeded(*kind).into()))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}
