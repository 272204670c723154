//! The accept loop for hyper-util's connection builder: every connection ended the way
//! its protocol allows without losing a request.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::task::JoinSet;
use tollgate_core::BoxError;
use tower_service::Service;

use super::conn::{Protocol, ProtocolCell};
use super::DrainListener;

/// hyper-util's connection builder as [`serve_connections`] needs it: HTTP/1 and
/// HTTP/2 (prior knowledge), tokio's executor and timer (so that HTTP/1's header read
/// timeout applies).
///
/// ```
/// let builder = tollgate_http::drain::connection_builder();
/// # let _ = builder;
/// ```
pub fn connection_builder() -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves every connection `listener` accepts with `service`, through hyper-util's
/// `builder`, and returns once the listener has closed and every connection has ended.
///
/// Each connection ends as its protocol allows without losing a request:
/// - HTTP/2: GOAWAY the moment the drain is closing (hyper's graceful shutdown): the
///   streams in flight finish, the client opens new ones elsewhere.
/// - HTTP/1: its next response carries `Connection: close` (the
///   [`UntilBodyEnd`](super::UntilBodyEnd) tracking adds it from the announce on), so
///   it closes after a response, never under a request. One left open once the drain
///   is done (an idle keep-alive, or nothing sent yet) gets the listener's
///   [`linger`](DrainListener::linger) time for its client to send (answered `503`) or
///   close, then is shut down gracefully.
/// - A connection whose first bytes have not arrived yet waits for them to say which.
///
/// Each request carries the client's address as a `SocketAddr` extension (and, with
/// the `axum` feature, as axum's `ConnectInfo<SocketAddr>`, for peer keys).
///
/// The service should carry the drain's layer ([`DrainLayer`](tollgate_drain::DrainLayer)
/// with [`AsResponse`](crate::AsResponse) and [`UntilBodyEnd`](super::UntilBodyEnd)):
/// see the [module docs](super) for an example.
pub async fn serve_connections<S, B>(
    mut listener: DrainListener,
    builder: Builder<TokioExecutor>,
    service: S,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let drain = listener.drain().clone();
    let linger = listener.linger_time();
    let mut connections = JoinSet::new();
    while let Some(accepted) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let (io, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                accept_failed(error).await;
                continue;
            }
        };
        let protocol = io.protocol();
        let conn = builder
            .serve_connection_with_upgrades(
                TokioIo::new(io),
                TowerToHyperService::new(WithPeer {
                    inner: service.clone(),
                    peer,
                }),
            )
            .into_owned();
        let (closing, settled) = (drain.closing(), {
            let done = drain.done();
            async move {
                done.await;
                tokio::time::sleep(linger).await;
            }
        });
        connections.spawn(async move {
            let mut conn = pin!(conn);
            let mut closing = pin!(closing);
            let mut settled = pin!(settled);
            let served = poll_fn(|cx| match conn.as_mut().poll(cx) {
                Poll::Ready(_) => Poll::Ready(true),
                Poll::Pending => closing.as_mut().poll(cx).map(|()| false),
            });
            if served.await {
                return;
            }
            // Closing: end the connection as its protocol allows.
            let mut goaway = false;
            loop {
                let known = protocol.get();
                if known == Protocol::Http2 && !goaway {
                    conn.as_mut().graceful_shutdown();
                    goaway = true;
                }
                match next(conn.as_mut(), &protocol, known, settled.as_mut()).await {
                    Event::Ended => return,
                    Event::Sniffed => continue,
                    Event::Settled => break,
                }
            }
            // Done, and the linger time passed: what is still open was left idle.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(linger, conn).await;
        });
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Inserts the client's address into each request.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, B> Service<Request<B>> for WithPeer<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        request.extensions_mut().insert(self.peer);
        #[cfg(feature = "axum")]
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        self.inner.call(request)
    }
}

enum Event {
    Ended,
    /// The first bytes named the protocol.
    Sniffed,
    /// Done, plus the linger time.
    Settled,
}

/// What happens next on a connection in closing.
async fn next<C: Future, T: Future>(
    mut conn: std::pin::Pin<&mut C>,
    protocol: &ProtocolCell,
    known: Protocol,
    mut settled: std::pin::Pin<&mut T>,
) -> Event {
    poll_fn(|cx| {
        if conn.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Ended);
        }
        // The IO sets the protocol while `conn` reads: on this task, just above.
        if protocol.get() != known {
            return Poll::Ready(Event::Sniffed);
        }
        settled.as_mut().poll(cx).map(|_| Event::Settled)
    })
    .await
}

/// As axum's listener does: a connection-level error concerns one client; anything else
/// (out of file descriptors) is waited out.
pub(crate) async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(target: "tollgate::drain", %error, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
