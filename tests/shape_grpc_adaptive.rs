//! Adaptive throttling over gRPC, against a real tonic server on loopback: a normal
//! gRPC response carries its status in the trailers, and the shaper's default feedback
//! (`HttpFeedback`) must count it.
//!
//! Regression (issue 11): `HttpFeedback` returned `Ignored` for a response whose
//! status was still to come, an ignored outcome never counted as an accept, so the
//! throttler saw requests but no accepts and shed successful calls, its probability
//! climbing towards n/(n+1).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::net::TcpListener;
use tollgate_core::{Quota, SystemClock};
use tollgate_http::shape::HttpFeedback;
use tollgate_http::AsStatus;
use tollgate_leaky::{Shape, ShapeLayer, Shaper, Unit};
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::{Echo, EchoServer};
use tollgate_workspace::echo::{EchoReply, EchoRequest};
use tollgate_workspace::Replier;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tower::Layer;

/// A server that answers every call `RESOURCE_EXHAUSTED` *in the trailers*: the
/// streaming call sends its headers, then fails; it counts the calls that reach it.
#[derive(Clone, Default)]
struct Exhausted(Arc<AtomicU64>);

type Replies = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for Exhausted {
    async fn unary(&self, _: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("stream only"))
    }

    type StreamStream = Replies;

    async fn stream(&self, _: Request<EchoRequest>) -> Result<Response<Replies>, Status> {
        self.0.fetch_add(1, Ordering::Relaxed);
        let failed = futures::stream::once(async { Err(Status::resource_exhausted("busy")) });
        Ok(Response::new(Box::pin(failed)))
    }
}

async fn serve<S: Echo>(service: S) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EchoServer::new(service))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    addr
}

/// Fast enough never to queue; adaptive throttling with the book's k = 2; every
/// random draw 0.75, so a call is shed exactly when the probability exceeds 0.75.
fn adaptive() -> Shaper {
    Shaper::builder(Quota::per_second(1_000_000).burst(1_000).unwrap())
        .adaptive(2.0, Duration::from_secs(60))
        .random(|| 0.75)
        .build()
        .unwrap()
}

type Shaped = Shape<Channel, SystemClock, HttpFeedback, Unit, AsStatus>;

async fn client(addr: SocketAddr, shaper: &Shaper) -> EchoClient<Shaped> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let shaped = ShapeLayer::new(shaper.clone())
        .feedback(HttpFeedback)
        .refuse_with(AsStatus)
        .layer(channel);
    EchoClient::new(shaped)
}

fn call() -> EchoRequest {
    EchoRequest {
        message: "hi".into(),
        delay_ms: 0,
        chunks: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_successful_grpc_calls_shed_none() {
    let shaper = adaptive();
    let mut client = client(serve(Replier).await, &shaper).await;
    for i in 0..1_000 {
        let reply = client.unary(call()).await;
        assert!(
            reply.is_ok(),
            "call {i}: {:?} / {:?}",
            reply.err(),
            shaper.snapshot()
        );
    }
    // The streaming call's OK is in the trailers too.
    for i in 0..100 {
        let mut stream = client.stream(call()).await.unwrap().into_inner();
        assert!(stream.message().await.unwrap().is_some(), "stream {i}");
        assert!(stream.message().await.unwrap().is_none(), "stream {i}");
    }
    let snapshot = shaper.snapshot();
    assert_eq!(
        (snapshot.admitted, snapshot.rejected),
        (1_100, 0),
        "{snapshot:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_exhausted_in_trailers_is_throttled_as_the_formula_says() {
    let shaper = adaptive();
    let server = Exhausted::default();
    let mut client = client(serve(server.clone()).await, &shaper).await;
    let mut local = 0;
    for _ in 0..20 {
        let status = match client.stream(call()).await {
            Ok(response) => response.into_inner().message().await.unwrap_err(),
            Err(status) => status,
        };
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        // Refused by the client's throttler, not by the server.
        local += u64::from(status.message() != "busy");
    }
    // With no accept, the i-th call (from 0) sheds with probability i / (i + 1): 0,
    // 1/2, 2/3, 3/4 do not exceed the draw 0.75, 4/5 and every later one do.
    assert_eq!(server.0.load(Ordering::Relaxed), 4);
    assert_eq!(local, 16);
    assert_eq!(shaper.snapshot().rejected, 16);
}
