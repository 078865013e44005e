use std::fmt;
use std::str::FromStr;

/// The 20-byte SHA-1 infohash that names a torrent (BEP 3).
///
/// The metainfo crate has its own infohash type; the tracker only needs the
/// bytes, so converting is a matter of [`InfoHash::from_bytes`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

/// Why a string is not a hex infohash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseInfoHashError {
    /// Not 40 hex digits long.
    #[error("infohash must be 40 hex digits, got {len} characters")]
    InvalidLength {
        /// Length of the rejected string, in bytes.
        len: usize,
    },
    /// A character that is not a hex digit.
    #[error("invalid hex digit at position {position} of infohash")]
    InvalidHexDigit {
        /// Byte offset of the offending character.
        position: usize,
    },
}

impl InfoHash {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// The infohash in `bytes`, if it is exactly 20 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lowercase hex, 40 characters.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses 40 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, ParseInfoHashError> {
        let b = s.as_bytes();
        if b.len() != 40 {
            return Err(ParseInfoHashError::InvalidLength { len: b.len() });
        }
        let mut out = [0u8; 20];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0])
                .ok_or(ParseInfoHashError::InvalidHexDigit { position: 2 * i })?;
            let lo = hex_value(pair[1]).ok_or(ParseInfoHashError::InvalidHexDigit {
                position: 2 * i + 1,
            })?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

impl FromStr for InfoHash {
    type Err = ParseInfoHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

pub(crate) fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = InfoHash([0xab; 20]);
        assert_eq!(InfoHash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(h.to_string(), "ab".repeat(20));
    }

    #[test]
    fn hex_wrong_length() {
        assert_eq!(
            InfoHash::from_hex("abc"),
            Err(ParseInfoHashError::InvalidLength { len: 3 })
        );
    }

    #[test]
    fn hex_bad_digit() {
        let s = format!("{}g", "a".repeat(39));
        assert_eq!(
            InfoHash::from_hex(&s),
            Err(ParseInfoHashError::InvalidHexDigit { position: 39 })
        );
    }

    #[test]
    fn from_bytes_needs_twenty() {
        assert!(InfoHash::from_bytes(&[0; 19]).is_none());
        assert!(InfoHash::from_bytes(&[0; 20]).is_some());
    }
}
