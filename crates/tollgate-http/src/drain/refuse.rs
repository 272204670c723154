//! The connections a settling listener still accepts, once its server has stopped
//! taking them (tonic, when its incoming stream ends at closing).

use std::task::Poll;

use http::{Request, Response};
use tollgate_core::{Reason, Rejection};
use tollgate_drain::DrainLayer;
use tower_layer::Layer;
use tower_service::Service;

use super::{connection_builder, serve_connections, DrainListener, UntilBodyEnd};
use crate::{AsResponse, DefaultResponder, Protocol, RejectionResponder};

/// Serves what a settling listener still accepts with the drain's refusal alone (the
/// drain is closing: [`DrainLayer`](tollgate_drain::DrainLayer) refuses every request,
/// `503` + `Connection: close`, or `UNAVAILABLE`), each connection ended as
/// [`serve_connections`](super::serve_connections) ends it.
pub(crate) async fn refuse_settling(listener: DrainListener) {
    let refuse = DrainLayer::new(listener.drain().clone())
        .refuse_with(AsResponse::new())
        .track_with(UntilBodyEnd)
        .layer(Refused);
    let _ = serve_connections(listener, connection_builder(), refuse).await;
}

/// The inner service behind a closing drain, which never lets a request through; if
/// called, it answers as the drain would.
#[derive(Debug, Clone, Copy)]
struct Refused;

impl<B> Service<Request<B>> for Refused {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<String>, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let rejection = Rejection::new(Reason::Draining);
        std::future::ready(Ok(
            DefaultResponder.respond(&rejection, Protocol::of(&request))
        ))
    }
}
