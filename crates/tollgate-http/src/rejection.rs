use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use tollgate_core::{Reason, Rejection};

/// Which protocol a request speaks, so a rejection is answered in kind.
///
/// ```
/// use tollgate_http::Protocol;
///
/// let req = http::Request::builder()
///     .header("content-type", "application/grpc+proto")
///     .body(())
///     .unwrap();
/// assert_eq!(Protocol::of(&req), Protocol::Grpc);
/// assert_eq!(Protocol::of(&http::Request::new(())), Protocol::Http);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Plain HTTP: answered with a status code and `Retry-After`.
    Http,
    /// gRPC over HTTP/2: answered with a trailers-only response carrying `grpc-status`.
    Grpc,
}

impl Protocol {
    /// The protocol of `request`, from its `content-type`.
    pub fn of<B>(request: &http::Request<B>) -> Protocol {
        Protocol::of_headers(request.headers())
    }

    /// The protocol of a request or response with these headers, from `content-type`.
    ///
    /// ```
    /// use tollgate_http::Protocol;
    ///
    /// let mut headers = http::HeaderMap::new();
    /// assert_eq!(Protocol::of_headers(&headers), Protocol::Http);
    /// headers.insert("content-type", "application/grpc".parse().unwrap());
    /// assert_eq!(Protocol::of_headers(&headers), Protocol::Grpc);
    /// ```
    pub fn of_headers(headers: &http::HeaderMap) -> Protocol {
        match headers.get(CONTENT_TYPE) {
            Some(ct) if ct.as_bytes().starts_with(b"application/grpc") => Protocol::Grpc,
            _ => Protocol::Http,
        }
    }
}

/// The HTTP status for a rejection reason. See the crate docs for the table.
///
/// ```
/// use tollgate_core::Reason;
/// assert_eq!(tollgate_http::status_code(Reason::CircuitOpen), http::StatusCode::SERVICE_UNAVAILABLE);
/// ```
pub fn status_code(reason: Reason) -> StatusCode {
    match reason {
        Reason::MissingKey | Reason::MalformedHeader => StatusCode::BAD_REQUEST,
        Reason::CircuitOpen | Reason::Draining => StatusCode::SERVICE_UNAVAILABLE,
        Reason::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
        // Rate limited, over capacity, wait too long, queue full, throttled, key table
        // full, and any reason added later: the client is asked to slow down.
        _ => StatusCode::TOO_MANY_REQUESTS,
    }
}

/// The gRPC status code (as its wire number) for a rejection reason.
///
/// ```
/// use tollgate_core::Reason;
/// assert_eq!(tollgate_http::grpc_code(Reason::RateLimited), 8); // RESOURCE_EXHAUSTED
/// ```
pub fn grpc_code(reason: Reason) -> i32 {
    const INVALID_ARGUMENT: i32 = 3;
    const DEADLINE_EXCEEDED: i32 = 4;
    const RESOURCE_EXHAUSTED: i32 = 8;
    const UNAVAILABLE: i32 = 14;
    match reason {
        Reason::MissingKey | Reason::MalformedHeader => INVALID_ARGUMENT,
        Reason::CircuitOpen | Reason::Draining => UNAVAILABLE,
        Reason::DeadlineExceeded(_) => DEADLINE_EXCEEDED,
        _ => RESOURCE_EXHAUSTED,
    }
}

/// `Retry-After` delta-seconds for a wait: rounded up, and at least 1 for any wait
/// above zero, so a client never reads "retry now" when it must wait.
///
/// ```
/// use std::time::Duration;
/// use tollgate_http::retry_after_seconds;
///
/// assert_eq!(retry_after_seconds(Duration::ZERO), 0);
/// assert_eq!(retry_after_seconds(Duration::from_nanos(1)), 1);
/// assert_eq!(retry_after_seconds(Duration::from_millis(2000)), 2);
/// assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
/// ```
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    }
}

