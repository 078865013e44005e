use bytes::{BufMut, Bytes, BytesMut};

use crate::convert::usize_from;
use crate::{BitfieldError, Message, PieceIndex};

/// The set of pieces a peer has, one bit per piece.
///
/// Stored as `u64` words so set operations, counts and scans run 64 pieces at
/// a time. Layout: piece `p` is bit `63 - p % 64` of word `p / 64`, i.e. the
/// words are the wire bytes read big-endian, which makes conversion from and
/// to the wire a plain byte-order load/store. Invariant: bits at or beyond
/// [`Bitfield::len`] are always zero, so whole-word operations need no
/// masking except where noted.
///
/// Operations between two bitfields of different lengths treat the missing
/// bits of the shorter one as zero and never change `self`'s length.
///
/// ```
/// use wire::{Bitfield, PieceIndex};
/// let theirs = Bitfield::from_payload(&[0b1010_0000, 0b1000_0000], 9).unwrap();
/// let mut ours = Bitfield::new(9);
/// ours.set(PieceIndex(0)).unwrap();
/// let wanted: Vec<u32> = theirs.iter_and_not(&ours).map(|p| p.0).collect();
/// assert_eq!(wanted, [2, 8]);
/// assert_eq!(theirs.count_ones(), 3);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bitfield {
    words: Vec<u64>,
    len: u32,
}

/// Word index and bit mask of piece `i` (caller checked `i < len`).
#[inline]
fn locate(i: u32) -> (usize, u64) {
    (usize_from(i / 64), 1u64 << (63 - i % 64))
}

impl Bitfield {
    /// `piece_count` pieces, none set.
    pub fn new(piece_count: u32) -> Self {
        Self {
            words: vec![0; usize_from(piece_count.div_ceil(64))],
            len: piece_count,
        }
    }

    /// `piece_count` pieces, all set (a seeder, or BEP 6 `have all`).
    pub fn full(piece_count: u32) -> Self {
        let mut b = Self::new(piece_count);
        b.set_all();
        b
    }

    /// Wire size of a bitfield for `piece_count` pieces: `ceil(piece_count / 8)`.
    pub const fn payload_len(piece_count: u32) -> usize {
        usize_from(piece_count.div_ceil(8))
    }

    /// Parses a `bitfield` message payload, requiring the exact length and
    /// zero spare bits.
    pub fn from_payload(payload: &[u8], piece_count: u32) -> Result<Self, BitfieldError> {
        let expected = Self::payload_len(piece_count);
        if payload.len() != expected {
            return Err(BitfieldError::WrongLength {
                len: payload.len(),
                expected,
                piece_count,
            });
        }
        let mut words = Vec::with_capacity(usize_from(piece_count.div_ceil(64)));
        let mut chunks = payload.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            words.push(u64::from_be_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            words.push(u64::from_be_bytes(w));
        }
        let b = Self {
            words,
            len: piece_count,
        };
        if let Some(last) = b.words.last()
            && last & !b.last_word_mask() != 0
        {
            return Err(BitfieldError::SpareBitsSet { piece_count });
        }
        Ok(b)
    }

    /// Mask of the valid bits of the last word (all ones if it is full).
    fn last_word_mask(&self) -> u64 {
        match self.len % 64 {
            0 => u64::MAX,
            r => !(u64::MAX >> r),
        }
    }

    /// Appends the wire payload (`ceil(len / 8)` bytes) to `dst`.
    pub fn write_payload(&self, dst: &mut BytesMut) {
        let mut remaining = Self::payload_len(self.len);
        dst.reserve(remaining);
        for w in &self.words {
            let bytes = w.to_be_bytes();
            let n = remaining.min(8);
            dst.put_slice(&bytes[..n]);
            remaining -= n;
        }
    }

