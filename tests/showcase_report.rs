//! The showcase's report: runs the scripted scenario (the library code behind
//! `cargo run --example showcase`), writes the report, and checks that every chart is
//! drawn and that the data under each chart says what the printed text says.

use serde_json::Value;
use tollgate_workspace::chromium::run_chromium;
use tollgate_workspace::showcase::{self, report};

/// The JSON block of chart `id`, parsed.
fn data(html: &str, id: &str) -> Value {
    let open = format!("<script type=\"application/json\" id=\"data-{id}\">");
    let start = html
        .find(&open)
        .unwrap_or_else(|| panic!("no data for {id}"))
        + open.len();
    let end = start + html[start..].find("</script>").expect("the block ends");
    serde_json::from_str(&html[start..end]).expect("valid JSON")
}

/// The whitespace-separated fields of the first printed line starting with `prefix`.
fn line<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
        .split_whitespace()
        .collect()
}

fn n(field: &str) -> u64 {
    field
        .parse()
        .unwrap_or_else(|_| panic!("{field:?} is not a count"))
}

/// Sums the `i`th element of each bin.
fn sum(bins: &Value, i: usize) -> u64 {
    bins.as_array()
        .expect("bins")
        .iter()
        .map(|b| b[i].as_u64().expect("a count"))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_draws_what_the_text_says() {
    let run = showcase::run(
        std::path::Path::new(env!("CARGO_BIN_EXE_drain_server")),
        &[],
    )
    .await;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("showcase/report.html");
    report::write(&run, &path).expect("report written");
    let html = std::fs::read_to_string(&path).expect("report readable");
    let text = &run.text;

    // Self-contained, a drawn chart per id.
    assert!(
        !html.contains("<script src") && !html.contains("<link") && !html.contains("@font-face")
    );
    for id in report::CHARTS {
        let figure = format!("<figure id=\"{id}\"><svg");
        assert!(html.contains(&figure), "chart {id} is missing");
    }

    // Chromium draws it: every chart's SVG is in the DOM it loaded, and a screenshot is
    // kept next to the report.
    let url = format!("file://{}", path.display());
    let dom = tokio::task::block_in_place(|| run_chromium(&url, &["--dump-dom"]));
    assert_eq!(dom.matches("<svg").count(), report::CHARTS.len());
    let shot = path.with_file_name("report.png");
    let flag = format!("--screenshot={}", shot.display());
    tokio::task::block_in_place(|| run_chromium(&url, &[&flag, "--window-size=960,2150"]));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );

    // 1. Per key: the bins add up to the printed admitted and rejected.
    let rl = data(&html, "rate-limit");
    let keys = rl["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 4);
    let (mut admitted, mut rejected) = (0, 0);
    for k in keys {
        let row = line(text, &format!("{} ", k["key"].as_str().expect("key")));
        let (a, r) = (sum(&k["bins"], 0), sum(&k["bins"], 1));
        assert_eq!((a, r), (n(row[3]), n(row[4])), "key {}", row[0]);
        assert_eq!(a + r, n(row[2]), "every request sent is in a bin");
        (admitted, rejected) = (admitted + a, rejected + r);
    }
    let limiter = line(text, "limiter:");
    assert_eq!((admitted, rejected), (n(limiter[1]), n(limiter[3])));
    assert_eq!(rl["rate"], 20);

    // 2. The API's 200s and 429s per bin add up to the printed table.
    let sh = data(&html, "shape");
    for client in ["unshaped", "shaped"] {
        let row = line(text, &format!("{client} "));
        let bins = &sh[client]["bins"];
        assert_eq!(
            (sum(bins, 0), sum(bins, 1)),
            (n(row[1]), n(row[2])),
            "{client}"
        );
    }
    assert_eq!(
        n(line(text, "shaped ")[2]),
        0,
        "the shaped client is never refused"
    );

    // 3. The breaker's bins add up to the printed calls; it opened during the outage
    // and is closed again at the end.
    let br = data(&html, "breaker");
    let field = |prefix: &str, i: usize| n(line(text, prefix)[i]);
    let bins = &br["bins"];
    assert_eq!(sum(bins, 0), field("answered by the upstream: ok", 5));
    assert_eq!(sum(bins, 1), field("answered by the upstream: failed", 5));
    assert_eq!(sum(bins, 2), field("refused at once by the breaker", 6));
    assert_eq!(
        sum(bins, 0) + sum(bins, 1) + sum(bins, 2),
        field("calls made by the client", 5)
    );
    let transitions = br["transitions"].as_array().expect("transitions");
    let printed = text
        .lines()
        .filter(|l| l.trim_start().starts_with("t =") && l.contains(" -> "))
        .count();
    assert_eq!(transitions.len(), printed);
    let (down, up) = (
        br["outage_ms"][0].as_u64().unwrap(),
        br["outage_ms"][1].as_u64().unwrap(),
    );
    let first = &transitions[0];
    assert_eq!(
        (first[1].as_str(), first[2].as_str()),
        (Some("closed"), Some("open"))
    );
    let opened = first[0].as_u64().unwrap();
    assert!(
        (down..up).contains(&opened),
        "opened at {opened} ms, outage {down}-{up} ms"
    );
    assert_eq!(br["final_state"], "closed");
    assert_eq!(br["final_state"], line(text, "final state")[2]);

    // 4. The budget only shrinks hop by hop; the 15 ms request is refused by A.
    let dl = data(&html, "deadline");
    let rows = dl["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    for r in rows {
        let hops: Vec<u64> = ["sent_to_a", "a_has", "a_calls_b", "b_received"]
            .iter()
            .map_while(|h| r[*h].as_u64())
            .collect();
        assert!(hops.windows(2).all(|w| w[1] <= w[0]), "{hops:?} grows");
    }
    assert!(rows[3]["a_has"].is_null());

    // 5. The drain: served and lost as printed; tollgate-drain loses nothing.
    let dr = data(&html, "drain");
    for (key, prefix) in [("drained", "tollgate-drain "), ("plain", "plain graceful ")] {
        let row = line(text, prefix);
        let served = row.iter().find_map(|f| f.parse::<u64>().ok());
        let lost = row
            .iter()
            .position(|f| *f == "lost:")
            .map(|i| n(row[i + 1]));
        assert_eq!(dr[key]["served"].as_u64(), served, "{key}");
        assert_eq!(dr[key]["lost"].as_u64(), lost, "{key}");
    }
    assert_eq!(dr["drained"]["lost"], 0);
    let phases = &dr["drained"]["phases_ms"];
    assert!(phases[0].as_u64() <= phases[1].as_u64());
}
