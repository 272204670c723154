//! Headless Chromium for the tests that look at a page (the dashboard's, the showcase
//! report's): Debian's `chromium`, installed in CI by `.ci/run`.

use std::path::PathBuf;
use std::process::Command;

/// Debian's `chromium` (or a `chromium-browser`) on `PATH`, or a failure saying how to
/// get it.
///
/// ```no_run
/// let path = tollgate_workspace::chromium::chromium();
/// assert!(path.is_file());
/// ```
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("no headless Chromium: install it with `apt-get install -y chromium`");
}

/// Runs headless Chromium on `url` until the page is idle (at most 15 s of the page's
/// virtual time), with extra arguments; returns what it printed.
///
/// ```no_run
/// let dom = tollgate_workspace::chromium::run_chromium("file:///tmp/page.html", &["--dump-dom"]);
/// assert!(dom.contains("<body"));
/// ```
pub fn run_chromium(url: &str, extra: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=15000",
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("a UTF-8 DOM")
}
