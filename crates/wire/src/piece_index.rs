use std::fmt;

/// Zero-based index of a piece in a torrent.
///
/// The wire format carries it as a big-endian `u32`. A `PieceIndex` that came
/// off the wire has not been checked against the torrent's piece count; the
/// engine does that (for example with [`crate::Bitfield::get`], which treats an
/// out-of-range index as "not present").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PieceIndex(pub u32);

impl PieceIndex {
    /// Wraps a raw index.
    pub const fn new(index: u32) -> Self {
        Self(index)
    }
    /// The raw index.
    pub const fn get(self) -> u32 {
        self.0
    }
    /// The index as a `usize`, for indexing local tables.
    pub const fn as_usize(self) -> usize {
        crate::convert::usize_from(self.0)
    }
}

impl From<u32> for PieceIndex {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

impl From<PieceIndex> for u32 {
    fn from(v: PieceIndex) -> Self {
        v.0
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
