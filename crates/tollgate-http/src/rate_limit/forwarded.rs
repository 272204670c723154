use std::net::IpAddr;
use std::sync::Arc;

use http::header::{HeaderName, FORWARDED};
use http::Request;
use tollgate_core::{ConfigError, KeyFn};

use super::ip::{parse_hop, IpRange, Prefixes};
use super::peer_addr;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Which forwarding header a [`ForwardedIp`] reads: the one your proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`. The default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"`.
    Forwarded,
}

/// Keys requests by the client address that trusted reverse proxies report.
///
/// The forwarding header is read only when the connection's peer (see
/// [`peer_addr`]) is a trusted proxy; otherwise the key is the peer's address, whatever
/// the request's headers say. Behind trusted proxies the header's hops are read from
/// the right (the hop the nearest proxy appended) leftwards, skipping trusted proxies:
/// the key is the first address that is not one. Each proxy appends the address of its
/// own peer, so the hops a client wrote itself lie left of that address and are never
/// read: a client cannot pick its bucket, nor take a fresh bucket (and a table slot)
/// per request, by sending its own `X-Forwarded-For`.
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use tollgate_core::KeyFn;
/// use tollgate_http::rate_limit::{ClientAddr, ForwardedIp};
///
/// let behind_lb = ForwardedIp::trusting(["10.0.0.0/8"])?;
/// let request = |peer: &str, xff: &str| {
///     let mut req = http::Request::get("/").header("x-forwarded-for", xff).body(()).unwrap();
///     req.extensions_mut().insert(ClientAddr(peer.parse::<SocketAddr>().unwrap()));
///     req
/// };
/// let ip = |s: &str| s.parse::<IpAddr>().unwrap();
///
/// // Through the load balancer: the client it saw, not what the client claimed.
/// let via_lb = request("10.0.0.5:40000", "6.6.6.6, 198.51.100.7, 10.0.0.9");
/// assert_eq!(behind_lb.key(&via_lb), Some(ip("198.51.100.7")));
/// // Straight from the internet: the header is ignored.
/// let direct = request("203.0.113.1:40000", "6.6.6.6");
/// assert_eq!(behind_lb.key(&direct), Some(ip("203.0.113.1")));
/// # Ok::<(), tollgate_core::ConfigError>(())
/// ```
///
/// - A request from a trusted proxy without the header, or whose hops are all trusted,
///   is keyed by the leftmost trusted address.
/// - A hop that is not an address (`unknown`, an obfuscated `_name`, garbage) where a
///   trusted proxy reported the client makes the key missing (see
///   `tollgate_bucket::MissingKey`); hops left of the client are never parsed.
/// - A request without a peer address has no key.
/// - The client's address is keyed as [`PeerIp`](super::PeerIp) keys a peer: IPv6 by
///   its `/64` unless [`ipv6_prefix`](ForwardedIp::ipv6_prefix) says otherwise, IPv4
///   by its address unless [`ipv4_prefix`](ForwardedIp::ipv4_prefix) does.
#[derive(Debug, Clone)]
pub struct ForwardedIp {
    trusted: Arc<[IpRange]>,
    header: ForwardedHeader,
    prefixes: Prefixes,
}

impl ForwardedIp {
    /// Trusts the given proxies: addresses (`192.0.2.1`, `::1`) or CIDR ranges
    /// (`10.0.0.0/8`, `fd00::/8`). An error names `trusted_proxies` and the bad entry.
    pub fn trusting<I>(proxies: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let trusted = proxies
            .into_iter()
            .map(|p| IpRange::parse(p.as_ref(), "trusted_proxies"))
            .collect::<Result<Arc<[IpRange]>, _>>()?;
        Ok(Self {
            trusted,
            header: ForwardedHeader::default(),
            prefixes: Prefixes::DEFAULT,
        })
    }

    /// Reads `header` instead of `X-Forwarded-For`. Read only the header your proxies
    /// write (and overwrite or append to): any other is the client's word.
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Keys IPv6 clients by their first `len` bits: 48 to 128, default 64, as
    /// [`PeerIp::ipv6_prefix`](super::PeerIp::ipv6_prefix).
    pub fn ipv6_prefix(mut self, len: u8) -> Result<Self, ConfigError> {
        self.prefixes = self.prefixes.ipv6(len)?;
        Ok(self)
    }

