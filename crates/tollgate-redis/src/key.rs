//! Limiter keys as Redis keys: prefixed, hash-tagged, escaped, and bounded in length.

use std::cell::RefCell;

use tollgate_core::KeyBytes;

/// Calls `f` with the Redis key of `key`, `prefix:{escaped key}`, built in buffers of
/// this thread: a decision taken locally allocates nothing.
///
/// The braces are a Redis Cluster hash tag, so a key's state always lands on one shard;
/// inside them every byte outside printable ASCII, and `{`, `}` and `%`, is written as
/// `%XX`, so no key can end the tag early or collide with another. A key whose escaped
/// form is longer than `max_len` bytes is replaced by `#` and the hex SHA-1 of its raw
/// bytes: Redis memory per key stays bounded, and distinct keys stay distinct (up to a
/// SHA-1 collision).
pub(crate) fn with_redis_key<T>(
    prefix: &str,
    key: &(impl KeyBytes + ?Sized),
    max_len: usize,
    f: impl FnOnce(&[u8]) -> T,
) -> T {
    thread_local! {
        /// (the key's raw bytes, the Redis key).
        static BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }
    BUFFERS.with_borrow_mut(|(raw, out)| {
        raw.clear();
        key.write_bytes(raw);
        write_redis_key(prefix, raw, max_len, out);
        f(out)
    })
}

fn write_redis_key(prefix: &str, raw: &[u8], max_len: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.clear();
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(b":{");
    let start = out.len();
    for &b in raw {
        if (0x21..0x7f).contains(&b) && !matches!(b, b'{' | b'}' | b'%') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
    }
    if out.len() - start > max_len {
        out.truncate(start);
        out.push(b'#');
        out.extend_from_slice(sha1_smol::Sha1::from(raw).digest().to_string().as_bytes());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis_key(prefix: &str, key: &(impl KeyBytes + ?Sized), max_len: usize) -> Vec<u8> {
        with_redis_key(prefix, key, max_len, <[u8]>::to_vec)
    }

    fn key(k: &[u8]) -> String {
        String::from_utf8(redis_key("rl", k, 64)).unwrap()
    }

    #[test]
    fn keys_are_tagged_and_escaped() {
        assert_eq!(key(b"alice"), "rl:{alice}");
        assert_eq!(key(b"a}b{c%"), "rl:{a%7Db%7Bc%25}");
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
}
