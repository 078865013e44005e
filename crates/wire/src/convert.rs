//! Lossless integer conversions with names, instead of silent `as` casts.
//!
//! The crate assumes a pointer width of at least 32 bits, which every target
//! anthill runs on has; the assertion below turns that assumption into a
//! compile error rather than a silent truncation.

const _: () = assert!(
    usize::BITS >= 32,
    "anthill-wire needs usize of at least 32 bits"
);

/// Widens a `u32` to `usize` (lossless on the supported targets).
#[inline]
pub(crate) const fn usize_from(v: u32) -> usize {
    v as usize
}

/// Narrows a length to `u32`, saturating. Used only for values that were
/// already bounded below `u32::MAX` by a limit check, or for error context.
#[inline]
pub(crate) fn u32_saturating(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Reads a big-endian `u32` at `at`. The caller guarantees `at + 4 <= buf.len()`.
#[inline]
pub(crate) fn be_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_be_bytes(b)
}
