//! axum: the listener under `axum::serve`, and the whole drain in one call.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tollgate_drain::{Drain, DrainLayer, DrainReport};

use super::serve::accept_failed;
use super::{
    connection_builder, serve_connections, DrainIo, DrainListener, Readiness, UntilBodyEnd,
};
use crate::AsResponse;

impl axum::serve::Listener for DrainListener {
    type Io = DrainIo;
    type Addr = SocketAddr;

    /// Once the drain has closed the listener, never resolves: axum's graceful
    /// shutdown (with [`shutdown_signal`](DrainListener::shutdown_signal)) ends the
    /// server.
    async fn accept(&mut self) -> (DrainIo, SocketAddr) {
        loop {
            match DrainListener::accept(self).await {
                Some(Ok(accepted)) => return accepted,
                Some(Err(error)) => accept_failed(error).await,
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        DrainListener::local_addr(self)
    }
}

/// Serves `router` on `listener` with the whole drain wired, in the only order that
/// loses nothing: see [`Serve`].
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{routing::get, Router};
/// use tollgate_drain::Drain;
///
/// let drain = Drain::builder().build()?; // 5 s propagation delay, 30 s deadline
/// let app = Router::new().route("/", get(|| async { "hello" }));
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// let report = tollgate_http::drain::serve(listener, app, drain).await?; // until SIGTERM
/// println!("{report}");
/// # Ok(()) }
/// ```
pub fn serve(listener: TcpListener, router: Router, drain: Drain) -> Serve {
    Serve {
        listener: DrainListener::new(listener, drain.clone()),
        router,
        trigger: Box::pin(tollgate_drain::terminate()),
        readiness: String::from("/ready"),
        drain,
    }
}

/// The future of [`serve`]: an axum server with its drain.
///
/// What it wires, so that the order cannot be wrong:
/// - the trigger: [`tollgate_drain::terminate`] (SIGTERM, Ctrl-C), its handlers
///   installed by [`serve`] itself, before the first request; or
///   [`trigger`](Serve::trigger);
/// - the router wrapped in the [`DrainLayer`] ([`AsResponse`]: `503` once closing;
///   [`UntilBodyEnd`]: counted until the body is sent, `Connection: close` from the
///   announce on), and the [`Readiness`] probe at `/ready`
///   ([`readiness_path`](Serve::readiness_path)) outside it, so that the probe still
///   answers while requests are refused;
/// - the [`DrainListener`]: no new connection from closing on, none reset;
/// - [`serve_connections`]: HTTP/2 GOAWAY at closing, HTTP/1 closed after a response;
/// - the driver, whose [`DrainReport`] is the output once every connection has ended.
///
/// The same by hand, for a server that needs more control:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{routing::get, Router};
/// use tollgate_drain::{Drain, DrainLayer};
/// use tollgate_http::drain::{DrainListener, Readiness, UntilBodyEnd};
/// use tollgate_http::AsResponse;
///
/// let drain = Drain::builder().build()?;
/// let sigterm = tollgate_drain::terminate(); // 1. the trigger, installed first
/// let app = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(DrainLayer::new(drain.clone()).refuse_with(AsResponse::new()).track_with(UntilBodyEnd))
///     .route_service("/ready", Readiness::new(drain.clone())); // 2. outside the layer
/// let listener = DrainListener::bind("127.0.0.1:0", drain.clone()).await?; // 3.
/// let shutdown = listener.shutdown_signal();
/// let server = axum::serve(listener, app).with_graceful_shutdown(shutdown); // 4.
/// let driver = tokio::spawn(drain.clone().run_until(sigterm)); // 5.
/// # drain.start();
/// server.await?;
/// let report = driver.await?;
/// # assert!(report.is_clean());
/// # Ok(()) }
/// ```
///
/// Under `axum::serve`, HTTP/2 connections get their GOAWAY at the end (axum's
/// graceful shutdown) rather than at closing; [`serve`] sends it at closing.
#[must_use = "a server does nothing unless awaited"]
pub struct Serve {
    listener: DrainListener,
    router: Router,
    drain: Drain,
    trigger: Pin<Box<dyn Future<Output = ()> + Send>>,
    readiness: String,
}

impl Serve {
    /// Starts the drain when `trigger` resolves (or on [`Drain::start`]) instead of on
    /// SIGTERM or Ctrl-C.
    pub fn trigger(mut self, trigger: impl Future<Output = ()> + Send + 'static) -> Self {
        self.trigger = Box::pin(trigger);
        self
    }

    /// Where the readiness probe answers (default `/ready`).
    pub fn readiness_path(mut self, path: impl Into<String>) -> Self {
        self.readiness = path.into();
        self
    }

    /// The listener's settle time; see [`DrainListener::settle`].
    pub fn settle(mut self, settle: Duration) -> Self {
        self.listener = self.listener.settle(settle);
        self
    }

    /// The listener's linger time; see [`DrainListener::linger`].
    pub fn linger(mut self, linger: Duration) -> Self {
        self.listener = self.listener.linger(linger);
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<DrainReport>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<DrainReport>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let Serve {
            listener,
            router,
            drain,
            trigger,
            readiness,
        } = self;
        let app = router
            .layer(
                DrainLayer::new(drain.clone())
                    .refuse_with(AsResponse::new())
                    .track_with(UntilBodyEnd),
            )
            .route_service(&readiness, Readiness::new(drain.clone()));
        Box::pin(async move {
            let driver = drain.clone().run_until(trigger);
            let server = serve_connections(listener, connection_builder(), app);
            let (report, served) = tokio::join!(driver, server);
            served.map(|()| report)
        })
    }
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("drain", &self.drain)
            .field("readiness", &self.readiness)
            .finish_non_exhaustive()
    }
}
