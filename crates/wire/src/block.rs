use std::fmt;

use crate::PieceIndex;

/// Byte offset of a block inside its piece (`begin` in BEP 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlockOffset(pub u32);

/// Length of a block in bytes. Requests are normally [`BlockLength::DEFAULT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlockLength(pub u32);

impl BlockOffset {
    /// The raw offset.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl BlockLength {
    /// 16 KiB, the block size every mainstream client requests and serves.
    pub const DEFAULT: BlockLength = BlockLength(16 * 1024);
    /// The raw length.
    pub const fn get(self) -> u32 {
        self.0
    }
    /// The length as a `usize`.
    pub const fn as_usize(self) -> usize {
        crate::convert::usize_from(self.0)
    }
}

impl From<u32> for BlockOffset {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

impl From<u32> for BlockLength {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

impl fmt::Display for BlockOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for BlockLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One block of one piece: the payload of `request`, `cancel` and (BEP 6)
/// `reject request`, and the identity of a `piece` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlockRequest {
    /// The piece the block belongs to.
    pub piece: PieceIndex,
    /// Where the block starts inside the piece.
    pub offset: BlockOffset,
    /// How many bytes.
    pub length: BlockLength,
}

impl BlockRequest {
    /// A request for `length` bytes at `offset` of `piece`.
    pub const fn new(piece: PieceIndex, offset: BlockOffset, length: BlockLength) -> Self {
        Self {
            piece,
            offset,
            length,
        }
    }
}

impl fmt::Display for BlockRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "piece {} offset {} length {}",
            self.piece, self.offset, self.length
        )
    }
}
