//! A layer that may be switched off: the stacks skip what is not configured without
//! changing their type.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tollgate_core::{Refusal, Refuse};
use tower_service::Service;

/// Either a layer's service (`On`) or the service it would have wrapped (`Off`),
/// whose errors become the layer's errors as the layer's refusal type `R` converts
/// them (`AsError` boxes them, `AsResponse` keeps them). The stacks use it for every
/// layer that may be left out; users never build one.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate::core::BoxError> {
/// use std::time::Duration;
/// use tollgate::core::AsError;
/// use tollgate::deadline::{TimeoutLayer, TimeoutPolicy};
/// use tollgate::stack::Optional;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let echo = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) });
/// let timeout = TimeoutLayer::new(TimeoutPolicy::total(Duration::from_secs(1))?);
/// // Left out, the layer still converts the errors as it would: into `BoxError`.
/// for svc in [Optional::On(timeout.layer(echo)), Optional::Off(echo, AsError)] {
///     assert_eq!(svc.oneshot(7).await?, 7);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub enum Optional<A, B, R> {
    /// The layer is there.
    On(A),
    /// The layer is left out: the inner service, and how its errors are converted.
    Off(B, R),
}

impl<A, B, R> Optional<A, B, R> {
    /// `layer` around `inner` when `on` is some layer, `inner` alone otherwise.
    pub(crate) fn new<L: tower_layer::Layer<B, Service = A>>(
        layer: Option<&L>,
        inner: B,
        refuse: R,
    ) -> Self {
        match layer {
            Some(layer) => Optional::On(layer.layer(inner)),
            None => Optional::Off(inner, refuse),
        }
    }
}

impl<A, B, R, Req> Service<Req> for Optional<A, B, R>
where
    A: Service<Req>,
    B: Service<Req, Response = A::Response>,
    R: Refuse<Req>,
    R::Refusal: Refusal<A::Response, B::Error, Error = A::Error>,
{
    type Response = A::Response;
    type Error = A::Error;
    type Future = OptionalFuture<A::Future, B::Future, R::Refusal>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Optional::On(a) => a.poll_ready(cx),
            Optional::Off(b, _) => b.poll_ready(cx).map_err(R::Refusal::error),
        }
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        match self {
            Optional::On(a) => OptionalFuture {
                state: State::On {
                    future: a.call(request),
                },
            },
            Optional::Off(b, _) => OptionalFuture {
                state: State::Off {
                    future: b.call(request),
                    _refusal: std::marker::PhantomData,
                },
            },
        }
    }
}

pin_project! {
    /// The response future of an [`Optional`] service: see there.
    #[derive(Debug)]
    pub struct OptionalFuture<A, B, F> {
        #[pin]
        state: State<A, B, F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<A, B, F> {
        On { #[pin] future: A },
        Off { #[pin] future: B, _refusal: std::marker::PhantomData<fn() -> F> },
    }
}

impl<A, B, F, Res, EA, EB> Future for OptionalFuture<A, B, F>
where
    A: Future<Output = Result<Res, EA>>,
    B: Future<Output = Result<Res, EB>>,
    F: Refusal<Res, EB, Error = EA>,
{
    type Output = Result<Res, EA>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::On { future } => future.poll(cx),
            StateProj::Off { future, .. } => future.poll(cx).map_err(F::error),
        }
    }
}
