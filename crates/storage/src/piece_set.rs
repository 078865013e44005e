use crate::PieceIndex;

/// A set of pieces as a compact bitset in BitTorrent bitfield order
/// (BEP 3): piece 0 is the high bit of byte 0, spare bits at the end are 0.
///
/// The bit count is fixed at creation and comes from the torrent, never from
/// input bytes; [`PieceSet::from_bytes`] only accepts exactly that many bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PieceSet {
    bits: Vec<u8>,
    len: usize,
    count: usize,
}

/// Why bytes are not a valid bitfield for a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PieceSetError {
    /// The byte count does not match the piece count.
    #[error("bitfield has {actual} bytes, expected {expected} for {pieces} pieces")]
    WrongLength {
        /// Bytes expected (`ceil(pieces / 8)`).
        expected: usize,
        /// Bytes given.
        actual: usize,
        /// Pieces in the torrent.
        pieces: usize,
    },
    /// A bit past the last piece is set.
    #[error("bitfield has spare bits set past piece {pieces}")]
    SpareBitsSet {
        /// Pieces in the torrent.
        pieces: usize,
    },
}

impl PieceSet {
    /// An empty set for a torrent of `len` pieces.
    pub fn new(len: usize) -> Self {
        Self {
            bits: vec![0; len.div_ceil(8)],
            len,
            count: 0,
        }
    }

    /// The set of all `len` pieces.
    pub fn full(len: usize) -> Self {
        let mut s = Self {
            bits: vec![0xff; len.div_ceil(8)],
            len,
            count: len,
        };
        s.clear_spare_bits();
        s
    }

    /// Parses a bitfield for a torrent of `len` pieces.
    pub fn from_bytes(bytes: &[u8], len: usize) -> Result<Self, PieceSetError> {
        let expected = len.div_ceil(8);
        if bytes.len() != expected {
            return Err(PieceSetError::WrongLength {
                expected,
                actual: bytes.len(),
                pieces: len,
            });
        }
        let mut s = Self {
            bits: bytes.to_vec(),
            len,
            count: 0,
        };
        let before = s.bits.last().copied();
        s.clear_spare_bits();
        if s.bits.last().copied() != before {
            return Err(PieceSetError::SpareBitsSet { pieces: len });
        }
        s.count = s.bits.iter().map(|b| count_ones(*b)).sum();
        Ok(s)
    }

    /// The bitfield bytes (what a BitTorrent `bitfield` message carries).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Number of pieces in the torrent (the capacity, not the count).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a torrent with no pieces.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pieces in the set.
    pub fn count(&self) -> usize {
        self.count
    }

    /// True when every piece is in the set.
    pub fn is_complete(&self) -> bool {
        self.count == self.len
    }

    /// True if `piece` is in the set; false for out-of-range indexes.
    pub fn contains(&self, piece: PieceIndex) -> bool {
        match self.locate(piece) {
            Some((byte, mask)) => self.bits[byte] & mask != 0,
            None => false,
        }
    }

    /// Adds `piece`; returns true if it was not there before. Out-of-range
    /// indexes are ignored (and return false).
    pub fn insert(&mut self, piece: PieceIndex) -> bool {
        let Some((byte, mask)) = self.locate(piece) else {
            return false;
        };
        let fresh = self.bits[byte] & mask == 0;
        self.bits[byte] |= mask;
        self.count += usize::from(fresh);
        fresh
    }

    /// Removes `piece`; returns true if it was there.
    pub fn remove(&mut self, piece: PieceIndex) -> bool {
        let Some((byte, mask)) = self.locate(piece) else {
            return false;
        };
        let present = self.bits[byte] & mask != 0;
        self.bits[byte] &= !mask;
        self.count -= usize::from(present);
        present
    }