    /// Keys IPv4 clients by their first `len` bits: 16 to 32, default 32 (the
    /// address), as [`PeerIp::ipv4_prefix`](super::PeerIp::ipv4_prefix).
    pub fn ipv4_prefix(mut self, len: u8) -> Result<Self, ConfigError> {
        self.prefixes = self.prefixes.ipv4(len)?;
        Ok(self)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|range| range.contains(ip))
    }

    /// The client address: see the type docs. `None` for an unparsable client hop.
    fn client<B>(&self, request: &Request<B>) -> Option<IpAddr> {
        let mut nearest = peer_addr(request)?.ip().to_canonical();
        if !self.is_trusted(nearest) {
            return Some(nearest);
        }
        let (name, for_param) = match self.header {
            ForwardedHeader::XForwardedFor => (X_FORWARDED_FOR, false),
            ForwardedHeader::Forwarded => (FORWARDED, true),
        };
        // Later header lines were appended by nearer proxies: walk lines, then the
        // hops within a line, from the right.
        for line in request.headers().get_all(name).iter().rev() {
            for element in RevElements::new(line.as_bytes()) {
                let hop = if for_param {
                    forwarded_for(element)
                } else {
                    Some(element)
                };
                let ip = parse_hop(hop?)?;
                if !self.is_trusted(ip) {
                    return Some(ip);
                }
                nearest = ip;
            }
        }
        Some(nearest)
    }
}

impl<B> KeyFn<Request<B>> for ForwardedIp {
    type Key = IpAddr;

    fn key(&self, request: &Request<B>) -> Option<IpAddr> {
        self.client(request).map(|ip| self.prefixes.key(ip))
    }
}

/// The comma-separated elements of a header line, from the right. Commas inside
/// quoted strings do not split; the scan starts at the right end, which the nearest
/// proxy wrote, so unbalanced quotes a client put on the left cannot hide it. Empty
/// elements are skipped.
struct RevElements<'a> {
    rest: &'a [u8],
}

impl<'a> RevElements<'a> {
    fn new(line: &'a [u8]) -> Self {
        Self { rest: line }
    }
}

impl<'a> Iterator for RevElements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let mut quoted = false;
            let mut split = None;
            for i in (0..self.rest.len()).rev() {
                match self.rest[i] {
                    b'"' if !(i > 0 && self.rest[i - 1] == b'\\') => quoted = !quoted,
                    b',' if !quoted => {
                        split = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let (element, rest) = match split {
                Some(i) => (&self.rest[i + 1..], &self.rest[..i]),
                None => (self.rest, &self.rest[..0]),
            };
            self.rest = rest;
            if !element.trim_ascii().is_empty() {
                return Some(element);
            }
        }
    }
}

