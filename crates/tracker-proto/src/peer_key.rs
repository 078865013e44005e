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
        if !value.is_empty() && value.len() <= 8 {
            let mut v: u32 = 0;
            let mut all_hex = true;
            for &c in value {
                match crate::hex_digit::hex_value(c) {
                    Some(d) => v = (v << 4) | u32::from(d),
                    None => {
                        all_hex = false;
                        break;
                    }
                }
            }
            if all_hex {
                return Self(v);
            }
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
