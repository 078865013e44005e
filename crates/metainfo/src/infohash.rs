use sha1::{Digest, Sha1};
use std::fmt;
use std::str::FromStr;

/// The v1 infohash: SHA-1 over the raw bencoded `info` dictionary, the
/// 20 bytes that name a torrent (BEP 3) in metainfo, magnet links, the peer
/// handshake and tracker requests alike.
///
/// Text forms: [`Infohash::from_hex`] reads exactly 40 hex digits (what
/// trackers and allow lists use); [`str::parse`] also takes the 32-character
/// base32 form of magnet links.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Infohash(pub [u8; 20]);

/// Why a string is not a 40-digit hex infohash ([`Infohash::from_hex`]).
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

impl Infohash {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// Hashes raw `info` bytes.
    pub fn of_info(raw_info: &[u8]) -> Self {
        Self(Sha1::digest(raw_info).into())
    }

    /// The infohash in `bytes`, if it is exactly 20 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lowercase hex, 40 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 40 hex digits (either case); no other form.
    pub fn from_hex(s: &str) -> Result<Self, ParseInfoHashError> {
        let b = s.as_bytes();
        if b.len() != 2 * Self::LEN {
            return Err(ParseInfoHashError::InvalidLength { len: b.len() });
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(b, &mut out).map_err(|e| match e {
            hex::FromHexError::InvalidHexCharacter { index, .. } => {
                ParseInfoHashError::InvalidHexDigit { position: index }
            }
            // The length was checked above.
            _ => ParseInfoHashError::InvalidLength { len: b.len() },
        })?;
        Ok(Self(out))
    }
}

impl fmt::Display for Infohash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Infohash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Infohash({})", self.to_hex())
    }
}

/// Error parsing an infohash from text with [`str::parse`] (hex or base32).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("infohash must be 40 hex digits or 32 base32 characters: {0:?}")]
pub struct InfohashParseError(pub String);

impl FromStr for Infohash {
    type Err = InfohashParseError;
    /// Accepts 40 hex digits or 32 base32 characters (the two magnet forms).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InfohashParseError(s.chars().take(64).collect());
        let mut out = [0u8; 20];
        match s.len() {
            40 => return Self::from_hex(s).map_err(|_| bad()),
            32 => {
                let mut acc: u64 = 0;
                let mut bits = 0;
                let mut i = 0;
                for c in s.bytes() {
                    let v = match c.to_ascii_uppercase() {
                        c @ b'A'..=b'Z' => c - b'A',
                        c @ b'2'..=b'7' => c - b'2' + 26,
                        _ => return Err(bad()),
                    };
                    acc = (acc << 5) | u64::from(v);
                    bits += 5;
                    if bits >= 8 {
                        bits -= 8;
                        out[i] = u8::try_from((acc >> bits) & 0xff).map_err(|_| bad())?;
                        i += 1;
                    }
                }
            }
            _ => return Err(bad()),
        }
        Ok(Self(out))
    }
}

impl serde::Serialize for Infohash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn text_round_trips(bytes in any::<[u8; 20]>()) {
            let h = Infohash(bytes);
            prop_assert_eq!(Infohash::from_hex(&h.to_hex()), Ok(h));
            prop_assert_eq!(h.to_hex().to_uppercase().parse::<Infohash>(), Ok(h));
        }

        #[test]
        fn text_parsers_never_panic(s in prop_oneof!["\\PC{0,48}", "[0-9a-zA-Z]{32}", "[0-9a-gA-G]{40}"]) {
            let _ = Infohash::from_hex(&s);
            let _ = s.parse::<Infohash>();
        }
    }

    #[test]
    fn hex_round_trip() {
        let h = Infohash([0xab; 20]);
        assert_eq!(Infohash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(h.to_string(), "ab".repeat(20));
    }

    #[test]
    fn hex_either_case() {
        assert_eq!(
            Infohash::from_hex(&"aB".repeat(20)),
            Ok(Infohash([0xab; 20]))
        );
    }

    #[test]
    fn hex_wrong_length() {
        assert_eq!(
            Infohash::from_hex("abc"),
            Err(ParseInfoHashError::InvalidLength { len: 3 })
        );
    }

    #[test]
    fn hex_bad_digit() {
        let s = format!("{}g", "a".repeat(39));
        assert_eq!(
            Infohash::from_hex(&s),
            Err(ParseInfoHashError::InvalidHexDigit { position: 39 })
        );
        let s = format!("g{}", "a".repeat(39));
        assert_eq!(
            Infohash::from_hex(&s),
            Err(ParseInfoHashError::InvalidHexDigit { position: 0 })
        );
    }

    #[test]
    fn from_hex_rejects_base32() {
        let b32 = "VKVKVKVKVKVKVKVKVKVKVKVKVKVKVKVK";
        assert_eq!(b32.parse::<Infohash>(), Ok(Infohash([0xaa; 20])));
        assert_eq!(
            Infohash::from_hex(b32),
            Err(ParseInfoHashError::InvalidLength { len: 32 })
        );
    }

    #[test]
    fn parse_takes_hex_and_reports_input() {
        assert_eq!(
            "AB".repeat(20).parse::<Infohash>(),
            Ok(Infohash([0xab; 20]))
        );
        let bad = format!("{}g", "a".repeat(39));
        assert_eq!(
            bad.parse::<Infohash>(),
            Err(InfohashParseError(bad.clone()))
        );
    }

    #[test]
    fn from_bytes_needs_twenty() {
        assert!(Infohash::from_bytes(&[0; 19]).is_none());
        assert!(Infohash::from_bytes(&[0; 21]).is_none());
        assert_eq!(Infohash::from_bytes(&[7; 20]), Some(Infohash([7; 20])));
    }

    #[test]
    fn debug_and_display() {
        let h = Infohash([0x0f; 20]);
        assert_eq!(format!("{h:?}"), format!("Infohash({})", "0f".repeat(20)));
        assert_eq!(h.to_string(), "0f".repeat(20));
    }
}
