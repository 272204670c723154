//! A deploy under load, over loopback: keep-alive HTTP/1 clients stream requests at a
//! real axum server, a drain starts mid-run, and every request's fate is recorded.
//! Shared by the end-to-end test `tests/drain_load.rs` and the showcase.
//!
//! The server runs on its own runtime, on its own thread, so that "the process exits"
//! can be modelled truthfully: when the server returns, or when the orchestrator's
//! grace period ends (the kill), that runtime is shut down and every socket it held
//! is closed, mid-response or not.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tollgate_drain::{Drain, DrainLayer, DrainReport};
use tollgate_http::drain::UntilBodyEnd;
use tollgate_http::AsResponse;

/// How the server shuts down when the deploy starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// `DrainLayer` (`AsResponse`, `UntilBodyEnd`) + a `Drain` driving `axum::serve(..).with_graceful_shutdown(drain.done())`.
    Drained,
    /// Plain `axum::serve(..).with_graceful_shutdown(signal)`, the signal being the
    /// deploy itself.
    PlainGraceful,
}

/// The shape of the load and of the deploy.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    /// Concurrent clients, each on its own keep-alive connection.
    pub clients: u64,
    /// Every `long_every`-th request of a client streams a long body (clients are
    /// offset from one another).
    pub long_every: u64,
    /// Chunks of the longest body, `chunk_delay` apart; long bodies have from 2 to
    /// `chunks` chunks, varying with the request, so that clients fall out of step.
    pub chunks: u64,
    /// Time between two chunks of a long body.
    pub chunk_delay: Duration,
    /// Extra clients that each hold one server-sent-events stream open: it never ends
    /// by itself; with the drain, the handler ends it when told to (at closing).
    pub streams: u64,
    /// When the deploy starts (SIGTERM), after the load started.
    pub deploy_at: Duration,
    /// The drain's propagation delay (used by [`Shutdown::Drained`]).
    pub propagation_delay: Duration,
    /// The grace period: the drain's deadline, and the time after the deploy at which
    /// the orchestrator kills the process.
    pub grace: Duration,
    /// Clients stop sending this long after the deploy started, whatever happens.
    pub load_after_deploy: Duration,
}

impl Default for LoadPlan {
    fn default() -> Self {
        Self {
            clients: 16,
            long_every: 4,
            chunks: 6,
            chunk_delay: Duration::from_millis(50),
            streams: 2,
            deploy_at: Duration::from_millis(400),
            propagation_delay: Duration::from_millis(150),
            grace: Duration::from_millis(900),
            load_after_deploy: Duration::from_millis(1_200),
        }
    }
}

const CHUNK: usize = 512;

/// The fate of every request, as seen by the clients and checked against the server.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// Complete `200` responses with their full body.
    pub ok: u64,
    /// Long streamed bodies among `ok`.
    pub ok_long: u64,
    /// Server-sent-events streams ended cleanly by the server, among `ok`.
    pub ok_streams: u64,
    /// Complete `503` responses (refused cleanly, no work done).
    pub refused_503: u64,
    /// Connection refused (the listener is closed: no work done).
    pub refused_connect: u64,
    /// The connection closed or was reset before any response byte, and the server
    /// never started the request: a connection the kernel had queued but the server
    /// no longer accepted, or a request racing the close of an idle connection. Safe
    /// to retry, but an error to a client that does not.
    pub closed_before_work: u64,
    /// Requests the server started but whose client got no complete response: reset
    /// mid-response, truncated body, or closed after the work began. The loss.
    pub lost: u64,
    /// From the deploy until the server returned (or was killed).
    pub server_exit: Duration,
    /// `true` if the grace period ended first and the server was killed.
    pub killed: bool,
    /// The drain's report, for [`Shutdown::Drained`].
    pub report: Option<DrainReport>,
}

impl LoadOutcome {
    /// Every request that did not end in a complete response (200 or 503).
    pub fn client_errors(&self) -> u64 {
        self.refused_connect + self.closed_before_work + self.lost
    }
}

impl fmt::Display for LoadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok {:>4} (long {:>3}, event streams {})  503 {:>3}  conn refused {:>3}  closed before work {:>3}  lost {:>3}  exit after {:>4} ms{}",
            self.ok,
            self.ok_long,
            self.ok_streams,
            self.refused_503,
            self.refused_connect,
            self.closed_before_work,
            self.lost,
            self.server_exit.as_millis(),
            if self.killed { " (killed)" } else { "" }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ok {
        long: bool,
    },
    /// An event stream the server ended cleanly, with its last event.
    StreamOk,
    Refused503,
    RefusedConnect,
    /// The request never left the client: its connection was already closing.
    NotSent,
    /// No response byte: the request id decides whether work was lost.
    NoResponse,
    /// A response began but did not complete.
    Broken,
}

