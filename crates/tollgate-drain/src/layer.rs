use tower_layer::Layer;

use crate::{Drain, InFlight};

/// Counts every request in flight in a [`Drain`] until its response body ends, and
/// refuses new ones once the drain is closing. See [`InFlight`].
///
/// ```
/// use std::convert::Infallible;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tollgate_drain::{Drain, InFlightLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower::BoxError> {
/// let drain = Drain::builder().build()?;
/// let svc = InFlightLayer::new(drain.clone()).layer(service_fn(|_req: http::Request<()>| async {
///     Ok::<_, Infallible>(http::Response::new(String::from("hello")))
/// }));
/// let response = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(drain.snapshot().in_flight, 1); // until the body is sent or dropped
/// drop(response);
/// assert_eq!(drain.snapshot().in_flight, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct InFlightLayer {
    drain: Drain,
}

impl InFlightLayer {
    /// Accounts requests in `drain`.
    pub fn new(drain: Drain) -> Self {
        Self { drain }
    }
}

impl<S> Layer<S> for InFlightLayer {
    type Service = InFlight<S>;

    fn layer(&self, inner: S) -> InFlight<S> {
        InFlight::new(inner, self.drain.clone())
    }
}
