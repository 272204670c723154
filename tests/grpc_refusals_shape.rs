//! The shaper's refusals in gRPC terms, over loopback: `RESOURCE_EXHAUSTED` with
//! `grpc-retry-pushback-ms` for a full queue and for a wait too long, both from a
//! server-side shaper (`ShapeLayer` + `AsResponse` on a real tonic server) and from a
//! client-side one (`ShapeLayer` + `AsStatus` around a tonic `Channel`). A tonic client
//! never sees `UNKNOWN`.
//!
//! One release every 10 s keeps the schedule far from the test's own timing: a refusal
//! is decided at admission, so every test ends in milliseconds; queued calls are
//! cancelled at the end.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tollgate_core::{Clock, Quota};
use tollgate_http::shape::HttpFeedback;
use tollgate_http::{grpc, AsResponse, AsStatus};
use tollgate_leaky::{ShapeLayer, Shaper};
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::echo::EchoRequest;
use tollgate_workspace::Replier;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tower::Layer;

const INTERVAL: Duration = Duration::from_secs(10);
const BOUND: Duration = Duration::from_secs(5);

/// One release every 10 s, one queued at most, waiting at most `max_wait`.
fn shaper(max_wait: Duration) -> Shaper {
    Shaper::builder(Quota::with_period(1, INTERVAL).burst(1).unwrap())
        .max_queue(1)
        .max_wait(max_wait)
        .name("echo")
        .build()
        .unwrap()
}

fn echo() -> EchoRequest {
    EchoRequest {
        message: "hi".into(),
        delay_ms: 0,
        chunks: 0,
    }
}

async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took more than {BOUND:?}"))
}

/// A tonic echo server on loopback, optionally behind a server-side shaper.
async fn serve(shape: Option<ShapeLayer<tollgate_core::SystemClock>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let echo = EchoServer::new(Replier);
    match shape {
        Some(layer) => tokio::spawn(
            tonic::transport::Server::builder()
                .layer(layer.refuse_with(AsResponse::new()))
                .add_service(echo)
                .serve_with_incoming(incoming),
        ),
        None => tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(echo)
                .serve_with_incoming(incoming),
        ),
    };
    addr
}

async fn channel(addr: SocketAddr) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}")).unwrap();
    bounded("connecting", endpoint.connect()).await.unwrap()
}

/// The conventional code, never `UNKNOWN`, and the pushback in milliseconds.
fn pushback_ms(status: &Status) -> u64 {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let value = status
        .metadata()
        .get(grpc::RETRY_PUSHBACK_MS_KEY)
        .unwrap_or_else(|| panic!("no pushback in {status:?}"));
    value.to_str().unwrap().parse().unwrap()
}

/// Waits (bounded) until the shaper holds one queued call.
async fn until_queued(layer: &ShapeLayer<tollgate_core::SystemClock>) {
    bounded("queueing", async {
        while layer.snapshot().queued == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// The first call goes at once; the second queues for the next release, 10 s later;
/// the third finds the queue full: refused at once with the time until the queued one
/// leaves (10 s minus the little time the test took).
async fn queue_full<S>(layer: &ShapeLayer<tollgate_core::SystemClock>, mut client: EchoClient<S>)
where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: tonic::codegen::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let before = tollgate_core::SystemClock::new().now();
    bounded("the first call", client.unary(echo()))
        .await
        .unwrap();
    let mut waiting = client.clone();
    let queued = tokio::spawn(async move { waiting.unary(echo()).await });
    until_queued(layer).await;
    let refused = bounded("the refusal", client.unary(echo()))
        .await
        .unwrap_err();
    let elapsed = tollgate_core::SystemClock::new().now() - before;
    let pushback = pushback_ms(&refused);
    let full = INTERVAL.as_millis() as u64;
    assert!(
        pushback <= full && pushback + elapsed.as_millis() as u64 + 1 >= full,
        "pushback {pushback} ms after {elapsed:?}"
    );
    assert!(refused.message().contains("queue"), "{refused:?}");
    let snap = layer.snapshot();
    assert_eq!((snap.admitted, snap.rejected, snap.queued), (1, 1, 1));
    // Cancelling the queued call gives its place back.
    queued.abort();
    bounded("the cancellation", async {
        while layer.snapshot().queued == 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert_eq!(layer.snapshot().cancelled, 1);
}

/// The first call goes at once; the second would wait 10 s with 1 s allowed: refused
/// at once, fitting 9 s later.
async fn wait_too_long<S>(layer: &ShapeLayer<tollgate_core::SystemClock>, mut client: EchoClient<S>)
where
    S: tonic::client::GrpcService<tonic::body::Body>,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: tonic::codegen::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let before = tollgate_core::SystemClock::new().now();
    bounded("the first call", client.unary(echo()))
        .await
        .unwrap();
    let refused = bounded("the refusal", client.unary(echo()))
        .await
        .unwrap_err();
    let elapsed = tollgate_core::SystemClock::new().now() - before;
    let pushback = pushback_ms(&refused);
    assert!(
        pushback <= 9_000 && pushback + elapsed.as_millis() as u64 + 1 >= 9_000,
        "pushback {pushback} ms after {elapsed:?}"
    );
    assert!(refused.message().contains("wait"), "{refused:?}");
    let snap = layer.snapshot();
    assert_eq!((snap.admitted, snap.rejected, snap.queued), (1, 1, 0));
}

// ===== a server-side shaper on a real tonic server =====

#[tokio::test]
async fn server_queue_full_is_resource_exhausted_with_pushback() {
    let layer = ShapeLayer::new(shaper(Duration::from_secs(30)));
    let addr = serve(Some(layer.clone())).await;
    queue_full(&layer, EchoClient::new(channel(addr).await)).await;
}

#[tokio::test]
async fn server_wait_too_long_is_resource_exhausted_with_pushback() {
    let layer = ShapeLayer::new(shaper(Duration::from_secs(1)));
    let addr = serve(Some(layer.clone())).await;
    wait_too_long(&layer, EchoClient::new(channel(addr).await)).await;
}

// ===== a client-side shaper around a tonic Channel =====

#[tokio::test]
async fn client_queue_full_is_the_calls_resource_exhausted_status() {
    let addr = serve(None).await;
    let layer = ShapeLayer::new(shaper(Duration::from_secs(30)));
    let stack = layer
        .clone()
        .feedback(HttpFeedback)
        .refuse_with(AsStatus)
        .layer(channel(addr).await);
    queue_full(&layer, EchoClient::new(stack)).await;
}

#[tokio::test]
async fn client_wait_too_long_is_the_calls_resource_exhausted_status() {
    let addr = serve(None).await;
    let layer = ShapeLayer::new(shaper(Duration::from_secs(1)));
    let stack = layer
        .clone()
        .feedback(HttpFeedback)
        .refuse_with(AsStatus)
        .layer(channel(addr).await);
    wait_too_long(&layer, EchoClient::new(stack)).await;
}