/// Builds the response for a rejected request.
///
/// Implemented by [`DefaultResponder`] and by any
/// `Fn(&Rejection, Protocol) -> http::Response<B>` closure, so users can supply their
/// own body or headers:
///
/// ```
/// use tollgate_core::{Reason, Rejection};
/// use tollgate_http::{Protocol, RejectionResponder};
///
/// let custom = |rejection: &Rejection, _: Protocol| {
///     http::Response::builder()
///         .status(tollgate_http::status_code(rejection.reason()))
///         .body(format!("{{\"error\":\"{rejection}\"}}"))
///         .unwrap()
/// };
/// let response = custom.respond(&Rejection::new(Reason::Draining), Protocol::Http);
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.body(), "{\"error\":\"server is draining\"}");
/// ```
pub trait RejectionResponder<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection` to a request of `protocol`.
    fn respond(&self, rejection: &Rejection, protocol: Protocol) -> Response<B>;
}

impl<F, B> RejectionResponder<B> for F
where
    F: Fn(&Rejection, Protocol) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn respond(&self, rejection: &Rejection, protocol: Protocol) -> Response<B> {
        self(rejection, protocol)
    }
}

/// The conventional responses: see the table in the crate docs. The body is empty
/// (`B::default()`), so it works with any body type.
///
/// See the crate docs for an example.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultResponder;

impl<B: Default> RejectionResponder<B> for DefaultResponder {
    fn respond(&self, rejection: &Rejection, protocol: Protocol) -> Response<B> {
        let mut response = Response::new(B::default());
        if protocol == Protocol::Http {
            *response.status_mut() = status_code(rejection.reason());
        }
        let headers = response.headers_mut();
        match protocol {
            Protocol::Http => {
                if let Some(wait) = rejection.retry_after() {
                    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds(wait)));
                }
            }
            Protocol::Grpc => {
                // A trailers-only response: HTTP 200 with the status in the headers.
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
                headers.insert(
                    "grpc-status",
                    HeaderValue::from(grpc_code(rejection.reason())),
                );
                if let Ok(message) = HeaderValue::try_from(grpc_message(rejection)) {
                    headers.insert("grpc-message", message);
                }
                if let Some(wait) = rejection.retry_after() {
                    headers.insert("grpc-retry-pushback-ms", HeaderValue::from(millis(wait)));
                }
            }
        }
        response
    }
}

/// `grpc-message` is percent-encoded; our messages are ASCII, so only `%` and
/// non-printable bytes need escaping.
fn grpc_message(rejection: &Rejection) -> String {
    let text = rejection.to_string();
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn millis(wait: Duration) -> u64 {
    // Rounded up, like `Retry-After`: never advertise less than the real wait.
    u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// A `tonic::Status` for a rejection, with the retry pushback in its metadata
/// (`grpc-retry-pushback-ms`), for gRPC clients and servers built on tonic.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::{Reason, Rejection};
///
/// let status = tollgate_http::to_status(
///     &Rejection::new(Reason::RateLimited).with_retry_after(Duration::from_millis(300)),
/// );
/// assert_eq!(status.code(), tonic::Code::ResourceExhausted);
/// assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "300");
/// ```
#[cfg(feature = "tonic")]
pub fn to_status(rejection: &Rejection) -> tonic::Status {
    let mut status = tonic::Status::new(
        tonic::Code::from_i32(grpc_code(rejection.reason())),
        rejection.to_string(),
    );
    if let Some(wait) = rejection.retry_after() {
        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", millis(wait).into());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::DeadlineKind;

    fn respond(rejection: &Rejection, protocol: Protocol) -> Response<()> {
        DefaultResponder.respond(rejection, protocol)
    }

    #[test]
    fn every_reason_has_its_status() {
        let cases = [
            (Reason::RateLimited, 429, 8),
            (Reason::OverCapacity, 429, 8),
            (Reason::WaitTooLong, 429, 8),
            (Reason::QueueFull, 429, 8),
            (Reason::Throttled, 429, 8),
            (Reason::KeyTableFull, 429, 8),
            (Reason::MissingKey, 400, 3),
            (Reason::MalformedHeader, 400, 3),
            (Reason::CircuitOpen, 503, 14),
            (Reason::Draining, 503, 14),
            (Reason::DeadlineExceeded(DeadlineKind::Total), 504, 4),
        ];
        for (reason, http, grpc) in cases {
            assert_eq!(status_code(reason).as_u16(), http, "{reason:?}");
            assert_eq!(grpc_code(reason), grpc, "{reason:?}");
        }
    }

    #[test]
    fn retry_after_is_rounded_up_and_absent_without_wait() {
        let r = Rejection::new(Reason::CircuitOpen).with_retry_after(Duration::from_millis(10));
        assert_eq!(respond(&r, Protocol::Http).headers()[RETRY_AFTER], "1");
        let r = Rejection::new(Reason::OverCapacity);
        assert!(respond(&r, Protocol::Http)
            .headers()
            .get(RETRY_AFTER)
            .is_none());
    }

    #[test]
    fn grpc_rejection_is_trailers_only_with_escaped_message() {
        let r = Rejection::new(Reason::Draining).with_name("100%");
        let resp = respond(&r, Protocol::Grpc);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["grpc-status"], "14");
        assert_eq!(resp.headers()["grpc-message"], "100%25: server is draining");
        assert!(resp.headers().get("grpc-retry-pushback-ms").is_none());
    }

    #[test]
    fn pushback_millis_round_up() {
        assert_eq!(millis(Duration::from_nanos(1)), 1);
        assert_eq!(millis(Duration::from_millis(5)), 5);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