    /// The wire payload.
    pub fn to_payload(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::payload_len(self.len));
        self.write_payload(&mut b);
        b.freeze()
    }

    /// The `bitfield` message announcing this set.
    pub fn to_message(&self) -> Message {
        Message::Bitfield(self.to_payload())
    }

    /// Number of pieces (not the number set).
    pub const fn len(&self) -> u32 {
        self.len
    }

    /// True for a torrent with no pieces.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether piece `i` is set; `false` for an index out of range.
    #[inline]
    pub fn get(&self, i: PieceIndex) -> bool {
        if i.0 >= self.len {
            return false;
        }
        let (w, m) = locate(i.0);
        self.words.get(w).is_some_and(|x| x & m != 0)
    }

    fn check(&self, i: PieceIndex) -> Result<(usize, u64), BitfieldError> {
        if i.0 >= self.len {
            return Err(BitfieldError::OutOfRange {
                index: i,
                piece_count: self.len,
            });
        }
        Ok(locate(i.0))
    }

    /// Sets piece `i`; returns whether it was previously unset.
    #[inline]
    pub fn set(&mut self, i: PieceIndex) -> Result<bool, BitfieldError> {
        let (w, m) = self.check(i)?;
        let word = &mut self.words[w];
        let was_unset = *word & m == 0;
        *word |= m;
        Ok(was_unset)
    }

    /// Clears piece `i`; returns whether it was previously set.
    #[inline]
    pub fn clear(&mut self, i: PieceIndex) -> Result<bool, BitfieldError> {
        let (w, m) = self.check(i)?;
        let word = &mut self.words[w];
        let was_set = *word & m != 0;
        *word &= !m;
        Ok(was_set)
    }

    /// Sets every piece.
    pub fn set_all(&mut self) {
        self.words.fill(u64::MAX);
        let mask = self.last_word_mask();
        if let Some(last) = self.words.last_mut() {
            *last &= mask;
        }
    }

    /// Clears every piece.
    pub fn clear_all(&mut self) {
        self.words.fill(0);
    }

    /// Number of pieces set.
    pub fn count_ones(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    /// Number of pieces not set.
    pub fn count_zeros(&self) -> u32 {
        self.len - self.count_ones()
    }

    /// True when every piece is set (also for zero pieces).
    pub fn is_full(&self) -> bool {
        self.count_ones() == self.len
    }

    /// True when no piece is set.
    pub fn is_clear(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The set pieces in ascending order.
    pub fn iter_ones(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        SetBits::new(self.words.iter().copied())
    }

    /// The unset pieces in ascending order.
    pub fn iter_zeros(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        let last = self.words.len().saturating_sub(1);
        let mask = self.last_word_mask();
        SetBits::new(
            self.words
                .iter()
                .enumerate()
                .map(move |(i, w)| if i == last { !w & mask } else { !w }),
        )
    }

    /// Pieces set here and not in `other`, ascending: "what this peer has that
    /// we lack" when called on the peer's bitfield with ours. Allocation free.
    pub fn iter_and_not<'a>(
        &'a self,
        other: &'a Bitfield,
    ) -> impl Iterator<Item = PieceIndex> + 'a {
        SetBits::new(
            self.words
                .iter()
                .enumerate()
                .map(|(i, w)| w & !other.words.get(i).copied().unwrap_or(0)),
        )
    }

    /// Number of pieces set here and not in `other`.
    pub fn count_and_not(&self, other: &Bitfield) -> u32 {
        self.zip_words(other)
            .map(|(a, b)| (a & !b).count_ones())
            .sum()
    }

    /// Whether any piece is set here and not in `other` (are we interested?).
    pub fn any_and_not(&self, other: &Bitfield) -> bool {
        self.zip_words(other).any(|(a, b)| a & !b != 0)
    }

    /// Number of pieces set in both.
    pub fn count_and(&self, other: &Bitfield) -> u32 {
        self.zip_words(other)
            .map(|(a, b)| (a & b).count_ones())
            .sum()
    }

    /// Pairs of words, `other` padded with zeros.
    fn zip_words<'a>(&'a self, other: &'a Bitfield) -> impl Iterator<Item = (u64, u64)> + 'a {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| (*w, other.words.get(i).copied().unwrap_or(0)))
    }

    /// `self |= other`.
    pub fn union_with(&mut self, other: &Bitfield) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
        // other may be longer: keep our spare bits zero
        let mask = self.last_word_mask();
        if let Some(last) = self.words.last_mut() {
            *last &= mask;
        }
    }

    /// `self &= other`.
    pub fn intersect_with(&mut self, other: &Bitfield) {
        for (i, a) in self.words.iter_mut().enumerate() {
            *a &= other.words.get(i).copied().unwrap_or(0);
        }
    }

    /// `self &= !other`.
    pub fn subtract(&mut self, other: &Bitfield) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !b;
        }
    }

    /// The raw words in the layout described on [`Bitfield`], for custom
    /// word-at-a-time scans.
    pub fn words(&self) -> &[u64] {
        &self.words
    }
}

impl std::fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{}: ", self.count_ones(), self.len)?;
        for i in 0..self.len.min(256) {
            f.write_str(if self.get(PieceIndex(i)) { "1" } else { "0" })?;
        }
        if self.len > 256 {
            f.write_str("…")?;
        }
        f.write_str(")")
    }
}

/// Iterates the set bits of a word sequence in the [`Bitfield`] layout.
struct SetBits<I> {
    words: I,
    /// Index of the first bit of `cur`.
    base: u64,
    cur: u64,
    started: bool,
}

impl<I: Iterator<Item = u64>> SetBits<I> {
    fn new(words: I) -> Self {
        Self {
            words,
            base: 0,
            cur: 0,
            started: false,
        }
    }
}

impl<I: Iterator<Item = u64>> Iterator for SetBits<I> {
    type Item = PieceIndex;

