//! Deadlines: one budget through two real hops (axum A calls tonic B over loopback),
//! shrinking hop by hop, with B refusing work that can no longer be useful; then the
//! alignment checker's findings for the classic misaligned plan.

use std::net::SocketAddr;
use std::time::Duration;

use crate::echo::echo_client::EchoClient;
use crate::echo::echo_server::EchoServer;
use crate::echo::EchoRequest;
use crate::Replier;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tollgate_core::{Clock, TokioClock};
use tollgate_deadline::checker::{check, Plan};
use tollgate_deadline::{
    Deadline, DeadlinePolicy, ServerDeadlineLayer, Timeout, TimeoutLayer, TimeoutPolicy,
};
use tollgate_http::deadline::TimeoutHeaders;
use tollgate_http::AsResponse;
use tonic::transport::Channel;
use tower::Layer;

use serde::Serialize;

use crate::say;

/// What section 4 recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DeadlineRun {
    /// One per request sent to A.
    pub rows: Vec<HopRow>,
}

/// The budget of one request at each hop, in milliseconds (`None` where it never got).
#[derive(Debug, Clone, Serialize)]
pub struct HopRow {
    /// What the caller sent to A.
    pub sent_to_a: u64,
    /// How long A works before calling B.
    pub work: u64,
    /// What A had when its handler started.
    pub a_has: Option<u64>,
    /// What A had left when it called B.
    pub a_calls_b: Option<u64>,
    /// The `grpc-timeout` B received, if it answered.
    pub b_received: Option<u64>,
    /// What happened.
    pub outcome: String,
}

/// Milliseconds of a `grpc-timeout` value (`250m`, `2S`, ...).
fn grpc_timeout_ms(value: &str) -> Option<u64> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => n * 3_600_000,
        "M" => n * 60_000,
        "S" => n * 1_000,
        "m" => n,
        "u" => n / 1_000,
        "n" => n / 1_000_000,
        _ => return None,
    })
}

fn ms(field: &str) -> Option<u64> {
    field.trim().trim_end_matches("ms").trim().parse().ok()
}

const A_MARGIN: Duration = Duration::from_millis(20);
const NETWORK_MARGIN: Duration = Duration::from_millis(10);
const B_MIN: Duration = Duration::from_millis(50);

type EchoB = EchoClient<Timeout<Channel, TimeoutHeaders>>;

/// Hop A: reports what it had, works, then calls B with what is left.
async fn hop_a(
    State(b): State<EchoB>,
    Extension(deadline): Extension<Deadline>,
    Query(query): Query<std::collections::HashMap<String, u64>>,
) -> String {
    let work = query.get("work").copied().unwrap_or(0);
    let clock = TokioClock::new();
    let at_start = deadline.remaining(clock.now());
    tokio::time::sleep(Duration::from_millis(work)).await;
    let before_call = deadline.remaining(clock.now());
    let request = EchoRequest {
        message: "hi".into(),
        delay_ms: 5,
        chunks: 0,
    };
    let outcome = match b.clone().unary(request).await {
        Ok(reply) => format!(
            "B answered; it was sent grpc-timeout {}",
            reply.into_inner().grpc_timeout
        ),
        Err(status) => format!(
            "B refused before its service ran: {:?} ({})",
            status.code(),
            status.message()
        ),
    };
    format!(
        "{:>4} ms|{:>4} ms|{outcome}",
        at_start.as_millis(),
        before_call.as_millis()
    )
}

async fn start() -> SocketAddr {
    // Hop B: tonic, refusing requests with less than 50 ms left.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind B");
    let b_addr = listener.local_addr().expect("B address");
    let b_layer = ServerDeadlineLayer::new(
        DeadlinePolicy::builder()
            .min(B_MIN)
            .build()
            .expect("B policy"),
    )
    .propagate(TimeoutHeaders::new())
    .refuse_with(AsResponse::new());
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(b_layer)
            .add_service(EchoServer::new(Replier))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{b_addr}"))
        .expect("B url")
        .connect()
        .await
        .expect("connect B");
    let policy = TimeoutPolicy::builder()
        .margin(NETWORK_MARGIN)
        .min(Duration::from_millis(1))
        .build()
        .expect("client policy");
    let client = TimeoutLayer::new(policy)
        .propagate(TimeoutHeaders::new())
        .layer(channel);

    // Hop A: axum, keeping 20 ms of the caller's budget for its answer.
    let policy = DeadlinePolicy::builder()
        .margin(A_MARGIN)
        .min(Duration::from_millis(5))
        .build()
        .expect("A policy");
    let a_layer = ServerDeadlineLayer::new(policy)
        .propagate(TimeoutHeaders::new())
        .refuse_with(AsResponse::new());
    let router = Router::new()
        .route("/work", get(hop_a))
        .with_state(EchoClient::new(client))
        .layer(a_layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind A");
    let a_addr = listener.local_addr().expect("A address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    a_addr
}

pub(crate) async fn run() -> DeadlineRun {
    say!();
    say!("4. Deadlines (tollgate-deadline): one budget through two hops (axum A -> tonic B),");
    say!("   then the checker");
    say!(
        "A keeps a {} ms margin, sends what is left minus {} ms; B refuses budgets below {} ms",
        A_MARGIN.as_millis(),
        NETWORK_MARGIN.as_millis(),
        B_MIN.as_millis()
    );
    let a = start().await;
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    say!();
    say!(
        "{:>9} {:>8} | {:>8} | {:>10} | outcome",
        "sent to A",
        "A works",
        "A has",
        "A calls B"
    );
    let mut rows = Vec::new();
    for (budget, work) in [(300u64, 50u64), (300, 150), (300, 240), (15, 0)] {
        let req = http::Request::get(format!("http://{a}/work?work={work}"))
            .header("request-timeout", budget.to_string())
            .body(Empty::new())
            .expect("request");
        let t0 = Instant::now();
        let res = match http.request(req).await {
            Ok(res) => res,
            Err(e) => {
                say!("request failed: {e}");
                continue;
            }
        };
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        let elapsed = t0.elapsed().as_millis();
        let line = if status.is_success() {
            let mut parts = body.splitn(3, '|');
            let (has, left, outcome) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            rows.push(HopRow {
                sent_to_a: budget,
                work,
                a_has: ms(has),
                a_calls_b: ms(left),
                b_received: outcome
                    .rsplit(' ')
                    .next()
                    .filter(|_| outcome.starts_with("B answered"))
                    .and_then(grpc_timeout_ms),
                outcome: outcome.to_owned(),
            });
            format!("{has:>8} | {left:>10} | {outcome}")
        } else {
            rows.push(HopRow {
                sent_to_a: budget,
                work,
                a_has: None,
                a_calls_b: None,
                b_received: None,
                outcome: format!("A refused: {status}"),
            });
            format!(
                "{:>8} | {:>10} | A refused before its handler ran: {} after {elapsed} ms",
                "-", "-", status
            )
        };
        say!("{:>6} ms {:>5} ms | {line}", budget, work);
    }

    say!();
    say!("timeout plan examples/plans/misaligned.toml (client 10 s, lb 5 s, app 10 s, db 30 s):");
    let plan = Plan::from_toml(include_str!("../../examples/plans/misaligned.toml")).expect("plan");
    for line in check(&plan).to_string().lines() {
        if line.is_empty() {
            say!();
        } else {
            say!("  {line}");
        }
    }
    DeadlineRun { rows }
}
