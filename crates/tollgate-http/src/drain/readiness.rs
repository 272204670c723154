use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use http::header::{HeaderValue, CACHE_CONTROL};
use http::{Request, Response, StatusCode};
use tollgate_drain::Drain;
use tower_service::Service;

/// The readiness probe of a draining server: `200 ready` while serving, `503
/// draining` from the moment the drain is announced. Mount it with axum's
/// `Router::route_service`, outside the [`DrainLayer`](tollgate_drain::DrainLayer).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower::ServiceExt;
/// use tollgate_drain::Drain;
/// use tollgate_http::drain::Readiness;
///
/// let drain = Drain::builder().build()?;
/// let probe = Readiness::new(drain.clone());
/// let ok = probe.clone().oneshot(http::Request::new(())).await?;
/// assert_eq!((ok.status().as_u16(), ok.body().as_str()), (200, "ready"));
///
/// tokio::spawn(drain.clone().run());
/// drain.start();
/// drain.announced().await;
/// let draining = probe.oneshot(http::Request::new(())).await?;
/// assert_eq!((draining.status().as_u16(), draining.body().as_str()), (503, "draining"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Readiness {
    drain: Drain,
}

impl Readiness {
    /// The probe for `drain`.
    pub fn new(drain: Drain) -> Self {
        Self { drain }
    }
}

impl<B> Service<Request<B>> for Readiness {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let (status, text) = if self.drain.phase().is_ready() {
            (StatusCode::OK, "ready")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "draining")
        };
        let mut response = Response::new(String::from(text));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ready(Ok(response))
    }
}
