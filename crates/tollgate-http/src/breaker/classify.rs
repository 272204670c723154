//! HTTP and gRPC response classifiers.

use http::{HeaderMap, StatusCode};
use tollgate_breaker::Outcome;

/// Decides what an HTTP response counts as, from its head and, for streams whose
/// verdict comes at the end (gRPC), from its trailers.
///
/// Implemented by [`HttpClassifier`] and [`GrpcClassifier`]; see the
/// [module docs](crate::breaker) for how the layers use it.
pub trait ResponseClassifier: Clone + Send + Sync + 'static {
    /// The outcome from the status and headers, or `None` to wait for the trailers.
    fn classify_head(&self, status: StatusCode, headers: &HeaderMap) -> Option<Outcome>;

    /// The outcome from the trailers (`None` if the body ended without any). Called
    /// only after [`classify_head`](Self::classify_head) returned `None`.
    fn classify_trailers(&self, trailers: Option<&HeaderMap>) -> Outcome;
}

/// HTTP: a 5xx response is a failure, any other is a success; `429 Too Many
/// Requests` is a success unless [`failing_on_429`](Self::failing_on_429) says otherwise.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tollgate_breaker::Outcome;
/// use tollgate_http::breaker::{HttpClassifier, ResponseClassifier};
///
/// let h = HeaderMap::new();
/// let c = HttpClassifier::new();
/// assert_eq!(c.classify_head(StatusCode::BAD_GATEWAY, &h), Some(Outcome::Failure));
/// assert_eq!(c.classify_head(StatusCode::NOT_FOUND, &h), Some(Outcome::Success));
/// assert_eq!(c.classify_head(StatusCode::TOO_MANY_REQUESTS, &h), Some(Outcome::Success));
/// let c = c.failing_on_429(true);
/// assert_eq!(c.classify_head(StatusCode::TOO_MANY_REQUESTS, &h), Some(Outcome::Failure));
/// // 504 from a proxy is a timeout: a failure and a slow call.
/// assert_eq!(c.classify_head(StatusCode::GATEWAY_TIMEOUT, &h), Some(Outcome::Timeout));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpClassifier {
    fail_on_429: bool,
}

impl HttpClassifier {
    /// 5xx failures; 429 not a failure.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `429 Too Many Requests` counts as a failure.
    pub fn failing_on_429(mut self, fail: bool) -> Self {
        self.fail_on_429 = fail;
        self
    }
}

impl ResponseClassifier for HttpClassifier {
    fn classify_head(&self, status: StatusCode, _: &HeaderMap) -> Option<Outcome> {
        Some(if status == StatusCode::GATEWAY_TIMEOUT {
            Outcome::Timeout
        } else if status.is_server_error()
            || (self.fail_on_429 && status == StatusCode::TOO_MANY_REQUESTS)
        {
            Outcome::Failure
        } else {
            Outcome::Success
        })
    }

    fn classify_trailers(&self, _: Option<&HeaderMap>) -> Outcome {
        Outcome::Success
    }
}

/// gRPC codes, as their wire numbers.
const DEADLINE_EXCEEDED: u8 = 4;
const RESOURCE_EXHAUSTED: u8 = 8;
const INTERNAL: u8 = 13;
const UNAVAILABLE: u8 = 14;

/// gRPC: the `grpc-status` of a trailers-only response (in the headers) or of the
/// trailers at the end of the stream. `UNAVAILABLE`, `INTERNAL`, `RESOURCE_EXHAUSTED`
/// are failures and `DEADLINE_EXCEEDED` a timeout (failure and slow) by default; the
/// set is configurable. A 5xx HTTP status, or a stream that ends without a status, is a
/// failure too.
///
/// ```
/// use http::{HeaderMap, HeaderValue, StatusCode};
/// use tollgate_breaker::Outcome;
/// use tollgate_http::breaker::{GrpcClassifier, ResponseClassifier};
///
/// let c = GrpcClassifier::new();
/// // A streaming response: the verdict is in the trailers.
/// assert_eq!(c.classify_head(StatusCode::OK, &HeaderMap::new()), None);
/// let mut trailers = HeaderMap::new();
/// trailers.insert("grpc-status", HeaderValue::from_static("14"));
/// assert_eq!(c.classify_trailers(Some(&trailers)), Outcome::Failure);
/// trailers.insert("grpc-status", HeaderValue::from_static("5")); // NOT_FOUND
/// assert_eq!(c.classify_trailers(Some(&trailers)), Outcome::Success);
///
/// // RESOURCE_EXHAUSTED may be the server's rate limit, not its failure:
/// let c = c.with_code(8, false);
/// trailers.insert("grpc-status", HeaderValue::from_static("8"));
/// assert_eq!(c.classify_trailers(Some(&trailers)), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GrpcClassifier {
    /// Bit `n` set: code `n` is a failure.
    failing: u32,
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        GrpcClassifier {
            failing: (1 << DEADLINE_EXCEEDED)
                | (1 << RESOURCE_EXHAUSTED)
                | (1 << INTERNAL)
                | (1 << UNAVAILABLE),
        }
    }
}

impl GrpcClassifier {
    /// The default set: `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL`, `RESOURCE_EXHAUSTED`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts gRPC code `code` (0..=16) as a failure or not; other numbers are ignored.
    pub fn with_code(mut self, code: u8, failure: bool) -> Self {
        if code <= 16 {
            if failure {
                self.failing |= 1 << code;
            } else {
                self.failing &= !(1 << code);
            }
        }
        self
    }

    fn of_status(&self, value: Option<&http::HeaderValue>) -> Outcome {
        let code = value
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u8>().ok());
        match code {
            Some(DEADLINE_EXCEEDED) if self.failing & (1 << DEADLINE_EXCEEDED) != 0 => {
                Outcome::Timeout
            }
            Some(code) if code <= 16 && self.failing & (1 << code) != 0 => Outcome::Failure,
            Some(_) => Outcome::Success,
            None => Outcome::Failure,
        }
    }
}

impl ResponseClassifier for GrpcClassifier {
    fn classify_head(&self, status: StatusCode, headers: &HeaderMap) -> Option<Outcome> {
        if status.is_server_error() {
            return Some(Outcome::Failure);
        }
        headers
            .get("grpc-status")
            .map(|value| self.of_status(Some(value)))
    }

    fn classify_trailers(&self, trailers: Option<&HeaderMap>) -> Outcome {
        self.of_status(trailers.and_then(|t| t.get("grpc-status")))
    }
}
