//! Where a torrent's BEP 47 pad bytes are, per piece.
//!
//! Pad files are zeros that exist only to align the next file on a piece
//! boundary; nobody stores them, so they never need to cross the wire. The
//! picker asks [`PadMap::block_range`] for the part of a block worth
//! requesting, the actor fills the rest of a piece with zeros before hashing,
//! and progress and super-seeding count [`PadMap::content_len`] bytes.
//! See `ENGINE.md` ("Pad files").

use std::collections::HashMap;

use metainfo::Info;

use crate::BLOCK_SIZE;

/// The pad ranges of every piece that has some; cheap for torrents without pads.
#[derive(Debug, Clone, Default)]
pub struct PadMap {
    piece_length: u64,
    total_length: u64,
    /// Piece -> sorted, disjoint pad ranges `[start, end)` (offsets in the piece).
    pads: HashMap<u32, Vec<(u32, u32)>>,
    /// Pad bytes in the whole torrent.
    pad_bytes: u64,
}

impl PadMap {
    /// The pad layout of `info`.
    pub fn new(info: &Info) -> Self {
        Self::from_pads(
            info.piece_length(),
            info.total_length(),
            info.files()
                .iter()
                .filter(|f| f.is_pad() && f.length > 0)
                .map(|f| (f.offset, f.length)),
        )
    }

