//! What admitted responses of a rate-limit layer are told: nothing by default,
//! the `RateLimit` headers with [`AdmittedHeaders`].

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use http::header::HeaderValue;
use http::Response;
use tollgate_bucket::{Admitted, OnAdmitted};
use tollgate_core::{Policy, Refuse};

use super::headers::{admitted_limit_value, policy_value, RATELIMIT, RATELIMIT_POLICY};
use crate::AsResponse;

/// Answers refusals as `R` does ([`AsResponse`] by default) and also writes
/// `RateLimit-Policy` and `RateLimit` on ADMITTED responses: what is left and when the
/// bucket is full again, named by the limiter's name (`"default"` when it has none).
///
/// Plug it into a `tollgate_bucket::RateLimitLayer` with `refuse_with`:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::convert::Infallible;
/// use tollgate_bucket::{Quota, RateLimitLayer, RateLimiter};
/// use tollgate_http::rate_limit::AdmittedHeaders;
/// use tower::{Layer, ServiceExt};
///
/// let limiter = RateLimiter::builder(Quota::per_second(10).burst(5)?).name("api").build()?;
/// let handler = tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, Infallible>(http::Response::new(String::new()))
/// });
/// let service = RateLimitLayer::new(limiter)
///     .refuse_with(AdmittedHeaders::new())
///     .layer(handler);
/// let response = service.oneshot(http::Request::new(())).await?;
/// assert_eq!(response.headers()["ratelimit-policy"], "\"api\";q=10;w=1");
/// assert_eq!(response.headers()["ratelimit"], "\"api\";r=4;t=1");
/// # Ok(())
/// # }
/// ```
///
/// Writing the headers costs one formatted value per admitted request and no
/// allocation (the policy's value is formatted once, the other is cut from a buffer
/// per thread); without this wrapper the admitted path does no header work at all.
#[derive(Debug, Clone, Default)]
pub struct AdmittedHeaders<R = AsResponse> {
    refuse: R,
    /// The `RateLimit-Policy` value of the first policy and name seen: almost every
    /// response states the same, so it is formatted once.
    policy_cache: Arc<OnceLock<CachedPolicy>>,
}

/// A policy, the name it was stated with, and its `RateLimit-Policy` value.
type CachedPolicy = (Policy, Option<Box<str>>, HeaderValue);

impl AdmittedHeaders {
    /// Refusals answered by [`AsResponse::new`], admitted responses told the headers.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<R> AdmittedHeaders<R> {
    /// Refusals answered by `refuse` (such as [`AsResponse::with`] a custom responder),
    /// admitted responses told the headers.
    ///
    /// ```
    /// use tollgate_core::{Reason, Refusal, Refuse, Rejection};
    /// use tollgate_http::rate_limit::AdmittedHeaders;
    /// use tollgate_http::{AsResponse, Protocol};
    ///
    /// let teapot = |_: &Rejection, _: Protocol| {
    ///     http::Response::builder().status(418).body(String::new()).unwrap()
    /// };
    /// let refuse = AdmittedHeaders::wrap(AsResponse::with(teapot));
    /// let refused: Result<http::Response<String>, std::convert::Infallible> =
    ///     refuse.prepare(&http::Request::new(())).refuse(Rejection::new(Reason::RateLimited));
    /// assert_eq!(refused.unwrap().status(), 418);
    /// ```
    pub fn wrap(refuse: R) -> Self {
        Self {
            refuse,
            policy_cache: Arc::default(),
        }
    }

    /// What refusals are answered with.
    pub fn inner(&self) -> &R {
        &self.refuse
    }

    fn policy_value(&self, name: Option<&str>, policy: Policy) -> HeaderValue {
        if let Some((cached, cached_name, value)) = self.policy_cache.get() {
            if *cached == policy && cached_name.as_deref() == name {
                return value.clone();
            }
        }
        let value = policy_value(name, policy);
        // Losing a race to set it is fine: the winner's value is as good.
        let _ = self
            .policy_cache
            .set((policy, name.map(Box::from), value.clone()));
        value
    }
}

