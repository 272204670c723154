//! The dashboard in a real headless Chromium: the page loads from a running server under
//! a bounded load, follows the event stream, and the numbers it shows move while the
//! load runs and equal the server's snapshots once it stops; `/metrics` says the same.
//! A screenshot is kept at `target/dashboard/dashboard.png`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tollgate_workspace::chromium::run_chromium;
use tollgate_workspace::dashboard_demo::{self, Demo};

/// The page's DOM after `events` samples.
fn dom(demo: &Demo, events: u32) -> String {
    let dom = run_chromium(
        &format!("http://{}/tollgate?events={events}", demo.addr),
        &["--dump-dom"],
    );
    assert!(
        dom.contains(&format!("id=\"updates\">{events}<")),
        "the page did not receive {events} samples:\n{dom}"
    );
    dom
}

/// The first and the last value the page showed for `field` of `source`.
fn shown(dom: &str, source: &str, field: &str) -> (f64, f64) {
    let anchor = format!("data-source=\"{source}\" data-field=\"{field}\"");
    let at = dom
        .find(&anchor)
        .unwrap_or_else(|| panic!("no {source}.{field} on the page"));
    let cell = &dom[at..at + dom[at..].find('>').expect("a closed tag")];
    let attr = |name: &str| -> f64 {
        let key = format!("{name}=\"");
        let start = cell
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {cell}"))
            + key.len();
        let len = cell[start..].find('"').expect("a closed attribute");
        cell[start..start + len].parse().expect("a number")
    };
    (attr("data-first"), attr("data-value"))
}

/// The state badge of `source`.
fn badge<'a>(dom: &'a str, source: &str) -> &'a str {
    let at = dom
        .find(&format!("<section class=\"card\" data-source=\"{source}\""))
        .unwrap_or_else(|| panic!("no card for {source}"));
    let key = "data-state=\"";
    let start = at + dom[at..].find(key).expect("a state badge") + key.len();
    &dom[start..start + dom[start..].find('"').expect("a closed attribute")]
}

/// The value of the Prometheus series `series` (name and labels, exactly as rendered).
fn scraped(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("dashboard");
    std::fs::create_dir_all(&dir).expect("an artifacts directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_the_stream_and_matches_the_snapshots() {
    // Installed before the layers are built, so that their handles register with it.
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("one recorder");
    let demo = dashboard_demo::start(Some(prometheus)).await;

    // While a bounded load runs, three samples a second apart: the figures move.
    let load = tokio::spawn(dashboard_demo::load(demo.addr, Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = tokio::task::spawn_blocking({
        let url = demo.addr;
        move || {
            let demo_url = format!("http://{url}/tollgate?events=3");
            run_chromium(&demo_url, &["--dump-dom"])
        }
    })
    .await
    .expect("chromium task");
    assert!(
        during.contains("id=\"updates\">3<"),
        "three samples:\n{during}"
    );
    for source in ["api", "upstream", "third-party", "drain"] {
        let (first, last) = shown(&during, source, "admitted");
        assert!(
            last > first,
            "{source}: admitted did not move ({first} -> {last})"
        );
    }
    let sent = load.await.expect("the load");

    // Once the load stopped and every request finished, the page shows the snapshots.
    for _ in 0..100 {
        if demo.drain.snapshot().in_flight == 0 && demo.shaper.snapshot().queued == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dom = tokio::task::block_in_place(|| dom(&demo, 2));
    let api = demo.limiter.snapshot();
    assert_eq!(shown(&dom, "api", "admitted").1, api.admitted as f64);
    assert_eq!(shown(&dom, "api", "rejected").1, api.rejected as f64);
    assert!(
        api.rejected > 0,
        "the load is over the quota: some were refused"
    );
    let upstream = demo.breaker.snapshot();
    assert_eq!(
        shown(&dom, "upstream", "admitted").1,
        upstream.admitted as f64
    );
    assert_eq!(
        shown(&dom, "upstream", "rejected").1,
        upstream.rejected as f64
    );
    assert_eq!(
        shown(&dom, "upstream", "transitions").1,
        upstream.transitions as f64
    );
    assert!(
        upstream.transitions > 0,
        "the dependency failed: the breaker moved"
    );
    assert_eq!(badge(&dom, "upstream"), upstream.state.to_string());
    let shaper = demo.shaper.snapshot();
    assert_eq!(
        shown(&dom, "third-party", "admitted").1,
        shaper.admitted as f64
    );
    assert_eq!(
        shown(&dom, "third-party", "rejected").1,
        shaper.rejected as f64
    );
    let drain = demo.drain.snapshot();
    assert_eq!(shown(&dom, "drain", "admitted").1, drain.admitted as f64);
    assert_eq!(shown(&dom, "drain", "in_flight").1, 0.0);
    assert_eq!(badge(&dom, "drain"), "serving");
    // Every request the load sent went through the drain (the page's own did not).
    let requests = sent.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(drain.admitted, requests);

    // `/metrics` (the same figures, through the `metrics` facade).
    let text = http_get(&demo, "/metrics").await;
    let series = |name: &str, labels: &str| scraped(&text, &format!("{name}{{{labels}}}"));
    assert_eq!(
        series("tollgate_requests_admitted_total", "layer=\"api\""),
        api.admitted as f64
    );
    assert_eq!(
        series(
            "tollgate_requests_rejected_total",
            "layer=\"api\",reason=\"rate_limited\""
        ),
        api.rejected as f64
    );
    assert_eq!(
        series("tollgate_requests_admitted_total", "layer=\"upstream\""),
        upstream.admitted as f64
    );
    assert_eq!(
        series("tollgate_requests_admitted_total", "layer=\"drain\""),
        drain.admitted as f64
    );
    assert_eq!(
        series("tollgate_in_flight_requests", "layer=\"drain\""),
        0.0
    );
    let open = series(
        "tollgate_circuit_state",
        "layer=\"upstream\",state=\"open\"",
    );
    let closed = series(
        "tollgate_circuit_state",
        "layer=\"upstream\",state=\"closed\"",
    );
    let half_open = series(
        "tollgate_circuit_state",
        "layer=\"upstream\",state=\"half_open\"",
    );
    assert_eq!(open + closed + half_open, 1.0, "one state at a time");

    // The screenshot, kept as an artifact.
    let png = artifacts().join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    let url = format!("http://{}/tollgate?events=3", demo.addr);
    let shot = format!("--screenshot={}", png.display());
    tokio::task::block_in_place(|| run_chromium(&url, &[&shot, "--window-size=1280,720"]));
    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "a real screenshot"
    );
}

/// GET `path` with hyper, as text.
async fn http_get(demo: &Demo, path: &str) -> String {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: http::Uri = format!("http://{}{path}", demo.addr)
        .parse()
        .expect("a uri");
    let res = client.get(uri).await.expect("an answer");
    let body = res.into_body().collect().await.expect("a body").to_bytes();
    String::from_utf8(body.to_vec()).expect("text")
}
