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

#[tokio::main]
async fn main() {
    println!("tollgate showcase");
    println!("=================");
    rate_limit::run().await;
    shape::run().await;
    breaker::run().await;
    deadline::run().await;
    drain::run().await;
}
