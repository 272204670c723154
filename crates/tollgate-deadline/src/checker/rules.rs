//! The rules of the alignment checker, one function each.

use std::time::Duration;

use super::plan::{Hop, Plan, Role};
use super::{Finding, Rule, Severity};

fn h(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Runs every rule over `plan`, in path order.
pub(super) fn check(plan: &Plan) -> Vec<Finding> {
    let mut out = Vec::new();
    inner_below_outer(plan, &mut out);
    for hop in &plan.hops {
        retries_fit_total(hop, &mut out);
        connect_fits_try(hop, &mut out);
        drain_covers_requests(hop, &mut out);
        breaker_window(hop, &mut out);
    }
    for pair in plan.hops.windows(2) {
        keep_alive_outlives_pool(&pair[0], &pair[1], &mut out);
    }
    grpc_cap(plan, &mut out);
    out
}

/// Each hop's wait must be below the tightest limit in front of it minus the margin.
/// A hop limits the next one by its per-try timeout when it has one. The fix chains:
/// once an outer hop is fixed, the hops behind it must fit the fixed value.
fn inner_below_outer(plan: &Plan, out: &mut Vec<Finding>) {
    // The tightest limit in front, which hop sets it, and whether that is the value
    // the hop would have once fixed.
    let mut front: Option<(Duration, &Hop, bool)> = None;
    for hop in &plan.hops {
        let Some(wait) = hop.longest_wait() else {
            continue;
        };
        let mut allowed = wait;
        let mut fixed = false;
        if let Some((outer, outer_hop, outer_fixed)) = front {
            let limit = outer.saturating_sub(plan.margin);
            if wait > limit {
                let field = if hop.request.is_some() {
                    "request"
                } else {
                    "per_try"
                };
                let retrying = if hop.retries > 0 {
                    " (and retrying)"
                } else {
                    ""
                };
                let once_fixed = if outer_fixed { " once fixed" } else { "" };
                out.push(Finding {
                    rule: Rule::InnerExceedsOuter,
                    severity: Severity::Error,
                    hops: vec![hop.name.clone(), outer_hop.name.clone()],
                    values: vec![
                        (format!("{}.wait", hop.name), wait),
                        (format!("{}.limit", outer_hop.name), outer),
                        ("margin".to_owned(), plan.margin),
                    ],
                    problem: format!(
                        "{} waits up to {} but {}{once_fixed} gives up on it after {}: {} keeps working{retrying} for a caller that has left",
                        hop.name, h(wait), outer_hop.name, h(outer), hop.name
                    ),
                    fix: format!(
                        "lower {}.{field} to at most {} ({} minus the {} margin)",
                        hop.name,
                        h(limit),
                        h(outer),
                        h(plan.margin)
                    ),
                });
                allowed = limit;
                fixed = true;
            }
        }
        // What this hop gives the next one: a try, bounded by its own (fixed) wait.
        let limit = hop.per_try.map_or(allowed, |p| p.min(allowed));
        if front.is_none_or(|(outer, _, _)| limit <= outer) {
            front = Some((limit, hop, fixed && limit == allowed));
        }
    }
}

/// `(retries + 1) x per_try + retries x backoff` must fit the total.
fn retries_fit_total(hop: &Hop, out: &mut Vec<Finding>) {
    let (Some(total), Some(per_try), Some(tries)) = (hop.request, hop.per_try, hop.tries_total())
    else {
        return;
    };
    if tries <= total {
        return;
    }
    let backoff = hop.backoff.unwrap_or_default();
    let tries_n = hop.retries.saturating_add(1);
    // The largest per-try that fits, keeping the retries and backoff.
    let fitting = total
        .saturating_sub(backoff.saturating_mul(hop.retries))
        .checked_div(tries_n)
        .unwrap_or_default();
    let fitting = Duration::from_millis(u64::try_from(fitting.as_millis()).unwrap_or(u64::MAX));
    // The most retries that fit, keeping the per-try and backoff: none when even the
    // first try is longer than the total.
    let retries = (0..hop.retries).rev().find(|&r| {
        per_try
            .saturating_mul(r + 1)
            .saturating_add(backoff.saturating_mul(r))
            <= total
    });
    // Only the changes that would fix it: a per-try of zero is no per-try, and no
    // retry count helps when one try is already too long.
    let mut fixes = Vec::with_capacity(3);
    if !fitting.is_zero() {
        fixes.push(format!(
            "lower {}.per_try to at most {}",
            hop.name,
            h(fitting)
        ));
    }
    if let Some(retries) = retries {
        fixes.push(if fixes.is_empty() {
            format!("lower {}.retries to {retries}", hop.name)
        } else {
            format!("retries to {retries}")
        });
    }
    fixes.push(format!("raise {}.request to {}", hop.name, h(tries)));
    let consequence = if per_try > total {
        "even the first try is cut by the total before its own timeout"
    } else {
        "the last tries can never finish"
    };
    out.push(Finding {
        rule: Rule::RetriesExceedTotal,
        severity: Severity::Error,
        hops: vec![hop.name.clone()],
        values: vec![
            (format!("{}.per_try", hop.name), per_try),
            (format!("{}.backoff", hop.name), backoff),
            (format!("{}.request", hop.name), total),
        ],
        problem: format!(
            "{} tries x {} + {} x {} backoff = {} exceeds the {} total: {consequence}",
            tries_n,
            h(per_try),
            hop.retries,
            h(backoff),
            h(tries),
            h(total)
        ),
        fix: fixes.join(", or "),
    });
}

/// A connect timeout longer than a try is never reached.
fn connect_fits_try(hop: &Hop, out: &mut Vec<Finding>) {
    let Some(connect) = hop.connect else { return };
    let Some(try_limit) = hop.per_try.or(hop.request) else {
        return;
    };
    if connect > try_limit {
        out.push(Finding {
            rule: Rule::ConnectExceedsTry,
            severity: Severity::Warning,
            hops: vec![hop.name.clone()],
            values: vec![
                (format!("{}.connect", hop.name), connect),
                (format!("{}.try", hop.name), try_limit),
            ],
            problem: format!(
                "{} allows {} to connect but a try ends after {}",
                hop.name,
                h(connect),
                h(try_limit)
            ),
            fix: format!("lower {}.connect below {}", hop.name, h(try_limit)),
        });
    }
}

/// The server must close idle connections after the client (or proxy) in front
/// stops reusing them, else a request goes out on a connection being closed: 502s.
fn keep_alive_outlives_pool(front: &Hop, back: &Hop, out: &mut Vec<Finding>) {
    let (Some(pool_idle), Some(keep_alive)) = (front.pool_idle, back.keep_alive) else {
        return;
    };
    if pool_idle < keep_alive {
        return;
    }
    let (rule, problem, fix) = if front.role == Role::Proxy {
        (
            Rule::UpstreamKeepAliveTooShort,
            format!(
                "{} closes idle connections after {} but {} keeps them for {}: the proxy reuses connections the server is closing (502s)",
                back.name, h(keep_alive), front.name, h(pool_idle)
            ),
            format!(
                "raise {}.keep_alive above {} (for example {}), or lower {}.pool_idle below {}",
                back.name,
                h(pool_idle),
                h(pool_idle + Duration::from_secs(5)),
                front.name,
                h(keep_alive)
            ),
        )
    } else {
        (
            Rule::PoolIdleExceedsKeepAlive,
            format!(
                "{}'s pool keeps idle connections for {} but {} closes them after {}: requests race the close and fail",
                front.name, h(pool_idle), back.name, h(keep_alive)
            ),
            format!(
                "lower {}.pool_idle below {} (for example {})",
                front.name,
                h(keep_alive),
                h(keep_alive.mul_f64(0.8))
            ),
        )
    };
    out.push(Finding {
        rule,
        severity: Severity::Error,
        hops: vec![front.name.clone(), back.name.clone()],
        values: vec![
            (format!("{}.pool_idle", front.name), pool_idle),
            (format!("{}.keep_alive", back.name), keep_alive),
        ],
        problem,
        fix,
    });
}

/// Draining must outlast the longest request plus the time the hops in front take
/// to stop routing to this one.
fn drain_covers_requests(hop: &Hop, out: &mut Vec<Finding>) {
    let (Some(grace), Some(request)) = (hop.drain_grace, hop.request) else {
        return;
    };
    let readiness = hop.readiness_delay.unwrap_or_default();
    let needed = request.saturating_add(readiness);
    if grace >= needed {
        return;
    }
    out.push(Finding {
        rule: Rule::DrainGraceTooShort,
        severity: Severity::Error,
        hops: vec![hop.name.clone()],
        values: vec![
            (format!("{}.drain_grace", hop.name), grace),
            (format!("{}.request", hop.name), request),
            (format!("{}.readiness_delay", hop.name), readiness),
        ],
        problem: format!(
            "{} drains for {} but needs {} of readiness propagation plus {} for the longest request: requests are cut mid-flight on every deploy",
            hop.name,
            h(grace),
            h(readiness),
            h(request)
        ),
        fix: format!("raise {}.drain_grace to at least {}", hop.name, h(needed)),
    });
}

/// A breaker window shorter than two tries judges on too few outcomes.
fn breaker_window(hop: &Hop, out: &mut Vec<Finding>) {
    let (Some(window), Some(per_try)) = (hop.breaker_window, hop.per_try.or(hop.request)) else {
        return;
    };
    let needed = per_try.saturating_mul(2);
    if window >= needed {
        return;
    }
    out.push(Finding {
        rule: Rule::BreakerWindowTooShort,
        severity: Severity::Warning,
        hops: vec![hop.name.clone()],
        values: vec![
            (format!("{}.breaker_window", hop.name), window),
            (format!("{}.per_try", hop.name), per_try),
        ],
        problem: format!(
            "{}'s breaker window of {} is shorter than two tries ({}): slow calls finish after the window that admitted them",
            hop.name,
            h(window),
            h(needed)
        ),
        fix: format!("raise {}.breaker_window to at least {}", hop.name, h(needed)),
    });
}

/// A server that caps incoming deadlines below what its callers send cuts their
/// calls short.
fn grpc_cap(plan: &Plan, out: &mut Vec<Finding>) {
    for (i, hop) in plan.hops.iter().enumerate() {
        let Some(cap) = hop.grpc_max else { continue };
        let Some(caller) = plan.hops[..i]
            .iter()
            .rev()
            .find(|c| c.longest_wait().is_some())
        else {
            continue;
        };
        let sent = caller
            .longest_wait()
            .unwrap_or_default()
            .saturating_sub(plan.margin);
        if cap >= sent {
            continue;
        }
        out.push(Finding {
            rule: Rule::GrpcCapBelowCallers,
            severity: Severity::Warning,
            hops: vec![hop.name.clone(), caller.name.clone()],
            values: vec![
                (format!("{}.grpc_max", hop.name), cap),
                (format!("{}.sends", caller.name), sent),
            ],
            problem: format!(
                "{} sends deadlines up to {} but {} caps them at {}: its calls end early with DEADLINE_EXCEEDED",
                caller.name,
                h(sent),
                hop.name,
                h(cap)
            ),
            fix: format!(
                "raise {}.grpc_max to {}, or lower {}'s timeout to {}",
                hop.name,
                h(sent),
                caller.name,
                h(cap + plan.margin)
            ),
        });
    }
}
