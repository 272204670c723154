//! The alignment checker: finds misaligned timeouts along a chain of hops before
//! production does.
//!
//! Describe the request path as a [`Plan`] of [`Hop`]s, outermost first (in code or
//! from a TOML timeout plan), and [`check`] it. Each [`Finding`] names its [`Rule`],
//! its [`Severity`], the hops and values involved, and the fix. The rules:
//!
//! | rule | severity | what it catches |
//! |---|---|---|
//! | `inner-timeout-exceeds-outer` | error | a hop waits longer than the tightest hop in front of it minus the margin |
//! | `retries-exceed-total` | error | `(retries + 1) x per_try + retries x backoff` does not fit the total |
//! | `upstream-keep-alive-too-short` | error | a server's keep-alive is not above the idle timeout of the proxy in front (502s) |
//! | `pool-idle-exceeds-keep-alive` | error | a client pool keeps idle connections longer than the server's keep-alive |
//! | `drain-grace-too-short` | error | drain grace below the longest request plus readiness propagation |
//! | `breaker-window-too-short` | warning | breaker window below twice the per-try timeout |
//! | `grpc-cap-below-callers` | warning | a server's gRPC deadline cap is below what its callers send |
//! | `connect-exceeds-try` | warning | a connect timeout longer than a try |
//!
//! ```
//! use std::time::Duration;
//! use tollgate_deadline::checker::{check, Hop, Plan, Role, Rule};
//!
//! let s = Duration::from_secs;
//! let plan = Plan::new(vec![
//!     Hop::new("client", Role::Client).request(s(10)),
//!     Hop::new("lb", Role::Proxy).request(s(5)),
//!     Hop::new("app", Role::Server).request(s(10)),
//!     Hop::new("db", Role::Database).request(s(30)),
//! ]);
//! let report = check(&plan);
//! assert!(report.has_errors());
//! let first = &report.findings()[0];
//! assert_eq!(first.rule, Rule::InnerExceedsOuter);
//! assert_eq!(first.fix, "lower app.request to at most 4s 900ms (5s minus the 100ms margin)");
//! ```

mod plan;
mod rules;

use std::fmt;
use std::time::Duration;

pub use plan::{Hop, Plan, PlanError, Role};

/// How bad a finding is: errors fail `timeout_plan` and the stack builder.
///
/// ```
/// use tollgate_deadline::checker::Severity;
/// assert!(Severity::Error > Severity::Warning);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Likely to hurt under load or failure.
    Warning,
    /// Misaligned: fails requests or wastes work.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// The rule a finding broke. See the module docs for the table.
///
/// ```
/// use tollgate_deadline::checker::Rule;
/// assert_eq!(Rule::RetriesExceedTotal.name(), "retries-exceed-total");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// An inner hop waits longer than the outer one minus the margin.
    InnerExceedsOuter,
    /// Retries x per-try + backoff exceed the total.
    RetriesExceedTotal,
    /// A server's keep-alive is not above the idle timeout of the proxy in front.
    UpstreamKeepAliveTooShort,
    /// A client pool's idle timeout is not below the server's keep-alive.
    PoolIdleExceedsKeepAlive,
    /// The drain grace does not cover the longest request plus readiness delay.
    DrainGraceTooShort,
    /// A breaker window is shorter than twice the per-try timeout.
    BreakerWindowTooShort,
    /// A gRPC deadline cap is below what callers send.
    GrpcCapBelowCallers,
    /// A connect timeout is longer than a try.
    ConnectExceedsTry,
}

impl Rule {
    /// The rule's stable name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::InnerExceedsOuter => "inner-timeout-exceeds-outer",
            Rule::RetriesExceedTotal => "retries-exceed-total",
            Rule::UpstreamKeepAliveTooShort => "upstream-keep-alive-too-short",
            Rule::PoolIdleExceedsKeepAlive => "pool-idle-exceeds-keep-alive",
            Rule::DrainGraceTooShort => "drain-grace-too-short",
            Rule::BreakerWindowTooShort => "breaker-window-too-short",
            Rule::GrpcCapBelowCallers => "grpc-cap-below-callers",
            Rule::ConnectExceedsTry => "connect-exceeds-try",
        }
    }
}

/// One misalignment: the rule, how bad, where, the values, and the fix.
///
/// See the module docs for an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule broken.
    pub rule: Rule,
    /// How bad it is.
    pub severity: Severity,
    /// The hops involved, the one to change first.
    pub hops: Vec<String>,
    /// The values involved, as `hop.field` and duration.
    pub values: Vec<(String, Duration)>,
    /// What goes wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

/// The findings for a plan, most severe first. Its `Display` is the readable report.
///
/// See the module docs for an example.
#[derive(Debug, Clone)]
pub struct Report {
    path: String,
    margin: Duration,
    findings: Vec<Finding>,
}

impl Report {
    /// Every finding, errors first, then in path order.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

/// Checks `plan` against every rule.
///
/// See the module docs for an example.
pub fn check(plan: &Plan) -> Report {
    let mut findings = rules::check(plan);
    // Stable: path order within a severity.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let path = plan
        .hops
        .iter()
        .map(|hop| match hop.longest_wait() {
            Some(w) => format!("{} ({})", hop.name, humantime::format_duration(w)),
            None => hop.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(" -> ");
    Report {
        path,
        margin: plan.margin,
        findings,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "path:   {}", self.path)?;
        writeln!(f, "margin: {}", humantime::format_duration(self.margin))?;
        for finding in &self.findings {
            writeln!(f)?;
            writeln!(
                f,
                "{:<8} {}  [{}]",
                finding.severity.to_string().to_uppercase(),
                finding.rule.name(),
                finding.hops.join(", ")
            )?;
            writeln!(f, "         {}", finding.problem)?;
            let values = finding
                .values
                .iter()
                .map(|(k, v)| format!("{k} = {}", humantime::format_duration(*v)))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(f, "         values: {values}")?;
            writeln!(f, "         fix:    {}", finding.fix)?;
        }
        writeln!(f)?;
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        write!(
            f,
            "{}, {}",
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning")
        )?;
        if self.findings.is_empty() {
            write!(f, ": the timeouts are aligned")?;
        }
        Ok(())
    }
}
