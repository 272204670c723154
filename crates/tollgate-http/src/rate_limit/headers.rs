use std::fmt::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use tollgate_core::{ConfigError, Policy, Rejection};

use crate::retry_after_seconds;

/// The `RateLimit-Policy` header: the quota policy, `"name";q=<quota>;w=<window seconds>`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` header: what is left, `"name";r=<remaining>;t=<seconds>`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The largest Integer a structured field can carry (RFC 9651, 15 digits).
const SF_INTEGER_MAX: u64 = 999_999_999_999_999;

/// The IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers-11), in their
/// structured-field form:
///
/// ```text
/// RateLimit-Policy: "default";q=100;w=60
/// RateLimit: "default";r=0;t=3
/// ```
///
/// - `RateLimit-Policy` names the policy and gives its quota `q` (requests) per window
///   `w` (seconds). The token bucket's rate is stated exactly when its period is whole
///   seconds; otherwise it is restated over the period rounded up to whole seconds,
///   with the quota rounded down, so the header never promises more than is granted
///   (5 per 100 ms is `q=50;w=1`). The burst is not part of the draft's vocabulary.
/// - `RateLimit` gives the requests `r` admissible right now and `t`, the seconds until
///   the bucket is full again (on an admitted response) or until a retry can succeed
///   (on a rejection, where `r=0` and `t` equals `Retry-After`). Seconds round up.
///
/// Both are sent on rejections by default; admitted responses carry them when
/// [`on_admitted`](RateLimitHeaders::on_admitted) is set. Values above the
/// structured-field maximum are clamped to it.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::Policy;
/// use tollgate_http::rate_limit::RateLimitHeaders;
///
/// let headers = RateLimitHeaders::new().policy_name("api")?.on_admitted(true);
/// let policy = Policy::new(100, Duration::from_secs(60));
/// assert_eq!(headers.policy_value(policy), "\"api\";q=100;w=60");
/// assert_eq!(headers.limit_value(7, Duration::from_millis(2500)), "\"api\";r=7;t=3");
/// assert!(RateLimitHeaders::new().policy_name("caf\u{e9}").is_err());
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitHeaders {
    /// The policy name as a serialized structured-field String, quotes included.
    name: Arc<str>,
    on_rejected: bool,
    on_admitted: bool,
    /// The `RateLimit-Policy` value of the first policy seen: almost every response
    /// states the same policy, so it is formatted once.
    policy_cache: Arc<OnceLock<(Policy, HeaderValue)>>,
}

impl RateLimitHeaders {
    /// Policy `"default"`, sent on rejections only.
    pub fn new() -> Self {
        Self {
            name: Arc::from("\"default\""),
            on_rejected: true,
            on_admitted: false,
            policy_cache: Arc::default(),
        }
    }

    /// No rate-limit headers at all (`Retry-After` is still sent on rejections).
    pub fn disabled() -> Self {
        Self {
            on_rejected: false,
            ..Self::new()
        }
    }

