//! A deploy under load, counted from the client's side only.
//!
//! The server is a separate process ([`server`], the `drain_server` binary) that
//! receives a real SIGTERM. Keep-alive clients run back-to-back requests at it over
//! loopback (short ones and streamed ones), reconnect at once after every refusal, and
//! keep going until the process has exited. Every attempt ends in one of three ways,
//! decided by what the client saw and nothing else:
//! - complete: a `200` (gRPC: status `OK`) with the whole body, checked by its length
//!   (gRPC: the number of messages);
//! - refused: a clean `503` (gRPC: `UNAVAILABLE`), a connect refused, a connection
//!   closed before the request was written (hyper says it never sent it), or an HTTP/2
//!   stream the server said it did not process (GOAWAY's last stream id,
//!   `REFUSED_STREAM`);
//! - lost: anything else: a reset or close after the request was written, a truncated
//!   body, another status.

mod h2;
mod http1;
pub mod server;

use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::Instant;

/// Bytes in each chunk of a response body.
pub const CHUNK: usize = 512;
/// Time between two chunks of a streamed body (and two messages of a gRPC stream).
pub const CHUNK_DELAY: Duration = Duration::from_millis(20);

/// Which server, and how the clients speak to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// `tollgate_http::drain::serve`, HTTP/1 clients.
    Axum,
    /// `axum::serve(DrainListener, ..)` wired by hand, HTTP/1 clients.
    AxumListener,
    /// hyper-util's builder through `serve_connections`, HTTP/2 clients.
    Hyper,
    /// `tollgate_http::drain::serve_grpc`, gRPC clients (unary and streaming calls).
    Tonic,
    /// Plain `axum::serve(..).with_graceful_shutdown(SIGTERM)`, HTTP/1 clients.
    Plain,
}

impl Face {
    /// The server's argument.
    pub fn arg(self) -> &'static str {
        match self {
            Face::Axum => "axum",
            Face::AxumListener => "axum-listener",
            Face::Hyper => "hyper",
            Face::Tonic => "tonic",
            Face::Plain => "plain",
        }
    }
}

/// The shape of one run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Concurrent clients (each HTTP/2 client runs two lanes on one connection).
    pub clients: u64,
    /// When SIGTERM is sent, after the server listens.
    pub sigterm_after: Duration,
    /// The drain's propagation delay and deadline.
    pub propagation: Duration,
    /// See `propagation`.
    pub deadline: Duration,
    /// The run's bound: the server is killed, and the clients stop, this long after
    /// it started listening.
    pub bound: Duration,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            clients: 16,
            sigterm_after: Duration::from_millis(400),
            propagation: Duration::from_millis(100),
            deadline: Duration::from_millis(2_000),
            bound: Duration::from_secs(6),
        }
    }
}

/// The counts of one run, from the client's side.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Complete responses (whole body).
    pub complete: u64,
    /// Complete streamed responses, among `complete`.
    pub complete_streams: u64,
    /// Clean refusals.
    pub refused: u64,
    /// Lost requests.
    pub lost: u64,
    /// HTTP/2: connections on which a GOAWAY arrived while a stream was in flight
    /// (so before the drain was done: a GOAWAY at closing).
    pub goaway_mid_stream: u64,
    /// HTTP/2: GOAWAYs seen.
    pub goaways: u64,
    /// From SIGTERM to the exit of the process.
    pub exit_after: Duration,
    /// The process exited by itself, with success, within the bound.
    pub clean_exit: bool,
    /// What the server printed last (its drain report).
    pub report: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "complete {:>5} (streams {:>3})  refused {:>5}  lost {:>2}",
            self.complete, self.complete_streams, self.refused, self.lost
        )?;
        if self.goaways > 0 {
            write!(
                f,
                "  goaway {:>2} (mid-stream {:>2})",
                self.goaways, self.goaway_mid_stream
            )?;
        }
        write!(
            f,
            "  exit {:>4} ms after SIGTERM{}",
            self.exit_after.as_millis(),
            if self.clean_exit { "" } else { " (not clean)" }
        )
    }
}

