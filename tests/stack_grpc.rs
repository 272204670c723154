//! The server stack on a tonic server and the client stack around a tonic `Channel`,
//! over loopback: the deadline crosses the wire, refusals are gRPC statuses on both
//! sides, the client's breaker opens on `UNAVAILABLE`.

use std::time::Duration;

use tollgate::prelude::*;
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::echo::EchoRequest;
use tollgate_workspace::Replier;
use tonic::transport::Channel;
use tonic::Code;
use tower::Layer;

async fn serve(stack: tollgate::ServerStack<tollgate::stack::Grpc>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(stack)
            .add_service(EchoServer::new(Replier))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    format!("http://{addr}")
}

fn ask(delay_ms: u64) -> EchoRequest {
    EchoRequest {
        message: "hi".into(),
        delay_ms,
        chunks: 0,
    }
}

#[tokio::test]
async fn deadline_travels_and_refusals_are_statuses() {
    let (server, _) = ServerStack::builder()
        .grpc()
        // The margin makes the stack answer before tonic's own grpc-timeout handling
        // (which would cancel the call with `CANCELLED`).
        .deadline(
            DeadlinePolicy::builder()
                .max(Duration::from_secs(5))
                .margin(Duration::from_millis(20))
                .build()
                .unwrap(),
        )
        .rate_limit(
            KeyedRateLimiter::builder(Quota::per_hour(1).burst(2).unwrap())
                .build()
                .unwrap(),
            KeySource::global(),
        )
        .build()
        .unwrap();
    let url = serve(server.clone()).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let (client_stack, _) = ClientStack::builder()
        .grpc()
        .deadline(Duration::from_secs(2))
        .breaker(Breaker::builder().consecutive_failures(2).build().unwrap())
        .per_try(Duration::from_millis(800))
        .build()
        .unwrap();
    let mut client = EchoClient::new(client_stack.layer(channel));

    // The per-try bound is what the server is told, and what its handler runs under.
    let reply = client.unary(ask(0)).await.unwrap().into_inner();
    let sent: u64 = reply.grpc_timeout.trim_end_matches('u').parse().unwrap();
    assert!(sent <= 800_000 && sent > 700_000, "{}", reply.grpc_timeout);

    // A handler slower than the budget: the server answers DEADLINE_EXCEEDED 20 ms
    // before the client would give up.
    let late = client.unary(ask(2_000)).await.unwrap_err();
    assert_eq!(late.code(), Code::DeadlineExceeded, "{late:?}");

    // The server's quota (2) is spent by the two calls above: RESOURCE_EXHAUSTED with the retry pushback.
    let refused = client.unary(ask(0)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.metadata().get("grpc-retry-pushback-ms").is_some());
    let rl = server.snapshot().rate_limit.unwrap();
    assert_eq!((rl.admitted, rl.rejected), (2, 1));

    // Two failures in a row (the deadline, the quota) opened the client's breaker:
    // the next call fails with UNAVAILABLE without reaching the server.
    let open = client.unary(ask(0)).await.unwrap_err();
    assert_eq!(open.code(), Code::Unavailable, "{open:?}");
    assert_eq!(server.snapshot().rate_limit.unwrap().rejected, 1);
    let breaker = client_stack.snapshot().breaker.unwrap();
    assert_eq!((breaker.state, breaker.rejected), (State::Open, 1));
}
