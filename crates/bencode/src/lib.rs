//! Strict, sans-IO bencode (BEP 3) for anthill.
//!
//! Decoding borrows from the input: byte strings are slices of it, and every
//! value remembers the exact span of input it came from ([`Value::raw`]). That
//! span is what BitTorrent needs for the infohash, which is SHA-1 over the
//! `info` dictionary *as it appears in the file*, not as we would re-encode it.
//!
//! The decoder is a security boundary. It never panics, recursion is capped
//! ([`Limits::max_depth`]), the number of values it will build is capped
//! ([`Limits::max_values`]), and it rejects everything that is not canonical
//! enough to be unambiguous: trailing bytes, leading zeros, `-0`, overlong
//! lengths, duplicate dictionary keys. Out-of-order keys are accepted (some
//! widely used creators emit them) because the raw span keeps hashing exact;
//! [`Limits::require_sorted_keys`] rejects them where strictness is wanted.
//!
//! Encoding goes through [`Encoder`], which writes canonical bencode into a
//! `Vec<u8>`, or through the owned tree [`OwnedValue`].
//!
//! ```
//! let v = bencode::decode(b"d3:cow3:moo4:spaml1:a1:bee").unwrap();
//! assert_eq!(v.dict().unwrap().get(b"cow").unwrap().bytes(), Some(&b"moo"[..]));
//! assert_eq!(bencode::encode(&v.to_owned()), b"d3:cow3:moo4:spaml1:a1:bee");
//! ```

mod encode;
mod error;
mod value;

pub use encode::{Encoder, encode};
pub use error::{DecodeError, DecodeErrorKind};
pub use value::{Dict, OwnedValue, Value, ValueKind};

/// Bounds applied while decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of lists and dictionaries accepted (the top level is depth 1).
    pub max_depth: usize,
    /// Most values (integers, strings, lists, dictionaries) built in total.
    pub max_values: usize,
    /// Reject dictionaries whose keys are not in strictly ascending byte order.
    pub require_sorted_keys: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_values: 4_000_000,
            require_sorted_keys: false,
        }
    }
}

/// Decodes exactly one value that spans the whole input, with default [`Limits`].
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    decode_with(input, Limits::default())
}

/// Decodes exactly one value that spans the whole input.
pub fn decode_with(input: &[u8], limits: Limits) -> Result<Value<'_>, DecodeError> {
    let (value, used) = decode_prefix_with(input, limits)?;
    if used != input.len() {
        return Err(DecodeError::new(DecodeErrorKind::TrailingBytes, used));
    }
    Ok(value)
}

/// Decodes one value from the start of `input` and returns it with the number
/// of bytes it used. Peer messages (BEP 9) carry raw data after a bencoded
/// dictionary; this is how they are split.
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), DecodeError> {
    decode_prefix_with(input, Limits::default())
}

/// [`decode_prefix`] with explicit limits.
pub fn decode_prefix_with(input: &[u8], limits: Limits) -> Result<(Value<'_>, usize), DecodeError> {
    let mut d = value::Decoder::new(input, limits);
    let v = d.value(1)?;
    Ok((v, d.pos()))
}

#[cfg(test)]
mod tests;
