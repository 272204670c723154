//! The shared gRPC test service works over a real loopback socket: the smoke test every
//! gRPC end-to-end test of the workspace builds on.

use std::time::Duration;

use tokio::net::TcpListener;
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::echo::EchoRequest;
use tollgate_workspace::Replier;
use tonic::Request;

#[tokio::test]
async fn unary_and_streaming_calls_cross_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EchoServer::new(Replier))
            .serve_with_incoming(incoming),
    );

    let mut client = EchoClient::connect(format!("http://{addr}")).await.unwrap();
    let mut request = Request::new(EchoRequest {
        message: "hi".into(),
        delay_ms: 0,
        chunks: 0,
    });
    request.set_timeout(Duration::from_secs(5));
    let reply = client.unary(request).await.unwrap().into_inner();
    assert_eq!(reply.message, "hi");
    assert_eq!(reply.grpc_timeout, "5000000u");

    let mut stream = client
        .stream(EchoRequest {
            message: "s".into(),
            delay_ms: 1,
            chunks: 3,
        })
        .await
        .unwrap()
        .into_inner();
    let mut indexes = Vec::new();
    while let Some(reply) = stream.message().await.unwrap() {
        indexes.push(reply.index);
    }
    assert_eq!(indexes, [0, 1, 2]);
    server.abort();
}
