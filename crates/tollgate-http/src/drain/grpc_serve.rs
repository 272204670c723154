//! tonic: the whole drain in one call.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use tokio::net::TcpListener;
use tollgate_core::BoxError;
use tollgate_drain::{Drain, DrainLayer, DrainReport};
use tonic::body::Body;
use tonic::service::Routes;
use tonic::transport::Server;
use tower_layer::Layer;
use tower_service::Service;

use super::{health_follows, DrainListener, UntilBodyEnd};
use crate::AsResponse;

/// Serves `routes` with tonic's `server` on `listener`, with the whole drain wired in
/// the only order that loses nothing: see [`ServeGrpc`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use std::time::Duration;
/// use tollgate_drain::Drain;
///
/// let drain = Drain::builder().propagation_delay(Duration::ZERO).build()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let (_, my_service) = tonic_health::server::health_reporter(); // any tonic service
/// let server = tollgate_http::drain::serve_grpc(
///     tonic::transport::Server::builder(),
///     tonic::service::Routes::new(my_service),
///     listener,
///     drain.clone(),
/// )
/// .health_services(["my.package.MyService"]); // until SIGTERM or Ctrl-C
/// # drain.start();
/// let report = server.await?;
/// assert!(report.is_clean());
/// # Ok(()) }
/// ```
pub fn serve_grpc<L>(
    server: Server<L>,
    routes: Routes,
    listener: TcpListener,
    drain: Drain,
) -> ServeGrpc<L> {
    ServeGrpc {
        server,
        routes,
        listener: DrainListener::new(listener, drain.clone()),
        trigger: Box::pin(tollgate_drain::terminate()),
        services: Vec::new(),
        drain,
    }
}

/// The future of [`serve_grpc`]: a tonic server with its drain.
///
/// What it wires, so that the order cannot be wrong:
/// - the trigger: [`tollgate_drain::terminate`] (SIGTERM, Ctrl-C), its handlers
///   installed by [`serve_grpc`] itself, before the first call; or
///   [`trigger`](ServeGrpc::trigger);
/// - the routes behind the [`DrainLayer`] ([`AsResponse`]: `UNAVAILABLE` once
///   closing; [`UntilBodyEnd`]: a call counts until its stream has ended, cut cleanly
///   at the deadline), and the gRPC health service (`grpc.health.v1.Health`, gRPC's
///   readiness) outside it, following the drain ([`health_follows`]: `NOT_SERVING`
///   from the announce on, for the server `""` and each of
///   [`health_services`](ServeGrpc::health_services)), answering in place of any
///   health service in the routes;
/// - the [`DrainListener`] as tonic's incoming stream: no new connection from closing
///   on, none reset; when it closes, tonic sends GOAWAY to every connection;
/// - `drain.done()` as tonic's shutdown signal, and the driver, whose
///   [`DrainReport`] is the output once every connection has ended.
///
/// By hand, the same is `Server::builder().layer(DrainLayer..).add_service(..)
/// .serve_with_incoming_shutdown(DrainListener::new(..), drain.done())` next to
/// `drain.run_until(terminate())` (see [`DrainListener`]), the health service then
/// behind the layer.
#[must_use = "a server does nothing unless awaited"]
pub struct ServeGrpc<L> {
    server: Server<L>,
    routes: Routes,
    listener: DrainListener,
    drain: Drain,
    trigger: Pin<Box<dyn Future<Output = ()> + Send>>,
    services: Vec<String>,
}

impl<L> ServeGrpc<L> {
    /// Starts the drain when `trigger` resolves (or on [`Drain::start`]) instead of on
    /// SIGTERM or Ctrl-C.
    pub fn trigger(mut self, trigger: impl Future<Output = ()> + Send + 'static) -> Self {
        self.trigger = Box::pin(trigger);
        self
    }

    /// The services whose health status follows the drain, besides the server's `""`.
    pub fn health_services<N: Into<String>>(mut self, names: impl IntoIterator<Item = N>) -> Self {
        self.services.extend(names.into_iter().map(Into::into));
        self
    }

    /// The listener's settle time; see [`DrainListener::settle`].
    pub fn settle(mut self, settle: Duration) -> Self {
        self.listener = self.listener.settle(settle);
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<L, ResBody> IntoFuture for ServeGrpc<L>
where
    L: Layer<Routes> + Send + 'static,
    L::Service: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    <L::Service as Service<Request<Body>>>::Future: Send,
    <L::Service as Service<Request<Body>>>::Error: Into<BoxError> + Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<DrainReport, tonic::transport::Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let ServeGrpc {
            server,
            routes,
            listener,
            drain,
            trigger,
            services,
        } = self;
        let (reporter, health) = tonic_health::server::health_reporter();
        let follows = health_follows(drain.clone(), reporter, services);
        let drained = routes.into_axum_router().layer(
            DrainLayer::new(drain.clone())
                .refuse_with(AsResponse::new())
                .track_with(UntilBodyEnd),
        );
        // The health service first, outside the layer; every other path to `routes`.
        let routes = Routes::from(
            Routes::new(health)
                .into_axum_router()
                .fallback_service(drained),
        );
        Box::pin(async move {
            tokio::spawn(follows);
            let driver = drain.clone().run_until(trigger);
            let served = server.serve_with_incoming_shutdown(routes, listener, drain.done());
            let (report, served) = tokio::join!(driver, served);
            served.map(|()| report)
        })
    }
}

impl<L> fmt::Debug for ServeGrpc<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeGrpc")
            .field("listener", &self.listener)
            .field("drain", &self.drain)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}
