use bytes::Bytes;
use sha1::{Digest, Sha1};

use crate::convert::usize_from;
use crate::{Infohash, METADATA_PIECE_LEN, MetadataError, MetadataPiece};

/// Default cap on the size of metadata we are willing to assemble: 16 MiB,
/// the limit mainstream clients use too.
pub const MAX_METADATA_SIZE: u64 = 16 * 1024 * 1024;

/// Collects the BEP 9 metadata pieces of one torrent and verifies the result
/// against the infohash.
///
/// Sans-IO: the engine creates one per torrent from the first peer's
/// `metadata_size`, asks peers for [`MetadataAssembler::missing`] pieces,
/// feeds each `data` message to [`MetadataAssembler::insert`], and calls
/// [`MetadataAssembler::finish`] once it returns `Ok(true)`. Pieces are kept
/// as the received [`Bytes`] (no copy) until `finish` joins them, so memory
/// grows only with what actually arrived.
///
/// ```
/// use sha1::{Digest, Sha1};
/// use bytes::Bytes;
/// use wire::{Infohash, MetadataAssembler, MetadataPiece};
/// let info = b"d4:name3:abce".to_vec();
/// let hash = Infohash(Sha1::digest(&info).into());
/// let mut a = MetadataAssembler::new(hash, info.len() as u64).unwrap();
/// assert!(a.insert(MetadataPiece(0), info.len() as u64, Bytes::from(info.clone())).unwrap());
/// assert_eq!(a.finish().unwrap(), info);
/// ```
#[derive(Debug, Clone)]
pub struct MetadataAssembler {
    info_hash: Infohash,
    total_size: u32,
    /// One slot per piece, filled by `insert`, emptied by a failed `finish`.
    pieces: Vec<Option<Bytes>>,
    received: u32,
}

impl MetadataAssembler {
    /// An assembler for `total_size` bytes, capped at [`MAX_METADATA_SIZE`].
    pub fn new(info_hash: Infohash, total_size: u64) -> Result<Self, MetadataError> {
        Self::with_max_size(info_hash, total_size, MAX_METADATA_SIZE)
    }

    /// An assembler with a custom size cap (itself limited to `u32::MAX`).
    pub fn with_max_size(
        info_hash: Infohash,
        total_size: u64,
        max_size: u64,
    ) -> Result<Self, MetadataError> {
        if total_size == 0 {
            return Err(MetadataError::Empty);
        }
        let max = max_size.min(u64::from(u32::MAX));
        let size = u32::try_from(total_size)
            .ok()
            .filter(|s| u64::from(*s) <= max)
            .ok_or(MetadataError::TooLarge {
                size: total_size,
                max,
            })?;
        let count = usize_from(size).div_ceil(METADATA_PIECE_LEN);
        Ok(Self {
            info_hash,
            total_size: size,
            pieces: vec![None; count],
            received: 0,
        })
    }

    /// The infohash the result must hash to.
    pub fn info_hash(&self) -> Infohash {
        self.info_hash
    }

    /// Size of the metadata in bytes.
    pub fn total_size(&self) -> u64 {
        u64::from(self.total_size)
    }

    /// Number of 16 KiB pieces.
    pub fn piece_count(&self) -> u32 {
        crate::convert::u32_saturating(self.pieces.len())
    }

    /// Expected length of `piece`, `None` if out of range.
    pub fn piece_len(&self, piece: MetadataPiece) -> Option<usize> {
        let i = usize_from(piece.0);
        if i >= self.pieces.len() {
            return None;
        }
        let start = i * METADATA_PIECE_LEN;
        Some((usize_from(self.total_size) - start).min(METADATA_PIECE_LEN))
    }

