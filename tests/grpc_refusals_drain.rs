//! The drain's one refusal reason, `Draining`, as tonic sees it, over loopback: on a
//! real tonic server (the drain layer with `AsResponse`) and on a tonic client stack
//! (the drain layer with `AsStatus` around a `Channel`, draining a process's outgoing
//! calls). Either way the caller reads `UNAVAILABLE` with the drain's message, never
//! `UNKNOWN`, and no `grpc-retry-pushback-ms` (a draining server has no retry time:
//! the call belongs elsewhere).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tollgate_core::AsError;
use tollgate_drain::{Drain, DrainLayer, RequestGuard};
use tollgate_http::drain::UntilBodyEnd;
use tollgate_http::{grpc, AsResponse, AsStatus};
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::echo::EchoRequest;
use tollgate_workspace::Replier;
use tonic::transport::Channel;
use tonic::Code;

fn drain(deadline_ms: u64) -> Drain {
    Drain::builder()
        .propagation_delay(Duration::ZERO)
        .deadline(Duration::from_millis(deadline_ms))
        .build()
        .unwrap()
}

/// Moves `drain` to closing and keeps it there (one request that never ends).
async fn closing(drain: &Drain) -> RequestGuard {
    let held = drain.enter().unwrap();
    tokio::spawn(drain.clone().run());
    drain.start();
    drain.closing().await;
    held
}

fn echo(message: &str, delay_ms: u64, chunks: u32) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        delay_ms,
        chunks,
    }
}

/// The echo server on loopback, draining with `drain`.
async fn serve(drain: &Drain) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder()
        .layer(
            DrainLayer::new(drain.clone())
                .refuse_with(AsResponse::new())
                .track_with(UntilBodyEnd),
        )
        .add_service(EchoServer::new(Replier))
        .serve_with_incoming(incoming);
    tokio::spawn(server);
    addr
}

/// A channel to an echo server whose own drain is never triggered.
async fn upstream() -> Channel {
    channel(serve(&drain(60_000)).await).await
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn assert_draining(status: &tonic::Status) {
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "server is draining", "{status:?}");
    assert!(
        status.metadata().get(grpc::RETRY_PUSHBACK_MS_KEY).is_none(),
        "{status:?}"
    );
}

#[tokio::test]
async fn server_a_call_once_closing_gets_unavailable() {
    let drain = drain(60_000);
    let mut client = EchoClient::new(channel(serve(&drain).await).await);
    let served = client.unary(echo("before", 0, 0)).await.unwrap();
    assert_eq!(served.into_inner().message, "before");

    let _held = closing(&drain).await;
    let unary = client.unary(echo("unary", 0, 0)).await.unwrap_err();
    assert_draining(&unary);
    let stream = client.stream(echo("stream", 0, 3)).await.unwrap_err();
    assert_draining(&stream);
    assert_eq!(drain.snapshot().rejected, 2);
}

#[tokio::test]
async fn client_a_call_once_closing_gets_unavailable_without_leaving_the_process() {
    let drain = drain(60_000);
    let stack = tower::ServiceBuilder::new()
        .layer(
            DrainLayer::new(drain.clone())
                .refuse_with(AsStatus)
                .track_with(UntilBodyEnd),
        )
        .service(upstream().await);
    let mut client = EchoClient::new(stack);

    // An outgoing stream counts until its last message has been read.
    let mut stream = client
        .stream(echo("before", 10, 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(drain.snapshot().in_flight, 1);
    let mut received = 0;
    while stream.message().await.unwrap().is_some() {
        received += 1;
    }
    assert_eq!(received, 3);
    drop(stream);
    assert_eq!(drain.snapshot().in_flight, 0);

    let _held = closing(&drain).await;
    let unary = client.unary(echo("unary", 0, 0)).await.unwrap_err();
    assert_draining(&unary);
    let stream = client.stream(echo("stream", 0, 3)).await.unwrap_err();
    assert_draining(&stream);
    let snapshot = drain.snapshot();
    assert_eq!((snapshot.admitted, snapshot.rejected), (2, 2));
}

#[tokio::test]
async fn client_a_stream_outliving_the_deadline_ends_with_unavailable() {
    let drain = drain(300);
    let stack = tower::ServiceBuilder::new()
        .layer(
            DrainLayer::new(drain.clone())
                .refuse_with(AsStatus)
                .track_with(UntilBodyEnd),
        )
        .service(upstream().await);
    let mut client = EchoClient::new(stack);
    let mut stream = client
        .stream(echo("endless", 20, 10_000))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    drain.start();
    let report = drain.clone().run().await;
    assert_eq!(report.cut(), 1, "{report}");
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_draining(&status);
}

// Why `AsStatus` exists: with the default `AsError` the refusal is a plain `BoxError`,
// which a tonic client cannot map and reports as UNKNOWN.
#[tokio::test]
async fn client_without_as_status_a_refusal_reads_as_unknown() {
    let drain = drain(60_000);
    let stack = tower::ServiceBuilder::new()
        .layer(
            DrainLayer::new(drain.clone())
                .refuse_with(AsError)
                .track_with(UntilBodyEnd),
        )
        .service(upstream().await);
    let mut client = EchoClient::new(stack);
    let _held = closing(&drain).await;
    let status = client.unary(echo("unary", 0, 0)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
}
