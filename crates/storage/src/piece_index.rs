use std::fmt;

/// Index of a piece within one torrent.
///
/// A torrent file is capped at 64 MiB, so it can describe at most about
/// 3.4 million pieces: `u32` always fits. [`crate::FileStorage::open`]
/// rejects an [`metainfo::Info`] with more pieces than that, and every
/// [`crate::Storage`] method checks the index against the torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PieceIndex(pub u32);

impl PieceIndex {
    /// The raw index.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The index as a `usize`, for indexing [`metainfo::Info`] tables.
    pub fn as_usize(self) -> usize {
        // u32 -> usize is lossless on every platform std supports (>= 32-bit).
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    /// Converts a `usize` index; `None` if it does not fit in `u32`.
    pub fn from_usize(index: usize) -> Option<Self> {
        u32::try_from(index).ok().map(Self)
    }
}

impl From<u32> for PieceIndex {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
