//! The client stack: deadline -> breaker -> rate limit / shaping -> per-try timeout ->
//! transport, as one tower layer.

mod builder;
mod layers;
mod unshaped;

use std::sync::Arc;

use arc_swap::ArcSwap;
use tollgate_core::{Clock, SystemClock};
use tollgate_deadline::TimeoutSnapshot;
use tower_layer::Layer;

pub use builder::ClientStackBuilder;
pub use layers::ClientLayers;
pub use unshaped::{Unshaped, UnshapedFuture};

use crate::config::ClientConfig;
use crate::error::{StackError, Warnings};
use crate::face::{Face, Http};
use crate::reload::{Live, StackService};

/// A whole client stack as one tower [`Layer`]: send the remaining deadline, stop
/// calling a failing upstream, keep to its quota (strict, shaped, or both, obeying its
/// `Retry-After`), bound each try, then the transport (a hyper-util client, a tonic
/// `Channel`). Refusals are an `Err(BoxError)` holding the
/// [`Rejection`](tollgate_core::Rejection) ([`Http`]), or the call's `tonic::Status`
/// (`Grpc`).
///
/// Build it from values ([`ClientStack::builder`]) or a `[client.<name>]` section
/// ([`ClientStack::from_config`]); it is `Clone` (clones share every layer's state),
/// and can be [`reload`](Self::reload)ed while it runs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use std::time::Duration;
/// use tollgate::prelude::*;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let (stack, _warnings) = ClientStack::builder()
///     .deadline(Duration::from_secs(3))
///     .breaker(Breaker::builder().consecutive_failures(5).build()?)
///     .rate_limit(RateLimiter::new(Quota::per_minute(1).build()?))
///     .per_try(Duration::from_secs(1))
///     .build()?;
/// let transport = service_fn(|req: http::Request<String>| async move {
///     // The upstream learns how long it has (`Request-Timeout`, in seconds).
///     let sent = req.headers().get("request-timeout").cloned();
///     Ok::<_, std::io::Error>(http::Response::new(format!("{sent:?}")))
/// });
/// let client = stack.layer(transport);
/// assert_eq!(client.clone().oneshot(http::Request::new(String::new())).await?.status(), 200);
/// let refused = client.oneshot(http::Request::new(String::new())).await.unwrap_err();
/// assert_eq!(refused.downcast_ref::<Rejection>().unwrap().reason(), Reason::RateLimited);
/// # Ok(()) }
/// ```
pub struct ClientStack<F: Face = Http, C = SystemClock> {
    live: Live<ClientLayers<F, C>>,
    clock: C,
}

impl<F: Face, C: Clone> Clone for ClientStack<F, C> {
    fn clone(&self) -> Self {
        Self {
            live: self.live.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<F: Face, C> std::fmt::Debug for ClientStack<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStack")
            .field("generation", &self.live.load().generation)
            .finish_non_exhaustive()
    }
}

/// The counters of every layer of a client stack, `None` for a layer left out.
///
/// See [`ClientStack`] for an example.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientSnapshot {
    /// How many configurations the stack has run: 0 as built, +1 per reload.
    pub generation: u64,
    /// The total deadline.
    pub deadline: Option<TimeoutSnapshot>,
    /// The circuit breaker.
    pub breaker: Option<tollgate_breaker::Snapshot>,
    /// The strict quota.
    pub rate_limit: Option<tollgate_bucket::Snapshot>,
    /// The shaper.
    pub shape: Option<tollgate_leaky::Snapshot>,
    /// The per-try timeout.
    pub per_try: Option<TimeoutSnapshot>,
}

impl ClientStack {
    /// A builder for an HTTP client stack on the system clock.
    pub fn builder() -> ClientStackBuilder {
        ClientStackBuilder::new(SystemClock::new())
    }

    /// The HTTP client stack a `[client.<name>]` section describes, with the checker's
    /// warnings.
    ///
    /// ```
    /// let config = tollgate::Config::from_toml("[client.api]\ndeadline = \"2s\"\nper_try = \"500ms\"")?;
    /// let (stack, _) = tollgate::ClientStack::from_config(&config.client["api"])?;
    /// assert!(stack.snapshot().per_try.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &ClientConfig) -> Result<(Self, Warnings), StackError> {
        Self::builder().config(config)?.build()
    }
}

impl<F: Face, C: Clock> ClientStack<F, C> {
    /// Every layer's counters, from the configuration running now.
    pub fn snapshot(&self) -> ClientSnapshot {
        let layers = self.live.load();
        ClientSnapshot {
            generation: layers.generation,
            deadline: layers.deadline.as_ref().map(|l| l.snapshot()),
            breaker: layers.breaker_on.then(|| layers.breaker.snapshot()),
            rate_limit: layers.rate_limit.as_ref().map(|l| l.snapshot()),
            shape: layers.shape.as_ref().map(|l| l.snapshot()),
            per_try: layers.per_try.as_ref().map(|l| l.snapshot()),
        }
    }

    /// Swaps in the layers `config` describes, atomically, as
    /// [`ServerStack::reload`](crate::ServerStack::reload) does: a bad config is
    /// refused and the running layers stay; unchanged parts keep their state.
    pub fn reload(&self, config: &ClientConfig) -> Result<Warnings, StackError> {
        let current = self.live.load_full();
        let (layers, warnings) = ClientStackBuilder::<F, C>::new(self.clock.clone())
            .config(config)?
            .layers(current.generation + 1, Some(&current))?;
        self.live.store(Arc::new(layers));
        Ok(warnings)
    }

    pub(crate) fn assemble(layers: ClientLayers<F, C>, clock: C) -> Self {
        Self {
            live: Arc::new(ArcSwap::from_pointee(layers)),
            clock,
        }
    }
}

impl<S, F: Face, C: Clock> Layer<S> for ClientStack<F, C> {
    type Service = StackService<S, ClientLayers<F, C>>;

    fn layer(&self, transport: S) -> Self::Service {
        StackService::new(transport, self.live.clone())
    }
}
