use sha1::{Digest, Sha1};
use std::fmt;
use std::str::FromStr;

/// The v1 infohash: SHA-1 over the raw bencoded `info` dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Infohash(pub [u8; 20]);

impl Infohash {
    /// Hashes raw `info` bytes.
    pub fn of_info(raw_info: &[u8]) -> Self {
        Self(Sha1::digest(raw_info).into())
    }
    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
    /// Lowercase hex, 40 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
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

/// Error parsing an infohash from text.
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
            40 => hex::decode_to_slice(s, &mut out).map_err(|_| bad())?,
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
