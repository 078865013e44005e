use crate::PieceIndex;

/// Why a bitfield payload or a piece index was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BitfieldError {
    /// The payload is not `ceil(piece_count / 8)` bytes.
    #[error("bitfield of {len} bytes, but {piece_count} pieces need {expected}")]
    WrongLength {
        /// Bytes received.
        len: usize,
        /// Bytes required.
        expected: usize,
        /// The torrent's piece count.
        piece_count: u32,
    },
    /// A bit after the last piece is set (BEP 3: spare bits must be zero).
    #[error("bitfield sets spare bits beyond piece {piece_count}")]
    SpareBitsSet {
        /// The torrent's piece count.
        piece_count: u32,
    },
    /// A piece index not below the piece count.
    #[error("piece {index} out of range for {piece_count} pieces")]
    OutOfRange {
        /// The offending index.
        index: PieceIndex,
        /// The torrent's piece count.
        piece_count: u32,
    },
}