    /// Adds every piece of `other` (which must be for the same torrent; a
    /// set of a different length is ignored past the shorter one).
    pub fn union_with(&mut self, other: &PieceSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= *b;
        }
        self.clear_spare_bits();
        self.count = self.bits.iter().map(|b| count_ones(*b)).sum();
    }

    /// The pieces in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.bits
            .iter()
            .enumerate()
            .filter(|(_, b)| **b != 0)
            .flat_map(|(i, b)| {
                (0..8u8)
                    .filter(move |bit| b & (0x80 >> bit) != 0)
                    .map(move |bit| i * 8 + usize::from(bit))
            })
            .filter_map(PieceIndex::from_usize)
    }

    fn locate(&self, piece: PieceIndex) -> Option<(usize, u8)> {
        let i = piece.as_usize();
        if i >= self.len {
            return None;
        }
        Some((i / 8, 0x80 >> (i % 8)))
    }

    fn clear_spare_bits(&mut self) {
        let used = self.len % 8;
        if used != 0 {
            if let Some(last) = self.bits.last_mut() {
                *last &= !(0xffu8 >> used);
            }
        }
    }
}

fn count_ones(b: u8) -> usize {
    // count_ones() of a u8 is at most 8.
    usize::try_from(b.count_ones()).unwrap_or(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn piece_zero_is_high_bit_of_byte_zero() {
        let mut s = PieceSet::new(10);
        assert!(s.insert(PieceIndex(0)));
        assert!(s.insert(PieceIndex(9)));
        assert!(!s.insert(PieceIndex(9)));
        assert_eq!(s.as_bytes(), &[0x80, 0x40]);
        assert_eq!(s.count(), 2);
        assert_eq!(s.iter().collect::<Vec<_>>(), [PieceIndex(0), PieceIndex(9)]);
    }

    #[test]
    fn out_of_range_is_ignored() {
        let mut s = PieceSet::new(3);
        assert!(!s.insert(PieceIndex(3)));
        assert!(!s.contains(PieceIndex(3)));
        assert!(!s.remove(PieceIndex(u32::MAX)));
        assert_eq!(s.count(), 0);
    }

    #[test]
    fn full_has_no_spare_bits() {
        let s = PieceSet::full(11);
        assert_eq!(s.as_bytes(), &[0xff, 0xe0]);
        assert!(s.is_complete());
        assert_eq!(PieceSet::full(0).as_bytes(), &[] as &[u8]);
    }

    #[test]
    fn from_bytes_rejects_wrong_length() {
        assert_eq!(
            PieceSet::from_bytes(&[0, 0], 17),
            Err(PieceSetError::WrongLength {
                expected: 3,
                actual: 2,
                pieces: 17
            })
        );
    }

    #[test]
    fn from_bytes_rejects_spare_bits() {
        assert_eq!(
            PieceSet::from_bytes(&[0xff, 0x01], 12),
            Err(PieceSetError::SpareBitsSet { pieces: 12 })
        );
    }

    #[test]
    fn union_counts() {
        let mut a = PieceSet::new(9);
        a.insert(PieceIndex(1));
        let mut b = PieceSet::new(9);
        b.insert(PieceIndex(1));
        b.insert(PieceIndex(8));
        a.union_with(&b);
        assert_eq!(a.count(), 2);
        assert!(a.contains(PieceIndex(8)));
    }

    proptest! {
        #[test]
        fn bytes_round_trip(len in 0usize..200, picks in proptest::collection::vec(0u32..220, 0..80)) {
            let mut s = PieceSet::new(len);
            let mut want = std::collections::BTreeSet::new();
            for p in picks {
                let inserted = s.insert(PieceIndex(p));
                prop_assert_eq!(inserted, (p as usize) < len && want.insert(p));
            }
            let back = PieceSet::from_bytes(s.as_bytes(), len).unwrap();
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(back.count(), want.len());
            let got: Vec<u32> = back.iter().map(PieceIndex::get).collect();
            prop_assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        }

        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40), len in 0usize..400) {
            if let Ok(s) = PieceSet::from_bytes(&bytes, len) {
                prop_assert_eq!(s.as_bytes(), &bytes[..]);
                prop_assert!(s.count() <= len);
            }
        }
    }
}
