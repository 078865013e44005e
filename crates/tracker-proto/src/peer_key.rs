/// The `key` a client sends so the tracker can recognise it after its
/// address changes (BEP 3 extension, BEP 15 `key` field).
///
/// UDP sends 32 bits. HTTP sends a string, usually 8 hex digits; those are
/// read as the same 32 bits, anything else is folded into 32 bits with
/// FNV-1a (the key is only ever compared for equality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerKey(pub u32);

impl PeerKey {
    /// The key of an HTTP `key=` parameter (already percent-decoded).
    pub fn from_http(value: &[u8]) -> Self {
        let hex = std::str::from_utf8(value)
            .ok()
            .filter(|s| (1..=8).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_hexdigit()));
        if let Some(v) = hex.and_then(|s| u32::from_str_radix(s, 16).ok()) {
            return Self(v);
        }
        let mut h: u32 = 0x811c_9dc5;
        for &c in value {
            h ^= u32::from(c);
            h = h.wrapping_mul(0x0100_0193);
        }
        Self(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys_match_udp_keys() {
        assert_eq!(PeerKey::from_http(b"0000abcd"), PeerKey(0xabcd));
        assert_eq!(PeerKey::from_http(b"FFFFFFFF"), PeerKey(u32::MAX));
    }

    #[test]
    fn other_keys_are_hashed_stably() {
        assert_eq!(
            PeerKey::from_http(b"hello world"),
            PeerKey::from_http(b"hello world")
        );
        assert_ne!(
            PeerKey::from_http(b"hello world"),
            PeerKey::from_http(b"hello worle")
        );
    }
}
