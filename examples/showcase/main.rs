//! The tollgate showcase: each section starts real servers on loopback, drives a
//! bounded load through one tollgate layer, and prints what happened.
//!
//! `cargo run --release --example showcase`
//!
//! Every section finishes by itself; the whole run takes well under a minute.

// One module per capability; each exposes `pub(crate) async fn run()`.
mod breaker;
mod deadline;
mod drain;
mod rate_limit;
mod shape;

fn main() {
    // The drain section runs this same program again as its server process.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(drain::SERVER_FLAG) {
        if let Err(error) = tollgate_workspace::drain_load::server::run_server(&args[1..]) {
            eprintln!("drain server: {error}");
            std::process::exit(1);
        }
        return;
    }
    tokio::runtime::Runtime::new()
        .expect("a tokio runtime")
        .block_on(showcase());
}

async fn showcase() {
    println!("tollgate showcase");
    println!("=================");
    rate_limit::run().await;
    shape::run().await;
    breaker::run().await;
    deadline::run().await;
    drain::run_section().await;
}