/// The clients' shared tally.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    complete: AtomicU64,
    complete_streams: AtomicU64,
    refused: AtomicU64,
    lost: AtomicU64,
    goaway_mid_stream: AtomicU64,
    goaways: AtomicU64,
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Complete { stream: bool },
    Refused,
    Lost,
}

impl Tally {
    pub(crate) fn count(&self, fate: Fate) {
        // Relaxed: counters, read after every client has stopped.
        let counter = match fate {
            Fate::Complete { stream } => {
                if stream {
                    self.complete_streams.fetch_add(1, Ordering::Relaxed);
                }
                &self.complete
            }
            Fate::Refused => &self.refused,
            Fate::Lost => &self.lost,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn goaway(&self, mid_stream: bool) {
        // Relaxed: see `count`.
        self.goaways.fetch_add(1, Ordering::Relaxed);
        if mid_stream {
            self.goaway_mid_stream.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self, outcome: &mut Outcome) {
        // Relaxed: see `count`.
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        outcome.complete = get(&self.complete);
        outcome.complete_streams = get(&self.complete_streams);
        outcome.refused = get(&self.refused);
        outcome.lost = get(&self.lost);
        outcome.goaway_mid_stream = get(&self.goaway_mid_stream);
        outcome.goaways = get(&self.goaways);
    }
}

/// What every client shares: where to connect, the tally, and whether the server is
/// gone (then a client stops before its next attempt).
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) tally: Arc<Tally>,
    pub(crate) gone: watch::Receiver<bool>,
}

impl Run {
    pub(crate) fn is_gone(&self) -> bool {
        *self.gone.borrow()
    }
}

/// The number of chunks of the `seq`-th streamed request of client `c`: 2 to 6.
pub(crate) fn chunks(c: u64, seq: u64) -> u64 {
    2 + (c + seq) % 5
}

/// Runs the server with `server` (a command running [`server::run_server`]) for
/// `face`, the clients against it, and a SIGTERM `plan.sigterm_after` after it
/// listens; returns once the process has exited and every client has stopped.
pub async fn run(server: &Path, extra_args: &[&str], face: Face, plan: Plan) -> Outcome {
    let mut child = Command::new(server)
        .args(extra_args)
        .arg(face.arg())
        .arg(plan.propagation.as_millis().to_string())
        .arg(plan.deadline.as_millis().to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the drain server starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .expect("server stdout")
            .expect("listening line");
        if let Some(addr) = line.strip_prefix("listening ") {
            break addr.parse().expect("an address");
        }
    };
    let started = Instant::now();
    let (gone_tx, gone) = watch::channel(false);
    let run = Run {
        addr,
        tally: Arc::default(),
        gone,
    };
    let clients: Vec<_> = (0..plan.clients)
        .map(|c| {
            let run = run.clone();
            tokio::spawn(async move {
                match face {
                    Face::Hyper => h2::client(run, c, false).await,
                    Face::Tonic => h2::client(run, c, true).await,
                    _ => http1::client(run, c).await,
                }
            })
        })
        .collect();

    tokio::time::sleep(plan.sigterm_after).await;
    let sigterm_at = Instant::now();
    sigterm(child.id().expect("running"));
    let remaining = plan.bound.saturating_sub(started.elapsed());
    let (status, report) = {
        let report = async {
            let mut last = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                last = line;
            }
            last
        };
        match tokio::time::timeout(remaining, async { tokio::join!(child.wait(), report) }).await {
            Ok((status, report)) => (status.ok(), report),
            Err(_) => {
                let _ = child.kill().await;
                (None, String::new())
            }
        }
    };
    let exit_after = sigterm_at.elapsed();
    let _ = gone_tx.send(true);
    for client in clients {
        client.await.expect("client task");
    }
    let mut outcome = Outcome {
        exit_after,
        clean_exit: status.is_some_and(|s| s.success()),
        report,
        ..Outcome::default()
    };
    run.tally.read(&mut outcome);
    outcome
}

/// A real SIGTERM, as an orchestrator sends it.
pub fn sigterm(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {pid} failed");
}
