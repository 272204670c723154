//! [`GrpcVerdict`]: a gRPC call's permit, carried by its response body until the
//! trailers say how the call ended.

use http::HeaderMap;
use tollgate_breaker::{Outcome, Permit};
use tollgate_core::{Clock, SystemClock};

use super::GrpcClassifier;
use crate::body::{BodyEnd, BodyWatch};

/// The [`BodyWatch`] of a streaming gRPC response behind a breaker with a
/// [`GrpcClassifier`]: it holds the call's permit and records the outcome from the
/// trailers' `grpc-status`. A body that fails is a failure, one that ends without
/// trailers is a failure (no status), and one dropped (or cut) before its trailers
/// counts as a cancelled call: the permit is dropped, and a half-open probe permit goes
/// back.
///
/// Made by [`GrpcClassifier`] for responses whose head does not decide:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate_core::BoxError> {
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http_body::Frame;
/// use http_body_util::{BodyExt, StreamBody};
/// use tollgate_breaker::{Breaker, BreakerLayer, State};
/// use tollgate_http::{breaker::GrpcClassifier, grpc};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let breaker = Breaker::builder().no_failure_rate().consecutive_failures(1).build()?;
/// let svc = ServiceBuilder::new()
///     .layer(BreakerLayer::new(breaker.clone()).classifier(GrpcClassifier::new()))
///     .service(service_fn(|_: http::Request<()>| async {
///         // A stream whose trailers say UNAVAILABLE.
///         let mut trailers = http::HeaderMap::new();
///         trailers.insert(grpc::STATUS, grpc::code_value(grpc::UNAVAILABLE));
///         let frames = vec![
///             Ok::<_, Infallible>(Frame::data(Bytes::from("reply"))),
///             Ok(Frame::trailers(trailers)),
///         ];
///         Ok::<_, Infallible>(http::Response::new(StreamBody::new(futures::stream::iter(frames))))
///     }));
/// let response = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(breaker.state(), State::Closed, "nothing known before the trailers");
/// response.into_body().collect().await?;
/// assert_eq!(breaker.state(), State::Open);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GrpcVerdict<C = SystemClock> {
    permit: Option<Permit<C>>,
    classifier: GrpcClassifier,
}

impl<C> GrpcVerdict<C> {
    pub(crate) fn new(permit: Permit<C>, classifier: GrpcClassifier) -> Self {
        GrpcVerdict {
            permit: Some(permit),
            classifier,
        }
    }
}

impl<C: Clock> BodyWatch for GrpcVerdict<C> {
    fn trailers(&mut self, trailers: &HeaderMap) {
        if let Some(permit) = self.permit.take() {
            permit.record(self.classifier.classify_trailers(Some(trailers)));
        }
    }

    fn end(mut self, end: BodyEnd) {
        let Some(permit) = self.permit.take() else {
            return; // recorded from the trailers
        };
        match end {
            BodyEnd::Complete => permit.record(self.classifier.classify_trailers(None)),
            BodyEnd::Failed => permit.record(Outcome::Failure),
            // Dropping the permit unrecorded: a cancelled call.
            BodyEnd::Cut | BodyEnd::Dropped => drop(permit),
        }
    }
}
