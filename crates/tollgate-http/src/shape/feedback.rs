use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::{HeaderMap, Response, StatusCode};
use tollgate_leaky::{Feedback, Signal, Verdict};

use super::TrailerFeedback;
use crate::body::WatchedBody;
use crate::{grpc, Protocol};

/// Reads server pushback from HTTP and gRPC responses; see the [module docs](super).
///
/// What the head says ([`signal_from_headers`]) is reported at once. A gRPC response
/// whose status is still to come (a normal one: `200` without `grpc-status`, the
/// status in the trailers) is reported when its trailers pass
/// ([`signal_from_trailers`]): the body is wrapped in the shared [`WatchedBody`] with a
/// [`TrailerFeedback`], so adaptive throttling counts a call `OK` in its trailers as
/// accepted and one `RESOURCE_EXHAUSTED` in its trailers as throttled. A body that ends
/// without trailers (a failure, the caller went away) says nothing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tollgate_core::ConfigError> {
/// use std::time::Duration;
/// use http_body_util::{BodyExt, Full};
/// use tollgate_core::{Quota, TokioClock};
/// use tollgate_http::grpc;
/// use tollgate_http::shape::HttpFeedback;
/// use tollgate_leaky::{ShapeLayer, Shaper};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let shaper = Shaper::builder(Quota::per_second(10).burst(1)?).clock(TokioClock::new()).build()?;
/// // A gRPC server: a reply, then RESOURCE_EXHAUSTED with a pushback in the trailers.
/// let server = service_fn(|_: ()| async {
///     let mut trailers = http::HeaderMap::new();
///     trailers.insert(grpc::STATUS, grpc::code_value(grpc::RESOURCE_EXHAUSTED));
///     trailers.insert(grpc::RETRY_PUSHBACK_MS, 1500.into());
///     let body = Full::new(bytes::Bytes::from_static(b"reply"))
///         .with_trailers(async move { Some(Ok(trailers)) });
///     let response = http::Response::builder().header("content-type", "application/grpc").body(body)?;
///     Ok::<_, http::Error>(response)
/// });
/// let client = ShapeLayer::new(shaper.clone()).feedback(HttpFeedback).layer(server);
/// let response = client.oneshot(()).await.unwrap();
/// assert_eq!(shaper.snapshot().paused_for, Duration::ZERO); // not yet
/// response.into_body().collect().await.unwrap();
/// assert_eq!(shaper.snapshot().paused_for, Duration::from_millis(1500));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpFeedback;

impl HttpFeedback {
    /// What a response's head says (see [`signal_from_headers`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate_http::shape::HttpFeedback;
    /// use tollgate_leaky::Signal;
    ///
    /// let busy = http::Response::builder().status(503).header("retry-after", "7").body(()).unwrap();
    /// assert_eq!(
    ///     HttpFeedback.signal(&busy),
    ///     Signal::Throttled { retry_after: Some(Duration::from_secs(7)) }
    /// );
    /// assert_eq!(HttpFeedback.signal(&http::Response::new(())), Signal::Accepted);
    /// ```
    pub fn signal<B>(&self, response: &Response<B>) -> Signal {
        signal_from_headers(response.status(), response.headers())
    }
}

impl<B> Feedback<Response<B>> for HttpFeedback {
    type Response = Response<WatchedBody<B, TrailerFeedback>>;

    fn observe(&self, response: Response<B>, verdict: Verdict<'_>) -> Self::Response {
        if status_in_trailers(response.status(), response.headers()) {
            let watch = TrailerFeedback::new(verdict.defer());
            return response.map(|body| WatchedBody::new(body, watch));
        }
        verdict.report(self.signal(&response));
        response.map(WatchedBody::unwatched)
    }

    fn refused(&self, response: Response<B>) -> Self::Response {
        response.map(WatchedBody::unwatched)
    }
}

/// A gRPC response whose status comes in the trailers: `200`, no `grpc-status` in the
/// head.
fn status_in_trailers(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::OK
        && !headers.contains_key(grpc::STATUS)
        && Protocol::of_headers(headers) == Protocol::Grpc
}

