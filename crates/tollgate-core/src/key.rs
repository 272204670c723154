//! Picking a request's key, for keyed limiters and breakers, and writing it out for a
//! store shared by many processes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Picks the key a keyed layer decides a request by (a client address, an API key, a
/// host): one shape for every keyed layer in tollgate.
///
/// Implemented by every `Fn(&Req) -> Option<K>` closure, and by `tollgate-http`'s
/// extractors (`PeerIp`, `HeaderKey`, `PathKey`, `ForwardedIp`). `None` means the request
/// has no key; each layer documents what it does then.
///
/// ```
/// use tollgate_core::KeyFn;
///
/// let by_user = |request: &(&'static str, u32)| Some(request.0);
/// assert_eq!(by_user.key(&("alice", 7)), Some("alice"));
///
/// fn key_of<Req, F: KeyFn<Req>>(f: &F, request: &Req) -> Option<F::Key> {
///     f.key(request)
/// }
/// assert_eq!(key_of(&by_user, &("bob", 1)), Some("bob"));
/// ```
pub trait KeyFn<Req>: Clone {
    /// The key type.
    type Key;

    /// The key of `request`, or `None` if it has none.
    fn key(&self, request: &Req) -> Option<Self::Key>;
}

impl<Req, K, F> KeyFn<Req> for F
where
    F: Fn(&Req) -> Option<K> + Clone,
{
    type Key = K;

    #[inline]
    fn key(&self, request: &Req) -> Option<K> {
        self(request)
    }
}

/// A key that can leave the process: its bytes, for a limiter whose state lives in a
/// shared store (`tollgate-redis`), where every instance must name a key the same way.
///
/// Implemented for strings, byte strings, integers and IP addresses (written as text),
/// and for references to them; `tollgate-http`'s extractors' keys implement it too.
///
/// ```
/// use tollgate_core::KeyBytes;
///
/// let mut out = Vec::new();
/// "10.0.0.1".write_bytes(&mut out);
/// 42u64.write_bytes(&mut out);
/// assert_eq!(out, b"10.0.0.142");
/// ```
pub trait KeyBytes {
    /// Appends the key's bytes to `out`.
    fn write_bytes(&self, out: &mut Vec<u8>);
}

impl<T: KeyBytes + ?Sized> KeyBytes for &T {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        (**self).write_bytes(out);
    }
}

impl KeyBytes for [u8] {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

macro_rules! bytes_key {
    ($($t:ty),*) => {$(
        impl KeyBytes for $t {
            fn write_bytes(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(AsRef::<[u8]>::as_ref(self));
            }
        }
    )*};
}

bytes_key!(str, String, Vec<u8>);

impl KeyBytes for Arc<str> {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

macro_rules! display_key {
    ($($t:ty),*) => {$(
        impl KeyBytes for $t {
            fn write_bytes(&self, out: &mut Vec<u8>) {
                use std::io::Write;
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

display_key!(IpAddr, Ipv4Addr, Ipv6Addr);

macro_rules! integer_key {
    ($($t:ty),*) => {$(
        impl KeyBytes for $t {
            fn write_bytes(&self, out: &mut Vec<u8>) {
                // As `Display` writes it, without the formatting machinery.
                out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}

integer_key!(u32, u64, i64);

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(key: &(impl KeyBytes + ?Sized)) -> String {
        let mut out = Vec::new();
        key.write_bytes(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn integers_and_addresses_write_as_display_does() {
        for n in [0, 7, -1, i64::MIN, i64::MAX] {
            assert_eq!(bytes(&n), n.to_string());
        }
        assert_eq!(bytes(&u64::MAX), u64::MAX.to_string());
        assert_eq!(bytes(&u32::MAX), "4294967295");
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(bytes(&ip), "2001:db8::1");
        assert_eq!(bytes("key"), "key");
    }
}
