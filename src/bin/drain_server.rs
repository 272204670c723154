//! The server of the drain load test (tests/drain_load.rs): a separate process that
//! receives a real SIGTERM. See `tollgate_workspace::drain_load::server`.

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    tollgate_workspace::drain_load::server::run_server(&args)
}
