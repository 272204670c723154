use std::borrow::Cow;
use std::fmt;

/// A configuration value a builder refused: which field, and the rule it broke.
///
/// Every tollgate builder returns this instead of panicking on user input.
///
/// ```
/// use tollgate_core::ConfigError;
///
/// let err = ConfigError::new("burst", "must be at least 1");
/// assert_eq!(err.field(), "burst");
/// assert_eq!(err.to_string(), "invalid `burst`: must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    rule: Cow<'static, str>,
}

impl ConfigError {
    /// An error for `field`, saying which `rule` the value broke.
    pub fn new(field: &'static str, rule: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }

    /// The name of the refused field, as the builder method spells it.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rule the value broke.
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.rule)
    }
}

impl std::error::Error for ConfigError {}
