use std::fmt;

/// The 20-byte SHA-1 infohash of a v1 torrent, as carried in the handshake.
///
/// `anthill-metainfo` computes it from the `info` dictionary; this crate only
/// moves it around and compares it (handshake, BEP 9 verification, BEP 6).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Infohash(pub [u8; 20]);

impl Infohash {
    /// Wraps raw bytes.
    pub const fn new(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }
    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl From<[u8; 20]> for Infohash {
    fn from(v: [u8; 20]) -> Self {
        Self(v)
    }
}

impl fmt::Display for Infohash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Infohash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Infohash({self})")
    }
}
