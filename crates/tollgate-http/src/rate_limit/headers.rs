use std::time::Duration;

use bytes::BufMut;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use tollgate_bucket::Admitted;
use tollgate_core::{Policy, Rejection};

use crate::header_value::header_value;
use crate::retry_after_seconds;

/// The `RateLimit-Policy` header: the quota policy, `"name";q=<quota>;w=<window seconds>`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` header: what is left, `"name";r=<remaining>;t=<seconds>`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The largest Integer a structured field can carry (RFC 9651, 15 digits).
const SF_INTEGER_MAX: u64 = 999_999_999_999_999;

/// The policy name when the limiter has none.
const DEFAULT_NAME: &str = "default";

// The IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers-11), in their
// structured-field form:
//
//     RateLimit-Policy: "default";q=100;w=60
//     RateLimit: "default";r=0;t=3
//
// - `RateLimit-Policy` names the policy and gives its quota `q` (requests) per window
//   `w` (seconds). The token bucket's rate is stated exactly when its period is whole
//   seconds; otherwise it is restated over the period rounded up to whole seconds,
//   with the quota rounded down, so the header never promises more than is granted
//   (5 per 100 ms is `q=50;w=1`). The burst is not part of the draft's vocabulary.
// - `RateLimit` gives the requests `r` admissible right now and `t`, the seconds until
//   the bucket is full again (on an admitted response) or until a retry can succeed
//   (on a rejection, where `r=0` and `t` equals `Retry-After`). Seconds round up.
//
// Values above the structured-field maximum are clamped to it.

/// The `RateLimit-Policy` value for `policy`, named `name` (`"default"` when `None`).
/// See the [module docs](super) for the format.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::Policy;
/// use tollgate_http::rate_limit::policy_value;
///
/// let policy = Policy::new(100, Duration::from_secs(60));
/// assert_eq!(policy_value(Some("api"), policy), "\"api\";q=100;w=60");
/// assert_eq!(policy_value(None, Policy::new(5, Duration::from_millis(100))), "\"default\";q=50;w=1");
/// ```
pub fn policy_value(name: Option<&str>, policy: Policy) -> HeaderValue {
    let (quota, window) = whole_seconds(policy);
    value(name, [(";q=", quota), (";w=", window)])
}

/// The `RateLimit` value for `remaining` requests and `seconds` (rounded up), named
/// `name` (`"default"` when `None`).
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::rate_limit::limit_value;
///
/// assert_eq!(limit_value(Some("api"), 7, Duration::from_millis(2500)), "\"api\";r=7;t=3");
/// ```
pub fn limit_value(name: Option<&str>, remaining: u64, seconds: Duration) -> HeaderValue {
    let remaining = remaining.min(SF_INTEGER_MAX);
    let t = retry_after_seconds(seconds).min(SF_INTEGER_MAX);
    value(name, [(";r=", remaining), (";t=", t)])
}

/// Inserts both headers for a rejection that names the policy it was measured against
/// (`r=0`, and `t` is the retry-after when known); a rejection without a policy gets
/// none. The policy name is the rejection's [`name`](Rejection::name), `"default"` when
/// it has none. [`DefaultResponder`](crate::DefaultResponder) calls it for every HTTP
/// refusal; a custom responder may too.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Policy, Reason, Rejection};
/// use tollgate_http::rate_limit::insert_rejected;
///
/// let rejection = Rejection::new(Reason::RateLimited)
///     .with_name("per-ip")
///     .with_policy(Policy::new(10, Duration::from_secs(1)))
///     .with_retry_after(Duration::from_millis(1100));
/// let mut headers = http::HeaderMap::new();
/// insert_rejected(&mut headers, &rejection);
/// assert_eq!(headers["ratelimit-policy"], "\"per-ip\";q=10;w=1");
/// assert_eq!(headers["ratelimit"], "\"per-ip\";r=0;t=2");
/// ```
pub fn insert_rejected(headers: &mut HeaderMap, rejection: &Rejection) {
    let Some(policy) = rejection.policy() else {
        return;
    };
    let name = rejection.name();
    headers.insert(RATELIMIT_POLICY, policy_value(name, policy));
    let limit = match rejection.retry_after() {
        Some(wait) => limit_value(name, 0, wait),
        None => value(name, [(";r=", 0)]),
    };
    headers.insert(RATELIMIT, limit);
}

/// Inserts both headers for an admitted request: what is left and when the bucket is
/// full again. [`AdmittedHeaders`](super::AdmittedHeaders) writes the same values.
///
/// ```
/// use tollgate_bucket::{Quota, RateLimiter};
/// use tollgate_core::ManualClock;
/// use tollgate_http::rate_limit::insert_admitted;
///
/// let limiter = RateLimiter::builder(Quota::per_minute(6).build()?)
///     .clock(ManualClock::new())
///     .build()?;
/// let admitted = limiter.check().unwrap();
/// let mut headers = http::HeaderMap::new();
/// insert_admitted(&mut headers, limiter.name(), &admitted);
/// assert_eq!(headers["ratelimit-policy"], "\"default\";q=6;w=60");
/// assert_eq!(headers["ratelimit"], "\"default\";r=5;t=10");
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
pub fn insert_admitted(headers: &mut HeaderMap, name: Option<&str>, admitted: &Admitted) {
    headers.insert(RATELIMIT_POLICY, policy_value(name, admitted.policy()));
    headers.insert(RATELIMIT, admitted_limit_value(name, admitted));
}

