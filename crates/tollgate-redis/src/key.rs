//! Limiter keys as Redis keys: prefixed, hash-tagged, escaped, and bounded in length.

use tollgate_core::KeyBytes;

/// The tags of a key's owned local form.
const RAW: u8 = 0;
const HASHED: u8 = 1;

/// A key as this instance's table knows it: its raw bytes, or, for a key longer than
/// the limiter's `max_key_len`, the hex SHA-1 of them (so the local table's memory per
/// key is bounded too). `hashed` keeps the two forms apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalKey<'a> {
    pub(crate) hashed: bool,
    pub(crate) bytes: &'a [u8],
}

impl<'a> LocalKey<'a> {
    /// A key kept as it is.
    #[cfg(test)]
    pub(crate) fn raw(bytes: &'a [u8]) -> Self {
        Self {
            hashed: false,
            bytes,
        }
    }

    /// The owned form, for a round trip and the local table: a tag byte, then the
    /// bytes.
    pub(crate) fn to_tagged(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.bytes.len());
        out.push(if self.hashed { HASHED } else { RAW });
        out.extend_from_slice(self.bytes);
        out
    }

    /// The key whose owned form is `tagged`.
    pub(crate) fn from_tagged(tagged: &'a [u8]) -> Self {
        Self {
            hashed: tagged.first() == Some(&HASHED),
            bytes: tagged.get(1..).unwrap_or_default(),
        }
    }

    /// Whether `tagged` is this key's owned form.
    pub(crate) fn is(self, tagged: &[u8]) -> bool {
        let other = LocalKey::from_tagged(tagged);
        other.hashed == self.hashed && other.bytes == self.bytes
    }
}

/// Calls `f` with `key`'s local form, with no copy of a key that lends its bytes (see
/// [`KeyBytes::with_bytes`]), so that a decision taken locally allocates nothing.
pub(crate) fn with_local_key<T>(
    key: &(impl KeyBytes + ?Sized),
    max_len: usize,
    f: impl FnOnce(LocalKey<'_>) -> T,
) -> T {
    key.with_bytes(|raw| {
        if raw.len() <= max_len {
            return f(LocalKey {
                hashed: false,
                bytes: raw,
            });
        }
        let hex = sha1_hex(raw);
        f(LocalKey {
            hashed: true,
            bytes: &hex,
        })
    })
}

/// The Redis key of a key in its local form: `prefix:{escaped key}`.
///
/// The braces are a Redis Cluster hash tag, so a key's state always lands on one shard;
/// inside them every byte outside printable ASCII, and `{`, `}`, `%` and `#`, is
/// written as `%XX`, so no key can end the tag early or collide with another. A key
/// whose escaped form is longer than `max_len` bytes is replaced by `#` and the hex
/// SHA-1 of its raw bytes (no escaped key starts with `#`, so no short key can spell a
/// long one's): Redis memory per key stays bounded, and distinct keys stay distinct (up
/// to a SHA-1 collision).
pub(crate) fn redis_key(prefix: &str, local: LocalKey<'_>, max_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if local.hashed {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(b":{#");
        out.extend_from_slice(local.bytes);
        out.push(b'}');
    } else {
        write_redis_key(prefix, local.bytes, max_len, &mut out);
    }
    out
}

/// The SHA-1 of `bytes` in lowercase hex, on the stack.
fn sha1_hex(bytes: &[u8]) -> [u8; 40] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha1_smol::Sha1::from(bytes).digest().bytes();
    let mut hex = [0; 40];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    hex
}

fn write_redis_key(prefix: &str, raw: &[u8], max_len: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.clear();
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(b":{");
    let start = out.len();
    for &b in raw {
        if (0x21..0x7f).contains(&b) && !matches!(b, b'{' | b'}' | b'%' | b'#') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
    }
    if out.len() - start > max_len {
        out.truncate(start);
        out.push(b'#');
        out.extend_from_slice(&sha1_hex(raw));
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis_key(prefix: &str, key: &(impl KeyBytes + ?Sized), max_len: usize) -> Vec<u8> {
        with_local_key(key, max_len, |local| {
            super::redis_key(prefix, local, max_len)
        })
    }

    fn key(k: &[u8]) -> String {
        String::from_utf8(redis_key("rl", k, 64)).unwrap()
    }

    #[test]
    fn keys_are_tagged_and_escaped() {
        assert_eq!(key(b"alice"), "rl:{alice}");
        assert_eq!(key(b"a}b{c%"), "rl:{a%7Db%7Bc%25}");
        assert_eq!(
            key(b"#1"),
            "rl:{%231}",
            "no escaped key starts like a hashed one"
        );
        assert_eq!(key(b"sp ce\n\xff"), "rl:{sp%20ce%0A%FF}");
        assert_eq!(key(b""), "rl:{}");
        // Escaping keeps distinct keys distinct.
        assert_ne!(key(b"%7D"), key(b"}"));
    }

    #[test]
    fn long_keys_are_hashed_and_bounded() {
        let long = vec![b'x'; 10_000];
        let k = key(&long);
        assert!(k.starts_with("rl:{#") && k.ends_with('}'), "{k}");
        assert_eq!(k.len(), "rl:{#}".len() + 40);
        let mut other = long.clone();
        other[9_999] = b'y';
        assert_ne!(k, key(&other));
        // Exactly at the bound: kept as is.
        assert_eq!(key(&[b'z'; 64]), format!("rl:{{{}}}", "z".repeat(64)));
    }

    #[test]
    fn addresses_and_numbers_are_written_as_text() {
        let ip: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            String::from_utf8(redis_key("p", &ip, 64)).unwrap(),
            "p:{2001:db8::1}"
        );
        assert_eq!(
            String::from_utf8(redis_key("p", &42u64, 64)).unwrap(),
            "p:{42}"
        );
    }

    #[test]
    fn a_short_key_spelling_a_long_keys_hash_stays_apart_locally_and_on_redis() {
        let long = vec![b'x'; 200];
        let local = |k: &[u8]| with_local_key(k, 64, |k| k.to_tagged());
        let hashed = local(&long);
        assert_eq!(hashed.len(), 41, "a tag and 40 hex digits: bounded");
        // A short key made of exactly the long key's hash form.
        let spelled = [b"#".as_slice(), &hashed[1..]].concat();
        assert_ne!(local(&spelled), hashed);
        assert_ne!(
            redis_key("p", &spelled[..], 64),
            redis_key("p", &long[..], 64)
        );
        assert_eq!(local(b"ab"), [0, b'a', b'b']);
        assert_eq!(LocalKey::from_tagged(&hashed).bytes, &hashed[1..]);
        assert!(LocalKey::from_tagged(&hashed).is(&hashed));
        assert!(!LocalKey::from_tagged(&hashed).is(&spelled));
    }

    #[test]
    fn the_hex_of_a_long_key_is_its_sha1() {
        let long = [b'a'; 65];
        let hex = with_local_key(&long[..], 64, |k| String::from_utf8(k.bytes.to_vec()));
        assert_eq!(
            hex.unwrap(),
            sha1_smol::Sha1::from(long).digest().to_string()
        );
    }
}
