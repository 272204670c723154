//! Reloading a stack when its config file changes: the file's modification time is
//! polled on a tokio interval (no watcher thread, no new dependency).

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::error::{ConfigFileError, StackError, Warnings};

/// What happened when a watched file changed: the new config went live (with its
/// warnings), or it was refused and the running one stays.
#[derive(Debug)]
#[non_exhaustive]
pub enum Reloaded {
    /// The new config runs now.
    Applied(Warnings),
    /// The file could not be read or holds a bad value: nothing changed.
    Invalid(ConfigFileError),
    /// The stack refused the new config (misaligned timeouts): nothing changed.
    Refused(StackError),
}

/// Watches `path` every `every`, and each time its modification time changes, reads it
/// and hands the new [`Config`] to `apply` (typically `|c| stack.reload(&c.server)`);
/// `report` hears how each change went. Runs until the future is dropped: spawn it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tollgate::{watch_file, Config, Reloaded, ServerStack};
///
/// let path = std::env::temp_dir().join(format!("tollgate-doc-{}.toml", std::process::id()));
/// std::fs::write(&path, "")?;
/// let (stack, _) = ServerStack::from_config(&Config::from_file(&path)?.server)?;
///
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
/// let reloading = stack.clone();
/// let watcher = tokio::spawn(watch_file(
///     path.clone(),
///     Duration::from_millis(20),
///     move |config: Config| reloading.reload(&config.server),
///     move |outcome: Reloaded| { let _ = tx.send(outcome); },
/// ));
/// tokio::time::sleep(Duration::from_millis(50)).await; // the first look
/// // Modification times may be coarse: make sure this write is seen as a change.
/// std::fs::write(&path, "[server.timeout]\nper_try = \"1s\"")?;
/// let file = std::fs::File::options().write(true).open(&path)?;
/// file.set_modified(std::time::SystemTime::now() + Duration::from_secs(1))?;
/// assert!(matches!(rx.recv().await, Some(Reloaded::Applied(_))));
/// assert!(stack.snapshot().timeout.is_some());
/// watcher.abort();
/// # std::fs::remove_file(&path)?;
/// # Ok(()) }
/// ```
pub fn watch_file<A, R>(
    path: impl Into<PathBuf>,
    every: Duration,
    mut apply: A,
    mut report: R,
) -> impl Future<Output = ()> + Send
where
    A: FnMut(Config) -> Result<Warnings, StackError> + Send,
    R: FnMut(Reloaded) + Send,
{
    let path = path.into();
    async move {
        let modified = |path: &PathBuf| -> Option<SystemTime> {
            std::fs::metadata(path).and_then(|m| m.modified()).ok()
        };
        let mut seen = modified(&path);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = modified(&path);
            if now == seen {
                continue;
            }
            seen = now;
            let outcome = match Config::from_file(&path) {
                Err(e) => Reloaded::Invalid(e),
                Ok(config) => match apply(config) {
                    Ok(warnings) => Reloaded::Applied(warnings),
                    Err(e) => Reloaded::Refused(e),
                },
            };
            report(outcome);
        }
    }
}