    /// Pieces not received yet, ascending.
    pub fn missing(&self) -> impl Iterator<Item = MetadataPiece> + '_ {
        self.pieces
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .filter_map(|(i, _)| u32::try_from(i).ok().map(MetadataPiece))
    }

    /// True when every piece has arrived.
    pub fn is_complete(&self) -> bool {
        usize_from(self.received) == self.pieces.len()
    }

    /// Stores a piece from a `data` message; returns whether all pieces are
    /// now present. A piece received twice replaces the earlier copy.
    pub fn insert(
        &mut self,
        piece: MetadataPiece,
        total_size: u64,
        data: Bytes,
    ) -> Result<bool, MetadataError> {
        if total_size != u64::from(self.total_size) {
            return Err(MetadataError::TotalSizeMismatch {
                got: total_size,
                expected: u64::from(self.total_size),
            });
        }
        let expected = self
            .piece_len(piece)
            .ok_or(MetadataError::PieceOutOfRange {
                piece,
                piece_count: self.piece_count(),
            })?;
        if data.len() != expected {
            return Err(MetadataError::WrongPieceLength {
                piece,
                len: data.len(),
                expected,
            });
        }
        let slot = &mut self.pieces[usize_from(piece.0)];
        if slot.is_none() {
            self.received += 1;
        }
        *slot = Some(data);
        Ok(self.is_complete())
    }

    /// Joins the pieces and checks their SHA-1 against the infohash.
    ///
    /// On success returns the info dictionary's bytes. On
    /// [`MetadataError::HashMismatch`] every piece is discarded, so the engine
    /// can fetch them again (preferably from other peers). On
    /// [`MetadataError::Incomplete`] nothing changes.
    pub fn finish(&mut self) -> Result<Vec<u8>, MetadataError> {
        if !self.is_complete() {
            return Err(MetadataError::Incomplete {
                missing: self.piece_count() - self.received,
            });
        }
        let mut out = Vec::with_capacity(usize_from(self.total_size));
        for p in self.pieces.iter().flatten() {
            out.extend_from_slice(p);
        }
        let actual = Infohash(Sha1::digest(&out).into());
        if actual != self.info_hash {
            self.pieces.fill(None);
            self.received = 0;
            return Err(MetadataError::HashMismatch {
                expected: self.info_hash,
                actual,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(len: usize) -> (Vec<u8>, Infohash) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let h = Infohash(Sha1::digest(&data).into());
        (data, h)
    }

    fn pieces(data: &[u8]) -> Vec<Bytes> {
        data.chunks(METADATA_PIECE_LEN)
            .map(Bytes::copy_from_slice)
            .collect()
    }

    #[test]
    fn assembles_out_of_order() {
        let (data, h) = metadata(40_000);
        let total = data.len() as u64;
        let mut a = MetadataAssembler::new(h, total).unwrap();
        assert_eq!(a.piece_count(), 3);
        let p = pieces(&data);
        assert_eq!(a.insert(MetadataPiece(2), total, p[2].clone()), Ok(false));
        assert_eq!(a.insert(MetadataPiece(0), total, p[0].clone()), Ok(false));
        assert_eq!(a.missing().collect::<Vec<_>>(), [MetadataPiece(1)]);
        assert_eq!(a.finish(), Err(MetadataError::Incomplete { missing: 1 }));
        // duplicates do not count twice
        assert_eq!(a.insert(MetadataPiece(0), total, p[0].clone()), Ok(false));
        assert_eq!(a.insert(MetadataPiece(1), total, p[1].clone()), Ok(true));
        assert_eq!(a.finish().unwrap(), data);
    }

    #[test]
    fn exact_multiple_of_piece_len() {
        let (data, h) = metadata(2 * METADATA_PIECE_LEN);
        let a = MetadataAssembler::new(h, data.len() as u64).unwrap();
        assert_eq!(a.piece_count(), 2);
        assert_eq!(a.piece_len(MetadataPiece(1)), Some(METADATA_PIECE_LEN));
        assert_eq!(a.piece_len(MetadataPiece(2)), None);
    }

    #[test]
    fn hash_mismatch_discards_everything() {
        let (data, h) = metadata(20_000);
        let total = data.len() as u64;
        let mut a = MetadataAssembler::new(h, total).unwrap();
        let mut p = pieces(&data);
        let mut bad = p[1].to_vec();
        bad[0] ^= 1;
        p[1] = Bytes::from(bad);
        a.insert(MetadataPiece(0), total, p[0].clone()).unwrap();
        a.insert(MetadataPiece(1), total, p[1].clone()).unwrap();
        let Err(MetadataError::HashMismatch { expected, .. }) = a.finish() else {
            panic!("expected a hash mismatch");
        };
        assert_eq!(expected, h);
        assert_eq!(a.missing().count(), 2);
        assert!(!a.is_complete());
    }

    #[test]
    fn rejects_zero_size() {
        assert_eq!(
            MetadataAssembler::new(Infohash::default(), 0).unwrap_err(),
            MetadataError::Empty
        );
    }

    #[test]
    fn rejects_oversized() {
        assert_eq!(
            MetadataAssembler::new(Infohash::default(), MAX_METADATA_SIZE + 1).unwrap_err(),
            MetadataError::TooLarge {
                size: MAX_METADATA_SIZE + 1,
                max: MAX_METADATA_SIZE
            }
        );
        assert_eq!(
            MetadataAssembler::with_max_size(Infohash::default(), u64::MAX, u64::MAX).unwrap_err(),
            MetadataError::TooLarge {
                size: u64::MAX,
                max: u64::from(u32::MAX)
            }
        );
    }

    #[test]
    fn rejects_piece_out_of_range() {
        let mut a = MetadataAssembler::new(Infohash::default(), 100).unwrap();
        assert_eq!(
            a.insert(MetadataPiece(1), 100, Bytes::new()),
            Err(MetadataError::PieceOutOfRange {
                piece: MetadataPiece(1),
                piece_count: 1
            })
        );
    }

    #[test]
    fn rejects_wrong_piece_length() {
        let mut a = MetadataAssembler::new(Infohash::default(), 20_000).unwrap();
        assert_eq!(
            a.insert(MetadataPiece(0), 20_000, Bytes::from(vec![0; 100])),
            Err(MetadataError::WrongPieceLength {
                piece: MetadataPiece(0),
                len: 100,
                expected: METADATA_PIECE_LEN
            })
        );
        assert_eq!(
            a.insert(MetadataPiece(1), 20_000, Bytes::from(vec![0; 100])),
            Err(MetadataError::WrongPieceLength {
                piece: MetadataPiece(1),
                len: 100,
                expected: 20_000 - METADATA_PIECE_LEN
            })
        );
    }

    #[test]
    fn rejects_total_size_mismatch() {
        let mut a = MetadataAssembler::new(Infohash::default(), 100).unwrap();
        assert_eq!(
            a.insert(MetadataPiece(0), 101, Bytes::from(vec![0; 100])),
            Err(MetadataError::TotalSizeMismatch {
                got: 101,
                expected: 100
            })
        );
    }
}
