use std::net::Ipv4Addr;

use sha1::{Digest, Sha1};

use crate::{Infohash, PieceIndex};

/// The canonical BEP 6 allowed-fast set for a peer: `k` distinct pieces,
/// derived from the peer's /24 and the infohash, that the peer may request
/// from us even while choked.
///
/// The algorithm is only defined for IPv4; for IPv6 peers send no allowed-fast
/// set (it is optional). `k` is capped at `piece_count`, so the loop always
/// ends; zero pieces give an empty set.
///
/// ```
/// use std::net::Ipv4Addr;
/// use wire::{allowed_fast_set, Infohash};
/// let set = allowed_fast_set(Ipv4Addr::new(80, 4, 4, 200), &Infohash([0xaa; 20]), 1313, 7);
/// let raw: Vec<u32> = set.iter().map(|p| p.0).collect();
/// assert_eq!(raw, [1059, 431, 808, 1217, 287, 376, 1188]);
/// ```
pub fn allowed_fast_set(
    ip: Ipv4Addr,
    info_hash: &Infohash,
    piece_count: u32,
    k: u32,
) -> Vec<PieceIndex> {
    let k = crate::convert::usize_from(k.min(piece_count));
    let mut out: Vec<PieceIndex> = Vec::with_capacity(k);
    if k == 0 {
        return out;
    }
    // x = (ip & 0xffffff00) ++ infohash
    let masked = u32::from(ip) & 0xffff_ff00;
    let mut x: [u8; 20] = {
        let mut h = Sha1::new();
        h.update(masked.to_be_bytes());
        h.update(info_hash.0);
        h.finalize().into()
    };
    loop {
        for chunk in x.chunks_exact(4) {
            if out.len() == k {
                return out;
            }
            let y = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let index = PieceIndex(y % piece_count);
            if !out.contains(&index) {
                out.push(index);
            }
        }
        if out.len() == k {
            return out;
        }
        x = Sha1::digest(x).into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ip: [u8; 4], n: u32, k: u32) -> Vec<u32> {
        allowed_fast_set(Ipv4Addr::from(ip), &Infohash([0xaa; 20]), n, k)
            .into_iter()
            .map(|p| p.0)
            .collect()
    }

    #[test]
    fn bep6_test_vector_k7() {
        assert_eq!(
            raw([80, 4, 4, 200], 1313, 7),
            [1059, 431, 808, 1217, 287, 376, 1188]
        );
    }

    #[test]
    fn bep6_test_vector_k9() {
        assert_eq!(
            raw([80, 4, 4, 200], 1313, 9),
            [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
        );
    }

    #[test]
    fn only_the_slash_24_matters() {
        assert_eq!(raw([80, 4, 4, 1], 1313, 9), raw([80, 4, 4, 200], 1313, 9));
        assert_ne!(raw([80, 4, 5, 200], 1313, 9), raw([80, 4, 4, 200], 1313, 9));
    }

    #[test]
    fn k_is_capped_by_piece_count() {
        let mut all = raw([1, 2, 3, 4], 5, 10);
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4]);
        assert!(raw([1, 2, 3, 4], 0, 10).is_empty());
        assert!(raw([1, 2, 3, 4], 10, 0).is_empty());
        assert_eq!(raw([1, 2, 3, 4], 1, 10), [0]);
    }
}
