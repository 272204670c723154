//! Deadlines end to end over loopback, with real axum servers, a real tonic server and
//! client, and paused time: the budget shrinks hop by hop exactly, spent budgets fail
//! fast without reaching the next hop, and handlers that outlive the deadline are cut
//! off.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tollgate_core::{Clock, TokioClock};
use tollgate_deadline::{
    Deadline, DeadlinePolicy, DeadlinePolicyBuilder, ServerDeadlineLayer, Timeout, TimeoutLayer,
    TimeoutPolicy, TimeoutPolicyBuilder,
};
use tollgate_http::deadline::TimeoutHeaders;
use tollgate_http::AsResponse;
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::echo::EchoRequest;
use tollgate_workspace::Replier;
use tonic::transport::Channel;
use tower::{Layer, ServiceBuilder};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// The server layer of every hop: the budget read from `grpc-timeout` or
/// `request-timeout`, refusals answered as 504 / 400 or gRPC statuses.
type ServerLayer = ServerDeadlineLayer<TimeoutHeaders, AsResponse>;

fn server(policy: DeadlinePolicyBuilder) -> ServerLayer {
    ServerDeadlineLayer::new(policy.build().unwrap())
        .propagate(TimeoutHeaders::new())
        .refuse_with(AsResponse::new())
}

/// The client layer of every hop: the remaining budget written on the request.
fn client(policy: TimeoutPolicyBuilder) -> TimeoutLayer<TimeoutHeaders> {
    TimeoutLayer::new(policy.build().unwrap()).propagate(TimeoutHeaders::new())
}

