//! An open breaker refuses gRPC calls with `UNAVAILABLE` and `grpc-retry-pushback-ms`,
//! never `UNKNOWN`: on a real tonic server (the breaker layer with `AsResponse` around
//! the server's services) and on a tonic client stack (the layer with `AsStatus` around
//! a `Channel`). Both breakers are tripped by real failing calls over loopback and run
//! on a manual clock, so the pushback is exact.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tollgate_breaker::{Breaker, BreakerLayer, State};
use tollgate_core::ManualClock;
use tollgate_http::breaker::GrpcClassifier;
use tollgate_http::{grpc, AsResponse, AsStatus};
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::{Echo, EchoServer};
use tollgate_workspace::echo::{EchoReply, EchoRequest};
use tollgate_workspace::ReplyStream;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tower::ServiceBuilder;

const OPEN_WAIT: Duration = Duration::from_millis(1500);

/// An echo service that fails every call with `INTERNAL` when told to, counting calls.
#[derive(Clone, Default)]
struct Flaky {
    failing: Arc<AtomicU32>,
    hits: Arc<AtomicU32>,
}

impl Flaky {
    fn hits(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }
}

#[tonic::async_trait]
impl Echo for Flaky {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) != 0 {
            return Err(Status::internal("the upstream broke"));
        }
        Ok(Response::new(EchoReply {
            message: request.into_inner().message,
            grpc_timeout: String::new(),
            index: 0,
        }))
    }

    type StreamStream = ReplyStream;

    async fn stream(
        &self,
        _: Request<EchoRequest>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        Err(Status::unimplemented("unary only"))
    }
}

fn breaker(name: &'static str, clock: &ManualClock) -> Breaker<ManualClock> {
    Breaker::builder()
        .name(name)
        .no_failure_rate()
        .consecutive_failures(2)
        .open_wait(OPEN_WAIT)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn hello() -> EchoRequest {
    EchoRequest {
        message: "hello".into(),
        delay_ms: 0,
        chunks: 0,
    }
}

/// The refusal of an open breaker, as a tonic client sees it.
fn assert_refused(status: &Status, pushback_ms: &str) {
    assert_ne!(status.code(), Code::Unknown, "{status:?}");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.metadata().get(grpc::RETRY_PUSHBACK_MS_KEY).unwrap(),
        pushback_ms,
        "{status:?}"
    );
    assert!(status.message().contains("circuit"), "{status:?}");
}

#[tokio::test]
async fn an_open_breaker_on_a_tonic_server_answers_unavailable_with_pushback() {
    let clock = ManualClock::new();
    let breaker = breaker("echo-server", &clock);
    let flaky = Flaky::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = BreakerLayer::new(breaker.clone())
        .classifier(GrpcClassifier::new())
        .refuse_with(AsResponse::new());
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(EchoServer::new(flaky.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut client = EchoClient::connect(format!("http://{addr}")).await.unwrap();

    // Healthy: served, and the success is recorded from the response's trailers.
    assert_eq!(
        client.unary(hello()).await.unwrap().into_inner().message,
        "hello"
    );
    assert_eq!(breaker.snapshot().calls, 1);

    // Two INTERNAL answers in a row (trailers-only responses) open the breaker.
    flaky.failing.store(1, Ordering::SeqCst);
    for _ in 0..2 {
        let status = client.unary(hello()).await.unwrap_err();
        assert_eq!(status.code(), Code::Internal);
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(flaky.hits(), 3);

    // Open: refused by the server's breaker, before the service.
    let status = client.unary(hello()).await.unwrap_err();
    assert_refused(&status, "1500");
    clock.advance(Duration::from_millis(400));
    let status = client.unary(hello()).await.unwrap_err();
    assert_refused(&status, "1100");
    assert_eq!(flaky.hits(), 3, "no refused call reached the service");
    let s = breaker.snapshot();
    assert_eq!((s.admitted, s.rejected), (3, 2));

    // After the open wait a probe reaches the recovered service and closes the breaker.
    flaky.failing.store(0, Ordering::SeqCst);
    clock.advance(OPEN_WAIT);
    for _ in 0..3 {
        client.unary(hello()).await.unwrap();
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn an_open_breaker_on_a_tonic_client_fails_calls_with_unavailable_and_pushback() {
    let flaky = Flaky {
        failing: Arc::new(AtomicU32::new(1)),
        ..Flaky::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EchoServer::new(flaky.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let clock = ManualClock::new();
    let breaker = breaker("echo-client", &clock);
    let stack = ServiceBuilder::new()
        .layer(
            BreakerLayer::new(breaker.clone())
                .classifier(GrpcClassifier::new())
                .refuse_with(AsStatus),
        )
        .service(channel);
    let mut client = EchoClient::new(stack);

    // The server fails twice: the client's breaker counts both and opens.
    for _ in 0..2 {
        let status = client.unary(hello()).await.unwrap_err();
        assert_eq!(status.code(), Code::Internal);
    }
    assert_eq!(breaker.state(), State::Open);

    // Open: the call fails at once with the breaker's status, never UNKNOWN.
    let status = client.unary(hello()).await.unwrap_err();
    assert_refused(&status, "1500");
    clock.advance(Duration::from_millis(1000));
    let status = client.unary(hello()).await.unwrap_err();
    assert_refused(&status, "500");
    assert_eq!(flaky.hits(), 2, "no refused call left the client");
    let s = breaker.snapshot();
    assert_eq!((s.admitted, s.rejected), (2, 2));
}
