//! The two tower services: see [`ServerDeadlineLayer`](crate::ServerDeadlineLayer) and
//! [`TimeoutLayer`](crate::TimeoutLayer).

use std::task::{Context, Poll};

use tollgate_core::{AsError, Clock, DeadlineKind, Refusal, Refuse, TokioClock};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::scope::{current_with_kind, scoped_call};
use crate::{DeadlinePolicy, DeadlineSnapshot, Local, Propagate, TimeoutPolicy, TimeoutSnapshot};

// ===== ServerDeadline =====

/// The service of a [`ServerDeadlineLayer`](crate::ServerDeadlineLayer): see there.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::{DeadlinePolicy, ServerDeadlineLayer};
/// use tower::{service_fn, Layer};
///
/// let svc = ServerDeadlineLayer::new(DeadlinePolicy::builder().build().unwrap())
///     .layer(service_fn(|x: u8| async move { Ok::<_, tower::BoxError>(x) }));
/// assert_eq!(svc.snapshot().admitted, 0);
/// let _inner = svc.into_inner();
/// ```
#[derive(Debug, Clone)]
pub struct ServerDeadline<S, P = Local, R = AsError, C = TokioClock> {
    inner: S,
    policy: DeadlinePolicy<C>,
    propagate: P,
    refuse: R,
}

impl<S, P, R, C> ServerDeadline<S, P, R, C> {
    pub(crate) fn new(inner: S, policy: DeadlinePolicy<C>, propagate: P, refuse: R) -> Self {
        Self {
            inner,
            policy,
            propagate,
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

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// What the policy decided so far, across every service sharing it.
    pub fn snapshot(&self) -> DeadlineSnapshot {
        self.policy.snapshot()
    }
}

impl<S, Req, P, R, C> Service<Req> for ServerDeadline<S, P, R, C>
where
    S: Service<Req>,
    P: Propagate<Req>,
    R: Refuse<Req>,
    R::Refusal: Refusal<S::Response, S::Error>,
    C: Clock,
{
    type Response = S::Response;
    type Error = <R::Refusal as Refusal<S::Response, S::Error>>::Error;
    type Future = ResponseFuture<S::Future, R::Refusal, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(<R::Refusal as Refusal<S::Response, S::Error>>::error)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        let sent = self.propagate.read(&req);
        let clock = self.policy.clock();
        match self.policy.admit_with(|| clock.now(), sent) {
            Ok(None) => ResponseFuture::unbounded(self.inner.call(req)),
            Err(rejection) => ResponseFuture::refused(self.refuse.prepare(&req), rejection),
            Ok(Some(deadline)) => {
                let refusal = self.refuse.prepare(&req);
                self.propagate.attach(&mut req, deadline);
                let kind = DeadlineKind::Inherited;
                let inner = scoped_call(deadline, kind, || self.inner.call(req));
                ResponseFuture::running(
                    inner,
                    deadline,
                    kind,
                    refusal,
                    self.policy.clock().clone(),
                    self.policy.counters().clone(),
                )
            }
        }
    }
}

// ===== Timeout =====

/// The service of a [`TimeoutLayer`](crate::TimeoutLayer): see there.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::{TimeoutLayer, TimeoutPolicy};
/// use tower::{service_fn, Layer};
///
/// let svc = TimeoutLayer::new(TimeoutPolicy::per_try(Duration::from_secs(1)).unwrap())
///     .layer(service_fn(|x: u8| async move { Ok::<_, tower::BoxError>(x) }));
/// assert_eq!(svc.snapshot().rejected, 0);
/// let _inner = svc.into_inner();
/// ```
#[derive(Debug, Clone)]
pub struct Timeout<S, P = Local, R = AsError, C = TokioClock> {
    inner: S,
    policy: TimeoutPolicy<C>,
    propagate: P,
    refuse: R,
}

impl<S, P, R, C> Timeout<S, P, R, C> {
    pub(crate) fn new(inner: S, policy: TimeoutPolicy<C>, propagate: P, refuse: R) -> Self {
        Self {
            inner,
            policy,
            propagate,
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

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// What the policy decided so far, across every service sharing it.
    pub fn snapshot(&self) -> TimeoutSnapshot {
        self.policy.snapshot()
    }
}

impl<S, Req, P, R, C> Service<Req> for Timeout<S, P, R, C>
where
    S: Service<Req>,
    P: Propagate<Req>,
    R: Refuse<Req>,
    R::Refusal: Refusal<S::Response, S::Error>,
    C: Clock,
{
    type Response = S::Response;
    type Error = <R::Refusal as Refusal<S::Response, S::Error>>::Error;
    type Future = ResponseFuture<S::Future, R::Refusal, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(<R::Refusal as Refusal<S::Response, S::Error>>::error)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        let now = self.policy.clock().now();
        let inherited = current_with_kind().or_else(|| {
            self.propagate
                .attached(&req)
                .map(|d| (d, DeadlineKind::Inherited))
        });
        match self.policy.admit(now, inherited) {
            Ok(None) => ResponseFuture::unbounded(self.inner.call(req)),
            Err(rejection) => ResponseFuture::refused(self.refuse.prepare(&req), rejection),
            Ok(Some(bound)) => {
                let refusal = self.refuse.prepare(&req);
                self.propagate.write(&mut req, bound.budget);
                let inner = scoped_call(bound.deadline, bound.kind, || self.inner.call(req));
                ResponseFuture::running(
                    inner,
                    bound.deadline,
                    bound.kind,
                    refusal,
                    self.policy.clock().clone(),
                    self.policy.counters().clone(),
                )
            }
        }
    }
}
