//! Limiter keys as Redis keys: prefixed, hash-tagged, escaped, and bounded in length.

use std::cell::RefCell;

use tollgate_core::KeyBytes;

/// The tags of a key's local form.
const RAW: u8 = 0;
const HASHED: u8 = 1;

/// Calls `f` with `key`'s local form, built in a buffer of this thread, so that a
/// decision taken locally allocates nothing: a tag byte, then the key's raw bytes, or,
/// for a key longer than `max_len` bytes, the hex SHA-1 of them (so the local table's
/// memory per key is bounded too). The tag keeps the two forms apart.
pub(crate) fn with_local_key<T>(
    key: &(impl KeyBytes + ?Sized),
    max_len: usize,
    f: impl FnOnce(&[u8]) -> T,
) -> T {
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|local| {
        local.clear();
        local.push(RAW);
        key.write_bytes(local);
        if local.len() - 1 > max_len {
            let digest = sha1_smol::Sha1::from(&local[1..]).digest();
            local.clear();
            local.push(HASHED);
            push_hex(local, digest);
        }
        f(local)
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
pub(crate) fn redis_key(prefix: &str, local: &[u8], max_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    match local {
        [HASHED, hex @ ..] => {
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(b":{#");
            out.extend_from_slice(hex);
            out.push(b'}');
        }
        tagged => write_redis_key(
            prefix,
            tagged.get(1..).unwrap_or_default(),
            max_len,
            &mut out,
        ),
    }
    out
}

/// Appends `digest` in lowercase hex, with no intermediate string.
fn push_hex(out: &mut Vec<u8>, digest: sha1_smol::Digest) {
    use std::io::Write;
    // Writing to a `Vec` cannot fail.
    let _ = write!(out, "{digest}");
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
        push_hex(out, sha1_smol::Sha1::from(raw).digest());
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
        let local = |k: &[u8]| with_local_key(k, 64, <[u8]>::to_vec);
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
    }
}
