//! The full server stack on an axum router, from a config file.
//!
//! ```sh
//! cargo run --example axum_server -- --config examples/config/server.toml
//! curl -i -H 'x-api-key: k1' localhost:3000/api
//! ```
//!
//! Ctrl-C (or SIGTERM) drains: readiness turns to 503 at once, requests are still
//! served for the propagation delay, then refused, and the server stops when nothing
//! is in flight. `--for 2s` triggers the same drain by itself after two seconds.
//! `--reload` re-reads the file whenever it changes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use clap::Parser;
use tollgate::http::drain::Readiness;
use tollgate::{watch_file, Config, Reloaded, ServerStack};

#[derive(Parser)]
struct Args {
    /// The config file.
    #[arg(long, default_value = "examples/config/server.toml")]
    config: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Drain and stop by itself after this long (e.g. "2s"); otherwise on SIGTERM.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    run_for: Option<Duration>,
    /// Re-read the config file when it changes.
    #[arg(long)]
    reload: bool,
}

async fn search() -> &'static str {
    "results"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let config = Config::from_file(&args.config)?;
    let (stack, warnings) = ServerStack::from_config(&config.server)?;
    if !warnings.is_empty() {
        eprintln!("{warnings}");
    }
    if args.reload {
        let reloading = stack.clone();
        tokio::spawn(watch_file(
            args.config.clone(),
            Duration::from_secs(1),
            move |config: Config| reloading.reload(&config.server),
            |outcome: Reloaded| eprintln!("config changed: {outcome:?}"),
        ));
    }
    let drain = stack.drain().clone();
    let app = Router::new()
        .route("/api", get(|| async { "ok" }))
        .route("/search", get(search))
        .layer(stack.clone())
        .route_service("/ready", Readiness::new(drain.clone()));

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let trigger = async move {
        match args.run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => tollgate::drain::terminate().await,
        }
    };
    let driver = tokio::spawn(drain.clone().run_until(trigger));
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(drain.done())
        .await?;
    let report = driver.await?;
    println!("{report}");
    println!("{:?}", stack.snapshot());
    Ok(())
}