/// Runs the plan against a fresh server shut down by `shutdown`.
pub async fn run_load(shutdown: Shutdown, plan: LoadPlan) -> LoadOutcome {
    let started: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let addr = listener.local_addr().expect("local addr");

    let drain = Drain::builder()
        .propagation_delay(plan.propagation_delay)
        .deadline(plan.grace)
        .build()
        .expect("valid drain timings");
    let (deploy_tx, deploy_rx) = oneshot::channel::<()>();
    let (exit_tx, exit_rx) = oneshot::channel::<(Instant, bool, Option<DrainReport>)>();
    let server = {
        let (started, drain) = (started.clone(), drain.clone());
        std::thread::spawn(move || {
            serve(listener, shutdown, plan, started, drain, deploy_rx, exit_tx);
        })
    };

    let t0 = Instant::now();
    let stop_at = t0 + plan.deploy_at + plan.load_after_deploy;
    let mut clients: Vec<_> = (0..plan.clients)
        .map(|c| tokio::spawn(client(addr, c, plan, stop_at)))
        .collect();
    clients.extend((0..plan.streams).map(|i| tokio::spawn(events(addr, STREAM_IDS + i))));
    tokio::time::sleep(plan.deploy_at).await;
    let deployed_at = Instant::now();
    let _ = deploy_tx.send(());

    let mut fates: HashMap<u64, Fate> = HashMap::new();
    for c in clients {
        fates.extend(c.await.expect("client task"));
    }
    let (exited_at, killed, report) = exit_rx.await.expect("server thread reports its exit");
    server.join().expect("server thread");

    let started = started.lock().expect("started set").clone();
    let mut outcome = LoadOutcome {
        server_exit: exited_at - deployed_at,
        killed,
        report,
        ..LoadOutcome::default()
    };
    for (id, fate) in &fates {
        match fate {
            Fate::Ok { long } => {
                outcome.ok += 1;
                outcome.ok_long += u64::from(*long);
            }
            Fate::StreamOk => {
                outcome.ok += 1;
                outcome.ok_streams += 1;
            }
            Fate::Refused503 if !started.contains(id) => outcome.refused_503 += 1,
            Fate::RefusedConnect => outcome.refused_connect += 1,
            Fate::NoResponse | Fate::NotSent if !started.contains(id) => {
                outcome.closed_before_work += 1;
            }
            // A 503 or a silent close after the handler started, or a broken response.
            _ => outcome.lost += 1,
        }
    }
    outcome
}

/// The server's thread: its own runtime, dropped when the server returns or is killed.
fn serve(
    listener: std::net::TcpListener,
    shutdown: Shutdown,
    plan: LoadPlan,
    started: Arc<Mutex<HashSet<u64>>>,
    drain: Drain,
    deploy: oneshot::Receiver<()>,
    exit: oneshot::Sender<(Instant, bool, Option<DrainReport>)>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let (killed, report) = runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let told_to_finish = (shutdown == Shutdown::Drained).then(|| drain.clone());
        let started_events = started.clone();
        let app = Router::new()
            .route(
                "/work/{id}/{long}",
                get(move |Path((id, long)): Path<(u64, u8)>| {
                    started.lock().expect("started set").insert(id);
                    async move { work(id, long == 1, plan) }
                }),
            )
            .route(
                "/events/{id}",
                get(move |Path(id): Path<u64>| {
                    started_events.lock().expect("started set").insert(id);
                    let closing = told_to_finish.as_ref().map(Drain::closing);
                    async move { event_stream(closing) }
                }),
            );
        let deployed = async move {
            let _ = deploy.await;
        };
        match shutdown {
            Shutdown::Drained => {
                let app = app.layer(
                    DrainLayer::new(drain.clone())
                        .refuse_with(AsResponse::new())
                        .track_with(UntilBodyEnd),
                );
                let driver = tokio::spawn(drain.clone().run_until(deployed));
                let server = axum::serve(listener, app).with_graceful_shutdown(drain.done());
                let killed = kill_after_grace(server, drain.announced(), plan.grace).await;
                (killed, driver.await.ok())
            }
            Shutdown::PlainGraceful => {
                let (deploy_seen_tx, deploy_seen_rx) = oneshot::channel::<()>();
                let signal = async move {
                    deployed.await;
                    let _ = deploy_seen_tx.send(());
                };
                let server = axum::serve(listener, app).with_graceful_shutdown(signal);
                let deploy_seen = async move {
                    let _ = deploy_seen_rx.await;
                };
                (
                    kill_after_grace(server, deploy_seen, plan.grace).await,
                    None,
                )
            }
        }
    });
    // Shutting the runtime down closes every socket it still holds: the process exit.
    runtime.shutdown_background();
    let _ = exit.send((Instant::now(), killed, report));
}

/// Runs `server` until it returns, or until `grace` after `deploy` (then: killed).
async fn kill_after_grace<S>(
    server: S,
    deploy: impl std::future::Future<Output = ()>,
    grace: Duration,
) -> bool
where
    S: std::future::IntoFuture<Output = std::io::Result<()>>,
{
    let server = server.into_future();
    tokio::pin!(server);
    tokio::select! {
        _ = &mut server => return false,
        () = deploy => {}
    }
    tokio::time::timeout(grace, server).await.is_err()
}