    /// Names the policy. A structured-field String holds printable ASCII only; an
    /// empty or non-printable name is an error naming `policy_name`.
    pub fn policy_name(mut self, name: &str) -> Result<Self, ConfigError> {
        if name.is_empty() {
            return Err(ConfigError::new("policy_name", "must not be empty"));
        }
        if !name.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(ConfigError::new(
                "policy_name",
                "must be printable ASCII (0x20 to 0x7E)",
            ));
        }
        let mut quoted = String::with_capacity(name.len() + 2);
        quoted.push('"');
        for c in name.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        self.name = Arc::from(quoted);
        self.policy_cache = Arc::default();
        Ok(self)
    }

    /// Whether rejections carry the headers (default `true`).
    pub fn on_rejected(mut self, yes: bool) -> Self {
        self.on_rejected = yes;
        self
    }

    /// Whether admitted responses carry the headers (default `false`).
    pub fn on_admitted(mut self, yes: bool) -> Self {
        self.on_admitted = yes;
        self
    }

    /// Whether admitted responses carry the headers.
    pub fn is_on_admitted(&self) -> bool {
        self.on_admitted
    }

    /// Whether rejections carry the headers.
    pub fn is_on_rejected(&self) -> bool {
        self.on_rejected
    }

    /// The `RateLimit-Policy` value for `policy`.
    pub fn policy_value(&self, policy: Policy) -> HeaderValue {
        if let Some((cached, value)) = self.policy_cache.get() {
            if *cached == policy {
                return value.clone();
            }
        }
        let (quota, window) = whole_seconds(policy);
        let value = self.value(format_args!("{};q={quota};w={window}", self.name));
        // Losing a race to set it is fine: the winner's value is as good.
        let _ = self.policy_cache.set((policy, value.clone()));
        value
    }

    /// The `RateLimit` value for `remaining` requests and `seconds`, rounded up.
    pub fn limit_value(&self, remaining: u64, seconds: Duration) -> HeaderValue {
        let remaining = remaining.min(SF_INTEGER_MAX);
        let t = retry_after_seconds(seconds).min(SF_INTEGER_MAX);
        self.value(format_args!("{};r={remaining};t={t}", self.name))
    }

    /// Inserts both headers for an admitted request, if enabled for admitted responses.
    pub fn insert_admitted(
        &self,
        headers: &mut HeaderMap,
        policy: Policy,
        remaining: u64,
        reset: Duration,
    ) {
        if self.on_admitted {
            headers.insert(RATELIMIT_POLICY, self.policy_value(policy));
            headers.insert(RATELIMIT, self.limit_value(remaining, reset));
        }
    }

    /// Inserts both headers for a rejection, if enabled for rejections and the
    /// rejection names the policy it was measured against (`r=0`, and `t` is the
    /// retry-after when known).
    pub fn insert_rejected(&self, headers: &mut HeaderMap, rejection: &Rejection) {
        let Some(policy) = rejection.policy().filter(|_| self.on_rejected) else {
            return;
        };
        headers.insert(RATELIMIT_POLICY, self.policy_value(policy));
        let limit = match rejection.retry_after() {
            Some(wait) => self.limit_value(0, wait),
            None => self.value(format_args!("{};r=0", self.name)),
        };
        headers.insert(RATELIMIT, limit);
    }

    fn value(&self, args: std::fmt::Arguments<'_>) -> HeaderValue {
        let mut text = String::with_capacity(self.name.len() + 24);
        // Writing to a String cannot fail.
        let _ = text.write_fmt(args);
        // The name is checked printable ASCII and the rest is digits and `;=`.
        HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
    }
}

impl Default for RateLimitHeaders {
    fn default() -> Self {
        Self::new()
    }
}

/// `(q, w)`: the policy restated over whole seconds, never promising more than it grants.
fn whole_seconds(policy: Policy) -> (u64, u64) {
    let window = policy.window();
    let limit = policy.limit();
    if window.subsec_nanos() == 0 && window.as_secs() > 0 {
        return (
            limit.min(SF_INTEGER_MAX),
            window.as_secs().min(SF_INTEGER_MAX),
        );
    }
    let w = retry_after_seconds(window).max(1);
    let nanos = window.as_nanos().max(1);
    let q = u128::from(limit) * u128::from(w) * 1_000_000_000 / nanos;
    (
        u64::try_from(q).unwrap_or(u64::MAX).min(SF_INTEGER_MAX),
        w.min(SF_INTEGER_MAX),
    )
}

#[cfg(test)]
mod tests {
    use tollgate_core::Reason;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn policy_is_stated_in_whole_seconds_never_over_promising() {
        let cases = [
            (Policy::new(100, secs(60)), "\"default\";q=100;w=60"),
            (
                Policy::new(5, Duration::from_millis(100)),
                "\"default\";q=50;w=1",
            ),
            (
                Policy::new(3, Duration::from_millis(1500)),
                "\"default\";q=4;w=2",
            ),
            (
                Policy::new(1, Duration::from_nanos(1)),
                "\"default\";q=1000000000;w=1",
            ),
            (
                Policy::new(u64::MAX, secs(u64::MAX)),
                "\"default\";q=999999999999999;w=999999999999999",
            ),
            // Degenerate: a zero window is read as one nanosecond, never a division by zero.
            (
                Policy::new(7, Duration::ZERO),
                "\"default\";q=7000000000;w=1",
            ),
        ];
        let h = RateLimitHeaders::new();
        for (policy, want) in cases {
            assert_eq!(h.policy_value(policy), want, "{policy:?}");
        }
    }

