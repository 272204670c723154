//! Reload without restart: a stack's layers live behind one atomic pointer, and a
//! service composes itself from the layers it finds there.
//!
//! A service reads the pointer in `poll_ready` and, when the layers there are not the
//! ones it last composed, builds its whole stack anew from that one set (a few `Arc`
//! clones), so no request sees half of an old configuration and half of a new one, and
//! a request between reloads pays one pointer read. A reload builds and checks the new
//! layers first, and swaps them in only when they are valid: a bad file leaves the
//! running stack as it was.

use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use tower_service::Service;

/// A set of layers that wraps an inner service into the stack's composed service.
pub trait Compose<S> {
    /// The composed service.
    type Service;

    /// `inner`, wrapped in every layer of the set, in the stack's order.
    fn compose(&self, inner: S) -> Self::Service;
}

/// The layers of a running stack, swapped whole by a reload.
pub(crate) type Live<L> = Arc<ArcSwap<L>>;

/// The service of a reloadable stack: it composes its layers around a clone of the
/// inner service, and composes again when it is polled ready after a reload; a call
/// goes through the composition that was polled ready.
///
/// It is `Clone` (a clone composes anew, from the layers live at its first
/// `poll_ready`) and as ready as the inner service is.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use std::convert::Infallible;
/// use tollgate::{Config, ServerStack};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let (stack, _) = ServerStack::from_config(&Config::from_toml("")?.server)?;
/// let handler = service_fn(|_: http::Request<String>| async {
///     Ok::<_, Infallible>(http::Response::new(String::from("ok")))
/// });
/// let response = stack.layer(handler).oneshot(http::Request::new(String::new())).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(()) }
/// ```
pub struct StackService<S, L: Compose<S>> {
    inner: S,
    live: Live<L>,
    /// The layers last composed, and their composition around `inner`.
    composed: Option<(Arc<L>, L::Service)>,
}

impl<S, L: Compose<S>> StackService<S, L> {
    pub(crate) fn new(inner: S, live: Live<L>) -> Self {
        Self {
            inner,
            live,
            composed: None,
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

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

// By hand: a clone must not copy a composition polled ready for another caller.
impl<S: Clone, L: Compose<S>> Clone for StackService<S, L> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.live.clone())
    }
}

impl<S, L: Compose<S>> std::fmt::Debug for StackService<S, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackService")
            .field("composed", &self.composed.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, L, Req> Service<Req> for StackService<S, L>
where
    S: Clone,
    L: Compose<S>,
    L::Service: Service<Req>,
{
    type Response = <L::Service as Service<Req>>::Response;
    type Error = <L::Service as Service<Req>>::Error;
    type Future = <L::Service as Service<Req>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let live = self.live.load();
        let service = match &mut self.composed {
            Some((layers, service)) if Arc::ptr_eq(layers, &live) => service,
            composed => {
                // A reload (or the first request): dropping the old composition gives
                // back whatever its readiness held.
                let service = live.compose(self.inner.clone());
                &mut composed
                    .insert((arc_swap::Guard::into_inner(live), service))
                    .1
            }
        };
        service.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (_, service) = self
            .composed
            .as_mut()
            .expect("StackService::call before poll_ready returned Ready");
        service.call(request)
    }
}
