//! HTTP and gRPC response classifiers.

use http::{HeaderMap, Response, StatusCode};
use tollgate_breaker::{error_outcome, Classifier, Outcome, Permit};
use tollgate_core::Clock;

use super::GrpcVerdict;
use crate::body::WatchedBody;
use crate::grpc;

/// HTTP: a 5xx response is a failure, any other is a success; `429 Too Many
/// Requests` is a success unless [`failing_on_429`](Self::failing_on_429) says
/// otherwise, and `504 Gateway Timeout` is a timeout (a failure and a slow call). An
/// error of the inner service is a failure, or a timeout when it is one
/// ([`tollgate_breaker::is_timeout`]).
///
/// The verdict comes from the response's head: the response passes unchanged.
///
/// ```
/// use http::StatusCode;
/// use tollgate_breaker::Outcome;
/// use tollgate_http::breaker::HttpClassifier;
///
/// let c = HttpClassifier::new();
/// assert_eq!(c.outcome(StatusCode::BAD_GATEWAY), Outcome::Failure);
/// assert_eq!(c.outcome(StatusCode::NOT_FOUND), Outcome::Success);
/// assert_eq!(c.outcome(StatusCode::TOO_MANY_REQUESTS), Outcome::Success);
/// let c = c.failing_on_429(true);
/// assert_eq!(c.outcome(StatusCode::TOO_MANY_REQUESTS), Outcome::Failure);
/// // 504 from a proxy is a timeout: a failure and a slow call.
/// assert_eq!(c.outcome(StatusCode::GATEWAY_TIMEOUT), Outcome::Timeout);
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

    /// What a response with `status` counts as.
    pub fn outcome(&self, status: StatusCode) -> Outcome {
        if status == StatusCode::GATEWAY_TIMEOUT {
            Outcome::Timeout
        } else if status.is_server_error()
            || (self.fail_on_429 && status == StatusCode::TOO_MANY_REQUESTS)
        {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

impl<B, E: 'static, C: Clock> Classifier<Response<B>, E, C> for HttpClassifier {
    type Response = Response<B>;

    #[inline]
    fn classify(
        &self,
        result: Result<Response<B>, E>,
        permit: Permit<C>,
    ) -> Result<Response<B>, E> {
        permit.record(match &result {
            Ok(response) => self.outcome(response.status()),
            Err(e) => error_outcome(e),
        });
        result
    }
}

/// gRPC: the `grpc-status` of a trailers-only response (in the headers) or of the
/// trailers at the end of the stream. `UNAVAILABLE`, `INTERNAL`, `RESOURCE_EXHAUSTED`
/// are failures and `DEADLINE_EXCEEDED` a timeout (failure and slow) by default; the
/// set is configurable. A 5xx HTTP status, or a stream that ends without a status, is a
/// failure too, and so is an error of the inner service (or a timeout, when it is one).
///
/// When the head does not decide (a streaming response), the response's body becomes a
/// [`WatchedBody`] holding the call's permit ([`GrpcVerdict`]): the outcome is recorded
/// from the trailers, a body error is a failure, and a body dropped before its end
/// counts as a cancelled call (a half-open probe permit goes back).
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tollgate_breaker::Outcome;
/// use tollgate_http::breaker::GrpcClassifier;
/// use tollgate_http::grpc;
///
/// let c = GrpcClassifier::new();
/// // A streaming response: the verdict is in the trailers.
/// assert_eq!(c.classify_head(StatusCode::OK, &HeaderMap::new()), None);
/// let mut trailers = HeaderMap::new();
/// trailers.insert(grpc::STATUS, grpc::code_value(grpc::UNAVAILABLE));
/// assert_eq!(c.classify_trailers(Some(&trailers)), Outcome::Failure);
/// // INVALID_ARGUMENT is the caller's problem, not the server's.
/// trailers.insert(grpc::STATUS, grpc::code_value(grpc::INVALID_ARGUMENT));
/// assert_eq!(c.classify_trailers(Some(&trailers)), Outcome::Success);
///
/// // RESOURCE_EXHAUSTED may be the server's rate limit, not its failure:
/// let c = c.with_code(grpc::RESOURCE_EXHAUSTED, false);
/// trailers.insert(grpc::STATUS, grpc::code_value(grpc::RESOURCE_EXHAUSTED));
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
            failing: (1 << grpc::DEADLINE_EXCEEDED)
                | (1 << grpc::RESOURCE_EXHAUSTED)
                | (1 << grpc::INTERNAL)
                | (1 << grpc::UNAVAILABLE),
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
        if code <= grpc::MAX_CODE {
            if failure {
                self.failing |= 1 << code;
            } else {
                self.failing &= !(1 << code);
            }
        }
        self
    }

    /// The outcome from the status and headers, or `None` to wait for the trailers.
    pub fn classify_head(&self, status: StatusCode, headers: &HeaderMap) -> Option<Outcome> {
        if status.is_server_error() {
            return Some(Outcome::Failure);
        }
        // A trailers-only response: the status is in the headers (a malformed one too).
        headers
            .contains_key(grpc::STATUS)
            .then(|| self.of_code(grpc::status(headers)))
    }

    /// The outcome from the trailers (`None` if the stream ended without any).
    pub fn classify_trailers(&self, trailers: Option<&HeaderMap>) -> Outcome {
        self.of_code(trailers.and_then(grpc::status))
    }

    fn of_code(&self, code: Option<u8>) -> Outcome {
        match code {
            Some(grpc::DEADLINE_EXCEEDED) if self.failing & (1 << grpc::DEADLINE_EXCEEDED) != 0 => {
                Outcome::Timeout
            }
            Some(code) if code <= grpc::MAX_CODE && self.failing & (1 << code) != 0 => {
                Outcome::Failure
            }
            Some(_) => Outcome::Success,
            // No status, or one that is not a number: the call did not end well.
            None => Outcome::Failure,
        }
    }
}

impl<B, E: 'static, C: Clock> Classifier<Response<B>, E, C> for GrpcClassifier {
    type Response = Response<WatchedBody<B, GrpcVerdict<C>>>;

    fn classify(
        &self,
        result: Result<Response<B>, E>,
        permit: Permit<C>,
    ) -> Result<Self::Response, E> {
        match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let body = match self.classify_head(parts.status, &parts.headers) {
                    Some(outcome) => {
                        permit.record(outcome);
                        WatchedBody::unwatched(body)
                    }
                    None => WatchedBody::new(body, GrpcVerdict::new(permit, *self)),
                };
                Ok(Response::from_parts(parts, body))
            }
            Err(e) => {
                permit.record(error_outcome(&e));
                Err(e)
            }
        }
    }
}
