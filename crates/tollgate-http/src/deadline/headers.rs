use std::time::Duration;

use http::header::{Entry, HeaderName};
use http::Request;
use tollgate_core::ConfigError;
use tollgate_deadline::{Deadline, Propagate};

use super::wire::{
    format_grpc_timeout, format_http_timeout, parse_grpc_timeout, parse_http_timeout, HeaderUnit,
    WireError,
};
use super::DEFAULT_HEADER;
use crate::header_value::header_value;
use crate::{grpc, Protocol};

/// Reads and writes budgets on `http::Request`s: `grpc-timeout` for gRPC, and a plain
/// HTTP header (`request-timeout` in milliseconds by default) for the rest. Plug it
/// into `tollgate_deadline`'s layers with `.propagate(TimeoutHeaders::new())`; see the
/// [module docs](super).
///
/// - On a server, it reads `grpc-timeout` and the HTTP header (the smaller wins when
///   both are sent), and puts the request's [`Deadline`] in its extensions, where a
///   handler finds it (`Extension<Deadline>` on axum). That costs the request one
///   allocation (`http` boxes every extension); [`without_extension`] leaves it out,
///   and handlers read [`Deadline::current`] instead (in the handler and in its
///   extractors, which run inside the deadline's scope).
/// - On a client, gRPC requests (by `content-type`) carry `grpc-timeout` (a smaller one
///   already set, by tonic's `set_timeout` say, stays), others the HTTP header; a
///   [`Deadline`] in the outgoing request's extensions is the inherited deadline when
///   no scope is current.
///
/// ```
/// use std::time::Duration;
/// use tollgate_deadline::Propagate;
/// use tollgate_http::deadline::{HeaderUnit, TimeoutHeaders};
///
/// let headers = TimeoutHeaders::new().header("x-timeout", HeaderUnit::Seconds).unwrap();
/// let mut req = http::Request::new(());
/// headers.write(&mut req, Duration::from_millis(2500));
/// assert_eq!(req.headers()["x-timeout"], "2");
/// assert_eq!(headers.read(&req), Ok(Some(Duration::from_secs(2))));
/// assert!(TimeoutHeaders::new().header("bad header", HeaderUnit::Millis).is_err());
/// ```
///
/// [`without_extension`]: TimeoutHeaders::without_extension
#[derive(Debug, Clone)]
pub struct TimeoutHeaders {
    header: Option<(HeaderName, HeaderUnit)>,
    extension: bool,
}

impl Default for TimeoutHeaders {
    fn default() -> Self {
        Self::new()
    }
}

impl TimeoutHeaders {
    /// `grpc-timeout`, and `request-timeout` in milliseconds.
    pub fn new() -> Self {
        Self {
            header: Some((HeaderName::from_static(DEFAULT_HEADER), HeaderUnit::Millis)),
            extension: true,
        }
    }

    /// Uses the HTTP header `name` in `unit` instead of `request-timeout`.
    pub fn header(self, name: &str, unit: HeaderUnit) -> Result<Self, ConfigError> {
        let name = HeaderName::try_from(name)
            .map_err(|_| ConfigError::new("header", "must be a valid header name"))?;
        Ok(Self {
            header: Some((name, unit)),
            ..self
        })
    }

    /// `grpc-timeout` only: no plain HTTP header is read or written (a client still
    /// enforces the deadline locally).
    pub fn no_header(self) -> Self {
        Self {
            header: None,
            ..self
        }
    }

    /// The server layer does not put the [`Deadline`] in the request's extensions,
    /// which saves the request its one allocation; handlers read
    /// [`Deadline::current`], and code they spawn gets the deadline passed along.
    ///
    /// ```
    /// use tollgate_deadline::{Deadline, Propagate};
    /// use tollgate_http::deadline::TimeoutHeaders;
    ///
    /// let deadline = Deadline::from_now(&tollgate_core::ManualClock::new(), std::time::Duration::from_secs(1));
    /// let mut req = http::Request::new(());
    /// TimeoutHeaders::new().without_extension().attach(&mut req, deadline);
    /// assert!(req.extensions().get::<Deadline>().is_none());
    /// TimeoutHeaders::new().attach(&mut req, deadline);
    /// assert_eq!(req.extensions().get::<Deadline>(), Some(&deadline));
    /// ```
    pub fn without_extension(self) -> Self {
        Self {
            extension: false,
            ..self
        }
    }
}

impl<B> Propagate<Request<B>> for TimeoutHeaders {
    type Error = WireError;

    fn read(&self, request: &Request<B>) -> Result<Option<Duration>, WireError> {
        let headers = request.headers();
        let mut sent = None;
        if let Some(v) = headers.get(grpc::TIMEOUT) {
            sent = Some(parse_grpc_timeout(v.as_bytes())?);
        }
        if let Some((name, unit)) = &self.header {
            if let Some(v) = headers.get(name) {
                let b = parse_http_timeout(v.as_bytes(), *unit)?;
                sent = Some(sent.map_or(b, |s: Duration| s.min(b)));
            }
        }
        Ok(sent)
    }

    fn write(&self, request: &mut Request<B>, budget: Duration) {
        if Protocol::of(request) == Protocol::Grpc {
            // One lookup for both the check and the write.
            let entry = request.headers_mut().entry(grpc::TIMEOUT);
            // A smaller timeout the caller set on the request (tonic's `set_timeout`)
            // stays.
            if let Entry::Occupied(set) = &entry {
                if parse_grpc_timeout(set.get().as_bytes()).is_ok_and(|set| set <= budget) {
                    return;
                }
            }
            if let Ok(text) = format_grpc_timeout(budget) {
                if let Ok(value) = header_value(|b| b.extend_from_slice(text.as_bytes())) {
                    match entry {
                        Entry::Occupied(mut set) => {
                            set.insert(value);
                        }
                        Entry::Vacant(unset) => {
                            unset.insert(value);
                        }
                    }
                }
            }
        } else if let Some((name, unit)) = &self.header {
            let text = format_http_timeout(budget, *unit);
            if let Ok(value) = header_value(|b| b.extend_from_slice(text.as_bytes())) {
                request.headers_mut().insert(name.clone(), value);
            }
        }
    }

    #[inline]
    fn attach(&self, request: &mut Request<B>, deadline: Deadline) {
        if self.extension {
            request.extensions_mut().insert(deadline);
        }
    }

    #[inline]
    fn attached(&self, request: &Request<B>) -> Option<Deadline> {
        request.extensions().get::<Deadline>().copied()
    }
}
