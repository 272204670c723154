//! Tracing events at target `tollgate::bucket`, with stable field names:
//! `reason`, `retry_after_ms` (absent when waiting cannot help), `quota_count`,
//! `quota_period_ms`, `burst`, and `key` only when the keyed limiter opted in.

use std::fmt;

use tollgate_core::Rejection;

use tollgate_core::Quota;

/// A rejection, without its key.
#[cold]
pub(crate) fn rejected(rejection: &Rejection, quota: &Quota) {
    tracing::debug!(
        target: "tollgate::bucket",
        reason = %rejection.reason(),
        retry_after_ms = rejection.retry_after().map(|d| d.as_secs_f64() * 1e3),
        quota_count = quota.count(),
        quota_period_ms = quota.period().as_secs_f64() * 1e3,
        burst = quota.burst(),
        "request rejected"
    );
}

/// A rejection, with the key the user allowed us to record.
#[cold]
pub(crate) fn rejected_key(rejection: &Rejection, quota: &Quota, key: &dyn fmt::Debug) {
    tracing::debug!(
        target: "tollgate::bucket",
        reason = %rejection.reason(),
        retry_after_ms = rejection.retry_after().map(|d| d.as_secs_f64() * 1e3),
        quota_count = quota.count(),
        quota_period_ms = quota.period().as_secs_f64() * 1e3,
        burst = quota.burst(),
        key = ?key,
        "request rejected"
    );
}
