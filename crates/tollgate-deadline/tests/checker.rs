//! Each alignment rule fires on the misalignment it names, with its values and fix,
//! and stays quiet on an aligned path.

use std::time::Duration;

use tollgate_deadline::checker::{check, Hop, Plan, Role, Rule, Severity};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn rules(plan: &Plan) -> Vec<Rule> {
    rules_of(&check(plan))
}

fn rules_of(report: &tollgate_deadline::checker::Report) -> Vec<Rule> {
    report.findings().iter().map(|f| f.rule).collect()
}

#[test]
fn seed_case_chains_the_fixes_inward() {
    let plan = Plan::new(vec![
        Hop::new("client", Role::Client).request(s(10)),
        Hop::new("lb", Role::Proxy).request(s(5)),
        Hop::new("app", Role::Server).request(s(10)),
        Hop::new("db", Role::Database).request(s(30)),
    ]);
    let report = check(&plan);
    let f = report.findings();
    assert_eq!(f.len(), 2, "{report}");
    assert_eq!(f[0].hops, ["app", "lb"]);
    assert_eq!(
        f[0].fix,
        "lower app.request to at most 4s 900ms (5s minus the 100ms margin)"
    );
    // The database must fit the app's fixed timeout, not the load balancer's.
    assert_eq!(f[1].hops, ["db", "app"]);
    assert_eq!(
        f[1].fix,
        "lower db.request to at most 4s 800ms (4s 900ms minus the 100ms margin)"
    );
    assert!(
        f[1].problem
            .contains("app once fixed gives up on it after 4s 900ms"),
        "{}",
        f[1].problem
    );
    assert!(report.has_errors());
}

#[test]
fn inner_equal_to_outer_minus_margin_passes() {
    let plan = Plan::new(vec![
        Hop::new("client", Role::Client).request(s(5)),
        Hop::new("app", Role::Server).request(ms(4900)),
    ]);
    assert!(rules(&plan).is_empty());
    let plan = Plan::new(vec![
        Hop::new("client", Role::Client).request(s(5)),
        Hop::new("app", Role::Server).request(ms(4901)),
    ]);
    assert_eq!(rules(&plan), [Rule::InnerExceedsOuter]);
}

#[test]
fn per_try_limits_the_next_hop() {
    let plan = Plan::new(vec![
        Hop::new("app", Role::Server)
            .request(s(5))
            .per_try(s(1), 2, ms(100)),
        Hop::new("db", Role::Database).request(s(2)),
    ]);
    let report = check(&plan);
    assert_eq!(
        report.findings()[0].fix,
        "lower db.request to at most 900ms (1s minus the 100ms margin)"
    );
}

#[test]
fn retries_must_fit_the_total() {
    let plan = Plan::new(vec![Hop::new("app", Role::Server).request(s(3)).per_try(
        s(1),
        2,
        ms(100),
    )]);
    let report = check(&plan);
    let f = &report.findings()[0];
    assert_eq!(f.rule, Rule::RetriesExceedTotal);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.fix,
        "lower app.per_try to at most 933ms, or retries to 1, or raise app.request to 3s 200ms"
    );
    let fits = Plan::new(vec![Hop::new("app", Role::Server)
        .request(ms(3200))
        .per_try(s(1), 2, ms(100))]);
    assert!(rules(&fits).is_empty());
}

#[test]
fn keep_alive_must_outlive_the_idle_connections_in_front() {
    let proxy = Plan::new(vec![
        Hop::new("lb", Role::Proxy).pool_idle(s(60)),
        Hop::new("app", Role::Server).keep_alive(s(5)),
    ]);
    assert_eq!(rules(&proxy), [Rule::UpstreamKeepAliveTooShort]);
    let pool = Plan::new(vec![
        Hop::new("app", Role::Server).pool_idle(s(90)),
        Hop::new("api", Role::Server).keep_alive(s(90)),
    ]);
    let report = check(&pool);
    assert_eq!(report.findings()[0].rule, Rule::PoolIdleExceedsKeepAlive);
    assert_eq!(
        report.findings()[0].fix,
        "lower app.pool_idle below 1m 30s (for example 1m 12s)"
    );
    let ok = Plan::new(vec![
        Hop::new("lb", Role::Proxy).pool_idle(s(60)),
        Hop::new("app", Role::Server).keep_alive(s(75)),
    ]);
    assert!(rules(&ok).is_empty());
}

