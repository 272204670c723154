//! Every refusal of the deadline layers reaches a tonic client as its conventional
//! status, never `UNKNOWN`: on a real tonic server (the server deadline layer with
//! `AsResponse`) and on a tonic client stack (the timeout layer with `AsStatus` around
//! a `Channel`), over loopback, in paused time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;
use tollgate_core::{Clock, TokioClock};
use tollgate_deadline::{
    Deadline, DeadlinePolicy, DeadlinePolicyBuilder, Local, ServerDeadlineLayer, Timeout,
    TimeoutLayer, TimeoutPolicy,
};
use tollgate_http::deadline::TimeoutHeaders;
use tollgate_http::{AsResponse, AsStatus};
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::echo::EchoRequest;
use tollgate_workspace::Replier;
use tonic::transport::Channel;
use tonic::Code;
use tower::Layer;

const MS: fn(u64) -> Duration = Duration::from_millis;

type ServerLayer = ServerDeadlineLayer<TimeoutHeaders, AsResponse>;

fn server_layer(policy: DeadlinePolicyBuilder) -> ServerLayer {
    ServerDeadlineLayer::new(policy.build().unwrap())
        .propagate(TimeoutHeaders::new())
        .refuse_with(AsResponse::new())
}

/// The echo service on loopback, behind `layer` if any; counts the calls reaching it.
async fn echo_server(layer: Option<ServerLayer>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let echo = EchoServer::with_interceptor(Replier, move |req| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(req)
    });
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    match layer {
        Some(layer) => tokio::spawn(
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(echo)
                .serve_with_incoming(incoming),
        ),
        None => tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(echo)
                .serve_with_incoming(incoming),
        ),
    };
    (addr, calls)
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn echo(delay_ms: u64) -> EchoRequest {
    EchoRequest {
        message: "x".into(),
        delay_ms,
        chunks: 0,
    }
}

/// `echo(delay_ms)` sent with `grpc-timeout` = `timeout`.
fn with_timeout(timeout: Duration, delay_ms: u64) -> tonic::Request<EchoRequest> {
    let mut request = tonic::Request::new(echo(delay_ms));
    request.set_timeout(timeout);
    request
}

fn assert_code(status: &tonic::Status, code: Code) {
    assert_eq!(status.code(), code, "{status:?}");
    // Deadline refusals carry no retry time, so no pushback.
    assert!(
        status.metadata().get("grpc-retry-pushback-ms").is_none(),
        "{status:?}"
    );
}

// ===== on a tonic server =====