/// What a response head says: `429`/`503` (+ `Retry-After` or `RateLimit` reset),
/// a trailers-only gRPC `RESOURCE_EXHAUSTED` (+ `grpc-retry-pushback-ms`), or a
/// `RateLimit` header with remaining 0 on an accepted call.
///
/// ```
/// use std::time::Duration;
/// use http::{HeaderMap, StatusCode};
/// use tollgate_http::shape::signal_from_headers;
/// use tollgate_leaky::Signal;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("ratelimit", "\"default\";r=0;t=12".parse().unwrap());
/// assert_eq!(
///     signal_from_headers(StatusCode::OK, &headers),
///     Signal::Exhausted { reset: Duration::from_secs(12) }
/// );
/// // Malformed values are ignored.
/// headers.insert("ratelimit", "r=zero;t=-1".parse().unwrap());
/// assert_eq!(signal_from_headers(StatusCode::OK, &headers), Signal::Accepted);
/// ```
pub fn signal_from_headers(status: StatusCode, headers: &HeaderMap) -> Signal {
    if let Some(signal) = grpc_signal(headers) {
        return signal;
    }
    if status_in_trailers(status, headers) {
        // The gRPC status comes in the trailers: `HttpFeedback` reads them.
        return Signal::Ignored;
    }
    let exhausted = ratelimit_exhausted(headers);
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        let retry_after = retry_after(headers, SystemTime::now()).or(exhausted);
        return Signal::Throttled { retry_after };
    }
    match exhausted {
        Some(reset) if !reset.is_zero() => Signal::Exhausted { reset },
        _ => Signal::Accepted,
    }
}

/// What a gRPC response's trailers say: `RESOURCE_EXHAUSTED` with
/// `grpc-retry-pushback-ms` is a pushback, any other status an accepted call;
/// [`HttpFeedback`] feeds it to the shaper as the body ends.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderMap;
/// use tollgate_http::grpc;
/// use tollgate_http::shape::signal_from_trailers;
/// use tollgate_leaky::Signal;
///
/// let mut trailers = HeaderMap::new();
/// trailers.insert(grpc::STATUS, grpc::code_value(grpc::RESOURCE_EXHAUSTED));
/// trailers.insert(grpc::RETRY_PUSHBACK_MS, 250.into());
/// assert_eq!(
///     signal_from_trailers(&trailers),
///     Signal::Throttled { retry_after: Some(Duration::from_millis(250)) }
/// );
/// trailers.insert(grpc::STATUS, grpc::code_value(grpc::OK));
/// assert_eq!(signal_from_trailers(&trailers), Signal::Accepted);
/// ```
pub fn signal_from_trailers(trailers: &HeaderMap) -> Signal {
    grpc_signal(trailers).unwrap_or(Signal::Ignored)
}

/// `None` when there is no `grpc-status` (not gRPC, or status still to come).
fn grpc_signal(headers: &HeaderMap) -> Option<Signal> {
    // A status that is present but not a number says nothing of capacity: accepted,
    // as before the shared vocabulary read it.
    headers.get(grpc::STATUS)?;
    if grpc::status(headers) != Some(grpc::RESOURCE_EXHAUSTED) {
        return Some(Signal::Accepted);
    }
    // gRPC A6: a negative or unparsable pushback means "do not retry": we have no pause
    // to apply, so it counts only as a refusal.
    let retry_after = headers
        .get(grpc::RETRY_PUSHBACK_MS)
        .and_then(|v| parse_u64(v.as_bytes()))
        .map(Duration::from_millis);
    Some(Signal::Throttled { retry_after })
}

/// `Retry-After`: delta-seconds, or an HTTP-date measured against `now`.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?;
    if let Some(seconds) = parse_u64(value.as_bytes()) {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value.to_str().ok()?).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The reset time when an IETF `RateLimit` header says the remaining quota is 0.
///
/// Reads the draft's current form (`RateLimit: "policy";r=0;t=30`, several policies
/// separated by commas), the earlier combined form (`RateLimit: limit=10, remaining=0,
/// reset=30`) and the separate fields (`RateLimit-Remaining: 0`, `RateLimit-Reset: 30`).
fn ratelimit_exhausted(headers: &HeaderMap) -> Option<Duration> {
    if let Some(value) = headers.get("ratelimit").and_then(|v| v.to_str().ok()) {
        let mut any_reset = None;
        let mut exhausted = false;
        let mut exhausted_reset = None;
        for item in value.split(',') {
            let (mut remaining, mut reset) = (None, None);
            for param in item.split(';') {
                let Some((key, val)) = param.split_once('=') else {
                    continue;
                };
                let val = parse_u64(val.trim().trim_matches('"').as_bytes());
                match key.trim() {
                    "r" | "remaining" => remaining = val,
                    "t" | "reset" => reset = val,
                    _ => {}
                }
            }
            any_reset = any_reset.max(reset);
            if remaining == Some(0) {
                exhausted = true;
                exhausted_reset = exhausted_reset.max(reset);
            }
        }
        if exhausted {
            return exhausted_reset.or(any_reset).map(Duration::from_secs);
        }
    }
    let remaining = headers.get("ratelimit-remaining")?;
    if parse_u64(remaining.as_bytes()) != Some(0) {
        return None;
    }
    let reset = headers.get("ratelimit-reset")?;
    parse_u64(reset.as_bytes()).map(Duration::from_secs)
}

