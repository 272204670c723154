//! `target/showcase/report.html`: one self-contained page (inline SVG, no scripts, no
//! fonts) with a chart per section, its legend, and its data as a JSON block
//! (`<script type="application/json" id="data-CHART">`) for tests and readers.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{charts, Showcase};

/// The chart ids, in page order; each has `<svg` in `<figure id="ID">` and its data in
/// `<script id="data-ID">`.
pub const CHARTS: [&str; 5] = ["rate-limit", "shape", "breaker", "deadline", "drain"];

/// Where the showcase writes its report, under the workspace's `target/`.
pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/showcase/report.html")
}

fn key(colour: &str, what: &str) -> String {
    format!("<span class=\"key\"><i style=\"background:{colour}\"></i>{what}</span>")
}

const GREEN: &str = "#2ea043";
const RED: &str = "#cf222e";
const AMBER: &str = "#bf8700";
const BLUE: &str = "#0969da";
const GREY: &str = "#dcdcdc";

fn json(data: &impl Serialize) -> String {
    // `</` cannot end the script element early once escaped.
    serde_json::to_string(data)
        .expect("plain data serialises")
        .replace("</", "<\\/")
}

fn section(html: &mut String, id: &str, title: &str, legend: &str, svg: &str, data: String) {
    let _ = writeln!(
        html,
        "<section><h2>{title}</h2><p class=\"legend\">{legend}</p>\
         <figure id=\"{id}\">{svg}</figure>\
         <script type=\"application/json\" id=\"data-{id}\">{data}</script></section>"
    );
}

/// Renders the page for `showcase`.
pub fn render(showcase: &Showcase) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>tollgate showcase</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:940px;margin:1em auto;color:#1f2328}\
         h2{font-size:1.1em;margin:1.4em 0 .2em}.legend{margin:.2em 0;font-size:.9em}\
         .key{margin-right:1.2em}.key i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}\
         figure{margin:0}svg{display:block}</style></head><body><h1>tollgate showcase</h1>\n",
    );
    let rl = &showcase.rate_limit;
    let keys: Vec<String> = rl
        .keys
        .iter()
        .map(|k| {
            format!(
                "{} ({}/s: {} admitted, {} rejected)",
                k.key, k.pace, k.admitted, k.rejected
            )
        })
        .collect();
    section(
        &mut html,
        "rate-limit",
        "1. Rate limiting: per key, per 100 ms",
        &format!(
            "{}{}{} &mdash; panels left to right, top to bottom: {}; x: ms from the start",
            key(GREEN, "admitted"),
            key(RED, "rejected (429)"),
            key(
                BLUE,
                &format!(
                    "quota ({}/s = {} per 100 ms)",
                    rl.rate,
                    f64::from(rl.rate) / 10.0
                )
            ),
            keys.join(", ")
        ),
        &charts::rate_limit(rl),
        json(rl),
    );
    let sh = &showcase.shape;
    section(
        &mut html,
        "shape",
        &format!("2. Shaping: {} calls to an API allowing {} req/s", sh.calls, sh.quota_per_second),
        &format!(
            "{}{} per {} ms, as the API answered &mdash; left: unshaped ({} ok, {} refused), right: shaped ({} ok, {} refused); x: ms",
            key(GREEN, "200"),
            key(RED, "429"),
            sh.bin_ms,
            sh.unshaped.ok,
            sh.unshaped.refused,
            sh.shaped.ok,
            sh.shaped.refused
        ),
        &charts::shape(sh),
        json(sh),
    );
    let br = &showcase.breaker;
    section(
        &mut html,
        "breaker",
        "3. Circuit breaking: the upstream fails, then recovers",
        &format!(
            "band: state {}{}{} &mdash; {} &mdash; calls per {} ms: {}{}{}; {} transitions, final state {}",
            key(GREEN, "closed"),
            key(RED, "open"),
            key(AMBER, "half-open"),
            key(GREY, &format!("outage {}-{} ms", br.outage_ms.0, br.outage_ms.1)),
            br.bin_ms,
            key(GREEN, &format!("ok ({})", br.ok)),
            key(AMBER, &format!("failed ({})", br.failed)),
            key(RED, &format!("refused by the breaker ({})", br.refused)),
            br.transitions.len(),
            br.final_state
        ),
        &charts::breaker(br),
        json(br),
    );
    let dl = &showcase.deadline;
    let rows: Vec<String> = dl
        .rows
        .iter()
        .zip([BLUE, GREEN, AMBER, RED].iter().cycle())
        .map(|(r, c)| {
            key(
                c,
                &format!("{} ms sent, A works {} ms", r.sent_to_a, r.work),
            )
        })
        .collect();
    section(
        &mut html,
        "deadline",
        "4. Deadlines: the budget (ms) at each hop",
        &format!(
            "x: 0 sent to A, 1 A has, 2 A calls B with, 3 B received; a line stops where the request was refused &mdash; {}",
            rows.concat()
        ),
        &charts::deadline(dl),
        json(dl),
    );
    let dr = &showcase.drain;
    section(
        &mut html,
        "drain",
        "5. Draining: a deploy under load, ms from SIGTERM",
        &format!(
            "top, tollgate-drain: {}{}{} exit at {} ms, {} served, lost {}; bottom, plain graceful: {} exit at {} ms{}, {} served, lost {}",
            key(BLUE, "announced"),
            key(AMBER, "closing"),
            key(GREEN, "done"),
            dr.drained.exit_ms,
            dr.drained.served,
            dr.drained.lost,
            key(if dr.plain.lost > 0 { RED } else { GREY }, "serving"),
            dr.plain.exit_ms,
            if dr.plain.killed { " (killed)" } else { "" },
            dr.plain.served,
            dr.plain.lost
        ),
        &charts::drain(dr),
        json(dr),
    );
    html.push_str("</body></html>\n");
    html
}

/// Writes the page for `showcase` to `path`, creating its directory.
pub fn write(showcase: &Showcase, path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(showcase))
}