/// How many chunks the long body of request `id` has.
fn chunks_of(id: u64, plan: LoadPlan) -> u64 {
    2 + id % plan.chunks.saturating_sub(1).max(1)
}

fn work(id: u64, long: bool, plan: LoadPlan) -> axum::response::Response {
    if !long {
        return axum::response::Response::new(Body::from(vec![b's'; CHUNK]));
    }
    let n = chunks_of(id, plan);
    let chunks = futures::stream::unfold(0u64, move |i| async move {
        if i == n {
            return None;
        }
        tokio::time::sleep(plan.chunk_delay).await;
        Some((Ok::<_, Infallible>(Bytes::from(vec![b'l'; CHUNK])), i + 1))
    });
    axum::response::Response::new(Body::from_stream(chunks))
}

const STREAM_IDS: u64 = 900_000_000;
const TICK: &[u8] = b"data: tick\n\n";
const BYE: &[u8] = b"event: close\n\n";

/// A server-sent-events stream: a tick every 50 ms, forever, unless `closing` is given
/// and resolves; then a last `close` event, and the stream ends.
fn event_stream(
    closing: Option<impl std::future::Future<Output = ()> + Send + 'static>,
) -> axum::response::Response {
    let closing: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = match closing {
        Some(closing) => Box::pin(closing),
        None => Box::pin(std::future::pending()),
    };
    let events = futures::stream::unfold(Some(closing), |state| async move {
        let mut closing = state?;
        tokio::select! {
            () = &mut closing => Some((Ok::<_, Infallible>(Bytes::from_static(BYE)), None)),
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                Some((Ok(Bytes::from_static(TICK)), Some(closing)))
            }
        }
    });
    let mut response = axum::response::Response::new(Body::from_stream(events));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// One client holding one event stream open, on its own connection: the stream must
/// end cleanly, with the server's last `close` event.
async fn events(addr: SocketAddr, id: u64) -> Vec<(u64, Fate)> {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return vec![(id, Fate::RefusedConnect)];
    };
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return vec![(id, Fate::NoResponse)];
    };
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://{addr}/events/{id}"))
        .body(Empty::<Bytes>::new())
        .expect("valid request");
    let fate = match sender.send_request(req).await {
        Err(_) => Fate::NoResponse,
        Ok(response) => match response.into_body().collect().await.map(|b| b.to_bytes()) {
            Ok(body) if body.ends_with(BYE) => Fate::StreamOk,
            _ => Fate::Broken,
        },
    };
    vec![(id, fate)]
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// One keep-alive client: requests back to back on one connection, reconnecting when
/// the server closes it; it stops, as a load balancer would stop sending, at its first
/// refusal or connection error, or at `stop_at`.
async fn client(addr: SocketAddr, c: u64, plan: LoadPlan, stop_at: Instant) -> Vec<(u64, Fate)> {
    let mut fates = Vec::new();
    let mut sender: Option<Sender> = None;
    for seq in 0u64.. {
        if Instant::now() >= stop_at {
            break;
        }
        let id = c * 1_000_000 + seq;
        let long = (seq + c) % plan.long_every == plan.long_every - 1;
        let mut fate = request(addr, &mut sender, id, long, plan).await;
        if fate == Fate::NotSent {
            // As hyper-util's pooled client does: a request that never left (its
            // connection was closing) is sent again, once, on a new connection.
            fate = request(addr, &mut sender, id, long, plan).await;
        }
        fates.push((id, fate));
        if !matches!(fate, Fate::Ok { .. }) {
            break;
        }
    }
    fates
}

async fn request(
    addr: SocketAddr,
    sender: &mut Option<Sender>,
    id: u64,
    long: bool,
    plan: LoadPlan,
) -> Fate {
    if let Some(s) = sender.as_mut() {
        // A connection the server closed after `Connection: close` is not reused.
        if s.ready().await.is_err() {
            *sender = None;
        }
    }
    if sender.is_none() {
        let stream = match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(_) => return Fate::RefusedConnect,
        };
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok((s, conn)) => {
                tokio::spawn(conn);
                *sender = Some(s);
            }
            Err(_) => return Fate::NoResponse,
        }
    }
    let s = sender.as_mut().expect("connected above");
    let uri = format!("http://{addr}/work/{id}/{}", u8::from(long));
    let req = http::Request::get(uri)
        .body(Empty::<Bytes>::new())
        .expect("valid request");
    let response = match s.send_request(req).await {
        Ok(response) => response,
        Err(error) => {
            *sender = None;
            return if error.is_canceled() {
                Fate::NotSent
            } else {
                Fate::NoResponse
            };
        }
    };
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            *sender = None;
            return Fate::Broken;
        }
    };
    let expected = if long {
        CHUNK * chunks_of(id, plan) as usize
    } else {
        CHUNK
    };
    match status.as_u16() {
        200 if body.len() == expected => Fate::Ok { long },
        503 if body.is_empty() => Fate::Refused503,
        _ => Fate::Broken,
    }
}
