use std::net::{IpAddr, SocketAddr};

use http::Request;
use tollgate_core::{ConfigError, KeyFn};

use super::ip::Prefixes;

/// The address of a connection's peer, as a request extension, for servers not built
/// on axum's `into_make_service_with_connect_info` (a hyper or hyper-util accept loop
/// inserts it into each request).
///
/// ```
/// use std::net::SocketAddr;
/// use tollgate_http::rate_limit::{peer_addr, ClientAddr};
///
/// let addr: SocketAddr = "192.0.2.1:50000".parse().unwrap();
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientAddr(addr));
/// assert_eq!(peer_addr(&req), Some(addr));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// The peer address of `request`: axum's `ConnectInfo<SocketAddr>` if present (with
/// the `axum` feature), else a [`ClientAddr`] extension, else `None`.
///
/// ```
/// use std::net::SocketAddr;
/// use tollgate_http::rate_limit::{peer_addr, ClientAddr};
///
/// let addr: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientAddr(addr));
/// assert_eq!(peer_addr(&req), Some(addr));
/// ```
pub fn peer_addr<B>(request: &Request<B>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
    }
    extensions.get::<ClientAddr>().map(|addr| addr.0)
}

/// Keys requests by the IP address of the connection's peer (see [`peer_addr`]).
///
/// Behind a reverse proxy every request comes from the proxy: use
/// [`ForwardedIp`](super::ForwardedIp) there. A request without a peer address has no
/// key.
///
/// A client usually holds a whole IPv6 `/64` and can pick any address in it, so IPv6
/// peers are keyed by their `/64` by default: one host cannot take a fresh bucket (and
/// a table slot) per address. [`ipv6_prefix`](PeerIp::ipv6_prefix) sets another
/// prefix, from `/48` (a site) to `/128` (one address). IPv4 peers are keyed by their
/// address (an IPv4-mapped IPv6 peer by its IPv4 address), or by a prefix from
/// [`ipv4_prefix`](PeerIp::ipv4_prefix).
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use tollgate_core::KeyFn;
/// use tollgate_http::rate_limit::{ClientAddr, PeerIp};
///
/// let from = |addr: &str| {
///     let mut req = http::Request::new(());
///     req.extensions_mut().insert(ClientAddr(addr.parse::<SocketAddr>().unwrap()));
///     req
/// };
/// let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
///
/// let per_client = PeerIp::new();
/// assert_eq!(per_client.key(&from("[2001:db8:1:2:aaaa::1]:50000")), ip("2001:db8:1:2::"));
/// assert_eq!(per_client.key(&from("192.0.2.7:50000")), ip("192.0.2.7"));
///
/// let per_site = PeerIp::new().ipv6_prefix(48)?.ipv4_prefix(24)?;
/// assert_eq!(per_site.key(&from("[2001:db8:1:2::1]:1")), ip("2001:db8:1::"));
/// assert_eq!(per_site.key(&from("192.0.2.7:1")), ip("192.0.2.0"));
///
/// let err = PeerIp::new().ipv6_prefix(32).unwrap_err();
/// assert_eq!(err.to_string(), "invalid `ipv6_prefix`: must be between 48 and 128, got 32");
/// assert_eq!(PeerIp::new().key(&http::Request::new(())), None);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIp {
    prefixes: Prefixes,
}

impl PeerIp {
    /// Keys IPv6 peers by their `/64`, IPv4 peers by their address.
    pub const fn new() -> Self {
        Self {
            prefixes: Prefixes::DEFAULT,
        }
    }

    /// Keys IPv6 peers by their first `len` bits: 48 to 128 (default 64, the usual
    /// allocation to one client). An error names `ipv6_prefix` outside that range.
    pub fn ipv6_prefix(self, len: u8) -> Result<Self, ConfigError> {
        Ok(Self {
            prefixes: self.prefixes.ipv6(len)?,
        })
    }

    /// Keys IPv4 peers by their first `len` bits: 16 to 32 (default 32, the address).
    /// An error names `ipv4_prefix` outside that range.
    pub fn ipv4_prefix(self, len: u8) -> Result<Self, ConfigError> {
        Ok(Self {
            prefixes: self.prefixes.ipv4(len)?,
        })
    }
}

impl Default for PeerIp {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> KeyFn<Request<B>> for PeerIp {
    type Key = IpAddr;

    #[inline]
    fn key(&self, request: &Request<B>) -> Option<IpAddr> {
        peer_addr(request).map(|addr| self.prefixes.key(addr.ip()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_connect_info(addr: &str) -> Request<()> {
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(ClientAddr(addr.parse::<SocketAddr>().unwrap()));
        req
    }

    #[cfg(feature = "axum")]
    #[test]
    fn connect_info_wins_over_client_addr() {
        use axum::extract::ConnectInfo;
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(ConnectInfo("192.0.2.1:1".parse::<SocketAddr>().unwrap()));
        req.extensions_mut()
            .insert(ClientAddr("192.0.2.2:2".parse().unwrap()));
        assert_eq!(PeerIp::new().key(&req), Some("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn ports_do_not_split_a_client() {
        let a = PeerIp::new().key(&with_connect_info("192.0.2.1:1000"));
        let b = PeerIp::new().key(&with_connect_info("192.0.2.1:2000"));
        assert_eq!(a, b);
    }

    #[test]
    fn mapped_ipv4_is_ipv4_and_prefix_groups_ipv6() {
        let req = with_connect_info("[::ffff:192.0.2.1]:1");
        assert_eq!(PeerIp::new().key(&req), Some("192.0.2.1".parse().unwrap()));
        // The default groups a /64: rotating the interface identifier changes nothing.
        let by64 = PeerIp::new();
        let a = by64.key(&with_connect_info("[2001:db8::1]:1"));
        let b = by64.key(&with_connect_info("[2001:db8::ffff:2]:1"));
        assert_eq!(a, b);
        assert_ne!(a, by64.key(&with_connect_info("[2001:db8:0:1::1]:1")));
        let exact = PeerIp::new().ipv6_prefix(128).unwrap();
        assert_ne!(
            exact.key(&with_connect_info("[2001:db8::1]:1")),
            exact.key(&with_connect_info("[2001:db8::2]:1"))
        );
        assert_eq!(
            PeerIp::new().ipv6_prefix(0).unwrap_err().field(),
            "ipv6_prefix"
        );
        assert_eq!(
            PeerIp::new().ipv4_prefix(8).unwrap_err().field(),
            "ipv4_prefix"
        );
    }
}
