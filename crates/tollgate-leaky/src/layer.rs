use tollgate_core::{AsError, Clock, SystemClock};
use tower_layer::Layer;

use crate::feedback::NoFeedback;
use crate::service::Shape;
use crate::shaper::Shaper;
use crate::snapshot::Snapshot;
use crate::weigh::Unit;

/// Applies a [`Shaper`] to a tower service: each request waits its turn in the
/// response future, then is sent. Clones share the shaper.
///
/// The same layer shapes a client (a third-party quota, listening to the server with
/// [`feedback`](Self::feedback)) and a server (smoothing load instead of refusing it).
/// What a refusal becomes is [`refuse_with`](Self::refuse_with)'s choice: by default
/// ([`AsError`]) a [`Rejection`](tollgate_core::Rejection) inside
/// [`BoxError`](tollgate_core::BoxError); `tollgate_http::AsResponse` answers `429` +
/// `Retry-After` (or a gRPC `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms`) and
/// keeps the inner service's error type, `Infallible` on an axum router;
/// `tollgate_http::AsStatus` fails a tonic client's call with that `tonic::Status`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tollgate_core::ConfigError> {
/// use std::time::Duration;
/// use tollgate_core::{Clock, Quota, TokioClock};
/// use tollgate_leaky::{ShapeLayer, Shaper};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let clock = TokioClock::new();
/// let shaper = Shaper::builder(Quota::per_second(5).burst(1)?).clock(clock.clone()).build()?;
/// let layer = ShapeLayer::new(shaper);
/// let svc = layer.layer(service_fn(|x: u32| async move {
///     Ok::<_, std::convert::Infallible>(x * 2)
/// }));
/// let start = clock.now();
/// assert_eq!(svc.clone().oneshot(1).await.unwrap(), 2);
/// assert_eq!(svc.oneshot(2).await.unwrap(), 4);
/// assert_eq!(clock.now() - start, Duration::from_millis(200));
/// assert_eq!(layer.snapshot().admitted, 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ShapeLayer<C = SystemClock, F = NoFeedback, W = Unit, R = AsError> {
    shaper: Shaper<C>,
    feedback: F,
    weigh: W,
    refuse: R,
}

impl<C> ShapeLayer<C> {
    /// A layer releasing requests through `shaper`, one unit each, ignoring what
    /// responses say, refusing with an error.
    pub fn new(shaper: Shaper<C>) -> Self {
        Self {
            shaper,
            feedback: NoFeedback,
            weigh: Unit,
            refuse: AsError,
        }
    }
}

impl<C, F, W, R> ShapeLayer<C, F, W, R> {
    /// Reads every response with `feedback` and pauses the shaper when the server
    /// pushes back (see [`Feedback`](crate::Feedback)).
    pub fn feedback<G>(self, feedback: G) -> ShapeLayer<C, G, W, R> {
        ShapeLayer {
            shaper: self.shaper,
            feedback,
            weigh: self.weigh,
            refuse: self.refuse,
        }
    }

    /// Charges each request the units `weigh` says (see [`Weigh`](crate::Weigh)).
    pub fn weigh<V>(self, weigh: V) -> ShapeLayer<C, F, V, R> {
        ShapeLayer {
            shaper: self.shaper,
            feedback: self.feedback,
            weigh,
            refuse: self.refuse,
        }
    }

    /// Turns refusals into what `refuse` says (see
    /// [`Refuse`](tollgate_core::Refuse)) instead of an error.
    pub fn refuse_with<R2>(self, refuse: R2) -> ShapeLayer<C, F, W, R2> {
        ShapeLayer {
            shaper: self.shaper,
            feedback: self.feedback,
            weigh: self.weigh,
            refuse,
        }
    }

    /// The shared shaper.
    pub fn shaper(&self) -> &Shaper<C> {
        &self.shaper
    }
}

impl<C: Clock, F, W, R> ShapeLayer<C, F, W, R> {
    /// The shared shaper's counters and state: see [`Shaper::snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.shaper.snapshot()
    }
}

impl<S, C, F: Clone, W: Clone, R: Clone> Layer<S> for ShapeLayer<C, F, W, R> {
    type Service = Shape<S, C, F, W, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Shape::from_parts(
            inner,
            self.shaper.clone(),
            self.feedback.clone(),
            self.weigh.clone(),
            self.refuse.clone(),
        )
    }
}
