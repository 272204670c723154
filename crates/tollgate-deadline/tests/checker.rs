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
