//! A live line per phase (an `indicatif` spinner on a terminal, a plain line otherwise),
//! and [`say!`](crate::say), the sections' `println!` that keeps the spinner intact.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// The spinner of the running phase, if stdout is a terminal.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Every line [`say`] printed since the last [`take_transcript`].
static TRANSCRIPT: Mutex<String> = Mutex::new(String::new());

/// The number of phases [`phase`] counts against.
pub const PHASES: usize = 5;

/// Runs `work` as phase `n` of [`PHASES`]: a spinner with its elapsed time while it runs
/// on a terminal, plain start and end lines otherwise.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let two = tollgate_workspace::showcase::progress::phase(1, "adding", async { 1 + 1 }).await;
/// assert_eq!(two, 2);
/// # }
/// ```
pub async fn phase<T>(n: usize, name: &str, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    if std::io::stdout().is_terminal() {
        let bar = ProgressBar::new_spinner().with_message(format!("phase {n}/{PHASES}: {name}"));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed_precise}")
                .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        *BAR.lock().expect("progress bar") = Some(bar);
    } else {
        println!("[phase {n}/{PHASES}] {name} ...");
    }
    let out = work.await;
    let elapsed = started.elapsed().as_secs_f64();
    match BAR.lock().expect("progress bar").take() {
        Some(bar) => {
            bar.set_style(ProgressStyle::with_template("  {msg}").expect("a valid template"));
            bar.finish_with_message(format!("phase {n}/{PHASES}: {name} done in {elapsed:.1} s"))
        }
        None => println!("[phase {n}/{PHASES}] {name} done in {elapsed:.1} s"),
    }
    out
}

/// Prints a line above the spinner of the running phase (or plainly, with none), and
/// keeps it in the transcript.
pub fn say(line: fmt::Arguments<'_>) {
    let mut transcript = TRANSCRIPT.lock().expect("transcript");
    let _ = writeln!(transcript, "{line}");
    drop(transcript);
    match BAR.lock().expect("progress bar").as_ref() {
        Some(bar) => bar.suspend(|| println!("{line}")),
        None => println!("{line}"),
    }
}

/// The lines [`say`] printed since the last call, emptying the transcript.
///
/// ```
/// use tollgate_workspace::showcase::progress::take_transcript;
/// tollgate_workspace::say!("hello");
/// assert!(take_transcript().ends_with("hello\n"));
/// ```
pub fn take_transcript() -> String {
    std::mem::take(&mut *TRANSCRIPT.lock().expect("transcript"))
}

/// `println!` for the showcase's sections: keeps the phase's spinner line intact.
#[macro_export]
macro_rules! say {
    () => { $crate::showcase::progress::say(format_args!("")) };
    ($($t:tt)*) => { $crate::showcase::progress::say(format_args!($($t)*)) };
}
