//! Picking a request's key, for keyed limiters and breakers, and writing it out for a
//! store shared by many processes.

use std::cell::RefCell;
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
/// assert_eq!(42u64.with_bytes(<[u8]>::len), 2);
/// ```
pub trait KeyBytes {
    /// Appends the key's bytes to `out`.
    fn write_bytes(&self, out: &mut Vec<u8>);

    /// Calls `f` with the bytes [`write_bytes`](Self::write_bytes) writes. By default
    /// they are written into a buffer of this thread; strings and byte strings lend
    /// their own bytes, and integers are written on the stack, so a decision that only
    /// looks a key up copies nothing.
    fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        thread_local! {
            static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        // Taken out for the call, so that a key whose `f` names another key (which
        // would borrow the buffer again) still works: it gets a buffer of its own.
        let mut buffer = BUFFER.take();
        buffer.clear();
        self.write_bytes(&mut buffer);
        let out = f(&buffer);
        BUFFER.set(buffer);
        out
    }
}

impl<T: KeyBytes + ?Sized> KeyBytes for &T {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        (**self).write_bytes(out);
    }

    fn with_bytes<U>(&self, f: impl FnOnce(&[u8]) -> U) -> U {
        (**self).with_bytes(f)
    }
}

macro_rules! bytes_key {
    ($($t:ty),*) => {$(
        impl KeyBytes for $t {
            fn write_bytes(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(AsRef::<[u8]>::as_ref(self));
            }

            fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
                f(AsRef::<[u8]>::as_ref(self))
            }
        }
    )*};
}

bytes_key!([u8], str, String, Vec<u8>);

impl KeyBytes for Arc<str> {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        f(self.as_bytes())
    }
}

macro_rules! address_key {
    ($($t:ty),*) => {$(
        impl KeyBytes for $t {
            fn write_bytes(&self, out: &mut Vec<u8>) {
                self.with_bytes(|bytes| out.extend_from_slice(bytes));
            }

            fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
                use std::io::Write;
                // As `Display` writes it, on the stack: the longest address text is
                // 39 bytes (eight groups of four hex digits).
                let mut text = [0; 48];
                let mut rest = &mut text[..];
                let _ = write!(rest, "{self}");
                let len = 48 - rest.len();
                f(&text[..len])
            }
        }
    )*};
}

address_key!(IpAddr, Ipv4Addr, Ipv6Addr);

macro_rules! integer_key {
    ($($t:ty),*) => {$(
        impl KeyBytes for $t {
            fn write_bytes(&self, out: &mut Vec<u8>) {
                self.with_bytes(|bytes| out.extend_from_slice(bytes));
            }

            fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
                // As `Display` writes it, without the formatting machinery.
                f(itoa::Buffer::new().format(*self).as_bytes())
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

    /// Each key's `with_bytes` lends exactly what `write_bytes` writes.
    fn lent(key: &(impl KeyBytes + ?Sized)) -> String {
        key.with_bytes(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    #[test]
    fn every_key_lends_the_bytes_it_writes() {
        let longest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .unwrap();
        let v4: Ipv4Addr = "255.255.255.255".parse().unwrap();
        let keys: [&dyn Fn() -> (String, String); 9] = [
            &|| (bytes(&longest), lent(&longest)),
            &|| (bytes(&v4), lent(&v4)),
            &|| (bytes(&Ipv6Addr::LOCALHOST), lent(&Ipv6Addr::LOCALHOST)),
            &|| (bytes(&i64::MIN), lent(&i64::MIN)),
            &|| (bytes(&u32::MAX), lent(&u32::MAX)),
            &|| (bytes(&String::from("s")), lent(&String::from("s"))),
            &|| (bytes(&Arc::<str>::from("a")), lent(&Arc::<str>::from("a"))),
            &|| (bytes(&b"v".to_vec()), lent(&b"v".to_vec())),
            &|| (bytes(&&"r"), lent(&&"r")),
        ];
        for key in keys {
            let (written, lent) = key();
            assert_eq!(written, lent);
            assert!(!written.is_empty());
        }
        assert_eq!(lent(&longest), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(lent(&mapped), "::ffff:1.2.3.4");
    }

    /// A key written through the default buffer, whose bytes are read while another
    /// such key is written: each gets its own bytes.
    struct Nested(&'static str, Option<&'static Nested>);

    impl KeyBytes for Nested {
        fn write_bytes(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(self.0.as_bytes());
        }
    }

    #[test]
    fn the_default_buffer_serves_a_key_read_inside_another() {
        static INNER: Nested = Nested("inner", None);
        let outer = Nested("outer", Some(&INNER));
        let both = outer.with_bytes(|o| {
            let i = outer.1.unwrap().with_bytes(<[u8]>::to_vec);
            [o, b"+", &i].concat()
        });
        assert_eq!(both, b"outer+inner");
        assert_eq!(lent(&INNER), "inner", "the buffer is back for the next key");
    }
}
