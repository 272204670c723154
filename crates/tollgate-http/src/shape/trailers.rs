use http::HeaderMap;
use tollgate_leaky::DeferredVerdict;

use super::feedback::signal_from_trailers;
use crate::body::{BodyEnd, BodyWatch};

/// The [`BodyWatch`] of [`HttpFeedback`](super::HttpFeedback) on a gRPC response whose
/// status is in the trailers: reads it there and reports it to the shaper, once per
/// response (`RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms` pauses releases and
/// counts as throttled, any other status as accepted).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tollgate_core::ConfigError> {
/// use http_body_util::{BodyExt, Full};
/// use tollgate_core::{Quota, TokioClock};
/// use tollgate_http::body::WatchedBody;
/// use tollgate_http::grpc;
/// use tollgate_http::shape::TrailerFeedback;
/// use tollgate_leaky::Shaper;
///
/// let shaper = Shaper::builder(Quota::per_second(10).burst(1)?).clock(TokioClock::new()).build()?;
/// let mut trailers = http::HeaderMap::new();
/// trailers.insert(grpc::STATUS, grpc::code_value(grpc::RESOURCE_EXHAUSTED));
/// trailers.insert(grpc::RETRY_PUSHBACK_MS, 900.into());
/// let body = Full::new(bytes::Bytes::from_static(b"reply")).with_trailers(async move { Some(Ok(trailers)) });
/// let watched = WatchedBody::new(body, TrailerFeedback::new(shaper.verdict().defer()));
/// watched.collect().await.unwrap();
/// assert_eq!(shaper.snapshot().paused_for, std::time::Duration::from_millis(900));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TrailerFeedback {
    // Taken when the trailers are seen: one signal per response.
    verdict: Option<DeferredVerdict>,
}

impl TrailerFeedback {
    /// Reports the trailers of one response to `verdict`.
    pub fn new(verdict: DeferredVerdict) -> Self {
        Self {
            verdict: Some(verdict),
        }
    }
}

impl BodyWatch for TrailerFeedback {
    fn trailers(&mut self, trailers: &HeaderMap) {
        if let Some(verdict) = self.verdict.take() {
            verdict.report(signal_from_trailers(trailers));
        }
    }

    // A body that ends without trailers (a failure, the caller went away) says nothing
    // about the server's capacity.
    fn end(self, _: BodyEnd) {}
}
