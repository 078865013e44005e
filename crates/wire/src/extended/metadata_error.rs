use crate::{Infohash, MetadataPiece};

/// Why [`crate::MetadataAssembler`] refused a size, a piece or the result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A `metadata_size` of zero.
    #[error("metadata size is zero")]
    Empty,
    /// A `metadata_size` above the configured cap.
    #[error("metadata size {size} exceeds the limit of {max} bytes")]
    TooLarge {
        /// The claimed size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// A piece index beyond the last piece.
    #[error("metadata piece {piece} out of range ({piece_count} pieces)")]
    PieceOutOfRange {
        /// The index received.
        piece: MetadataPiece,
        /// Pieces for this size.
        piece_count: u32,
    },
    /// A piece whose length is not 16 KiB (or the remainder, for the last).
    #[error("metadata piece {piece} is {len} bytes, expected {expected}")]
    WrongPieceLength {
        /// The piece.
        piece: MetadataPiece,
        /// Bytes received.
        len: usize,
        /// Bytes required.
        expected: usize,
    },
    /// A data message whose `total_size` differs from the size being assembled.
    #[error("metadata total_size {got} differs from the expected {expected}")]
    TotalSizeMismatch {
        /// Size in the message.
        got: u64,
        /// Size being assembled.
        expected: u64,
    },
    /// [`crate::MetadataAssembler::finish`] before all pieces arrived.
    #[error("metadata incomplete: {missing} pieces missing")]
    Incomplete {
        /// Pieces still missing.
        missing: u32,
    },
    /// The assembled metadata does not hash to the infohash.
    #[error("metadata hashes to {actual}, expected infohash {expected}")]
    HashMismatch {
        /// The torrent's infohash.
        expected: Infohash,
        /// SHA-1 of what was received.
        actual: Infohash,
    },
}
