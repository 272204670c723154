//! The trusted-proxy promise of `ForwardedIp`, for any bytes a client can send.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::{HeaderValue, Request};
use proptest::prelude::*;
use tollgate_core::KeyFn;
use tollgate_http::rate_limit::{ClientAddr, ForwardedHeader, ForwardedIp};

/// Bytes a header value may hold: visible ASCII, space, tab and obs-text.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => 0x20u8..0x7f,
            1 => 0x80u8..=0xff,
            1 => Just(b'\t'),
            // The separators that matter, more often.
            2 => prop::sample::select(vec![b',', b'"', b';', b'=', b'\\', b'[', b']']),
        ],
        0..48,
    )
}

fn request(peer: &str, name: &str, value: &[u8]) -> Request<()> {
    let value = HeaderValue::from_bytes(value).expect("the strategy makes valid values");
    let mut req = Request::get("/").header(name, value).body(()).unwrap();
    req.extensions_mut()
        .insert(ClientAddr(peer.parse::<SocketAddr>().unwrap()));
    req
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

proptest! {
    #[test]
    fn what_a_client_writes_left_of_its_address_never_changes_its_key(prefix in header_bytes()) {
        let xff = ForwardedIp::trusting(["10.0.0.0/8"]).unwrap();
        let mut value = prefix.clone();
        value.extend_from_slice(b", 198.51.100.7");
        let req = request("10.0.0.1:1", "x-forwarded-for", &value);
        prop_assert_eq!(xff.key(&req), Some(ip("198.51.100.7")));

        // By the whole address, to see that it is this one that was read.
        let fwd = xff.clone().header(ForwardedHeader::Forwarded).ipv6_prefix(128).unwrap();
        let mut value = prefix;
        value.extend_from_slice(b", for=\"[2001:db8::7]:443\";proto=https");
        let req = request("10.0.0.1:1", "forwarded", &value);
        prop_assert_eq!(fwd.key(&req), Some(ip("2001:db8::7")));
    }

    #[test]
    fn an_untrusted_peer_is_keyed_by_its_own_address_whatever_it_sends(
        value in header_bytes(),
        forwarded in any::<bool>(),
    ) {
        let (extractor, name) = if forwarded {
            (ForwardedIp::trusting(["10.0.0.0/8"]).unwrap().header(ForwardedHeader::Forwarded), "forwarded")
        } else {
            (ForwardedIp::trusting(["10.0.0.0/8"]).unwrap(), "x-forwarded-for")
        };
        let req = request("203.0.113.9:1", name, &value);
        prop_assert_eq!(extractor.key(&req), Some(ip("203.0.113.9")));
    }

    #[test]
    fn rotating_the_interface_identifier_never_mints_a_new_key(
        network in any::<u64>(),
        a in any::<u64>(),
        b in any::<u64>(),
        other in any::<u64>(),
    ) {
        let xff = ForwardedIp::trusting(["10.0.0.0/8"]).unwrap();
        let key = |bits: u128| {
            let hop = Ipv6Addr::from(bits).to_string();
            xff.key(&request("10.0.0.1:1", "x-forwarded-for", hop.as_bytes()))
        };
        let high = u128::from(network) << 64;
        let want = Some(IpAddr::V6(Ipv6Addr::from(high)));
        // IPv4-mapped addresses are IPv4 clients: keyed by address, not by /64.
        prop_assume!(network != 0);
        prop_assert_eq!(key(high | u128::from(a)), want);
        prop_assert_eq!(key(high | u128::from(b)), want);
        if other != network {
            prop_assert_ne!(key((u128::from(other) << 64) | u128::from(a)), want);
        }
    }
}
