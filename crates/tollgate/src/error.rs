//! Why a stack or a config file was refused, and what the checker warned about.

use std::fmt;

use tollgate_core::ConfigError;
use tollgate_deadline::checker::{Finding, Report, Severity};

/// A value in a config file (or given to a stack builder) that broke its rule, named by
/// its key path: `server.rate_limit.per_key.burst: must be at least 1`.
///
/// ```
/// let err = tollgate::Config::from_toml("[server.rate_limit]\nkey = \"global\"\nper_key = { count = 5, burst = 0 }")
///     .unwrap_err();
/// assert_eq!(err.to_string(), "server.rate_limit.per_key.burst: must be at least 1");
/// assert_eq!(err.path(), "server.rate_limit.per_key.burst");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileError {
    path: String,
    rule: String,
}

impl ConfigFileError {
    /// An error at `path` (dotted keys), breaking `rule`.
    pub fn new(path: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            rule: rule.into(),
        }
    }

    /// A builder's error, its field placed under `prefix` (`server.breaker` + `open_wait`).
    pub(crate) fn under(prefix: &str, error: &ConfigError) -> Self {
        Self::new(join(prefix, error.field()), error.rule())
    }

    /// The dotted key path of the value (empty for the file as a whole).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The rule it broke.
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.rule)
        } else {
            write!(f, "{}: {}", self.path, self.rule)
        }
    }
}

impl std::error::Error for ConfigFileError {}

/// Why a stack did not build (or a reload was refused, the running stack kept).
///
/// ```
/// use std::time::Duration;
/// use tollgate::deadline::{DeadlinePolicy, TimeoutPolicy};
/// use tollgate::{ServerStack, StackError};
///
/// // The handler may run 10 s, but requests get at most 2 s: misaligned.
/// let err = ServerStack::builder()
///     .deadline(DeadlinePolicy::builder().max(Duration::from_secs(2)).build()?)
///     .timeout(TimeoutPolicy::per_try(Duration::from_secs(10))?)
///     .build()
///     .unwrap_err();
/// let StackError::Misaligned(report) = &err else { panic!("{err}") };
/// assert_eq!(report.findings()[0].rule.name(), "inner-timeout-exceeds-outer");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StackError {
    /// A value broke its rule.
    Invalid(ConfigFileError),
    /// The timeout checker found errors along the stack: its whole report.
    Misaligned(Report),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::Invalid(e) => e.fmt(f),
            StackError::Misaligned(report) => write!(f, "misaligned timeouts:\n{report}"),
        }
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StackError::Invalid(e) => Some(e),
            StackError::Misaligned(_) => None,
        }
    }
}

impl From<ConfigFileError> for StackError {
    fn from(e: ConfigFileError) -> Self {
        StackError::Invalid(e)
    }
}

/// What the checker warned about in a stack that built: log them.
///
/// ```
/// use std::time::Duration;
/// use tollgate::breaker::{Breaker, Window};
/// use tollgate::deadline::TimeoutPolicy;
/// use tollgate::ServerStack;
///
/// // A 1 s breaker window cannot judge 2 s calls.
/// let (_stack, warnings) = ServerStack::builder()
///     .breaker(Breaker::builder().failure_rate(50.0)
///         .window(Window::Time { length: Duration::from_secs(1), buckets: 10 }).build()?)
///     .timeout(TimeoutPolicy::per_try(Duration::from_secs(2))?)
///     .build()?;
/// assert_eq!(warnings.findings()[0].rule.name(), "breaker-window-too-short");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Warnings {
    findings: Vec<Finding>,
}

impl Warnings {
    /// The warnings: none is an error.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for Warnings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.findings.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "warning {}: {} (fix: {})",
                w.rule.name(),
                w.problem,
                w.fix
            )?;
        }
        Ok(())
    }
}

/// Errors fail the build with the whole report; warnings come back.
pub(crate) fn judge(report: Report) -> Result<Warnings, StackError> {
    if report.has_errors() {
        return Err(StackError::Misaligned(report));
    }
    Ok(Warnings {
        findings: report
            .findings()
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .cloned()
            .collect(),
    })
}
