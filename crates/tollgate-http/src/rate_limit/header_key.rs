use std::ops::Deref;

use http::header::{HeaderName, HeaderValue};
use http::Request;
use tollgate_core::{ConfigError, KeyBytes, KeyFn};

/// Keys requests by the value of a named header, such as an API key.
///
/// A request has no key when the header is absent, empty, longer than
/// [`max_len`](HeaderKey::max_len) bytes (256 by default), or sent more than once (which
/// of two keys to charge would be the client's choice). The value is compared byte for
/// byte.
///
/// ```
/// use tollgate_core::KeyFn;
/// use tollgate_http::rate_limit::HeaderKey;
///
/// let api_key = HeaderKey::new("x-api-key")?;
/// let req = http::Request::get("/").header("x-api-key", "k-123").body(()).unwrap();
/// assert_eq!(api_key.key(&req).unwrap(), "k-123");
/// assert_eq!(api_key.key(&http::Request::new(())), None);
/// assert!(HeaderKey::new("not a header name").is_err());
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
///
/// The header is a client's claim: a client that may invent keys can take a fresh
/// bucket per request. Put authentication in front of the limiter, or bound the key
/// table (`max_keys`) and key by something the client cannot forge.
#[derive(Debug, Clone)]
pub struct HeaderKey {
    name: HeaderName,
    max_len: usize,
}

impl HeaderKey {
    /// Keys by the header `name` (case-insensitive).
    pub fn new(name: &str) -> Result<Self, ConfigError> {
        HeaderName::from_bytes(name.as_bytes())
            .map(Self::from_name)
            .map_err(|_| ConfigError::new("header", format!("`{name}` is not a valid header name")))
    }

    /// Keys by the header `name`.
    pub fn from_name(name: HeaderName) -> Self {
        Self { name, max_len: 256 }
    }

    /// Values longer than `max_len` bytes are no key, so that a client cannot store
    /// large values in the key table. The default is 256.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The header read.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }
}

impl<B> KeyFn<Request<B>> for HeaderKey {
    type Key = HeaderValueKey;

    fn key(&self, request: &Request<B>) -> Option<HeaderValueKey> {
        let mut values = request.headers().get_all(&self.name).iter();
        let value = values.next()?;
        let usable = values.next().is_none() && !value.is_empty() && value.len() <= self.max_len;
        usable.then(|| HeaderValueKey(value.clone()))
    }
}

/// The key [`HeaderKey`] reads: the header's value, compared byte for byte. It
/// dereferences to the [`HeaderValue`], and writes its bytes for a shared store
/// ([`KeyBytes`], so a Redis limiter takes it as the local one does).
///
/// ```
/// use tollgate_core::{KeyBytes, KeyFn};
/// use tollgate_http::rate_limit::HeaderKey;
///
/// let req = http::Request::get("/").header("x-api-key", "k-1").body(()).unwrap();
/// let key = HeaderKey::new("x-api-key")?.key(&req).unwrap();
/// assert_eq!(key, "k-1");
/// assert_eq!(key.to_str().unwrap(), "k-1");
/// let mut bytes = Vec::new();
/// key.write_bytes(&mut bytes);
/// assert_eq!(bytes, b"k-1");
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderValueKey(HeaderValue);

impl From<HeaderValue> for HeaderValueKey {
    /// A key with this value, e.g. a default bucket for requests without the header
    /// (`MissingKey::Bucket(HeaderValue::from_static("anonymous").into())`).
    fn from(value: HeaderValue) -> Self {
        Self(value)
    }
}

impl Deref for HeaderValueKey {
    type Target = HeaderValue;

    fn deref(&self) -> &HeaderValue {
        &self.0
    }
}

impl PartialEq<str> for HeaderValueKey {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for HeaderValueKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl KeyBytes for HeaderValueKey {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.as_bytes());
    }

    fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        f(self.0.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(values: &[&[u8]]) -> Request<()> {
        let mut req = Request::new(());
        for v in values {
            req.headers_mut()
                .append("x-api-key", HeaderValue::from_bytes(v).unwrap());
        }
        req
    }

    #[test]
    fn one_short_value_is_the_key() {
        let k = HeaderKey::new("X-Api-Key").unwrap();
        assert_eq!(k.key(&req(&[b"abc"])).unwrap(), "abc");
        // Opaque bytes are fine: the key is never decoded.
        assert_eq!(k.key(&req(&[b"\xff\xfe"])).unwrap().as_bytes(), b"\xff\xfe");
    }

    #[test]
    fn absent_empty_long_or_repeated_values_are_no_key() {
        let k = HeaderKey::new("x-api-key").unwrap().max_len(4);
        assert_eq!(k.key(&req(&[])), None);
        assert_eq!(k.key(&req(&[b""])), None);
        assert_eq!(k.key(&req(&[b"12345"])), None);
        assert_eq!(k.key(&req(&[b"1234"])).unwrap(), "1234");
        assert_eq!(k.key(&req(&[b"a", b"b"])), None);
    }

    #[test]
    fn bad_names_are_config_errors() {
        let err = HeaderKey::new("x api key").unwrap_err();
        assert_eq!(err.field(), "header");
        assert_eq!(err.rule(), "`x api key` is not a valid header name");
        assert!(HeaderKey::new("").is_err());
    }
}
