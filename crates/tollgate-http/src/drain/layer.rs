use tollgate_drain::{Drain, InFlight};
use tower_layer::Layer;

use super::DrainService;
use crate::DefaultResponder;

/// Graceful draining for an axum router, a hyper service or a tonic server. See the
/// [module docs](crate::drain).
///
/// ```
/// use tollgate_http::drain::DrainLayer;
/// use tollgate_core::Rejection;
/// use tollgate_http::Protocol;
///
/// let drain = tollgate_drain::Drain::builder().build()?;
/// let layer = DrainLayer::new(drain)
///     .responder(|_: &Rejection, _: Protocol| {
///         http::Response::builder().status(503).body(String::from("deploying")).unwrap()
///     });
/// # let _ = layer;
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DrainLayer<R = DefaultResponder> {
    drain: Drain,
    responder: R,
}

impl DrainLayer {
    /// Drains with `drain`, refusing with [`DefaultResponder`] (an empty `503`).
    pub fn new(drain: Drain) -> Self {
        Self {
            drain,
            responder: DefaultResponder,
        }
    }
}

impl<R> DrainLayer<R> {
    /// Refuses with `responder` instead.
    pub fn responder<R2>(self, responder: R2) -> DrainLayer<R2> {
        DrainLayer {
            drain: self.drain,
            responder,
        }
    }
}

impl<S, R: Clone> Layer<S> for DrainLayer<R> {
    type Service = DrainService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        DrainService::new(
            InFlight::new(inner, self.drain.clone()),
            self.responder.clone(),
        )
    }
}
