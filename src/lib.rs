//! The unpublished root package of the tollgate workspace. It owns the top-level
//! `examples/`, `benches/` and `tests/`; the library itself is in `crates/`.
//!
//! What it exports is shared by those examples and tests only.

// The README's examples compile as doc tests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod chromium;
pub mod dashboard_demo;

/// The name of a benchmark group, marked when the crates' `metrics` feature is on (and
/// no recorder installed): `cargo bench --bench X` and `cargo bench --bench X
/// --features metrics` then report side by side, each group with its peers, for the
/// overhead of the feature alone.
///
/// ```
/// let name = tollgate_workspace::bench_group("bucket_direct");
/// assert!(name.starts_with("bucket_direct"));
/// ```
pub fn bench_group(name: &str) -> String {
    if cfg!(feature = "metrics") {
        format!("{name}_metrics_on_no_recorder")
    } else {
        name.to_owned()
    }
}
/// The full server stack the benchmarks measure (deadline, rate limit, shaping, breaker,
/// per-try timeout, and the drain), with a quota far above any rate they reach, so
/// nothing is refused; `key` picks the rate limit's buckets.
///
/// ```
/// let stack = tollgate_workspace::bench_server_stack(tollgate::KeySource::global());
/// # let _ = stack;
/// ```
pub fn bench_server_stack(key: tollgate::KeySource) -> tollgate::ServerStack {
    use std::time::Duration;
    use tollgate::prelude::*;

    let quota = Quota::with_period(1_000_000_000, Duration::from_secs(1))
        .build()
        .expect("a valid quota");
    let (stack, _) = ServerStack::builder()
        .deadline(
            DeadlinePolicy::builder()
                .max(Duration::from_secs(10))
                .build()
                .expect("valid"),
        )
        .rate_limit(
            KeyedRateLimiter::builder(quota).build().expect("valid"),
            key,
        )
        .shape(Shaper::builder(quota).build().expect("valid"))
        .breaker(Breaker::builder().build().expect("valid"))
        .timeout(TimeoutPolicy::per_try(Duration::from_secs(2)).expect("valid"))
        .build()
        .expect("an aligned stack");
    stack
}

pub mod drain_load;
pub mod floors;
pub mod redis_server;
pub mod showcase;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use tonic::{Request, Response, Status};

/// The `tollgate.echo.Echo` gRPC service (proto/echo.proto) that end-to-end tests and
/// examples run over loopback: a unary call and a server-streaming call, each with a
/// configurable delay, replying with the `grpc-timeout` the server received.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
pub mod echo {
    tonic::include_proto!("tollgate.echo");
}

use echo::{EchoReply, EchoRequest};

/// The reference implementation of [`echo::echo_server::Echo`]: echoes the message after
/// `delay_ms` (once, or `chunks` times for the stream) and reports the `grpc-timeout`
/// it received. Sleeps use tokio's clock, so paused-time tests drive it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replier;

/// The reply stream of [`Replier`].
pub type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

fn seen_timeout<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tonic::async_trait]
impl echo::echo_server::Echo for Replier {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let grpc_timeout = seen_timeout(&request);
        let req = request.into_inner();
        tokio::time::sleep(Duration::from_millis(req.delay_ms)).await;
        Ok(Response::new(EchoReply {
            message: req.message,
            grpc_timeout,
            index: 0,
        }))
    }

    type StreamStream = ReplyStream;

    async fn stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let grpc_timeout = seen_timeout(&request);
        let req = request.into_inner();
        let replies = futures::stream::unfold(0u32, move |index| {
            let (message, grpc_timeout) = (req.message.clone(), grpc_timeout.clone());
            async move {
                if index >= req.chunks {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(req.delay_ms)).await;
                let reply = EchoReply {
                    message,
                    grpc_timeout,
                    index,
                };
                Some((Ok(reply), index + 1))
            }
        });
        Ok(Response::new(Box::pin(replies)))
    }
}
