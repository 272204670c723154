//! The server stack: drain -> deadline -> rate limit -> shaping -> breaker -> per-try
//! timeout -> handler, as one tower layer.

mod builder;
mod layers;

use std::sync::Arc;

use arc_swap::ArcSwap;
use tollgate_core::{Clock, SystemClock};
use tollgate_deadline::{DeadlineSnapshot, TimeoutSnapshot};
use tollgate_drain::{Drain, DrainLayer, Drained};
use tollgate_http::drain::UntilBodyEnd;
use tollgate_http::AsResponse;
use tower_layer::Layer;

pub(crate) use builder::disabled_breaker;
pub use builder::ServerStackBuilder;
pub use layers::ServerLayers;

use crate::config::ServerConfig;
use crate::error::{StackError, Warnings};
use crate::face::{Face, Http};
use crate::reload::{Live, StackService};

/// A whole server stack as one tower [`Layer`]: drain -> deadline -> rate limit ->
/// shaping -> circuit breaker -> per-try timeout -> handler, each refusal answered as
/// a response (`429`, `503`, `504`, `400`, or the gRPC status), the error type kept:
/// `Infallible` on an axum router or a tonic server.
///
/// Build it from values ([`ServerStack::builder`]) or a config file section
/// ([`ServerStack::from_config`]); the order is fixed, what is not configured is left
/// out, and the timeouts are checked. It is `Clone` (clones share every layer's
/// state) and can be [`reload`](Self::reload)ed while it runs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use tollgate::prelude::*;
///
/// let (stack, warnings) = ServerStack::builder()
///     .deadline(DeadlinePolicy::builder().max(Duration::from_secs(5)).build()?)
///     .rate_limit(KeyedRateLimiter::builder(Quota::per_second(1).burst(1)?).build()?, KeySource::global())
///     .build()?;
/// assert!(warnings.is_empty());
/// let app: Router = Router::new().route("/", get(|| async { "ok" })).layer(stack.clone());
///
/// use tower::ServiceExt;
/// let get = || http::Request::get("/").body(axum::body::Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(get()).await?.status(), 200);
/// assert_eq!(app.oneshot(get()).await?.status(), 429);
/// assert_eq!(stack.snapshot().rate_limit.unwrap().rejected, 1);
/// # Ok(()) }
/// ```
pub struct ServerStack<F: Face = Http, C = SystemClock> {
    drain: DrainLayer<AsResponse, UntilBodyEnd>,
    live: Live<ServerLayers<F, C>>,
    clock: C,
}

impl<F: Face, C: Clone> Clone for ServerStack<F, C> {
    fn clone(&self) -> Self {
        Self {
            drain: self.drain.clone(),
            live: self.live.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<F: Face, C> std::fmt::Debug for ServerStack<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStack")
            .field("generation", &self.live.load().generation)
            .finish_non_exhaustive()
    }
}

/// The counters of every layer of a server stack, `None` for a layer left out.
///
/// See [`ServerStack`] for an example.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerSnapshot {
    /// How many configurations the stack has run: 0 as built, +1 per reload.
    pub generation: u64,
    /// The drain: phase and requests in flight.
    pub drain: tollgate_drain::Snapshot,
    /// The incoming deadline.
    pub deadline: Option<DeadlineSnapshot>,
    /// The rate limiter.
    pub rate_limit: Option<tollgate_bucket::Snapshot>,
    /// The shaper.
    pub shape: Option<tollgate_leaky::Snapshot>,
    /// The circuit breaker.
    pub breaker: Option<tollgate_breaker::Snapshot>,
    /// The per-try timeout.
    pub timeout: Option<TimeoutSnapshot>,
}

impl ServerStack {
    /// A builder for an HTTP server stack on the system clock.
    pub fn builder() -> ServerStackBuilder {
        ServerStackBuilder::new(SystemClock::new())
    }