    #[test]
    fn names_are_serialized_as_structured_strings() {
        let h = RateLimitHeaders::new()
            .policy_name(r#"per "key" \ tier"#)
            .unwrap();
        assert_eq!(
            h.limit_value(1, secs(1)),
            r#""per \"key\" \\ tier";r=1;t=1"#
        );
        for bad in ["", "tab\there", "new\nline", "caf\u{e9}"] {
            let err = RateLimitHeaders::new().policy_name(bad).unwrap_err();
            assert_eq!(err.field(), "policy_name", "{bad:?}");
        }
    }

    #[test]
    fn the_cached_policy_value_follows_the_name_and_the_policy() {
        let h = RateLimitHeaders::new();
        let p = Policy::new(10, secs(1));
        assert_eq!(h.policy_value(p), "\"default\";q=10;w=1");
        assert_eq!(h.policy_value(p), "\"default\";q=10;w=1");
        assert_eq!(
            h.policy_value(Policy::new(5, secs(1))),
            "\"default\";q=5;w=1"
        );
        let renamed = h.clone().policy_name("tier").unwrap();
        assert_eq!(renamed.policy_value(p), "\"tier\";q=10;w=1");
        assert_eq!(h.policy_value(p), "\"default\";q=10;w=1");
    }

    #[test]
    fn limit_rounds_seconds_up_and_clamps() {
        let h = RateLimitHeaders::new();
        assert_eq!(
            h.limit_value(0, Duration::from_nanos(1)),
            "\"default\";r=0;t=1"
        );
        assert_eq!(h.limit_value(3, secs(2)), "\"default\";r=3;t=2");
        assert_eq!(h.limit_value(3, Duration::ZERO), "\"default\";r=3;t=0");
        assert_eq!(
            h.limit_value(u64::MAX, Duration::MAX),
            "\"default\";r=999999999999999;t=999999999999999"
        );
    }

    #[test]
    fn rejections_carry_headers_matching_retry_after() {
        let h = RateLimitHeaders::new();
        let policy = Policy::new(10, secs(1));
        let mut map = HeaderMap::new();
        let limited = Rejection::new(Reason::RateLimited)
            .with_policy(policy)
            .with_retry_after(Duration::from_millis(1100));
        h.insert_rejected(&mut map, &limited);
        assert_eq!(map[RATELIMIT_POLICY], "\"default\";q=10;w=1");
        assert_eq!(map[RATELIMIT], "\"default\";r=0;t=2");

        let mut map = HeaderMap::new();
        h.insert_rejected(
            &mut map,
            &Rejection::new(Reason::OverCapacity).with_policy(policy),
        );
        assert_eq!(map[RATELIMIT], "\"default\";r=0");

        // No policy, or disabled: nothing.
        let mut map = HeaderMap::new();
        h.insert_rejected(&mut map, &Rejection::new(Reason::MissingKey));
        RateLimitHeaders::disabled().insert_rejected(&mut map, &limited);
        assert!(map.is_empty());
    }

    #[test]
    fn admitted_headers_only_when_enabled() {
        let policy = Policy::new(10, secs(1));
        let mut map = HeaderMap::new();
        RateLimitHeaders::new().insert_admitted(&mut map, policy, 4, secs(1));
        assert!(map.is_empty());
        let on = RateLimitHeaders::new().on_admitted(true);
        assert!(on.is_on_admitted() && on.is_on_rejected());
        on.insert_admitted(&mut map, policy, 4, Duration::from_millis(600));
        assert_eq!(map[RATELIMIT_POLICY], "\"default\";q=10;w=1");
        assert_eq!(map[RATELIMIT], "\"default\";r=4;t=1");
    }
}