/// The `RateLimit` value of an admitted request.
pub(crate) fn admitted_limit_value(name: Option<&str>, admitted: &Admitted) -> HeaderValue {
    limit_value(name, u64::from(admitted.remaining()), admitted.reset())
}

/// `"name"` then each parameter and its integer (`;r=5`). A name that is not printable
/// ASCII (which the limiters' builders refuse) cannot be a structured-field String: it
/// is stated as `"default"`.
fn value<const N: usize>(name: Option<&str>, parameters: [(&str, u64); N]) -> HeaderValue {
    let name = name
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        .unwrap_or(DEFAULT_NAME);
    header_value(|text| {
        text.put_u8(b'"');
        for b in name.bytes() {
            if b == b'"' || b == b'\\' {
                text.put_u8(b'\\');
            }
            text.put_u8(b);
        }
        text.put_u8(b'"');
        let mut digits = itoa::Buffer::new();
        for (parameter, n) in parameters {
            text.put_slice(parameter.as_bytes());
            text.put_slice(digits.format(n).as_bytes());
        }
    })
    // The name is printable ASCII and the rest is digits and `;=`.
    .unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
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
    use tollgate_bucket::Quota;
    use tollgate_core::{Reason, Timestamp};

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
        for (policy, want) in cases {
            assert_eq!(policy_value(None, policy), want, "{policy:?}");
        }
    }

    #[test]
    fn names_are_serialized_as_structured_strings() {
        assert_eq!(
            limit_value(Some(r#"per "key" \ tier"#), 1, secs(1)),
            r#""per \"key\" \\ tier";r=1;t=1"#
        );
        // What a structured-field String cannot hold is stated as the default name.
        for bad in ["", "tab\there", "new\nline", "caf\u{e9}"] {
            assert_eq!(
                limit_value(Some(bad), 1, secs(1)),
                "\"default\";r=1;t=1",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_name_and_the_policy_shape_the_policy_value() {
        let p = Policy::new(10, secs(1));
        assert_eq!(policy_value(None, p), "\"default\";q=10;w=1");
        assert_eq!(policy_value(Some("tier"), p), "\"tier\";q=10;w=1");
        assert_eq!(
            policy_value(Some("tier"), Policy::new(5, secs(1))),
            "\"tier\";q=5;w=1"
        );
    }

    #[test]
    fn limit_rounds_seconds_up_and_clamps() {
        assert_eq!(
            limit_value(None, 0, Duration::from_nanos(1)),
            "\"default\";r=0;t=1"
        );
        assert_eq!(limit_value(None, 3, secs(2)), "\"default\";r=3;t=2");
        assert_eq!(limit_value(None, 3, Duration::ZERO), "\"default\";r=3;t=0");
        assert_eq!(
            limit_value(None, u64::MAX, Duration::MAX),
            "\"default\";r=999999999999999;t=999999999999999"
        );
    }

    #[test]
    fn rejections_carry_headers_matching_retry_after() {
        let policy = Policy::new(10, secs(1));
        let mut map = HeaderMap::new();
        let limited = Rejection::new(Reason::RateLimited)
            .with_policy(policy)
            .with_retry_after(Duration::from_millis(1100));
        insert_rejected(&mut map, &limited);
        assert_eq!(map[RATELIMIT_POLICY], "\"default\";q=10;w=1");
        assert_eq!(map[RATELIMIT], "\"default\";r=0;t=2");

        let mut map = HeaderMap::new();
        insert_rejected(
            &mut map,
            &Rejection::new(Reason::OverCapacity)
                .with_policy(policy)
                .with_name("big"),
        );
        assert_eq!(map[RATELIMIT], "\"big\";r=0");
        assert_eq!(map[RATELIMIT_POLICY], "\"big\";q=10;w=1");

        // No policy: nothing.
        let mut map = HeaderMap::new();
        insert_rejected(&mut map, &Rejection::new(Reason::MissingKey));
        assert!(map.is_empty());
    }

    #[test]
    fn admitted_headers_state_what_is_left() {
        let quota = Quota::per_second(10).burst(5).unwrap();
        let now = Timestamp::ZERO;
        let admitted = Admitted::from_tat(quota, now, now + Duration::from_millis(100));
        let mut map = HeaderMap::new();
        insert_admitted(&mut map, Some("api"), &admitted);
        assert_eq!(map[RATELIMIT_POLICY], "\"api\";q=10;w=1");
        assert_eq!(map[RATELIMIT], "\"api\";r=4;t=1");
    }
}
