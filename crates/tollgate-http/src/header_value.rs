//! Header values written per request without an allocation per value: `http` copies
//! every value it is given into a new buffer, so the layers that write a value on each
//! request (the `RateLimit` field of an admitted response, the budget sent on an
//! outgoing call) cut theirs from one buffer per thread instead.

use std::cell::RefCell;

use bytes::BytesMut;
use http::header::{HeaderValue, InvalidHeaderValue};

/// What the buffer of a thread is refilled with when it runs low: one allocation per
/// this many bytes of values still alive, none once the values cut from it have been
/// dropped (the buffer is then reused in place).
const CHUNK: usize = 4096;

/// The most a value written here needs; a longer one makes the buffer grow, as any
/// `BytesMut` does.
const MAX_VALUE: usize = 128;

thread_local! {
    static BUFFER: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// The value `write` writes into the (empty) buffer it is given. A value keeps alive
/// the chunk it was cut from, at most [`CHUNK`] bytes.
pub(crate) fn header_value(
    write: impl FnOnce(&mut BytesMut),
) -> Result<HeaderValue, InvalidHeaderValue> {
    let value = BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        if buffer.capacity() < MAX_VALUE {
            buffer.reserve(CHUNK);
        }
        write(buffer);
        buffer.split().freeze()
    });
    HeaderValue::from_maybe_shared(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    #[test]
    fn values_are_what_was_written_and_independent() {
        let a = header_value(|b| b.extend_from_slice(b"\"default\";r=5;t=10")).unwrap();
        let b = header_value(|b| write!(b, "{}m", 250).unwrap()).unwrap();
        assert_eq!(a, "\"default\";r=5;t=10");
        assert_eq!(b, "250m", "a later value does not overwrite an earlier one");
    }

    #[test]
    fn an_invalid_value_is_an_error() {
        assert!(header_value(|b| b.extend_from_slice(b"line\nbreak")).is_err());
    }

    #[test]
    fn values_outlive_many_refills() {
        let kept: Vec<HeaderValue> = (0..2 * CHUNK / 4)
            .map(|i| header_value(|b| write!(b, "{i:04}").unwrap()).unwrap())
            .collect();
        for (i, value) in kept.iter().enumerate() {
            assert_eq!(value.to_str().unwrap(), format!("{i:04}"));
        }
    }
}
