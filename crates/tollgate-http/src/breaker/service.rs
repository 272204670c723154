//! The client and server breaker layers for HTTP and gRPC.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::task::{Context, Poll};

use http::{Request, Response};
use tollgate_breaker::Breaker;
use tollgate_core::{Clock, Rejection, SystemClock};
use tower_layer::Layer;
use tower_service::Service;

use super::{ClassifiedBody, GrpcClassifier, HttpClassifier, ResponseClassifier, ResponseFuture};
use crate::{DefaultResponder, Protocol, RejectionResponder};

/// The error type of the client layer: tower's `BoxError`.
pub type BoxError = Box<dyn StdError + Send + Sync>;

fn boxed(rejection: Rejection) -> BoxError {
    Box::new(rejection)
}

// ===== client =====

/// A breaker around an HTTP or gRPC client (hyper, tonic's `Channel`): see the
/// [module docs](crate::breaker) for an example.
///
/// An open breaker fails the call at once with the
/// [`Rejection`](tollgate_core::Rejection) inside the `BoxError` (or, with
/// [`tonic_status`](Self::tonic_status), a `tonic::Status::unavailable` carrying the
/// retry pushback).
#[derive(Debug, Clone)]
pub struct BreakerLayer<C = SystemClock, K = HttpClassifier> {
    breaker: Breaker<C>,
    classifier: K,
    reject: fn(Rejection) -> BoxError,
}

impl<C: Clock> BreakerLayer<C, HttpClassifier> {
    /// HTTP classification (5xx failures) with `breaker`.
    pub fn new(breaker: Breaker<C>) -> Self {
        BreakerLayer {
            breaker,
            classifier: HttpClassifier::new(),
            reject: boxed,
        }
    }
}

impl<C: Clock> BreakerLayer<C, GrpcClassifier> {
    /// gRPC classification (the status in headers or trailers) with `breaker`.
    pub fn grpc(breaker: Breaker<C>) -> Self {
        BreakerLayer::new(breaker).classifier(GrpcClassifier::new())
    }
}

impl<C, K> BreakerLayer<C, K> {
    /// Classifies responses with `classifier`.
    pub fn classifier<K2>(self, classifier: K2) -> BreakerLayer<C, K2> {
        BreakerLayer {
            breaker: self.breaker,
            classifier,
            reject: self.reject,
        }
    }

    /// Fails rejected calls with a `tonic::Status` (`UNAVAILABLE`, with
    /// `grpc-retry-pushback-ms`) instead of the bare rejection, so a tonic client
    /// surfaces it as the call's status.
    #[cfg(feature = "tonic")]
    pub fn tonic_status(mut self) -> Self {
        self.reject = |rejection| Box::new(crate::to_status(&rejection));
        self
    }

    /// The shared breaker.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breaker
    }
}

impl<S, C: Clone, K: Clone> Layer<S> for BreakerLayer<C, K> {
    type Service = BreakerService<S, C, K>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            reject: self.reject,
        }
    }
}

/// The service of [`BreakerLayer`].
///
/// See the [module docs](crate::breaker) for an example.
#[derive(Debug, Clone)]
pub struct BreakerService<S, C = SystemClock, K = HttpClassifier> {
    inner: S,
    breaker: Breaker<C>,
    classifier: K,
    reject: fn(Rejection) -> BoxError,
}

impl<S, C, K> BreakerService<S, C, K> {
    /// The shared breaker.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, consuming the wrapper.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB, C, K> Service<Request<ReqB>> for BreakerService<S, C, K>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError> + 'static,
    C: Clock,
    K: ResponseClassifier,
{
    type Response = Response<ClassifiedBody<ResB, C, K>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, ResB, C, K, BoxError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        match self.breaker.try_acquire() {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejection) => ResponseFuture::ready(Err((self.reject)(rejection))),
        }
    }
}

// ===== server =====

/// A breaker around a server's handlers (an axum router, a tonic service): an open
/// breaker answers at once with `503 Service Unavailable` and `Retry-After` (a
/// trailers-only `UNAVAILABLE` with `grpc-retry-pushback-ms` to gRPC requests), through
/// a [`RejectionResponder`]. The error type stays `Infallible`.
///
/// See the [module docs](crate::breaker) for an example.
#[derive(Debug, Clone)]
pub struct ServerBreakerLayer<C = SystemClock, K = HttpClassifier, R = DefaultResponder> {
    breaker: Breaker<C>,
    classifier: K,
    responder: R,
}

impl<C: Clock> ServerBreakerLayer<C, HttpClassifier, DefaultResponder> {
    /// HTTP classification and the default responses, with `breaker`.
    pub fn new(breaker: Breaker<C>) -> Self {
        ServerBreakerLayer {
            breaker,
            classifier: HttpClassifier::new(),
            responder: DefaultResponder,
        }
    }
}

impl<C, K, R> ServerBreakerLayer<C, K, R> {
    /// Classifies responses with `classifier` (a [`GrpcClassifier`] for tonic).
    pub fn classifier<K2>(self, classifier: K2) -> ServerBreakerLayer<C, K2, R> {
        ServerBreakerLayer {
            breaker: self.breaker,
            classifier,
            responder: self.responder,
        }
    }

    /// Answers rejected requests with `responder`.
    pub fn responder<R2>(self, responder: R2) -> ServerBreakerLayer<C, K, R2> {
        ServerBreakerLayer {
            breaker: self.breaker,
            classifier: self.classifier,
            responder,
        }
    }

    /// The shared breaker.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breaker
    }
}

impl<S, C: Clone, K: Clone, R: Clone> Layer<S> for ServerBreakerLayer<C, K, R> {
    type Service = ServerBreakerService<S, C, K, R>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            responder: self.responder.clone(),
        }
    }
}

/// The service of [`ServerBreakerLayer`].
///
/// See the [module docs](crate::breaker) for an example.
#[derive(Debug, Clone)]
pub struct ServerBreakerService<S, C = SystemClock, K = HttpClassifier, R = DefaultResponder> {
    inner: S,
    breaker: Breaker<C>,
    classifier: K,
    responder: R,
}

impl<S, C, K, R> ServerBreakerService<S, C, K, R> {
    /// The shared breaker.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, consuming the wrapper.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB, C, K, R> Service<Request<ReqB>> for ServerBreakerService<S, C, K, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>, Error = Infallible>,
    C: Clock,
    K: ResponseClassifier,
    R: RejectionResponder<ResB>,
{
    type Response = Response<ClassifiedBody<ResB, C, K>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, ResB, C, K, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        match self.breaker.try_acquire() {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejection) => {
                let response = self.responder.respond(&rejection, Protocol::of(&req));
                ResponseFuture::ready(Ok(response.map(|b| ClassifiedBody::new(b, None))))
            }
        }
    }
}
