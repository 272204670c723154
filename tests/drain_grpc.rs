//! A tonic server draining with a streaming RPC in flight, over loopback: the health
//! service says NOT_SERVING from the announce on, new calls are still served during
//! the propagation delay and refused with UNAVAILABLE once closing, the stream in
//! flight completes every message, and the server exits within the deadline. A stream
//! that would outlive the deadline is cut with a clean UNAVAILABLE status.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;
use tollgate_drain::{Drain, DrainLayer, Phase};
use tollgate_http::drain::{health_follows, UntilBodyEnd};
use tollgate_http::AsResponse;
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::echo::EchoRequest;
use tollgate_workspace::Replier;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const SERVICE: &str = "tollgate.echo.Echo";

struct Server {
    channel: Channel,
    drain: Drain,
    exited: tokio::task::JoinHandle<Instant>,
}

async fn start(propagation_ms: u64, deadline_ms: u64) -> Server {
    let drain = Drain::builder()
        .propagation_delay(Duration::from_millis(propagation_ms))
        .deadline(Duration::from_millis(deadline_ms))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(health_follows(drain.clone(), reporter, [SERVICE]));
    let server = tonic::transport::Server::builder()
        .layer(
            DrainLayer::new(drain.clone())
                .refuse_with(AsResponse::new())
                .track_with(UntilBodyEnd),
        )
        .add_service(health)
        .add_service(EchoServer::new(Replier))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            drain.done(),
        );
    let exited = tokio::spawn(async move {
        server.await.unwrap();
        Instant::now()
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server {
        channel,
        drain,
        exited,
    }
}

fn echo(message: &str, delay_ms: u64, chunks: u32) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        delay_ms,
        chunks,
    }
}

async fn health(channel: &Channel) -> ServingStatus {
    let reply = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: SERVICE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    ServingStatus::try_from(reply.status).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_in_flight_completes_and_new_calls_are_refused_cleanly() {
    let server = start(150, 2_000).await;
    let mut client = EchoClient::new(server.channel.clone());
    // Let health_follows mark the service as serving.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(health(&server.channel).await, ServingStatus::Serving);

    let mut stream = client
        .stream(echo("in flight", 50, 8))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.index, 0);

    let driver = tokio::spawn(server.drain.clone().run());
    let deployed_at = Instant::now();
    server.drain.start();
    server.drain.announced().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(health(&server.channel).await, ServingStatus::NotServing);
    let during_propagation = client.unary(echo("still served", 0, 0)).await.unwrap();
    assert_eq!(during_propagation.into_inner().message, "still served");

    server.drain.closing().await;
    let refused = client.unary(echo("too late", 0, 0)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    let mut indexes = vec![first.index];
    while let Some(reply) = stream.message().await.expect("the stream ends cleanly") {
        indexes.push(reply.index);
    }
    assert_eq!(indexes, (0..8).collect::<Vec<_>>());

    let report = driver.await.unwrap();
    let exited_at = server.exited.await.unwrap();
    println!(
        "grpc drain: {report}; server exited {:?} after the deploy",
        exited_at - deployed_at
    );
    assert!(report.is_clean(), "{report}");
    assert!(report.finished() >= 2, "{report}");
    assert_eq!(server.drain.phase(), Phase::Done);
    assert!(exited_at - deployed_at <= Duration::from_millis(2_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outliving_the_deadline_is_cut_with_unavailable() {
    let server = start(50, 400).await;
    let mut client = EchoClient::new(server.channel.clone());
    let mut stream = client
        .stream(echo("endless", 50, 10_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().index, 0);
    let deployed_at = Instant::now();
    server.drain.start();
    let report = server.drain.clone().run().await;
    assert_eq!(report.cut(), 1, "{report}");

    let mut received = 1;
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "server is draining");
    assert!(
        (2..=10).contains(&received),
        "{received} messages before the cut"
    );
    let exited_at = server.exited.await.unwrap();
    assert!(exited_at - deployed_at <= Duration::from_millis(400 + 300));
}
