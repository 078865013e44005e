use std::fmt;

/// The 20-byte id a client picks for itself (BEP 3 `peer_id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lowercase hex, 40 characters.
    pub fn to_hex(&self) -> String {
        crate::info_hash::hex_encode(&self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Most ids start with a printable client tag such as `-TR3000-`.
        write!(
            f,
            "PeerId({})",
            String::from_utf8_lossy(&self.0).escape_debug()
        )
    }
}
