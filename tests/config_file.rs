//! The config file end to end: the example files round-trip into running stacks, every
//! kind of bad value is refused with its key path and rule, `tollgate check` reports
//! through its exit code, and a reload swaps atomically or not at all.

use std::convert::Infallible;
use std::process::Command;
use std::time::Duration;

use tollgate::prelude::*;
use tollgate::{watch_file, Config, Reloaded};
use tower::{service_fn, Layer, Service, ServiceExt};

fn root(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_example_config_builds_every_stack_it_describes() {
    let config = Config::from_file(root("examples/config/server.toml")).unwrap();
    let (server, warnings) = ServerStack::from_config(&config.server).unwrap();
    assert!(warnings.is_empty(), "{warnings}");
    let s = server.snapshot();
    assert!(s.deadline.is_some() && s.rate_limit.is_some() && s.shape.is_some());
    assert!(s.breaker.is_some() && s.timeout.is_some());
    assert_eq!(
        server.drain().config().propagation_delay(),
        Duration::from_secs(1)
    );
    let (client, _) = ClientStack::from_config(&config.client["upstream"]).unwrap();
    assert!(client.snapshot().rate_limit.is_none() && client.snapshot().shape.is_some());
    // A section left out is a layer left out.
    let (empty, _) = ServerStack::from_config(&Config::from_toml("").unwrap().server).unwrap();
    let s = empty.snapshot();
    assert!(s.deadline.is_none() && s.rate_limit.is_none() && s.breaker.is_none());
}

#[test]
fn every_kind_of_bad_value_names_its_key_path_and_rule() {
    let cases: &[(&str, &str)] = &[
        // unknown keys, at every depth
        ("[serverr]", "serverr: unknown field `serverr`"),
        ("[server.breaker]\nfailure_rat = 50.0", "server.breaker.failure_rat: unknown field"),
        ("[client.a]\nshape = { count = 1, burts = 2 }", "client.a.shape.burts: unknown field"),
        // wrong types and missing keys
        ("[server.timeout]\nper_try = 5", "server.timeout.per_try: invalid type"),
        ("[server.rate_limit]\nkey = \"global\"", "server.rate_limit: missing field `per_key`"),
        // durations
        ("[server.timeout]\nper_try = \"soon\"", "server.timeout.per_try: `soon` is not a duration"),
        ("[server.timeout]\nper_try = \"0s\"", "server.timeout.per_try: must be greater than zero"),
        ("[server.drain]\npropagation_delay = \"10s\"\ndeadline = \"5s\"", "server.drain.deadline: must not be shorter"),
        ("[server.deadline]\nmax = \"1s\"\ndefault_budget = \"2s\"", "server.deadline.default_budget: must not exceed `max`"),
        // quotas
        ("[server.rate_limit]\nkey = \"global\"\nper_key = { count = 5, burst = 0 }", "server.rate_limit.per_key.burst: must be at least 1"),
        ("[server.rate_limit]\nkey = \"global\"\nper_key = { count = 0 }", "server.rate_limit.per_key.count: must be at least 1"),
        ("[server.shape]\ncount = 10\nmax_queue = 0", "server.shape.max_queue: must be at least 1"),
        ("[client.a]\nrate_limit = { count = 1, period = \"0s\" }", "client.a.rate_limit.period: must be greater than zero"),
        // keys, tiers and routes
        ("[server.rate_limit]\nkey = \"cookie\"\nper_key = { count = 1 }", "server.rate_limit.key: `cookie`: must be"),
        ("[server.rate_limit]\nkey = \"header:bad header\"\nper_key = { count = 1 }", "server.rate_limit.key: `bad header` is not a valid header name"),
        ("[server.rate_limit]\nkey = \"forwarded_ip\"\nper_key = { count = 1 }", "server.rate_limit.trusted_proxies: must name at least one proxy"),
        ("[server.rate_limit]\nkey = \"forwarded_ip\"\ntrusted_proxies = [\"10.0.0.0/99\"]\nper_key = { count = 1 }", "server.rate_limit.trusted_proxies"),
        ("[server.rate_limit]\nkey = \"peer_ip\"\nper_key = { count = 1 }\ntiers.gold = { keys = [\"nope\"], count = 5 }", "server.rate_limit.tiers.gold.keys: `nope` is not an IP address"),
        ("[server.rate_limit]\nkey = \"header:k\"\nper_key = { count = 1 }\ntiers.a = { keys = [\"x\"], count = 5 }\ntiers.b = { keys = [\"x\"], count = 6 }", "server.rate_limit.tiers.b.keys: `x` is also in tier `a`"),
        ("[server.rate_limit]\nkey = \"global\"\nper_key = { count = 1 }\nroutes.search = { count = 1 }", "server.rate_limit.routes.\"search\": a route must start with `/`"),
        ("[server.rate_limit]\nkey = \"global\"\nper_key = { count = 1 }\nmax_keys = 0", "server.rate_limit.max_keys: must be at least 1"),
        // breakers
        ("[server.breaker]\nfailure_rate = 150.0", "server.breaker.failure_rate: must be a percentage in (0, 100]"),
        ("[server.breaker]\nfailure_rate = nan", "server.breaker.failure_rate: must be a percentage"),
        ("[server.breaker]\nwindow = 0", "server.breaker.window: count must be at least 1"),
        ("[server.breaker]\nwindow = -3", "server.breaker.window: -3 calls"),
        ("[server.breaker]\nwindow = 100\nwindow_buckets = 4", "server.breaker.window_buckets: needs a time window"),
        ("[server.breaker]\nslow_calls = { duration = \"0s\", rate = 50.0 }", "server.breaker.slow_calls.duration: must be above zero"),
        ("[server.breaker]\nhalf_open = { probes = 0, successes = 1 }", "server.breaker.half_open: probes must be in 1..=65535"),
        ("[client.a]\nbreaker = { jitter = 1.5 }", "client.a.breaker.jitter: must be in [0, 1)"),
        // not TOML at all
        ("[server", "TOML parse error"),
    ];
    for (text, expected) in cases {
        let err = Config::from_toml(text).expect_err(text);
        assert!(
            err.to_string().contains(expected),
            "{text:?}\n  gave {err}\n  wanted {expected}"
        );
    }
}

#[test]
fn a_misaligned_config_is_refused_by_the_stack_with_the_report() {
    let config = Config::from_file(root("examples/config/misaligned.toml")).unwrap();
    let err = ServerStack::from_config(&config.server).unwrap_err();
    let StackError::Misaligned(report) = err else {
        panic!("{err}")
    };
    assert_eq!(
        report.findings()[0].rule.name(),
        "inner-timeout-exceeds-outer"
    );
    assert!(config.check()[0].1.has_errors());
}

#[test]
fn tollgate_check_validates_and_reports_through_its_exit_code() {
    let check = |path: &str| {
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["check", &root(path)])
            .output()
            .unwrap()
    };
    let ok = check("examples/config/server.toml");
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("[client.upstream]"));
    let misaligned = check("examples/config/misaligned.toml");
    assert_eq!(misaligned.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&misaligned.stdout).contains("inner-timeout-exceeds-outer"));
    let bad = std::env::temp_dir().join(format!("tollgate-bad-{}.toml", std::process::id()));
    std::fs::write(&bad, "[server.shape]\ncount = 0").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["check".as_ref(), bad.as_os_str()])
        .output()
        .unwrap();
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("server.shape.count: must be at least 1")
    );
}