#[test]
fn drain_grace_covers_the_longest_request_and_readiness() {
    let plan = Plan::new(vec![Hop::new("app", Role::Server)
        .request(s(10))
        .drain(s(15), s(10))]);
    let report = check(&plan);
    assert_eq!(report.findings()[0].rule, Rule::DrainGraceTooShort);
    assert_eq!(
        report.findings()[0].fix,
        "raise app.drain_grace to at least 20s"
    );
    let ok = Plan::new(vec![Hop::new("app", Role::Server)
        .request(s(10))
        .drain(s(20), s(10))]);
    assert!(rules(&ok).is_empty());
}

#[test]
fn breaker_window_is_at_least_two_tries() {
    let plan = Plan::new(vec![Hop::new("app", Role::Server)
        .per_try(s(2), 0, Duration::ZERO)
        .breaker(s(30), ms(3999))]);
    let report = check(&plan);
    assert_eq!(report.findings()[0].rule, Rule::BreakerWindowTooShort);
    assert_eq!(report.findings()[0].severity, Severity::Warning);
    assert!(!report.has_errors());
}

#[test]
fn grpc_cap_below_what_callers_send_is_reported() {
    let plan = Plan::new(vec![
        Hop::new("gateway", Role::Proxy).request(s(10)),
        Hop::new("svc", Role::Server).request(s(2)).grpc_max(s(2)),
    ]);
    let report = check(&plan);
    let f = &report.findings()[0];
    assert_eq!(f.rule, Rule::GrpcCapBelowCallers);
    assert_eq!(f.values[1], ("gateway.sends".to_owned(), ms(9900)));
}

#[test]
fn connect_longer_than_a_try_is_a_warning() {
    let plan = Plan::new(vec![Hop::new("app", Role::Server)
        .connect(s(5))
        .request(s(10))
        .per_try(s(2), 1, Duration::ZERO)]);
    assert_eq!(rules(&plan), [Rule::ConnectExceedsTry]);
}

#[test]
fn plan_files_parse_human_durations_and_refuse_unknown_fields() {
    let plan = Plan::from_toml(
        "margin = \"50ms\"\n[[hop]]\nname = \"a\"\nrole = \"server\"\nrequest = \"1m 30s\"\n",
    )
    .unwrap();
    assert_eq!(plan.margin, ms(50));
    assert_eq!(plan.hops[0].request, Some(s(90)));
    let err = Plan::from_toml("[[hop]]\nname = \"a\"\nrole = \"server\"\ntimeout = \"1s\"\n")
        .unwrap_err();
    assert!(err.to_string().contains("timeout"), "{err}");
    let err =
        Plan::from_toml("[[hop]]\nname = \"a\"\nrole = \"server\"\nrequest = \"5 parsecs\"\n")
            .unwrap_err();
    assert!(err.to_string().contains("5 parsecs"), "{err}");
}

fn only(plan: &Plan) -> tollgate_deadline::checker::Finding {
    let report = check(plan);
    let [finding] = report.findings() else {
        panic!("expected one finding: {report}");
    };
    finding.clone()
}

/// The suggested retry count is the largest that fits: 3 tries of 1 s in 3 s, not 4
/// or 5.
// Catches `r + 1` -> `r - 1` (suggests 4) and `r + 1` -> `r * 1` (suggests 3) in the
// retries rule's count-down.
#[test]
fn retries_fix_suggests_the_most_retries_that_fit() {
    let f = only(&Plan::new(vec![Hop::new("app", Role::Server)
        .request(s(3))
        .per_try(s(1), 5, Duration::ZERO)]));
    assert_eq!(f.rule, Rule::RetriesExceedTotal);
    assert_eq!(
        f.problem,
        "6 tries x 1s + 5 x 0s backoff = 6s exceeds the 3s total: the last tries can never finish"
    );
    assert_eq!(
        f.fix,
        "lower app.per_try to at most 500ms, or retries to 2, or raise app.request to 6s"
    );
    assert_eq!(
        f.values,
        [
            ("app.per_try".to_owned(), s(1)),
            ("app.backoff".to_owned(), Duration::ZERO),
            ("app.request".to_owned(), s(3)),
        ]
    );
}

