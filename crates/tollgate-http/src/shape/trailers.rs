use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tollgate_core::Clock;
use tollgate_leaky::{Shaper, Signal};

use super::feedback::signal_from_trailers;

/// Wraps a gRPC response's body so that its trailers are fed back to `shaper`:
/// `grpc-status: 8` with `grpc-retry-pushback-ms` pauses releases, any other status
/// counts as accepted. Use it with `tower::util::MapResponseLayer` under the client's
/// [`ShapeLayer`](tollgate_leaky::ShapeLayer) (whose [`HttpFeedback`](super::HttpFeedback)
/// already reads trailers-only responses).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use http_body_util::{BodyExt, Full};
/// use tollgate_core::TokioClock;
/// use tollgate_http::shape::observe_trailers;
/// use tollgate_leaky::Shaper;
///
/// let shaper = Shaper::builder().per_second(10).build_with_clock(TokioClock::new()).unwrap();
/// let mut trailers = http::HeaderMap::new();
/// trailers.insert("grpc-status", "8".parse().unwrap());
/// trailers.insert("grpc-retry-pushback-ms", "1500".parse().unwrap());
/// let body = Full::new(bytes::Bytes::from_static(b"reply"))
///     .with_trailers(async move { Some(Ok(trailers)) });
/// let response = observe_trailers(http::Response::new(body), &shaper);
/// response.into_body().collect().await.unwrap();
/// assert_eq!(shaper.snapshot().paused_for, Duration::from_millis(1500));
/// # }
/// ```
pub fn observe_trailers<B, C: Clone>(
    response: Response<B>,
    shaper: &Shaper<C>,
) -> Response<TrailerFeedback<B, C>> {
    response.map(|inner| TrailerFeedback {
        inner,
        shaper: Some(shaper.clone()),
    })
}

pin_project! {
    /// A response body that feeds its trailers back to a shaper; see
    /// [`observe_trailers`].
    #[derive(Debug)]
    pub struct TrailerFeedback<B, C> {
        #[pin]
        inner: B,
        // Taken when the trailers are seen: one signal per response.
        shaper: Option<Shaper<C>>,
    }
}

impl<B: Body, C: Clock> Body for TrailerFeedback<B, C> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let trailers = match &frame {
            Some(Ok(frame)) => frame.trailers_ref(),
            _ => None,
        };
        if let Some(trailers) = trailers {
            if let Some(shaper) = this.shaper.take() {
                let signal = signal_from_trailers(trailers);
                let counted = match signal {
                    Signal::Accepted => shaper.counts_accepts(),
                    Signal::Ignored => false,
                    _ => true,
                };
                if counted {
                    shaper.observe(signal, shaper.clock().now());
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
