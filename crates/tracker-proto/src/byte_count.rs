/// An amount of data in bytes, as in `uploaded`, `downloaded` and `left`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ByteCount(pub u64);

impl ByteCount {
    /// Zero bytes.
    pub const ZERO: Self = Self(0);

    /// The number of bytes.
    pub fn get(self) -> u64 {
        self.0
    }
}