/// A try longer than the whole request timeout is not fixed by fewer retries: the
/// finding says so and suggests only what would fix it.
// Catches the bug where the fix said "or retries to 0" although zero retries do not
// fit either (per_try > request), and `per_try > total` -> `==`/`<` in the wording.
#[test]
fn retries_fix_offers_no_retry_count_when_a_single_try_exceeds_the_total() {
    let f = only(&Plan::new(vec![Hop::new("app", Role::Server)
        .request(s(3))
        .per_try(s(5), 2, ms(100))]));
    assert_eq!(f.rule, Rule::RetriesExceedTotal);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.problem,
        "3 tries x 5s + 2 x 100ms backoff = 15s 200ms exceeds the 3s total: even the first try is cut by the total before its own timeout"
    );
    assert_eq!(
        f.fix,
        "lower app.per_try to at most 933ms, or raise app.request to 15s 200ms"
    );
    // Already no retries: the per-try or the total must change.
    let f = only(&Plan::new(vec![Hop::new("app", Role::Server)
        .request(s(3))
        .per_try(s(5), 0, Duration::ZERO)]));
    assert_eq!(
        f.fix,
        "lower app.per_try to at most 3s, or raise app.request to 5s"
    );
}

/// A try exactly as long as the total fits once: zero retries is the fix, and the
/// first try is not reported as cut.
// Catches `per_try > total` -> `>=` in the wording, and `<=` -> `>` in the fit test.
#[test]
fn retries_fix_at_a_try_equal_to_the_total_suggests_zero_retries() {
    let f = only(&Plan::new(vec![Hop::new("app", Role::Server)
        .request(s(3))
        .per_try(s(3), 1, Duration::ZERO)]));
    assert_eq!(
        f.problem,
        "2 tries x 3s + 1 x 0s backoff = 6s exceeds the 3s total: the last tries can never finish"
    );
    assert_eq!(
        f.fix,
        "lower app.per_try to at most 1s 500ms, or retries to 0, or raise app.request to 6s"
    );
}

/// When the backoffs alone fill the total, no per-try fits: the fix lowers the
/// retries or raises the total, never "per_try to at most 0s".
// Catches the bug where the fix suggested a zero per-try timeout.
#[test]
fn retries_fix_offers_no_zero_per_try_when_the_backoffs_fill_the_total() {
    let f = only(&Plan::new(vec![Hop::new("app", Role::Server)
        .request(s(1))
        .per_try(ms(100), 10, ms(100))]));
    assert_eq!(
        f.fix,
        "lower app.retries to 4, or raise app.request to 2s 100ms"
    );
}

/// A connect timeout equal to the try is reached (just): no warning. One millisecond
/// more is, with its values and wording; without a per-try the request timeout is the
/// try.
// Catches `connect > try_limit` -> `>=` (the boundary `connect == per_try`).
#[test]
fn connect_equal_to_the_try_passes_and_one_more_millisecond_warns() {
    let plan = |connect| {
        Plan::new(vec![Hop::new("app", Role::Server)
            .connect(connect)
            .request(s(10))
            .per_try(s(2), 1, Duration::ZERO)])
    };
    assert!(rules(&plan(s(2))).is_empty());
    let f = only(&plan(ms(2001)));
    assert_eq!(f.rule, Rule::ConnectExceedsTry);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.hops, ["app"]);
    assert_eq!(
        f.values,
        [
            ("app.connect".to_owned(), ms(2001)),
            ("app.try".to_owned(), s(2)),
        ]
    );
    assert_eq!(
        f.problem,
        "app allows 2s 1ms to connect but a try ends after 2s"
    );
    assert_eq!(f.fix, "lower app.connect below 2s");
    let request_only = Plan::new(vec![Hop::new("app", Role::Server)
        .connect(s(11))
        .request(s(10))]);
    assert_eq!(only(&request_only).fix, "lower app.connect below 10s");
    let request_only = Plan::new(vec![Hop::new("app", Role::Server)
        .connect(s(10))
        .request(s(10))]);
    assert!(rules(&request_only).is_empty());
}

