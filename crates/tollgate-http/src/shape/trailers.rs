use http::{HeaderMap, Response};
use tollgate_core::Clock;
use tollgate_leaky::Shaper;

use super::feedback::signal_from_trailers;
use crate::body::{BodyEnd, BodyWatch, WatchedBody};

/// Wraps a gRPC response's body in the shared [`WatchedBody`] so that its trailers are
/// fed back to `shaper`: `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms` pauses
/// releases, any other status counts as accepted. Use it with
/// `tower::util::MapResponseLayer` under the client's
/// [`ShapeLayer`](tollgate_leaky::ShapeLayer) (whose [`HttpFeedback`](super::HttpFeedback)
/// already reads trailers-only responses).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tollgate_core::ConfigError> {
/// use std::time::Duration;
/// use http_body_util::{BodyExt, Full};
/// use tollgate_core::{Quota, TokioClock};
/// use tollgate_http::grpc;
/// use tollgate_http::shape::observe_trailers;
/// use tollgate_leaky::Shaper;
///
/// let shaper = Shaper::builder(Quota::per_second(10).burst(1)?).clock(TokioClock::new()).build()?;
/// let mut trailers = http::HeaderMap::new();
/// trailers.insert(grpc::STATUS, grpc::code_value(grpc::RESOURCE_EXHAUSTED));
/// trailers.insert(grpc::RETRY_PUSHBACK_MS, 1500.into());
/// let body = Full::new(bytes::Bytes::from_static(b"reply"))
///     .with_trailers(async move { Some(Ok(trailers)) });
/// let response = observe_trailers(http::Response::new(body), &shaper);
/// response.into_body().collect().await.unwrap();
/// assert_eq!(shaper.snapshot().paused_for, Duration::from_millis(1500));
/// # Ok(()) }
/// ```
pub fn observe_trailers<B, C: Clock>(
    response: Response<B>,
    shaper: &Shaper<C>,
) -> Response<WatchedBody<B, TrailerFeedback<C>>> {
    response.map(|inner| WatchedBody::new(inner, TrailerFeedback::new(shaper.clone())))
}

/// The [`BodyWatch`] of [`observe_trailers`]: reads a gRPC status from the trailers and
/// tells the shaper what it says, once per response.
///
/// See [`observe_trailers`] for an example.
#[derive(Debug)]
pub struct TrailerFeedback<C> {
    // Taken when the trailers are seen: one signal per response.
    shaper: Option<Shaper<C>>,
}

impl<C> TrailerFeedback<C> {
    /// Feeds the trailers of one response to `shaper`.
    pub fn new(shaper: Shaper<C>) -> Self {
        Self {
            shaper: Some(shaper),
        }
    }
}

impl<C: Clock> BodyWatch for TrailerFeedback<C> {
    fn trailers(&mut self, trailers: &HeaderMap) {
        if let Some(shaper) = self.shaper.take() {
            shaper.observe(signal_from_trailers(trailers));
        }
    }

    // A body that ends without trailers (a failure, the caller went away) says nothing
    // about the server's capacity.
    fn end(self, _: BodyEnd) {}
}
