//! How a server stack picks a request's rate-limit bucket: by client (address, API
//! key, or one bucket for all) and, on routes with a quota of their own, by route too.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderValue, Request};
use tollgate_core::{ConfigError, KeyFn};
use tollgate_http::rate_limit::{ForwardedIp, HeaderKey, PathKey, PeerIp};

/// A request's rate-limit key in a server stack: its route when that route has a quota
/// of its own, and its client.
///
/// ```
/// use tollgate::RequestKey;
/// let key = RequestKey::client_ip("192.0.2.1".parse().unwrap());
/// assert_eq!(key.route(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    route: Option<Arc<str>>,
    client: ClientKey,
}

/// Who a request is, for its bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    /// One bucket for every client.
    All,
    /// A client address.
    Ip(IpAddr),
    /// A header's value (an API key).
    Value(HeaderValue),
    /// A request without a key, charged to the shared bucket.
    Missing,
}

impl RequestKey {
    /// The key of a client address on a route without a quota of its own.
    pub fn client_ip(ip: IpAddr) -> Self {
        Self {
            route: None,
            client: ClientKey::Ip(ip),
        }
    }

    /// The key of a header value (an API key) on a route without a quota of its own.
    pub fn client_value(value: HeaderValue) -> Self {
        Self {
            route: None,
            client: ClientKey::Value(value),
        }
    }

    /// The shared bucket of requests whose key is missing.
    pub fn missing() -> Self {
        Self {
            route: None,
            client: ClientKey::Missing,
        }
    }

    /// The route, when it has a quota of its own.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    pub(crate) fn client(&self) -> &ClientKey {
        &self.client
    }
}

#[derive(Debug, Clone)]
enum By {
    All,
    Peer(PeerIp),
    Forwarded(ForwardedIp),
    Header(HeaderKey),
}

/// Where a server stack reads a request's [`RequestKey`] from: a
/// [`KeyFn`](tollgate_core::KeyFn) over `http::Request`s. The client part comes from
/// the peer address, a trusted `X-Forwarded-For`, a header, or nothing (one bucket);
/// requests to the [`routes`](Self::routes) with their own quota are keyed by route too.
///
/// ```
/// use tollgate::core::KeyFn;
/// use tollgate::KeySource;
///
/// let key = KeySource::header("x-api-key")?.routes(["/search"]);
/// let req = http::Request::get("/search").header("x-api-key", "k1").body(())?;
/// assert_eq!(key.key(&req).unwrap().route(), Some("/search"));
/// let req = http::Request::get("/other").header("x-api-key", "k1").body(())?;
/// assert_eq!(key.key(&req).unwrap().route(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeySource {
    by: By,
    routes: Arc<HashSet<Arc<str>>>,
}

impl KeySource {
    fn new(by: By) -> Self {
        Self {
            by,
            routes: Arc::default(),
        }
    }

    /// One bucket for every client.
    pub fn global() -> Self {
        Self::new(By::All)
    }

    /// The connection's peer address (`ConnectInfo` on axum, `ClientAddr` elsewhere).
    pub fn peer_ip() -> Self {
        Self::new(By::Peer(PeerIp::new()))
    }

    /// The client reported by trusted proxies (addresses or CIDR ranges).
    pub fn forwarded_ip<I>(trusted: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Ok(Self::new(By::Forwarded(ForwardedIp::trusting(trusted)?)))
    }

    /// A header's value, such as an API key.
    pub fn header(name: &str) -> Result<Self, ConfigError> {
        Ok(Self::new(By::Header(HeaderKey::new(name)?)))
    }

    /// Requests to these paths (exact URI paths) get a bucket per route and client.
    pub fn routes<I>(mut self, routes: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.routes = Arc::new(routes.into_iter().map(|r| Arc::from(r.as_ref())).collect());
        self
    }

    /// Reads a tier member written in a config file as the key this source produces.
    pub(crate) fn parse_client(&self, text: &str) -> Result<ClientKey, String> {
        match &self.by {
            By::All => Err("a global rate limit has no per-client tiers".into()),
            By::Peer(_) | By::Forwarded(_) => text
                .parse()
                .map(ClientKey::Ip)
                .map_err(|_| format!("`{text}` is not an IP address")),
            By::Header(_) => HeaderValue::from_str(text)
                .map(ClientKey::Value)
                .map_err(|_| format!("`{text}` is not a valid header value")),
        }
    }
}

impl<B> KeyFn<Request<B>> for KeySource {
    type Key = RequestKey;

    fn key(&self, request: &Request<B>) -> Option<RequestKey> {
        let client = match &self.by {
            By::All => ClientKey::All,
            By::Peer(peer) => ClientKey::Ip(peer.key(request)?),
            By::Forwarded(forwarded) => ClientKey::Ip(forwarded.key(request)?),
            By::Header(header) => {
                let value = header.key(request)?;
                ClientKey::Value(HeaderValue::clone(&value))
            }
        };
        let route = if self.routes.is_empty() {
            None
        } else {
            PathKey::uri()
                .key(request)
                .filter(|path| self.routes.contains(path))
        };
        Some(RequestKey { route, client })
    }
}
