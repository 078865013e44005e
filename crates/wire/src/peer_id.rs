use std::fmt;

/// The 20-byte peer id sent in the handshake.
///
/// It is chosen by the remote and untrusted: use it for logging and for
/// detecting connections to ourselves, never as a key for security decisions.
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
}

impl From<[u8; 20]> for PeerId {
    fn from(v: [u8; 20]) -> Self {
        Self(v)
    }
}

impl fmt::Display for PeerId {
    /// Printable ASCII as is, everything else as `\xNN` (peer ids usually start
    /// with an Azureus-style client tag such as `-AH0100-`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId(\"{self}\")")
    }
}
