use std::fmt;

// `as_usize` widens with `as`; this turns the 32-bit-or-wider assumption
// into a compile error instead of a silent truncation.
const _: () = assert!(
    usize::BITS >= 32,
    "anthill-metainfo needs usize of at least 32 bits"
);

/// Zero-based index of a piece within one torrent.
///
/// Shared by the peer wire protocol (crate `wire`, where it travels as a
/// big-endian `u32`) and the disk layer (crate `storage`).
///
/// A torrent file is capped at [`crate::MAX_TORRENT_FILE_SIZE`], so it can
/// describe at most about 3.4 million pieces: `u32` always fits. A
/// `PieceIndex` that came off the wire has not been checked against the
/// torrent's piece count; its users do that (storage checks every index
/// against the torrent, the engine's bitfields treat an out-of-range index as
/// "not present").
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

    /// The index as a `usize`, for indexing local tables such as
    /// [`crate::Info::pieces`].
    pub const fn as_usize(self) -> usize {
        // Lossless: usize has at least 32 bits (asserted above).
        self.0 as usize
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usize_round_trip() {
        let i = PieceIndex::new(3_400_000);
        assert_eq!(PieceIndex::from_usize(i.as_usize()), Some(i));
        assert_eq!(u32::from(i), i.get());
        assert_eq!(i.to_string(), "3400000");
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn from_usize_rejects_more_than_u32() {
        let too_big = usize::try_from(u64::from(u32::MAX) + 1).unwrap_or(usize::MAX);
        assert_eq!(PieceIndex::from_usize(too_big), None);
    }
}
