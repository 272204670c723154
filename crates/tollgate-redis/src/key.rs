//! Limiter keys as Redis keys: prefixed, hash-tagged, escaped, and bounded in length.

use tollgate_core::KeyBytes;

/// Builds `prefix:{escaped key}`.
///
/// The braces are a Redis Cluster hash tag, so a key's state always lands on one shard;
/// inside them every byte outside printable ASCII, and `{`, `}` and `%`, is written as
/// `%XX`, so no key can end the tag early or collide with another. A key whose escaped
/// form is longer than `max_len` bytes is replaced by `#` and the hex SHA-1 of its raw
/// bytes: Redis memory per key stays bounded, and distinct keys stay distinct (up to a
/// SHA-1 collision).
pub(crate) fn redis_key(prefix: &str, key: &(impl KeyBytes + ?Sized), max_len: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    key.write_bytes(&mut raw);
    let mut out = Vec::with_capacity(prefix.len() + 3 + raw.len());
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(b":{");
    let start = out.len();
    for &b in &raw {
        if (0x21..0x7f).contains(&b) && !matches!(b, b'{' | b'}' | b'%') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    if out.len() - start > max_len {
        out.truncate(start);
        out.push(b'#');
        out.extend_from_slice(sha1_smol::Sha1::from(&raw).digest().to_string().as_bytes());
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &[u8]) -> String {
        String::from_utf8(redis_key("rl", &k, 64)).unwrap()
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
