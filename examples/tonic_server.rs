//! The server stack on a tonic server: the caller's `grpc-timeout` becomes the
//! handler's deadline, refusals are gRPC statuses (`RESOURCE_EXHAUSTED`,
//! `UNAVAILABLE`, `DEADLINE_EXCEEDED`), and the health service follows the drain.
//!
//! ```sh
//! cargo run --example tonic_server -- --for 30s &
//! cargo run --example tonic_client
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use tollgate::prelude::*;
use tollgate_workspace::echo::echo_server::EchoServer;
use tollgate_workspace::Replier;

#[derive(Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Drain and stop by itself after this long (e.g. "10s"); otherwise on SIGTERM.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    run_for: Option<Duration>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let (stack, _warnings) = ServerStack::builder()
        .grpc()
        .drain(
            Drain::builder()
                .propagation_delay(Duration::from_millis(500))
                .build()?,
        )
        // The margin answers DEADLINE_EXCEEDED before tonic's own grpc-timeout
        // handling would cancel the call.
        .deadline(
            DeadlinePolicy::builder()
                .max(Duration::from_secs(10))
                .margin(Duration::from_millis(20))
                .build()?,
        )
        .rate_limit(
            KeyedRateLimiter::builder(Quota::per_second(20).burst(5)?).build()?,
            KeySource::global(),
        )
        .breaker(Breaker::builder().consecutive_failures(5).build()?)
        .build()?;
    let drain = stack.drain().clone();
    let (health, health_service) = tonic_health::server::health_reporter();
    tokio::spawn(tollgate::http::drain::health_follows(
        drain.clone(),
        health,
        ["tollgate.echo.Echo"],
    ));

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let trigger = async move {
        match args.run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => tollgate::drain::terminate().await,
        }
    };
    let driver = tokio::spawn(drain.clone().run_until(trigger));
    tonic::transport::Server::builder()
        .layer(stack.clone())
        .add_service(health_service)
        .add_service(EchoServer::new(Replier))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            drain.done(),
        )
        .await?;
    println!("{}", driver.await?);
    Ok(())
}