/// Starts the shared echo service on loopback; counts the calls that reach it.
async fn tonic_b(layer: Option<ServerLayer>) -> (SocketAddr, Arc<AtomicUsize>) {
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

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

type EchoB = EchoClient<Timeout<Channel, TimeoutHeaders>>;

async fn echo_client(addr: SocketAddr, layer: TimeoutLayer<TimeoutHeaders>) -> EchoB {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    EchoClient::new(layer.layer(channel))
}

fn http_client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get_with(addr: SocketAddr, path: &str, budget_ms: u64) -> (StatusCode, String) {
    let req = Request::get(format!("http://{addr}{path}"))
        .header("request-timeout", budget_ms.to_string())
        .body(Empty::new())
        .unwrap();
    let res = http_client().request(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Hop A: works `work`, then calls B (unary echo) and answers what B saw.
fn hop_a(b: EchoB, work: Duration, server: ServerLayer) -> Router {
    async fn handler(State((b, work)): State<(EchoB, Duration)>) -> (StatusCode, String) {
        tokio::time::sleep(work).await;
        let request = EchoRequest {
            message: "a".into(),
            delay_ms: 0,
            chunks: 0,
        };
        match b.clone().unary(request).await {
            Ok(reply) => (StatusCode::OK, reply.into_inner().grpc_timeout),
            Err(status) => (StatusCode::BAD_GATEWAY, status.message().to_owned()),
        }
    }
    Router::new()
        .route("/call", get(handler))
        .with_state((b, work))
        .layer(server)
}

#[tokio::test(start_paused = true)]
async fn budget_shrinks_from_axum_a_to_tonic_b() {
    let (b_addr, b_calls) = tonic_b(None).await;
    let b = echo_client(b_addr, client(TimeoutPolicy::builder().margin(MS(10)))).await;
    let server = server(DeadlinePolicy::builder().margin(MS(20)));
    let a = serve(hop_a(b, MS(300), server)).await;

    let t0 = Instant::now();
    let (status, seen) = get_with(a, "/call", 1000).await;
    // 1000 ms sent, - 20 (A's margin) - 300 (A's work) - 10 (network margin).
    assert_eq!((status, seen.as_str()), (StatusCode::OK, "670000u"));
    assert_eq!(t0.elapsed(), MS(300));
    assert_eq!(b_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn spent_budget_fails_fast_in_a_and_never_reaches_b() {
    let (b_addr, b_calls) = tonic_b(None).await;
    let b = echo_client(
        b_addr,
        client(TimeoutPolicy::builder().margin(MS(10)).min(MS(50))),
    )
    .await;
    let server = server(DeadlinePolicy::builder().margin(MS(20)).min(MS(30)));
    let a = serve(hop_a(b, MS(60), server)).await;

    let t0 = Instant::now();
    // Refused by A's server layer before the handler: 45 - 20 = 25 ms < 30 ms minimum.
    let (status, _) = get_with(a, "/call", 45).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(t0.elapsed(), Duration::ZERO);

    // A runs (120 - 20 = 100 ms), works 60 ms, and would send 40 - 10 = 30 ms < 50 ms:
    // the call to B fails at once without being sent.
    let (status, message) = get_with(a, "/call", 120).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(message.contains("inherited deadline exceeded"), "{message}");
    assert_eq!(t0.elapsed(), MS(60));
    assert_eq!(b_calls.load(Ordering::SeqCst), 0, "B was called");
}

#[tokio::test(start_paused = true)]
async fn tonic_b_with_the_server_layer_refuses_and_cuts_off_in_grpc_terms() {
    let layer = server(DeadlinePolicy::builder().min(MS(100)));
    let (b_addr, b_calls) = tonic_b(Some(layer)).await;
    let mut b = EchoClient::connect(format!("http://{b_addr}"))
        .await
        .unwrap();
    let call = |timeout: Duration, delay_ms: u64| {
        let mut request = tonic::Request::new(EchoRequest {
            message: "x".into(),
            delay_ms,
            chunks: 0,
        });
        request.set_timeout(timeout);
        request
    };
    // Below B's minimum: DEADLINE_EXCEEDED before the service runs.
    let status = b.unary(call(MS(50), 0)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    assert_eq!(b_calls.load(Ordering::SeqCst), 0);

    // Enough budget: B answers, and saw the caller's budget.
    let reply = b.unary(call(MS(500), 10)).await.unwrap().into_inner();
    assert_eq!(reply.grpc_timeout, "500000u");
    assert_eq!(b_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn budget_shrinks_from_axum_a_to_axum_b_and_b_cuts_off_at_the_deadline() {
    // B reports the budget it got in its extensions, then works `?work=` ms.
    async fn b_handler(
        Extension(deadline): Extension<Deadline>,
        axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, u64>>,
    ) -> String {
        let left = deadline.remaining(TokioClock::new().now()).as_millis();
        tokio::time::sleep(MS(q.get("work").copied().unwrap_or(0))).await;
        left.to_string()
    }
    let b = serve(
        Router::new()
            .route("/b", get(b_handler))
            .layer(server(DeadlinePolicy::builder().margin(MS(5)))),
    )
    .await;

    type HttpB = Timeout<Client<HttpConnector, Empty<Bytes>>, TimeoutHeaders>;
    let client: HttpB = ServiceBuilder::new()
        .layer(client(TimeoutPolicy::builder().margin(MS(10))))
        .service(http_client());
    async fn a_handler(
        State((client, b)): State<(HttpB, SocketAddr)>,
        axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, u64>>,
    ) -> Result<String, Infallible> {
        tokio::time::sleep(MS(200)).await;
        let work = q.get("work").copied().unwrap_or(0);
        let req = Request::get(format!("http://{b}/b?work={work}"))
            .body(Empty::new())
            .unwrap();
        let res = tower::ServiceExt::oneshot(client, req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Ok(format!(
            "{} {}",
            status.as_u16(),
            String::from_utf8_lossy(&body)
        ))
    }
    let a = serve(
        Router::new()
            .route("/a", get(a_handler))
            .with_state((client, b))
            .layer(server(DeadlinePolicy::builder().margin(MS(20)))),
    )
    .await;

    let t0 = Instant::now();
    // 1000 - 20 (A) - 200 (A's work) - 10 (network) - 5 (B's margin) = 765 ms at B.
    let (status, body) = get_with(a, "/a", 1000).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "200 765"));
    assert_eq!(t0.elapsed(), MS(200));

    // B works 2 s with 765 ms left: B answers 504 at its deadline, A relays it.
    let t1 = Instant::now();
    let (status, body) = get_with(a, "/a?work=2000", 1000).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "504 "));
    assert_eq!(t1.elapsed(), MS(200 + 765));
}