/// The value of the `for` parameter of one `Forwarded` element (`for=...;proto=...`),
/// quotes included; `None` when the element has none.
fn forwarded_for(element: &[u8]) -> Option<&[u8]> {
    element.split(|b| *b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let (name, value) = pair.split_at(pair.iter().position(|b| *b == b'=')?);
        name.trim_ascii()
            .eq_ignore_ascii_case(b"for")
            .then(|| value[1..].trim_ascii())
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::rate_limit::ClientAddr;

    fn req(peer: Option<&str>, header: &str, lines: &[&[u8]]) -> Request<()> {
        let mut req = Request::new(());
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(ClientAddr(peer.parse::<SocketAddr>().unwrap()));
        }
        for line in lines {
            req.headers_mut().append(
                HeaderName::from_bytes(header.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(line).unwrap(),
            );
        }
        req
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn xff() -> ForwardedIp {
        ForwardedIp::trusting(["10.0.0.0/8", "192.0.2.1"]).unwrap()
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let r = req(Some("203.0.113.5:1"), "x-forwarded-for", &[b"1.1.1.1"]);
        assert_eq!(xff().key(&r), ip("203.0.113.5"));
        let r = req(Some("203.0.113.5:1"), "x-forwarded-for", &[b"\xff garbage"]);
        assert_eq!(xff().key(&r), ip("203.0.113.5"));
    }

    #[test]
    fn rightmost_untrusted_hop_is_the_client() {
        let r = req(
            Some("10.0.0.1:1"),
            "x-forwarded-for",
            &[b"6.6.6.6, 198.51.100.2, 192.0.2.1, 10.9.9.9"],
        );
        assert_eq!(xff().key(&r), ip("198.51.100.2"));
        // Split over lines: the last line is the nearest.
        let r = req(
            Some("10.0.0.1:1"),
            "x-forwarded-for",
            &[b"6.6.6.6, 198.51.100.2", b"10.2.2.2"],
        );
        assert_eq!(xff().key(&r), ip("198.51.100.2"));
        // Ports, brackets and mapped addresses are understood.
        let r = req(
            Some("10.0.0.1:1"),
            "x-forwarded-for",
            &[b"[2001:db8::7]:443,::ffff:10.1.1.1"],
        );
        assert_eq!(xff().key(&r), ip("2001:db8::"), "keyed by its /64");
    }

    #[test]
    fn client_written_garbage_left_of_the_client_is_never_read() {
        // The client sent `junk, "unbalanced` and the proxy appended the client's address.
        let r = req(
            Some("10.0.0.1:1"),
            "x-forwarded-for",
            &[b"\xffjunk, \"unbalanced, 198.51.100.2"],
        );
        assert_eq!(xff().key(&r), ip("198.51.100.2"));
    }

    #[test]
    fn all_trusted_or_no_header_is_the_leftmost_trusted_hop() {
        let r = req(Some("10.0.0.1:1"), "x-forwarded-for", &[]);
        assert_eq!(xff().key(&r), ip("10.0.0.1"));
        let r = req(
            Some("10.0.0.1:1"),
            "x-forwarded-for",
            &[b"10.3.3.3, 192.0.2.1"],
        );
        assert_eq!(xff().key(&r), ip("10.3.3.3"));
        let r = req(Some("10.0.0.1:1"), "x-forwarded-for", &[b" , ,"]);
        assert_eq!(xff().key(&r), ip("10.0.0.1"));
    }

    #[test]
    fn unparsable_client_hop_or_no_peer_is_no_key() {
        let r = req(
            Some("10.0.0.1:1"),
            "x-forwarded-for",
            &[b"1.1.1.1, unknown, 10.0.0.3"],
        );
        assert_eq!(xff().key(&r), None);
        let r = req(None, "x-forwarded-for", &[b"1.1.1.1"]);
        assert_eq!(xff().key(&r), None);
    }

    #[test]
    fn forwarded_header_reads_for_parameters() {
        let fwd = xff().header(ForwardedHeader::Forwarded);
        let r = req(
            Some("10.0.0.1:1"),
            "forwarded",
            &[b"for=6.6.6.6, For=\"[2001:db8:cafe::17]:4711\";proto=https;by=\"a,b\", for=10.0.0.2;host=x"],
        );
        assert_eq!(fwd.key(&r), ip("2001:db8:cafe::"), "keyed by its /64");
        // An element without `for`, or `for=unknown`, is no key.
        let r = req(
            Some("10.0.0.1:1"),
            "forwarded",
            &[b"for=1.1.1.1, proto=http"],
        );
        assert_eq!(fwd.key(&r), None);
        let r = req(Some("10.0.0.1:1"), "forwarded", &[b"for=unknown"]);
        assert_eq!(fwd.key(&r), None);
        // The other header is not read.
        let r = req(Some("10.0.0.1:1"), "x-forwarded-for", &[b"1.1.1.1"]);
        assert_eq!(fwd.key(&r), ip("10.0.0.1"));
    }

    #[test]
    fn prefix_grouping_applies_to_forwarded_clients() {
        let r = req(
            Some("10.0.0.1:1"),
            "x-forwarded-for",
            &[b"2001:db8:1:2:3::9"],
        );
        assert_eq!(xff().key(&r), ip("2001:db8:1:2::"), "a /64 by default");
        let by48 = xff().ipv6_prefix(48).unwrap();
        assert_eq!(by48.key(&r), ip("2001:db8:1::"));
        let r4 = req(Some("10.0.0.1:1"), "x-forwarded-for", &[b"198.51.100.77"]);
        assert_eq!(xff().key(&r4), ip("198.51.100.77"));
        assert_eq!(xff().ipv4_prefix(24).unwrap().key(&r4), ip("198.51.100.0"));
        assert_eq!(xff().ipv6_prefix(129).unwrap_err().field(), "ipv6_prefix");
        assert_eq!(xff().ipv4_prefix(33).unwrap_err().field(), "ipv4_prefix");
    }

    #[test]
    fn bad_proxies_are_config_errors() {
        let err = ForwardedIp::trusting(["10.0.0.0/8", "proxy.internal"]).unwrap_err();
        assert_eq!(err.field(), "trusted_proxies");
        assert!(err.rule().contains("proxy.internal"));
    }

    #[test]
    fn reverse_elements_respect_quotes_and_escapes() {
        let parts: Vec<&[u8]> = RevElements::new(br#"a, "x,\"y", ,b"#).collect();
        assert_eq!(parts, vec![&b"b"[..], &br#" "x,\"y""#[..], &b"a"[..]]);
    }
}
