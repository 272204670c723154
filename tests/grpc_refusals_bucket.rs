//! The token bucket's refusals as gRPC statuses, over loopback: on a real tonic server
//! (the layer with `AsResponse`) and on a tonic client stack (the layer with `AsStatus`
//! around a `Channel`). A rate-limited call is `RESOURCE_EXHAUSTED` with
//! `grpc-retry-pushback-ms`; a call without a key is `INVALID_ARGUMENT`; never `UNKNOWN`.
//! The limiters run on a `ManualClock` that never moves, so every count is exact.

use std::time::Duration;

use tokio::net::TcpListener;
use tollgate_bucket::{KeyedRateLimiter, Quota, RateLimitLayer, RateLimiter};
use tollgate_core::ManualClock;
use tollgate_http::rate_limit::HeaderKey;
use tollgate_http::{AsResponse, AsStatus};
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::echo::EchoRequest;
use tollgate_workspace::Replier;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// Every test finishes well inside this, or fails.
const BOUND: Duration = Duration::from_secs(20);

/// One cell a minute per key, burst 1: the second call of a key waits a minute.
fn per_key() -> KeyedRateLimiter<tollgate_http::rate_limit::HeaderValueKey, ManualClock> {
    KeyedRateLimiter::builder(Quota::per_minute(1).build().unwrap())
        .name("per-key")
        .clock(ManualClock::new())
        .build()
        .unwrap()
}

fn hello(key: Option<&'static str>) -> Request<EchoRequest> {
    let mut request = Request::new(EchoRequest {
        message: "hi".into(),
        delay_ms: 0,
        chunks: 0,
    });
    if let Some(key) = key {
        request
            .metadata_mut()
            .insert("x-api-key", key.parse().unwrap());
    }
    request
}

async fn plain_channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A plain echo server; the limit is on the client side.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EchoServer::new(Replier))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    addr
}

fn assert_rate_limited(status: &Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // The next cell is a minute away.
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "60000",
        "{status:?}"
    );
    assert!(status.message().contains("rate limited"), "{status:?}");
}

#[tokio::test]
async fn server_refusals_are_resource_exhausted_with_pushback_or_invalid_argument() {
    tokio::time::timeout(BOUND, async {
        let limiter = per_key();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let layer = RateLimitLayer::keyed(limiter.clone(), HeaderKey::new("x-api-key").unwrap())
            .refuse_with(AsResponse::new());
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(EchoServer::new(Replier))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let mut client = EchoClient::new(plain_channel(addr).await);

        let reply = client.unary(hello(Some("k1"))).await.unwrap();
        assert_eq!(reply.into_inner().message, "hi");
        let refused = client.unary(hello(Some("k1"))).await.unwrap_err();
        assert_rate_limited(&refused);
        // Another key has its own bucket.
        assert!(client.unary(hello(Some("k2"))).await.is_ok());

        let missing = client.unary(hello(None)).await.unwrap_err();
        assert_eq!(missing.code(), Code::InvalidArgument, "{missing:?}");
        assert!(missing.metadata().get("grpc-retry-pushback-ms").is_none());

        let snap = limiter.snapshot();
        assert_eq!((snap.admitted, snap.rejected, snap.keys), (2, 1, 2));
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn client_refusals_are_the_calls_status_never_unknown() {
    tokio::time::timeout(BOUND, async {
        let addr = echo_server().await;

        // Direct: one cell a minute for every call this client makes.
        let limiter = RateLimiter::builder(Quota::per_minute(1).build().unwrap())
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let stack = tower::ServiceBuilder::new()
            .layer(RateLimitLayer::new(limiter.clone()).refuse_with(AsStatus))
            .service(plain_channel(addr).await);
        let mut client = EchoClient::new(stack);
        assert!(client.unary(hello(None)).await.is_ok());
        let refused = client.unary(hello(None)).await.unwrap_err();
        assert_rate_limited(&refused);
        assert_eq!(limiter.snapshot().rejected, 1);

        // Keyed by the call's metadata: a call without the key never leaves.
        let limiter = per_key();
        let layer = RateLimitLayer::keyed(limiter.clone(), HeaderKey::new("x-api-key").unwrap())
            .refuse_with(AsStatus);
        let stack = tower::ServiceBuilder::new()
            .layer(layer)
            .service(plain_channel(addr).await);
        let mut client = EchoClient::new(stack);
        assert!(client.unary(hello(Some("k1"))).await.is_ok());
        assert_rate_limited(&client.unary(hello(Some("k1"))).await.unwrap_err());
        let missing = client.unary(hello(None)).await.unwrap_err();
        assert_eq!(missing.code(), Code::InvalidArgument, "{missing:?}");
        assert_eq!(limiter.snapshot().keys, 1);
    })
    .await
    .expect("test finished in time");
}