fn handler() -> impl Service<
    http::Request<String>,
    Response = http::Response<String>,
    Error = Infallible,
    Future: Send,
> + Clone {
    service_fn(|_: http::Request<String>| async {
        Ok::<_, Infallible>(http::Response::new(String::from("ok")))
    })
}

const ONE_PER_HOUR: &str =
    "[server.rate_limit]\nkey = \"global\"\nper_key = { count = 1, period = \"1h\", burst = 1 }";

#[tokio::test]
async fn a_reload_swaps_whole_configs_and_refuses_bad_ones() {
    let (stack, _) = ServerStack::from_config(&Config::from_toml("").unwrap().server).unwrap();
    let svc = stack.layer(handler());
    let get = || http::Request::new(String::new());
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 200);

    // A request readied under the old config runs wholly under it, even if a reload
    // lands between its poll_ready and its call.
    let mut readied = svc.clone();
    std::future::poll_fn(|cx| readied.poll_ready(cx))
        .await
        .unwrap();
    stack
        .reload(&Config::from_toml(ONE_PER_HOUR).unwrap().server)
        .unwrap();
    assert_eq!(readied.call(get()).await.unwrap().status(), 200);
    assert_eq!(stack.snapshot().rate_limit.unwrap().admitted, 0); // not seen by the new limiter
                                                                  // New requests run under the new one.
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 200);
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 429);

    // A misaligned config is refused: the running one stays, generation unchanged.
    let misaligned =
        Config::from_toml("[server.deadline]\nmax = \"1s\"\n[server.timeout]\nper_try = \"5s\"")
            .unwrap();
    assert!(matches!(
        stack.reload(&misaligned.server),
        Err(StackError::Misaligned(_))
    ));
    assert_eq!(stack.snapshot().generation, 1);
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 429);

    // An unchanged section keeps its state: the spent bucket stays spent.
    let with_timeout = format!("{ONE_PER_HOUR}\n[server.timeout]\nper_try = \"1s\"");
    stack
        .reload(&Config::from_toml(&with_timeout).unwrap().server)
        .unwrap();
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 429);
    let s = stack.snapshot();
    assert_eq!((s.generation, s.rate_limit.unwrap().rejected), (2, 3));
    assert!(s.timeout.is_some());
}