    /// The HTTP server stack a config file's `[server]` section describes, with the
    /// checker's warnings.
    ///
    /// ```
    /// let config = tollgate::Config::from_toml(r#"
    ///     [server.deadline]
    ///     max = "10s"
    ///     [server.timeout]
    ///     per_try = "2s"
    /// "#)?;
    /// let (stack, warnings) = tollgate::ServerStack::from_config(&config.server)?;
    /// assert!(warnings.is_empty());
    /// assert!(stack.snapshot().timeout.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &ServerConfig) -> Result<(Self, Warnings), StackError> {
        Self::builder().config(config)?.build()
    }
}

impl<F: Face, C: Clock> ServerStack<F, C> {
    /// The drain: run it (`stack.drain().clone().run_until(tollgate::drain::terminate())`)
    /// and hand [`Drain::done`] to the server's graceful shutdown.
    pub fn drain(&self) -> &Drain {
        self.drain.drain()
    }

    /// Every layer's counters, from the configuration running now.
    pub fn snapshot(&self) -> ServerSnapshot {
        let layers = self.live.load();
        ServerSnapshot {
            generation: layers.generation,
            drain: self.drain.snapshot(),
            deadline: layers.deadline.as_ref().map(|l| l.snapshot()),
            rate_limit: layers.rate_limit.as_ref().map(|l| l.snapshot()),
            shape: layers.shape.as_ref().map(|l| l.snapshot()),
            breaker: layers.breaker_on.then(|| layers.breaker.snapshot()),
            timeout: layers.timeout.as_ref().map(|l| l.snapshot()),
        }
    }

    /// Swaps in the layers `config` describes, atomically: a request runs wholly under
    /// the old layers or wholly under the new ones. A config that is invalid or
    /// misaligned is refused and the running layers stay. The drain is kept (its
    /// timings are read at start-up); the other layers start afresh, except a section
    /// that did not change, whose layer (and state: buckets, breaker) is kept.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tollgate::{Config, ServerStack};
    ///
    /// let (stack, _) = ServerStack::from_config(&Config::from_toml("")?.server)?;
    /// assert!(stack.snapshot().rate_limit.is_none());
    /// let limited = Config::from_toml("[server.rate_limit]\nkey = \"global\"\nper_key = { count = 10 }")?;
    /// stack.reload(&limited.server)?;
    /// assert_eq!(stack.snapshot().generation, 1);
    /// assert!(stack.snapshot().rate_limit.is_some());
    ///
    /// let bad = Config::from_toml("[server.timeout]\nper_try = \"0s\"");
    /// assert!(bad.is_err()); // refused before it reaches the stack
    /// # Ok(()) }
    /// ```
    pub fn reload(&self, config: &ServerConfig) -> Result<Warnings, StackError> {
        let current = self.live.load_full();
        let (layers, warnings) = ServerStackBuilder::<F, C>::new(self.clock.clone())
            .keep_drain(self.drain().clone())
            .config(config)?
            .layers(self.drain(), current.generation + 1, Some(&current))?;
        // One writer at a time would only matter for the generation count; a lost
        // race still installs a whole, checked set of layers.
        self.live.store(Arc::new(layers));
        Ok(warnings)
    }

    pub(crate) fn assemble(drain: Drain, layers: ServerLayers<F, C>, clock: C) -> Self {
        Self {
            drain: DrainLayer::new(drain)
                .refuse_with(AsResponse::new())
                .track_with(UntilBodyEnd),
            live: Arc::new(ArcSwap::from_pointee(layers)),
            clock,
        }
    }
}

/// The drain of a stack that names none: 5 s propagation, 30 s deadline.
pub(crate) fn default_drain<C: Clock>(clock: C) -> Drain {
    Drain::builder()
        .clock(clock)
        .build()
        .unwrap_or_else(|_| unreachable!("the default drain timings are valid"))
}

impl<S, F: Face, C: Clock> Layer<S> for ServerStack<F, C> {
    type Service = Drained<StackService<S, ServerLayers<F, C>>, AsResponse, UntilBodyEnd>;

    fn layer(&self, handler: S) -> Self::Service {
        self.drain
            .layer(StackService::new(handler, self.live.clone()))
    }
}
