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

/// The argument that makes the showcase run as the drain section's server process.
const DRAIN_SERVER: &str = "--drain-server";

fn main() {
    // The drain section runs this same program again as its server process.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(DRAIN_SERVER) {
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
    let me = std::env::current_exe().expect("the showcase's own path");
    let run = showcase::run(&me, &[DRAIN_SERVER]).await;
    let path = report::default_path();
    match report::write(&run, &path) {
        Ok(()) => println!("\nreport: {}", path.display()),
        Err(e) => eprintln!("\ncould not write the report to {}: {e}", path.display()),
    }
}