impl<R: Refuse<Req>, Req> Refuse<Req> for AdmittedHeaders<R> {
    type Refusal = R::Refusal;

    #[inline]
    fn prepare(&self, request: &Req) -> R::Refusal {
        self.refuse.prepare(request)
    }
}

/// The two header values of an admitted response (`RateLimit-Policy`, `RateLimit`),
/// carried to the response: no allocation (the policy's value is shared, the other is
/// cut from a per-thread buffer).
#[derive(Debug)]
pub struct HeaderNote([HeaderValue; 2]);

impl<R, B> OnAdmitted<Response<B>> for AdmittedHeaders<R> {
    type Note = HeaderNote;

    fn note(&self, admitted: &Admitted, name: Option<&str>) -> Option<HeaderNote> {
        Some(HeaderNote([
            self.policy_value(name, admitted.policy()),
            admitted_limit_value(name, admitted),
        ]))
    }

    fn annotate(note: HeaderNote, response: &mut Response<B>) {
        let [policy, limit] = note.0;
        let headers = response.headers_mut();
        headers.insert(RATELIMIT_POLICY, policy);
        headers.insert(RATELIMIT, limit);
    }
}

/// Plain [`AsResponse`] tells admitted responses nothing: wrap it in
/// [`AdmittedHeaders`] for the headers.
impl<R, B> OnAdmitted<Response<B>> for AsResponse<R> {
    type Note = Infallible;

    #[inline(always)]
    fn note(&self, _: &Admitted, _: Option<&str>) -> Option<Infallible> {
        None
    }

    #[inline(always)]
    fn annotate(note: Infallible, _: &mut Response<B>) {
        match note {}
    }
}

/// `AsStatus` tells admitted responses nothing.
#[cfg(feature = "tonic")]
impl<Res> OnAdmitted<Res> for crate::AsStatus {
    type Note = Infallible;

    #[inline(always)]
    fn note(&self, _: &Admitted, _: Option<&str>) -> Option<Infallible> {
        None
    }

    #[inline(always)]
    fn annotate(note: Infallible, _: &mut Res) {
        match note {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tollgate_bucket::Quota;
    use tollgate_core::Timestamp;

    use super::*;

    #[test]
    fn the_cached_policy_value_follows_the_name_and_the_policy() {
        let headers = AdmittedHeaders::new();
        let p = Policy::new(10, Duration::from_secs(1));
        assert_eq!(headers.policy_value(None, p), "\"default\";q=10;w=1");
        assert_eq!(headers.policy_value(None, p), "\"default\";q=10;w=1");
        assert_eq!(
            headers.policy_value(None, Policy::new(5, Duration::from_secs(1))),
            "\"default\";q=5;w=1"
        );
        assert_eq!(headers.policy_value(Some("tier"), p), "\"tier\";q=10;w=1");
        assert_eq!(headers.policy_value(None, p), "\"default\";q=10;w=1");
    }

    #[test]
    fn admitted_headers_only_when_wrapped() {
        let quota = Quota::per_second(10).burst(5).unwrap();
        let now = Timestamp::ZERO;
        let admitted = Admitted::from_tat(quota, now, now + Duration::from_millis(600));
        assert!(OnAdmitted::<Response<()>>::note(&AsResponse::new(), &admitted, None).is_none());
        let on = AdmittedHeaders::new();
        let note = OnAdmitted::<Response<()>>::note(&on, &admitted, None).unwrap();
        let mut response = Response::new(());
        <AdmittedHeaders as OnAdmitted<Response<()>>>::annotate(note, &mut response);
        assert_eq!(response.headers()[RATELIMIT_POLICY], "\"default\";q=10;w=1");
        assert_eq!(response.headers()[RATELIMIT], "\"default\";r=0;t=1");
    }
}
