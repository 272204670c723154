use tower_layer::Layer;

use crate::feedback::NoFeedback;
use crate::service::Shape;
use crate::shaper::Shaper;

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
pub struct ShapeLayer<C = tollgate_core::SystemClock, F = NoFeedback> {
    shaper: Shaper<C>,
    feedback: F,
}

impl<C> ShapeLayer<C> {
    /// A layer releasing requests through `shaper`, ignoring what responses say.
    pub fn new(shaper: Shaper<C>) -> Self {
        Self {
            shaper,
            feedback: NoFeedback,
        }
    }
}

impl<C, F> ShapeLayer<C, F> {
    /// Reads every response with `feedback` and pauses the shaper when the server
    /// pushes back (server-feedback mode).
    pub fn feedback<G>(self, feedback: G) -> ShapeLayer<C, G> {
        ShapeLayer {
            shaper: self.shaper,
            feedback,
        }
    }

    /// The shared shaper, for snapshots.
    pub fn shaper(&self) -> &Shaper<C> {
        &self.shaper
    }
}

impl<S, C, F: Clone> Layer<S> for ShapeLayer<C, F> {
    type Service = Shape<S, C, F>;

    fn layer(&self, inner: S) -> Self::Service {
        Shape::new(inner, self.shaper.clone(), self.feedback.clone())
    }
}
