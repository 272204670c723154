use tower_layer::Layer;

use crate::feedback::NoFeedback;
use crate::service::Shape;
use crate::shaper::Shaper;
use crate::weigh::Unit;

/// Applies a [`Shaper`] to a tower service: each request waits its turn in the
/// response future, then is sent. Clones share the shaper.
///
/// Refusals come back as a [`Rejection`](tollgate_core::Rejection) inside
/// `tower::BoxError`. With [`feedback`](Self::feedback), every response is read for
/// server pushback (see [`Feedback`](crate::Feedback)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use tollgate_core::TokioClock;
/// use tollgate_leaky::{ShapeLayer, Shaper};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let shaper = Shaper::builder().per_second(5).build_with_clock(TokioClock::new()).unwrap();
/// let svc = ShapeLayer::new(shaper).layer(service_fn(|x: u32| async move {
///     Ok::<_, std::convert::Infallible>(x * 2)
/// }));
/// let start = tokio::time::Instant::now();
/// assert_eq!(svc.clone().oneshot(1).await.unwrap(), 2);
/// assert_eq!(svc.oneshot(2).await.unwrap(), 4);
/// assert_eq!(start.elapsed(), Duration::from_millis(200));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ShapeLayer<C = tollgate_core::SystemClock, F = NoFeedback, W = Unit> {
    shaper: Shaper<C>,
    feedback: F,
    weigh: W,
}

impl<C> ShapeLayer<C> {
    /// A layer releasing requests through `shaper`, one unit each, ignoring what
    /// responses say.
    pub fn new(shaper: Shaper<C>) -> Self {
        Self {
            shaper,
            feedback: NoFeedback,
            weigh: Unit,
        }
    }
}

impl<C, F, W> ShapeLayer<C, F, W> {
    /// Reads every response with `feedback` and pauses the shaper when the server
    /// pushes back (server-feedback mode).
    pub fn feedback<G>(self, feedback: G) -> ShapeLayer<C, G, W> {
        ShapeLayer {
            shaper: self.shaper,
            feedback,
            weigh: self.weigh,
        }
    }

    /// Charges each request the units `weigh` says (see [`Weigh`](crate::Weigh)).
    pub fn weigh<V>(self, weigh: V) -> ShapeLayer<C, F, V> {
        ShapeLayer {
            shaper: self.shaper,
            feedback: self.feedback,
            weigh,
        }
    }

    /// The shared shaper, for snapshots.
    pub fn shaper(&self) -> &Shaper<C> {
        &self.shaper
    }
}

impl<S, C, F: Clone, W: Clone> Layer<S> for ShapeLayer<C, F, W> {
    type Service = Shape<S, C, F, W>;

    fn layer(&self, inner: S) -> Self::Service {
        Shape::new(
            inner,
            self.shaper.clone(),
            self.feedback.clone(),
            self.weigh.clone(),
        )
    }
}
