use std::net::{IpAddr, SocketAddr};

use http::Request;
use tollgate_core::{ConfigError, KeyFn};

use super::ip::{client_key, ipv6_prefix};

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
/// [`ForwardedIp`](super::ForwardedIp) there. An IPv4-mapped IPv6 peer is keyed by its
/// IPv4 address. A request without a peer address has no key.
///
/// A client usually holds a whole IPv6 `/64`; key by that prefix so that it cannot take
/// a fresh bucket (and a table slot) per address:
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use tollgate_core::KeyFn;
/// use tollgate_http::rate_limit::{ClientAddr, PeerIp};
///
/// let per_network = PeerIp::new().ipv6_prefix(64)?;
/// let addr: SocketAddr = "[2001:db8:1:2:aaaa::1]:50000".parse().unwrap();
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientAddr(addr));
/// assert_eq!(per_network.key(&req), Some("2001:db8:1:2::".parse::<IpAddr>().unwrap()));
/// assert_eq!(PeerIp::new().key(&http::Request::new(())), None);
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIp {
    v6_prefix: u8,
}

impl PeerIp {
    /// Keys by the whole peer address.
    pub const fn new() -> Self {
        Self { v6_prefix: 128 }
    }

    /// Keys IPv6 peers by their first `len` bits (1 to 128; 64 is the usual
    /// allocation to one client). IPv4 peers keep their whole address.
    pub fn ipv6_prefix(self, len: u8) -> Result<Self, ConfigError> {
        Ok(Self {
            v6_prefix: ipv6_prefix(len)?,
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
        peer_addr(request).map(|addr| client_key(addr.ip(), self.v6_prefix))
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
        let by64 = PeerIp::new().ipv6_prefix(64).unwrap();
        let a = by64.key(&with_connect_info("[2001:db8::1]:1"));
        let b = by64.key(&with_connect_info("[2001:db8::ffff:2]:1"));
        assert_eq!(a, b);
        assert_ne!(a, by64.key(&with_connect_info("[2001:db8:0:1::1]:1")));
        assert_eq!(
            PeerIp::new().ipv6_prefix(0).unwrap_err().field(),
            "ipv6_prefix"
        );
    }
}
