use std::fmt;

/// The 20-byte id a BitTorrent client picks for itself (BEP 3 `peer_id`).
///
/// Shared by the peer wire handshake (crate `wire`) and tracker announces
/// (crate `tracker-proto`). It is chosen by the remote and untrusted: use it
/// for logging, for detecting connections to ourselves and as a swarm
/// member's key, never for security decisions.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// Wraps raw bytes.
    pub const fn new(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lowercase hex, 40 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 20]> for PeerId {
    fn from(v: [u8; 20]) -> Self {
        Self(v)
    }
}

impl fmt::Display for PeerId {
    /// Printable ASCII as is, everything else as `\xNN` (peer ids usually start
    /// with an Azureus-style client tag such as `-AH0100-`). Lossless, unlike
    /// a UTF-8 lossy conversion.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId(\"{self}\")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_non_ascii_losslessly() {
        let mut raw = *b"-AH0100-abcdefghijkl";
        raw[19] = 0xff;
        let id = PeerId::new(raw);
        assert_eq!(id.to_string(), "-AH0100-abcdefghijk\\xff");
        assert_eq!(format!("{id:?}"), "PeerId(\"-AH0100-abcdefghijk\\xff\")");
    }

    #[test]
    fn hex_is_lowercase_forty_digits() {
        let id = PeerId::from([0xab; 20]);
        assert_eq!(id.to_hex(), "ab".repeat(20));
        assert_eq!(id.as_bytes(), &[0xab; 20]);
    }
}