#[tokio::test(start_paused = true)]
async fn server_a_handler_slower_than_the_grpc_timeout_is_deadline_exceeded() {
    // The margin makes this layer fire before tonic's own grpc-timeout handling.
    let layer = server_layer(DeadlinePolicy::builder().margin(MS(20)));
    let (addr, calls) = echo_server(Some(layer.clone())).await;
    let mut client = EchoClient::new(channel(addr).await);
    let t0 = Instant::now();
    let status = client
        .unary(with_timeout(MS(300), 5_000))
        .await
        .unwrap_err();
    assert_code(&status, Code::DeadlineExceeded);
    assert!(t0.elapsed() < MS(300), "{:?}", t0.elapsed());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let s = layer.snapshot();
    assert_eq!((s.admitted, s.cut_off, s.rejected), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn server_a_budget_below_the_minimum_is_deadline_exceeded_before_the_handler() {
    let layer = server_layer(DeadlinePolicy::builder().min(MS(100)));
    let (addr, calls) = echo_server(Some(layer.clone())).await;
    let mut client = EchoClient::new(channel(addr).await);
    let status = client.unary(with_timeout(MS(50), 0)).await.unwrap_err();
    assert_code(&status, Code::DeadlineExceeded);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler ran");
    let s = layer.snapshot();
    assert_eq!((s.spent, s.rejected, s.admitted), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn server_a_malformed_grpc_timeout_is_invalid_argument() {
    let layer = server_layer(DeadlinePolicy::builder());
    let (addr, calls) = echo_server(Some(layer.clone())).await;
    let mut client = EchoClient::new(channel(addr).await);
    let mut request = tonic::Request::new(echo(0));
    request
        .metadata_mut()
        .insert("grpc-timeout", "5x".parse().unwrap());
    let status = client.unary(request).await.unwrap_err();
    assert_code(&status, Code::InvalidArgument);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler ran");
    assert_eq!(layer.snapshot().malformed, 1);
}

// ===== on a tonic client stack =====

type Stack<P> = EchoClient<Timeout<Channel, P, AsStatus>>;

/// The client stack, sending its budget as `grpc-timeout`.
async fn client_stack(addr: SocketAddr, policy: TimeoutPolicy) -> Stack<TimeoutHeaders> {
    let layer = TimeoutLayer::new(policy)
        .propagate(TimeoutHeaders::new())
        .refuse_with(AsStatus);
    EchoClient::new(layer.layer(channel(addr).await))
}

/// The client stack, sending no budget: a plain tonic server enforces a sent
/// `grpc-timeout` itself and answers `CANCELLED` at the same instant, which would race
/// the client's own timer that these tests are about.
async fn local_client_stack(addr: SocketAddr, policy: TimeoutPolicy) -> Stack<Local> {
    let layer = TimeoutLayer::new(policy).refuse_with(AsStatus);
    EchoClient::new(layer.layer(channel(addr).await))
}

#[tokio::test(start_paused = true)]
async fn client_a_total_timeout_that_fires_is_deadline_exceeded_not_unknown() {
    let (addr, calls) = echo_server(None).await;
    let mut client = local_client_stack(addr, TimeoutPolicy::total(MS(200)).unwrap()).await;
    let t0 = Instant::now();
    let status = client.unary(echo(5_000)).await.unwrap_err();
    assert_code(&status, Code::DeadlineExceeded);
    assert!(
        status.message().contains("total timeout exceeded"),
        "{status:?}"
    );
    assert_eq!(t0.elapsed(), MS(200));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn client_a_per_try_timeout_that_fires_is_deadline_exceeded_not_unknown() {
    let (addr, _) = echo_server(None).await;
    let mut client = local_client_stack(addr, TimeoutPolicy::per_try(MS(150)).unwrap()).await;
    let t0 = Instant::now();
    let status = client.unary(echo(5_000)).await.unwrap_err();
    assert_code(&status, Code::DeadlineExceeded);
    assert!(
        status.message().contains("per-try timeout exceeded"),
        "{status:?}"
    );
    assert_eq!(t0.elapsed(), MS(150));
}

#[tokio::test(start_paused = true)]
async fn client_a_budget_too_small_fails_fast_as_deadline_exceeded_without_sending() {
    let (addr, calls) = echo_server(None).await;
    let policy = TimeoutPolicy::builder()
        .total(MS(500))
        .margin(MS(10))
        .min(MS(50))
        .build()
        .unwrap();
    let mut client = client_stack(addr, policy.clone()).await;
    // Inherited 40 ms: 30 ms would be sent, below the 50 ms minimum.
    let deadline = Deadline::after(TokioClock::new().now(), MS(40));
    let status = deadline
        .scope(async { client.unary(echo(0)).await })
        .await
        .unwrap_err();
    assert_code(&status, Code::DeadlineExceeded);
    assert!(
        status.message().contains("inherited deadline exceeded"),
        "{status:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "sent with a spent budget");
    let s = policy.snapshot();
    assert_eq!((s.rejected, s.fired.inherited, s.admitted), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn client_and_server_layers_together_answer_deadline_exceeded_from_the_server() {
    // The client sends 300 ms; the tollgate server keeps a 20 ms margin and cuts the
    // slow handler off first: the client reads the server's DEADLINE_EXCEEDED.
    let layer = server_layer(DeadlinePolicy::builder().margin(MS(20)));
    let (addr, _) = echo_server(Some(layer.clone())).await;
    let mut client = client_stack(addr, TimeoutPolicy::total(MS(300)).unwrap()).await;
    let t0 = Instant::now();
    let status = client.unary(echo(5_000)).await.unwrap_err();
    assert_code(&status, Code::DeadlineExceeded);
    assert_eq!(t0.elapsed(), MS(280));
    assert_eq!(layer.snapshot().cut_off, 1);
}
