//! The tollgate showcase: each section starts real servers on loopback, drives a
//! bounded load through one tollgate layer, and prints what happened; then it draws it
//! all into `target/showcase/report.html`.
//!
//! `cargo run --release --example showcase`
//!
//! Every section finishes by itself; the whole run takes well under a minute. The
//! scenario and the report are in the root package's library (`src/showcase/`), which
//! `tests/showcase_report.rs` runs too.

use tollgate_workspace::showcase::{self, report};

#[tokio::main]
async fn main() {
    println!("tollgate showcase");
    println!("=================");
    let run = showcase::run().await;
    let path = report::default_path();
    match report::write(&run, &path) {
        Ok(()) => println!("\nreport: {}", path.display()),
        Err(e) => eprintln!("\ncould not write the report to {}: {e}", path.display()),
    }
}