    /// From `(offset, length)` pad ranges in the torrent's byte space.
    pub fn from_pads(
        piece_length: u64,
        total_length: u64,
        pads: impl IntoIterator<Item = (u64, u64)>,
    ) -> Self {
        let mut map: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
        let mut pad_bytes = 0;
        for (offset, len) in pads {
            let end = (offset + len).min(total_length);
            let mut at = offset;
            while at < end && piece_length > 0 {
                let piece = at / piece_length;
                let piece_start = piece * piece_length;
                let stop = end.min(piece_start + piece_length);
                let (Ok(p), Ok(a), Ok(b)) = (
                    u32::try_from(piece),
                    u32::try_from(at - piece_start),
                    u32::try_from(stop - piece_start),
                ) else {
                    break;
                };
                map.entry(p).or_default().push((a, b));
                pad_bytes += stop - at;
                at = stop;
            }
        }
        for ranges in map.values_mut() {
            ranges.sort_unstable();
            // Merge adjacent or overlapping pads (two pad files in a row).
            let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
            for &(a, b) in ranges.iter() {
                match merged.last_mut() {
                    Some(last) if a <= last.1 => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            *ranges = merged;
        }
        Self {
            piece_length,
            total_length,
            pads: map,
            pad_bytes,
        }
    }

    /// True if the torrent has no pad bytes at all.
    pub fn is_empty(&self) -> bool {
        self.pads.is_empty()
    }

    /// Bytes of real data (the torrent's length without pad bytes).
    pub fn content_total(&self) -> u64 {
        self.total_length - self.pad_bytes
    }

    /// Length of piece `p`, pad bytes included.
    pub fn piece_size(&self, p: u32) -> u32 {
        let start = u64::from(p) * self.piece_length;
        let len = self
            .total_length
            .saturating_sub(start)
            .min(self.piece_length);
        u32::try_from(len).unwrap_or(u32::MAX)
    }

    /// The pad ranges of piece `p` (offsets within the piece), sorted.
    pub fn pads(&self, p: u32) -> &[(u32, u32)] {
        self.pads.get(&p).map_or(&[], Vec::as_slice)
    }

    /// Real bytes of piece `p`.
    pub fn content_len(&self, p: u32) -> u32 {
        let size = self.piece_size(p);
        self.content_in(p, 0, size)
    }

    /// True if every byte of piece `p` is padding (it needs no request).
    pub fn is_pad_only(&self, p: u32) -> bool {
        !self.pads.is_empty() && self.content_len(p) == 0
    }

    /// Real bytes in `[start, end)` of piece `p`.
    pub fn content_in(&self, p: u32, start: u32, end: u32) -> u32 {
        let pad: u32 = self
            .pads(p)
            .iter()
            .map(|&(a, b)| b.min(end).saturating_sub(a.max(start)))
            .sum();
        end.saturating_sub(start) - pad
    }

    /// The range `(offset, length)` of block `b` of piece `p` worth asking for:
    /// from its first to its last real byte (a pad inside that span, which
    /// aligned torrents never have, is requested with it). `None` when the
    /// block is all padding.
    pub fn block_range(&self, p: u32, b: u32) -> Option<(u32, u32)> {
        let size = self.piece_size(p);
        let start = b.checked_mul(BLOCK_SIZE)?;
        if start >= size {
            return None;
        }
        let end = (start + BLOCK_SIZE).min(size);
        let (mut lo, mut hi) = (start, end);
        // Pads are sorted and disjoint: trim the front, then the back.
        for &(a, z) in self.pads(p) {
            if a <= lo && z > lo {
                lo = z.min(end);
            }
        }
        for &(a, z) in self.pads(p).iter().rev() {
            if z >= hi && a < hi {
                hi = a.max(lo);
            }
        }
        (lo < hi).then_some((lo, hi - lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u32 = 1024;

    #[test]
    fn no_pads_means_whole_blocks() {
        let m = PadMap::from_pads(64 * 1024, 100_000, []);
        assert!(m.is_empty());
        assert_eq!(m.content_total(), 100_000);
        assert_eq!(m.block_range(0, 0), Some((0, 16 * K)));
        // last piece: 100000 - 65536 = 34464 bytes, last block 1696 bytes
        assert_eq!(m.block_range(1, 2), Some((32 * K, 1696)));
        assert_eq!(m.block_range(1, 3), None);
        assert!(!m.is_pad_only(1));
    }

    #[test]
    fn pad_at_piece_end_trims_and_skips_blocks() {
        // piece 0: 20000 data bytes, then 45536 pad bytes; piece 1: data.
        let m = PadMap::from_pads(64 * 1024, 65536 + 1000, [(20_000, 45_536)]);
        assert_eq!(m.content_total(), 21_000);
        assert_eq!(m.content_len(0), 20_000);
        assert_eq!(m.block_range(0, 0), Some((0, 16 * K)));
        assert_eq!(m.block_range(0, 1), Some((16 * K, 20_000 - 16 * K)));
        assert_eq!(m.block_range(0, 2), None);
        assert_eq!(m.block_range(0, 3), None);
        assert_eq!(m.block_range(1, 0), Some((0, 1000)));
        assert_eq!(m.content_in(0, 16 * K, 32 * K), 20_000 - 16 * K);
    }

    #[test]
    fn pad_at_block_start_and_spanning_pieces() {
        // A pad from 10000 to 2 * 32768 + 5000 over a 32 KiB piece length.
        let pl = 32 * 1024u64;
        let m = PadMap::from_pads(pl, 4 * pl, [(10_000, 2 * pl + 5000 - 10_000)]);
        assert_eq!(m.pads(0), &[(10_000, 32 * K)]);
        assert_eq!(m.pads(1), &[(0, 32 * K)]);
        assert_eq!(m.pads(2), &[(0, 5000)]);
        assert!(m.is_pad_only(1));
        assert!(!m.is_pad_only(0));
        assert_eq!(m.block_range(1, 0), None);
        assert_eq!(m.block_range(2, 0), Some((5000, 16 * K - 5000)));
        assert_eq!(m.block_range(2, 1), Some((16 * K, 16 * K)));
        assert_eq!(m.content_total(), 4 * pl - (2 * pl + 5000 - 10_000));
    }

    #[test]
    fn a_pad_inside_a_block_is_requested_with_it() {
        let m = PadMap::from_pads(64 * 1024, 64 * 1024, [(100, 50), (150, 10)]);
        assert_eq!(m.pads(0), &[(100, 160)]);
        assert_eq!(m.block_range(0, 0), Some((0, 16 * K)));
        assert_eq!(m.content_len(0), 64 * K - 60);
    }
}