/// A service that is not cloned per request (a tower user's, or a client's) keeps its
/// composition between requests and composes again when a reload lands.
#[tokio::test]
async fn a_service_kept_across_requests_runs_under_each_reloaded_config() {
    let (stack, _) = ServerStack::from_config(&Config::from_toml("").unwrap().server).unwrap();
    let mut kept = stack.layer(handler());
    let get = || http::Request::new(String::new());
    for _ in 0..3 {
        let response = kept.ready().await.unwrap().call(get()).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    stack
        .reload(&Config::from_toml(ONE_PER_HOUR).unwrap().server)
        .unwrap();
    let status = |response: http::Response<_>| response.status();
    assert_eq!(
        status(kept.ready().await.unwrap().call(get()).await.unwrap()),
        200
    );
    assert_eq!(
        status(kept.ready().await.unwrap().call(get()).await.unwrap()),
        429
    );
    let limited = stack.snapshot().rate_limit.unwrap();
    assert_eq!((limited.admitted, limited.rejected), (1, 1));

    // And back: the limiter is gone for the kept service too.
    stack
        .reload(&Config::from_toml("").unwrap().server)
        .unwrap();
    assert_eq!(
        status(kept.ready().await.unwrap().call(get()).await.unwrap()),
        200
    );
    assert!(stack.snapshot().rate_limit.is_none());
}

#[tokio::test]
async fn a_watched_file_reloads_the_stack_and_a_bad_edit_changes_nothing() {
    let path = std::env::temp_dir().join(format!("tollgate-watch-{}.toml", std::process::id()));
    std::fs::write(&path, "").unwrap();
    let (stack, _) = ServerStack::from_config(&Config::from_file(&path).unwrap().server).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reloading = stack.clone();
    let watcher = tokio::spawn(watch_file(
        path.clone(),
        Duration::from_millis(10),
        move |config: Config| reloading.reload(&config.server),
        move |outcome: Reloaded| {
            let _ = tx.send(outcome);
        },
    ));
    tokio::time::sleep(Duration::from_millis(30)).await;
    // Each edit moves the modification time on, so coarse file-system clocks see it.
    let edit = |text: &str, secs: u64| {
        std::fs::write(&path, text).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() + Duration::from_secs(secs))
            .unwrap();
    };
    edit(ONE_PER_HOUR, 1);
    assert!(matches!(rx.recv().await, Some(Reloaded::Applied(_))));
    assert_eq!(stack.snapshot().generation, 1);
    edit(
        "[server.rate_limit]\nkey = \"global\"\nper_key = { count = 0 }",
        2,
    );
    match rx.recv().await {
        Some(Reloaded::Invalid(e)) => assert_eq!(e.path(), "server.rate_limit.per_key.count"),
        other => panic!("{other:?}"),
    }
    edit(
        "[server.deadline]\nmax = \"1s\"\n[server.timeout]\nper_try = \"5s\"",
        3,
    );
    assert!(matches!(
        rx.recv().await,
        Some(Reloaded::Refused(StackError::Misaligned(_)))
    ));
    assert_eq!(stack.snapshot().generation, 1);
    assert!(stack.snapshot().rate_limit.is_some());
    watcher.abort();
    std::fs::remove_file(&path).unwrap();
}