/// The inner-exceeds-outer wording: which field to lower (`request`, or `per_try` on a
/// hop without one), "(and retrying)" only for a hop that retries, and "once fixed"
/// only when the limit in front is a fixed value.
// Catches `hop.retries > 0` -> `==`/`<`/`>=`, and `fixed && limit == allowed` -> `||`
// (an unfixed or per-try limit called "once fixed").
#[test]
fn inner_exceeds_outer_wording_names_the_field_the_retries_and_the_fixed_limit() {
    let f = only(&Plan::new(vec![
        Hop::new("client", Role::Client).request(s(5)),
        Hop::new("app", Role::Server).per_try(s(2), 2, ms(100)),
    ]));
    assert_eq!(f.rule, Rule::InnerExceedsOuter);
    assert_eq!(f.hops, ["app", "client"]);
    assert_eq!(
        f.values,
        [
            ("app.wait".to_owned(), ms(6200)),
            ("client.limit".to_owned(), s(5)),
            ("margin".to_owned(), ms(100)),
        ]
    );
    assert_eq!(
        f.problem,
        "app waits up to 6s 200ms but client gives up on it after 5s: app keeps working (and retrying) for a caller that has left"
    );
    assert_eq!(
        f.fix,
        "lower app.per_try to at most 4s 900ms (5s minus the 100ms margin)"
    );

    // The seed case: no retries, and the second finding's limit is the fixed value.
    let report = check(&Plan::new(vec![
        Hop::new("lb", Role::Proxy).request(s(5)),
        Hop::new("app", Role::Server).request(s(10)),
        Hop::new("db", Role::Database).request(s(30)),
    ]));
    let problems: Vec<_> = report
        .findings()
        .iter()
        .map(|f| f.problem.as_str())
        .collect();
    assert_eq!(
        problems,
        [
            "app waits up to 10s but lb gives up on it after 5s: app keeps working for a caller that has left",
            "db waits up to 30s but app once fixed gives up on it after 4s 900ms: db keeps working for a caller that has left",
        ]
    );

    // An aligned hop in front is not "fixed".
    let f = only(&Plan::new(vec![
        Hop::new("lb", Role::Proxy).request(s(5)),
        Hop::new("app", Role::Server).request(s(4)),
        Hop::new("db", Role::Database).request(s(10)),
    ]));
    assert_eq!(
        f.problem,
        "db waits up to 10s but app gives up on it after 4s: db keeps working for a caller that has left"
    );

    // A fixed hop whose per-try is tighter than its fixed wait limits by the per-try,
    // which is its own value, not a fixed one.
    let report = check(&Plan::new(vec![
        Hop::new("lb", Role::Proxy).request(s(5)),
        Hop::new("app", Role::Server)
            .request(s(10))
            .per_try(s(1), 9, Duration::ZERO),
        Hop::new("db", Role::Database).request(s(2)),
    ]));
    assert_eq!(rules_of(&report), [Rule::InnerExceedsOuter; 2]);
    let f = &report.findings()[1];
    assert_eq!(f.hops, ["db", "app"]);
    assert_eq!(
        f.problem,
        "db waits up to 2s but app gives up on it after 1s: db keeps working for a caller that has left"
    );
}

/// The keep-alive rule's two wordings: a proxy in front (502s), or a client pool.
// Catches `front.role == Role::Proxy` -> `!=` and the `pool_idle < keep_alive`
// boundary (equal fires).
#[test]
fn keep_alive_wording_depends_on_what_is_in_front() {
    let f = only(&Plan::new(vec![
        Hop::new("lb", Role::Proxy).pool_idle(s(60)),
        Hop::new("app", Role::Server).keep_alive(s(5)),
    ]));
    assert_eq!(f.rule, Rule::UpstreamKeepAliveTooShort);
    assert_eq!(f.hops, ["lb", "app"]);
    assert_eq!(
        f.values,
        [
            ("lb.pool_idle".to_owned(), s(60)),
            ("app.keep_alive".to_owned(), s(5)),
        ]
    );
    assert_eq!(
        f.problem,
        "app closes idle connections after 5s but lb keeps them for 1m: the proxy reuses connections the server is closing (502s)"
    );
    assert_eq!(
        f.fix,
        "raise app.keep_alive above 1m (for example 1m 5s), or lower lb.pool_idle below 5s"
    );
    let f = only(&Plan::new(vec![
        Hop::new("app", Role::Server).pool_idle(s(90)),
        Hop::new("api", Role::Server).keep_alive(s(90)),
    ]));
    assert_eq!(f.rule, Rule::PoolIdleExceedsKeepAlive);
    assert_eq!(
        f.problem,
        "app's pool keeps idle connections for 1m 30s but api closes them after 1m 30s: requests race the close and fail"
    );
}
