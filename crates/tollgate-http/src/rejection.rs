use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use tollgate_core::{Reason, Refusal, Refuse, Rejection};

use crate::grpc;

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
        Reason::CircuitOpen | Reason::Draining | Reason::StoreUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
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
pub fn grpc_code(reason: Reason) -> u8 {
    match reason {
        Reason::MissingKey | Reason::MalformedHeader => grpc::INVALID_ARGUMENT,
        Reason::CircuitOpen | Reason::Draining | Reason::StoreUnavailable => grpc::UNAVAILABLE,
        Reason::DeadlineExceeded(_) => grpc::DEADLINE_EXCEEDED,
        _ => grpc::RESOURCE_EXHAUSTED,
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
                headers.insert(CONTENT_TYPE, grpc::CONTENT_TYPE);
                headers.insert(
                    grpc::STATUS,
                    grpc::code_value(grpc_code(rejection.reason())),
                );
                if let Ok(message) = HeaderValue::try_from(grpc_message(rejection)) {
                    headers.insert(grpc::MESSAGE, message);
                }
                if let Some(wait) = rejection.retry_after() {
                    headers.insert(grpc::RETRY_PUSHBACK_MS, HeaderValue::from(millis(wait)));
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
        tonic::Code::from_i32(i32::from(grpc_code(rejection.reason()))),
        rejection.to_string(),
    );
    if let Some(wait) = rejection.retry_after() {
        status
            .metadata_mut()
            .insert(grpc::RETRY_PUSHBACK_MS_KEY, millis(wait).into());
    }
    status
}

// ===== plugging responders into layers =====

/// Refuses with a response: plug it into any tollgate layer (`.refuse_with(AsResponse::new())`)
/// so refusals are answered as HTTP responses or gRPC trailers-only responses (see the
/// table in the crate docs) and the layer keeps its inner service's error type:
/// `Infallible` on an axum router.
///
/// It reads the request's protocol only when the layer may refuse, and builds the
/// response with a [`RejectionResponder`] ([`DefaultResponder`] unless
/// [`AsResponse::with`] names another).
///
/// ```
/// use std::convert::Infallible;
/// use tollgate_core::{Reason, Refuse, Refusal, Rejection};
/// use tollgate_http::AsResponse;
///
/// let request = http::Request::new(());
/// let refusal = AsResponse::new().prepare(&request);
/// let answered: Result<http::Response<String>, Infallible> =
///     refusal.refuse(Rejection::new(Reason::Draining));
/// assert_eq!(answered.unwrap().status(), 503);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AsResponse<R = DefaultResponder> {
    responder: R,
}

impl AsResponse {
    /// The conventional responses of [`DefaultResponder`].
    pub fn new() -> Self {
        Self::default()
    }
}

impl<R> AsResponse<R> {
    /// Responses built by `responder`, such as a closure (see [`RejectionResponder`]).
    pub fn with(responder: R) -> Self {
        Self { responder }
    }

    /// The responder.
    pub fn responder(&self) -> &R {
        &self.responder
    }
}

impl<R: Clone, B> Refuse<Request<B>> for AsResponse<R> {
    type Refusal = ResponseRefusal<R>;

    #[inline]
    fn prepare(&self, request: &Request<B>) -> ResponseRefusal<R> {
        ResponseRefusal {
            responder: self.responder.clone(),
            protocol: Protocol::of(request),
        }
    }
}

/// One request's refusal as a response: made by [`AsResponse`], see there.
#[derive(Debug, Clone)]
pub struct ResponseRefusal<R> {
    responder: R,
    protocol: Protocol,
}

impl<R> ResponseRefusal<R> {
    /// The protocol the refusal will be answered in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

impl<R: RejectionResponder<B>, B, E> Refusal<Response<B>, E> for ResponseRefusal<R> {
    type Error = E;

    #[inline]
    fn refuse(self, rejection: Rejection) -> Result<Response<B>, E> {
        Ok(self.responder.respond(&rejection, self.protocol))
    }

    #[inline]
    fn error(error: E) -> E {
        error
    }
}

/// Refuses with a `tonic::Status` error (the conventional code, with
/// `grpc-retry-pushback-ms`; see [`to_status`]): plug it into a tollgate layer around a
/// tonic `Channel` so a tonic client reports a refusal as its call's status
/// (`RESOURCE_EXHAUSTED`, `UNAVAILABLE`, `DEADLINE_EXCEEDED`), never `UNKNOWN`.
///
/// ```
/// use tollgate_core::{Reason, Refuse, Refusal, Rejection};
/// use tollgate_http::AsStatus;
///
/// let refused: Result<(), tower::BoxError> =
///     Refusal::<(), tower::BoxError>::refuse(AsStatus.prepare(&()), Rejection::new(Reason::CircuitOpen));
/// let status = refused.unwrap_err().downcast::<tonic::Status>().unwrap();
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// ```
#[cfg(feature = "tonic")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsStatus;

#[cfg(feature = "tonic")]
impl<Req> Refuse<Req> for AsStatus {
    type Refusal = AsStatus;

    #[inline]
    fn prepare(&self, _: &Req) -> AsStatus {
        AsStatus
    }
}

#[cfg(feature = "tonic")]
impl<Res, E: Into<tollgate_core::BoxError>> Refusal<Res, E> for AsStatus {
    type Error = tollgate_core::BoxError;

    #[inline]
    fn refuse(self, rejection: Rejection) -> Result<Res, Self::Error> {
        Err(Box::new(to_status(&rejection)))
    }

    #[inline]
    fn error(error: E) -> Self::Error {
        error.into()
    }
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
            (Reason::StoreUnavailable, 503, 14),
            (Reason::DeadlineExceeded(DeadlineKind::Total), 504, 4),
        ];
        for (reason, http, grpc) in cases {
            assert_eq!(status_code(reason).as_u16(), http, "{reason:?}");
            assert_eq!(i32::from(grpc_code(reason)), grpc, "{reason:?}");
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