    #[inline]
    fn next(&mut self) -> Option<PieceIndex> {
        while self.cur == 0 {
            self.cur = self.words.next()?;
            if self.started {
                self.base += 64;
            }
            self.started = true;
        }
        let lz = self.cur.leading_zeros();
        self.cur &= !(1u64 << (63 - lz));
        // Bits beyond `len` (<= u32::MAX) are never set, so this fits.
        u32::try_from(self.base + u64::from(lz))
            .ok()
            .map(PieceIndex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(b: &Bitfield) -> Vec<u32> {
        b.iter_ones().map(|p| p.0).collect()
    }

    #[test]
    fn wire_layout_is_msb_first() {
        let b = Bitfield::from_payload(&[0x80, 0x01], 16).unwrap();
        assert_eq!(ones(&b), [0, 15]);
        assert_eq!(&b.to_payload()[..], &[0x80, 0x01]);
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(
            Bitfield::from_payload(&[0, 0], 17),
            Err(BitfieldError::WrongLength {
                len: 2,
                expected: 3,
                piece_count: 17
            })
        );
        assert_eq!(
            Bitfield::from_payload(&[0, 0, 0, 0], 17),
            Err(BitfieldError::WrongLength {
                len: 4,
                expected: 3,
                piece_count: 17
            })
        );
    }

    #[test]
    fn rejects_spare_bits() {
        // 9 pieces: second byte may only use its top bit
        assert_eq!(
            Bitfield::from_payload(&[0, 0x40], 9),
            Err(BitfieldError::SpareBitsSet { piece_count: 9 })
        );
        assert!(Bitfield::from_payload(&[0, 0x80], 9).is_ok());
        // spare bits in a later byte of the last word
        assert_eq!(
            Bitfield::from_payload(&[0xff; 9], 65),
            Err(BitfieldError::SpareBitsSet { piece_count: 65 })
        );
    }

    #[test]
    fn out_of_range_index() {
        let mut b = Bitfield::new(10);
        let e = BitfieldError::OutOfRange {
            index: PieceIndex(10),
            piece_count: 10,
        };
        assert_eq!(b.set(PieceIndex(10)), Err(e));
        assert_eq!(b.clear(PieceIndex(10)), Err(e));
        assert!(!b.get(PieceIndex(10)));
        assert!(!b.get(PieceIndex(u32::MAX)));
    }

    #[test]
    fn set_clear_report_changes() {
        let mut b = Bitfield::new(100);
        assert_eq!(b.set(PieceIndex(70)), Ok(true));
        assert_eq!(b.set(PieceIndex(70)), Ok(false));
        assert!(b.get(PieceIndex(70)));
        assert_eq!(b.count_ones(), 1);
        assert_eq!(b.clear(PieceIndex(70)), Ok(true));
        assert_eq!(b.clear(PieceIndex(70)), Ok(false));
        assert!(b.is_clear());
    }

    #[test]
    fn full_and_zeros() {
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 130] {
            let f = Bitfield::full(n);
            assert_eq!(f.count_ones(), n);
            assert!(f.is_full());
            assert_eq!(f.iter_zeros().count(), 0);
            assert_eq!(ones(&f), (0..n).collect::<Vec<_>>());
            assert_eq!(Bitfield::from_payload(&f.to_payload(), n), Ok(f));
            let e = Bitfield::new(n);
            assert_eq!(
                e.iter_zeros().map(|p| p.0).collect::<Vec<_>>(),
                (0..n).collect::<Vec<_>>()
            );
            assert_eq!(e.count_zeros(), n);
        }
    }

    #[test]
    fn set_operations() {
        let mut a = Bitfield::new(130);
        let mut b = Bitfield::new(130);
        for i in [1, 64, 65, 129] {
            a.set(PieceIndex(i)).unwrap();
        }
        for i in [64, 100, 129] {
            b.set(PieceIndex(i)).unwrap();
        }
        assert_eq!(a.iter_and_not(&b).map(|p| p.0).collect::<Vec<_>>(), [1, 65]);
        assert_eq!(a.count_and_not(&b), 2);
        assert_eq!(a.count_and(&b), 2);
        assert!(a.any_and_not(&b));
        let mut u = a.clone();
        u.union_with(&b);
        assert_eq!(ones(&u), [1, 64, 65, 100, 129]);
        let mut i = a.clone();
        i.intersect_with(&b);
        assert_eq!(ones(&i), [64, 129]);
        let mut s = a.clone();
        s.subtract(&b);
        assert_eq!(ones(&s), [1, 65]);
        s.subtract(&a);
        assert!(!s.any_and_not(&b));
    }

    #[test]
    fn union_with_longer_keeps_spare_bits_zero() {
        let mut a = Bitfield::new(3);
        a.union_with(&Bitfield::full(64));
        assert_eq!(a.count_ones(), 3);
        assert_eq!(Bitfield::from_payload(&a.to_payload(), 3), Ok(a));
    }
}
