//! The usual trigger: the signal an orchestrator sends on a deploy.

use std::future::Future;

/// Resolves on SIGTERM (what Kubernetes and systemd send on a deploy) or Ctrl-C
/// (SIGINT): pass it to [`Drain::run_until`](crate::Drain::run_until).
///
/// The handlers are installed by this call, not when the future is first polled: from
/// the moment `terminate()` returns, a SIGTERM no longer kills the process but
/// triggers the drain, even if the driver has not run yet. Call it before the server
/// starts listening (inside the tokio runtime: `#[tokio::main]`'s body). Called
/// outside a runtime, it installs them when first polled, and says so at target
/// `tollgate::drain`.
///
/// If a signal handler cannot be installed, that signal is never awaited (and is
/// traced at target `tollgate::drain`): the other trigger still works.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), tollgate_core::ConfigError> {
/// let drain = tollgate_drain::Drain::builder().build()?;
/// let sigterm = tollgate_drain::terminate(); // installed here
/// // ... bind and start serving ...
/// let report = drain.run_until(sigterm).await;
/// println!("{report}");
/// # Ok(()) }
/// ```
pub fn terminate() -> impl Future<Output = ()> + Send + 'static {
    let installed = tokio::runtime::Handle::try_current()
        .is_ok()
        .then(Handlers::install);
    if installed.is_none() {
        tracing::warn!(
            target: "tollgate::drain",
            "terminate() called outside a tokio runtime: signal handlers are installed when it is first polled"
        );
    }
    async move {
        let handlers = match installed {
            Some(handlers) => handlers,
            None => Handlers::install(),
        };
        handlers.recv().await;
        tracing::info!(target: "tollgate::drain", "termination signal received");
    }
}

/// The installed handlers: each `None` when it could not be installed.
struct Handlers {
    #[cfg(unix)]
    sigterm: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    sigint: Option<tokio::signal::unix::Signal>,
    #[cfg(windows)]
    ctrl_c: Option<tokio::signal::windows::CtrlC>,
}

impl Handlers {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Handlers {
                sigterm: logged(signal(SignalKind::terminate()), "sigterm"),
                sigint: logged(signal(SignalKind::interrupt()), "ctrl-c"),
            }
        }
        #[cfg(windows)]
        {
            Handlers {
                ctrl_c: logged(tokio::signal::windows::ctrl_c(), "ctrl-c"),
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            Handlers {}
        }
    }

    async fn recv(self) {
        #[cfg(unix)]
        {
            let (mut sigterm, mut sigint) = (self.sigterm, self.sigint);
            tokio::select! {
                () = recv_unix(sigterm.as_mut()) => {}
                () = recv_unix(sigint.as_mut()) => {}
            }
        }
        #[cfg(windows)]
        {
            match self.ctrl_c {
                Some(mut ctrl_c) => {
                    ctrl_c.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = self;
            std::future::pending::<()>().await
        }
    }
}

#[cfg(unix)]
async fn recv_unix(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(any(unix, windows))]
fn logged<T>(installed: std::io::Result<T>, name: &'static str) -> Option<T> {
    installed
        .map_err(|error| {
            tracing::warn!(target: "tollgate::drain", %error, "cannot listen for {name}");
        })
        .ok()
}
