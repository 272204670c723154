//! The server of the drain load test: run as its own process (`drain_server`, or the
//! showcase re-run with `--drain-server`), it receives a real SIGTERM.
//!
//! Arguments `FACE [PROPAGATION_MS DEADLINE_MS]`, FACE one of:
//! - `axum`: `tollgate_http::drain::serve` (the one-call wiring), HTTP/1 and HTTP/2;
//! - `axum-listener`: the manual wiring, `axum::serve(DrainListener, ..)`
//!   `.with_graceful_shutdown(listener.shutdown_signal())`;
//! - `hyper`: hyper-util's connection builder through `serve_connections`;
//! - `tonic`: `tollgate_http::drain::serve_grpc` with the echo service;
//! - `plain`: plain `axum::serve(..).with_graceful_shutdown(SIGTERM)`, no drain.
//!
//! Routes (HTTP faces): `/fast` (512 bytes), `/slow/{n}` (n chunks of 512 bytes, 20 ms
//! apart), `/ready`. The SIGTERM handler is installed before the port is bound; once
//! listening, the server prints `listening ADDR`, and `report ...` when drained.

use std::convert::Infallible;
use std::io::Write;
use std::time::Duration;

use super::{CHUNK, CHUNK_DELAY};
use crate::echo::echo_server::EchoServer;
use crate::Replier;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use tokio::net::TcpListener;
use tollgate_drain::{Drain, DrainLayer};
use tollgate_http::drain::{
    connection_builder, serve, serve_connections, serve_grpc, DrainListener, Readiness,
    UntilBodyEnd,
};
use tollgate_http::AsResponse;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn app() -> Router {
    Router::new()
        .route("/fast", get(|| async { Body::from(vec![b'f'; CHUNK]) }))
        .route(
            "/slow/{n}",
            get(|Path(n): Path<u64>| async move { slow(n) }),
        )
}

fn slow(n: u64) -> Body {
    let chunks = futures::stream::unfold(0u64, move |i| async move {
        if i == n {
            return None;
        }
        tokio::time::sleep(CHUNK_DELAY).await;
        Some((Ok::<_, Infallible>(Bytes::from(vec![b's'; CHUNK])), i + 1))
    });
    Body::from_stream(chunks)
}

fn listening(addr: std::net::SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {addr}");
    let _ = out.flush();
}

/// Runs the server `args` describe (see the module docs) on its own runtime, until it
/// is drained.
pub fn run_server(args: &[String]) -> Result<(), Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(serve_face(args))
}

async fn serve_face(args: &[String]) -> Result<(), Error> {
    let face = args.first().map(String::as_str).unwrap_or("axum");
    let ms = |i: usize, default: u64| {
        args.get(i)
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_millis(default), Duration::from_millis)
    };
    let drain = Drain::builder()
        .propagation_delay(ms(1, 100))
        .deadline(ms(2, 2_000))
        .build()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let report = match face {
        "axum" => {
            let server = serve(listener, app(), drain); // SIGTERM handler installed here
            listening(addr);
            server.await?
        }
        "axum-listener" => {
            let sigterm = tollgate_drain::terminate();
            let app = app()
                .layer(
                    DrainLayer::new(drain.clone())
                        .refuse_with(AsResponse::new())
                        .track_with(UntilBodyEnd),
                )
                .route_service("/ready", Readiness::new(drain.clone()));
            let listener = DrainListener::new(listener, drain.clone());
            let shutdown = listener.shutdown_signal();
            let driver = tokio::spawn(drain.clone().run_until(sigterm));
            listening(addr);
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
            driver.await?
        }
        "hyper" => {
            let sigterm = tollgate_drain::terminate();
            let service = app().layer(
                DrainLayer::new(drain.clone())
                    .refuse_with(AsResponse::new())
                    .track_with(UntilBodyEnd),
            );
            let listener = DrainListener::new(listener, drain.clone());
            let driver = tokio::spawn(drain.clone().run_until(sigterm));
            listening(addr);
            serve_connections(listener, connection_builder(), service).await?;
            driver.await?
        }
        "tonic" => {
            let routes = tonic::service::Routes::new(EchoServer::new(Replier));
            let server = serve_grpc(tonic::transport::Server::builder(), routes, listener, drain)
                .health_services(["tollgate.echo.Echo"]);
            listening(addr);
            server.await?
        }
        "plain" => {
            let sigterm = tollgate_drain::terminate();
            listening(addr);
            axum::serve(listener, app())
                .with_graceful_shutdown(sigterm)
                .await?;
            println!("exited");
            return Ok(());
        }
        other => return Err(format!("unknown face {other:?}").into()),
    };
    println!("report {report}");
    Ok(())
}
