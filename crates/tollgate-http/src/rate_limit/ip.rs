//! IP address helpers shared by the address extractors: CIDR ranges, IPv6 prefix
//! grouping, and parsing one hop of a forwarding header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use tollgate_core::ConfigError;

/// A CIDR range (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `addr` or `addr/prefix`; host bits below the prefix are ignored.
    pub(crate) fn parse(text: &str, field: &'static str) -> Result<IpRange, ConfigError> {
        let bad = || {
            ConfigError::new(
                field,
                format!("`{text}` is not an IP address or CIDR range"),
            )
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| bad())?.to_canonical();
        let max = max_prefix(addr);
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => {
                    return Err(ConfigError::new(
                        field,
                        format!("`{text}`: the prefix length must be at most {max}"),
                    ))
                }
            },
        };
        Ok(IpRange {
            network: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` (canonical form) lies in the range.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        same_family(self.network, ip) && mask(ip, self.prefix) == self.network
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` with every bit after the first `prefix` bits cleared.
pub(crate) fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & keep))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & keep))
        }
    }
}

/// How client addresses become keys: IPv6 by prefix (a client usually holds a whole
/// `/64`, so keying by address would let it mint 2^64 keys), IPv4 by address or prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefixes {
    v4: u8,
    v6: u8,
}

impl Prefixes {
    /// IPv4 by address, IPv6 by `/64`.
    pub(crate) const DEFAULT: Prefixes = Prefixes { v4: 32, v6: 64 };

    /// Groups IPv6 by its first `len` bits: 48 (a site) to 128 (one address).
    pub(crate) fn ipv6(self, len: u8) -> Result<Self, ConfigError> {
        Ok(Self {
            v6: prefix("ipv6_prefix", len, 48, 128)?,
            ..self
        })
    }

    /// Groups IPv4 by its first `len` bits: 16 to 32 (one address).
    pub(crate) fn ipv4(self, len: u8) -> Result<Self, ConfigError> {
        Ok(Self {
            v4: prefix("ipv4_prefix", len, 16, 32)?,
            ..self
        })
    }

    /// The key of a client address: canonical (an IPv4-mapped IPv6 address is its IPv4
    /// address), then masked to its family's prefix.
    pub(crate) fn key(self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            v4 @ IpAddr::V4(_) => mask(v4, self.v4),
            v6 => mask(v6, self.v6),
        }
    }
}

fn prefix(field: &'static str, len: u8, min: u8, max: u8) -> Result<u8, ConfigError> {
    if (min..=max).contains(&len) {
        Ok(len)
    } else {
        Err(ConfigError::new(
            field,
            format!("must be between {min} and {max}, got {len}"),
        ))
    }
}

/// Parses one hop of a forwarding header: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:8080`, surrounding whitespace and quotes allowed.
/// `None` for anything else (`unknown`, obfuscated identifiers, garbage).
pub(crate) fn parse_hop(raw: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if let Ok(ip) = IpAddr::from_str(text) {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = SocketAddr::from_str(text) {
        return Some(sock.ip().to_canonical());
    }
    // `[v6]` without a port.
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    Ipv6Addr::from_str(inner)
        .ok()
        .map(|v6| IpAddr::V6(v6).to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let r = IpRange::parse("10.0.0.0/8", "f").unwrap();
        assert!(r.contains(ip("10.255.1.2")));
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(!r.contains(ip("::a00:1")), "families never mix");
        let single = IpRange::parse(" 192.0.2.7 ", "f").unwrap();
        assert!(single.contains(ip("192.0.2.7")));
        assert!(!single.contains(ip("192.0.2.8")));
        let v6 = IpRange::parse("2001:db8::/32", "f").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        // Host bits are ignored; an IPv4-mapped range is its IPv4 range.
        assert_eq!(
            IpRange::parse("10.1.2.3/8", "f").unwrap(),
            IpRange::parse("10.0.0.0/8", "f").unwrap()
        );
        assert!(IpRange::parse("::ffff:10.0.0.1", "f")
            .unwrap()
            .contains(ip("10.0.0.1")));
        let all = IpRange::parse("0.0.0.0/0", "f").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
    }

    #[test]
    fn bad_ranges_name_the_field_and_rule() {
        for bad in [
            "",
            "10.0.0",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "host.example",
        ] {
            let err = IpRange::parse(bad, "trusted_proxies").unwrap_err();
            assert_eq!(err.field(), "trusted_proxies", "{bad}");
        }
        assert_eq!(
            IpRange::parse("10.0.0.0/33", "trusted_proxies")
                .unwrap_err()
                .rule(),
            "`10.0.0.0/33`: the prefix length must be at most 32"
        );
    }

    #[test]
    fn masks_and_prefixes() {
        assert_eq!(mask(ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(mask(ip("10.1.2.3"), 24), ip("10.1.2.0"));
        assert_eq!(mask(ip("10.1.2.3"), 32), ip("10.1.2.3"));
        assert_eq!(mask(ip("2001:db8:1:2:3:4:5:6"), 64), ip("2001:db8:1:2::"));
        let default = Prefixes::DEFAULT;
        assert_eq!(default.key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(default.key(ip("2001:db8::1:2:3:4")), ip("2001:db8::"));
        let exact = default.ipv6(128).unwrap();
        assert_eq!(exact.key(ip("2001:db8::1")), ip("2001:db8::1"));
        let by24 = default.ipv4(24).unwrap();
        assert_eq!(by24.key(ip("::ffff:192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(
            by24.key(ip("2001:db8::1")),
            ip("2001:db8::"),
            "v6 keeps /64"
        );
        for bad in [0, 47, 129] {
            let err = default.ipv6(bad).unwrap_err();
            assert_eq!(err.field(), "ipv6_prefix");
        }
        assert_eq!(
            default.ipv6(32).unwrap_err().rule(),
            "must be between 48 and 128, got 32"
        );
        for bad in [0, 15, 33] {
            assert_eq!(default.ipv4(bad).unwrap_err().field(), "ipv4_prefix");
        }
        assert_eq!(
            default.ipv6(48).unwrap().ipv4(16).unwrap(),
            Prefixes { v4: 16, v6: 48 }
        );
    }

    #[test]
    fn hops_parse_in_every_form() {
        for (raw, want) in [
            ("192.0.2.1", Some("192.0.2.1")),
            (" 192.0.2.1:8080 ", Some("192.0.2.1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("\"[2001:db8::1]:4711\"", Some("2001:db8::1")),
            ("::ffff:192.0.2.9", Some("192.0.2.9")),
            ("unknown", None),
            ("_hidden", None),
            ("", None),
            ("\"", None),
            ("[::1", None),
            ("999.1.1.1", None),
        ] {
            assert_eq!(parse_hop(raw.as_bytes()), want.map(ip), "{raw:?}");
        }
        assert_eq!(parse_hop(b"\xff\xfe"), None);
    }
}
