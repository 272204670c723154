//! The usual trigger: the signal an orchestrator sends on a deploy.

/// Resolves on SIGTERM (what Kubernetes and systemd send on a deploy) or Ctrl-C
/// (SIGINT): pass it to [`Drain::run_until`](crate::Drain::run_until).
///
/// If a signal handler cannot be installed, that signal is never awaited (and is
/// traced at target `tollgate::drain`): the other trigger still works.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), tollgate_core::ConfigError> {
/// let drain = tollgate_drain::Drain::builder().build()?;
/// let report = drain.run_until(tollgate_drain::terminate()).await;
/// println!("{report}");
/// # Ok(()) }
/// ```
pub async fn terminate() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(target: "tollgate::drain", %error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let sigterm = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::warn!(target: "tollgate::drain", %error, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let sigterm = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = sigterm => {}
    }
    tracing::info!(target: "tollgate::drain", "termination signal received");
}
