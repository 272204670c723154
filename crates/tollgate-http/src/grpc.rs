//! The gRPC vocabulary, spelled once: header names, status codes as wire numbers, and
//! reading a status from headers or trailers.
//!
//! ```
//! use tollgate_http::grpc;
//!
//! let mut trailers = http::HeaderMap::new();
//! trailers.insert(grpc::STATUS, grpc::code_value(grpc::RESOURCE_EXHAUSTED));
//! assert_eq!(grpc::status(&trailers), Some(grpc::RESOURCE_EXHAUSTED));
//! assert_eq!(grpc::status(&http::HeaderMap::new()), None);
//! ```

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// `grpc-status`: the call's status code, in trailers (or the headers of a
/// trailers-only response).
pub const STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// `grpc-message`: the percent-encoded status message.
pub const MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
/// `grpc-timeout`: the caller's remaining deadline (see `tollgate-deadline`'s format).
pub const TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
/// `grpc-retry-pushback-ms`: how long the client should wait before retrying (gRPC A6).
pub const RETRY_PUSHBACK_MS: HeaderName = HeaderName::from_static(RETRY_PUSHBACK_MS_KEY);
/// [`RETRY_PUSHBACK_MS`] as a string, for metadata maps keyed by `&'static str` (tonic).
pub const RETRY_PUSHBACK_MS_KEY: &str = "grpc-retry-pushback-ms";
/// The `content-type` of a gRPC response.
pub const CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/grpc");

/// `OK`.
pub const OK: u8 = 0;
/// `CANCELLED`.
pub const CANCELLED: u8 = 1;
/// `UNKNOWN`: what a client reports for an error it cannot map; tollgate never sends it.
pub const UNKNOWN: u8 = 2;
/// `INVALID_ARGUMENT`.
pub const INVALID_ARGUMENT: u8 = 3;
/// `DEADLINE_EXCEEDED`.
pub const DEADLINE_EXCEEDED: u8 = 4;
/// `RESOURCE_EXHAUSTED`.
pub const RESOURCE_EXHAUSTED: u8 = 8;
/// `INTERNAL`.
pub const INTERNAL: u8 = 13;
/// `UNAVAILABLE`.
pub const UNAVAILABLE: u8 = 14;
/// The largest defined code, `UNAUTHENTICATED`.
pub const MAX_CODE: u8 = 16;

/// The `grpc-status` in `headers`, when present and a number.
pub fn status(headers: &HeaderMap) -> Option<u8> {
    let value = headers.get(STATUS)?;
    std::str::from_utf8(value.as_bytes())
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A code as a `grpc-status` value.
pub fn code_value(code: u8) -> HeaderValue {
    HeaderValue::from(u16::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_numbers_only() {
        let mut h = HeaderMap::new();
        h.insert(STATUS, HeaderValue::from_static(" 14 "));
        assert_eq!(status(&h), Some(UNAVAILABLE));
        h.insert(STATUS, HeaderValue::from_static("x"));
        assert_eq!(status(&h), None);
        h.insert(STATUS, HeaderValue::from_static("999"));
        assert_eq!(status(&h), None);
    }
}
