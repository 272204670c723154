//! The client stack around a tonic `Channel`: the call's remaining deadline travels as
//! `grpc-timeout` (the server below reports what it received), an open breaker or a
//! refused quota fails the call with the matching `tonic::Status`.
//!
//! ```sh
//! cargo run --example tonic_server -- --for 30s &
//! cargo run --example tonic_client -- --deadline 2s
//! ```

use std::time::Duration;

use clap::Parser;
use tollgate::prelude::*;
use tollgate_workspace::echo::echo_client::EchoClient;
use tollgate_workspace::echo::EchoRequest;
use tonic::transport::Channel;
use tower::Layer;

#[derive(Parser)]
struct Args {
    /// The server.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// The whole budget of each call.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    deadline: Duration,
    /// How many calls.
    #[arg(long, default_value_t = 3)]
    calls: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let channel = Channel::from_shared(args.server)?.connect().await?;
    let (stack, _warnings) = ClientStack::builder()
        .grpc()
        .deadline(args.deadline)
        .breaker(
            Breaker::builder()
                .name("echo")
                .consecutive_failures(3)
                .build()?,
        )
        .per_try(args.deadline / 2)
        .build()?;
    let mut client = EchoClient::new(stack.layer(channel));
    for i in 0..args.calls {
        let request = EchoRequest {
            message: format!("call {i}"),
            delay_ms: 10,
            chunks: 0,
        };
        match client.unary(request).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                println!(
                    "{}: the server saw grpc-timeout {}",
                    reply.message, reply.grpc_timeout
                );
            }
            Err(status) => println!("call {i}: {:?} {}", status.code(), status.message()),
        }
    }
    println!("{:?}", stack.snapshot());
    Ok(())
}