/// A non-negative decimal integer, ASCII digits only; `None` for anything else.
fn parse_u64(bytes: &[u8]) -> Option<u64> {
    let bytes = bytes.trim_ascii();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<K: Clone + http::header::IntoHeaderName>(pairs: &[(K, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(k.clone(), v.parse().unwrap());
        }
        map
    }

    fn code(code: u8) -> String {
        code.to_string()
    }

    fn throttled(secs: u64) -> Signal {
        Signal::Throttled {
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let h = headers(&[("retry-after", "3")]);
        assert_eq!(
            signal_from_headers(StatusCode::TOO_MANY_REQUESTS, &h),
            throttled(3)
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        let h = headers(&[("retry-after", &date)]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(90)));
        // A date in the past means "now".
        assert_eq!(
            retry_after(&h, now + Duration::from_secs(100)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn malformed_values_are_ignored() {
        for bad in ["", "-1", "1.5", "soon", "99999999999999999999999", " 1 2"] {
            let h = headers(&[(RETRY_AFTER, bad), (grpc::RETRY_PUSHBACK_MS, bad)]);
            assert_eq!(
                signal_from_headers(StatusCode::SERVICE_UNAVAILABLE, &h),
                Signal::Throttled { retry_after: None },
                "{bad:?}"
            );
            let h = headers(&[("ratelimit", bad), ("ratelimit-remaining", bad)]);
            assert_eq!(
                signal_from_headers(StatusCode::OK, &h),
                Signal::Accepted,
                "{bad:?}"
            );
        }
        // Non-UTF-8 bytes, too.
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        h.insert(
            "ratelimit",
            http::HeaderValue::from_bytes(b"r=0;t=\xff").unwrap(),
        );
        assert_eq!(
            signal_from_headers(StatusCode::TOO_MANY_REQUESTS, &h),
            Signal::Throttled { retry_after: None }
        );
    }

    #[test]
    fn every_ratelimit_form_is_read() {
        let forms: [&[(&'static str, &str)]; 4] = [
            &[("ratelimit", "\"default\";r=0;t=5")],
            &[("ratelimit", "\"burst\";r=3;t=1, \"daily\";r=0;t=5")],
            &[("ratelimit", "limit=10, remaining=0, reset=5")],
            &[("ratelimit-remaining", "0"), ("ratelimit-reset", "5")],
        ];
        for form in forms {
            let h = headers(form);
            assert_eq!(
                signal_from_headers(StatusCode::OK, &h),
                Signal::Exhausted {
                    reset: Duration::from_secs(5)
                },
                "{form:?}"
            );
            // On a 429 without Retry-After the reset is the pause.
            assert_eq!(
                signal_from_headers(StatusCode::TOO_MANY_REQUESTS, &h),
                throttled(5)
            );
        }
        let h = headers(&[("ratelimit", "\"default\";r=7;t=5")]);
        assert_eq!(signal_from_headers(StatusCode::OK, &h), Signal::Accepted);
    }

    #[test]
    fn grpc_resource_exhausted_in_headers() {
        let exhausted = code(grpc::RESOURCE_EXHAUSTED);
        let h = headers(&[
            (grpc::STATUS, &*exhausted),
            (grpc::RETRY_PUSHBACK_MS, "1500"),
        ]);
        assert_eq!(
            signal_from_headers(StatusCode::OK, &h),
            Signal::Throttled {
                retry_after: Some(Duration::from_millis(1500))
            }
        );
        let h = headers(&[(grpc::STATUS, &*code(grpc::UNAVAILABLE))]);
        assert_eq!(signal_from_headers(StatusCode::OK, &h), Signal::Accepted);
        // Without a pushback, a refusal with nothing to wait for.
        let h = headers(&[(grpc::STATUS, &*exhausted)]);
        assert_eq!(
            signal_from_headers(StatusCode::OK, &h),
            Signal::Throttled { retry_after: None }
        );
        // A gRPC response whose status is still to come in the trailers.
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, grpc::CONTENT_TYPE);
        assert_eq!(signal_from_headers(StatusCode::OK, &h), Signal::Ignored);
        assert_eq!(signal_from_trailers(&HeaderMap::new()), Signal::Ignored);
    }

    #[test]
    fn retry_after_wins_over_ratelimit_reset() {
        let h = headers(&[("retry-after", "2"), ("ratelimit", "r=0;t=9")]);
        assert_eq!(
            signal_from_headers(StatusCode::TOO_MANY_REQUESTS, &h),
            throttled(2)
        );
    }
}
