use std::fmt;
use std::str::FromStr;

use crate::{MAX_PIECE_LENGTH, MIN_PIECE_LENGTH};

/// Largest piece length [`PieceLength::auto`] picks (16 MiB); explicit choices may go up to
/// [`MAX_PIECE_LENGTH`].
pub const MAX_AUTO_PIECE_LENGTH: u64 = 16 << 20;

/// Piece count [`PieceLength::auto`] stays at or below while the piece length can still grow.
pub const AUTO_TARGET_MAX_PIECES: u64 = 2000;

/// A piece length a torrent can be created with: a power of two between
/// [`MIN_PIECE_LENGTH`] (16 KiB, one request block) and [`MAX_PIECE_LENGTH`].
///
/// Parsed from plain byte counts or sizes with a binary suffix: `262144`,
/// `256K`, `256k`, `256KiB`, `1M`, `4MiB`, `1G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PieceLength(u64);

/// Why a piece length was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PieceLengthError {
    /// Not a number with an optional `K`/`M`/`G` suffix.
    #[error("invalid size {0:?} (expected e.g. 262144, 256K, 1M or 4MiB)")]
    Syntax(String),
    /// Not a power of two.
    #[error("piece length {0} is not a power of two")]
    NotPowerOfTwo(u64),
    /// Below 16 KiB or above 256 MiB.
    #[error("piece length {0} is out of range (16 KiB to 256 MiB)")]
    OutOfRange(u64),
}

impl PieceLength {
    /// Checks `bytes` is a power of two in range.
    pub fn new(bytes: u64) -> Result<Self, PieceLengthError> {
        if !(MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&bytes) {
            return Err(PieceLengthError::OutOfRange(bytes));
        }
        if !bytes.is_power_of_two() {
            return Err(PieceLengthError::NotPowerOfTwo(bytes));
        }
        Ok(Self(bytes))
    }

    /// The piece length chosen when none is given: the smallest power of two
    /// from 16 KiB to 16 MiB that keeps `total` bytes at or below 2000 pieces.
    /// Above 1 000 pieces a halving would exceed 2 000, so sizes from about
    /// 16 MiB to 32 GiB land between 1 000 and 2 000 pieces; smaller data gets
    /// 16 KiB pieces, larger data gets 16 MiB pieces and more of them.
    pub fn auto(total: u64) -> Self {
        let mut len = MIN_PIECE_LENGTH;
        while len < MAX_AUTO_PIECE_LENGTH && total.div_ceil(len) > AUTO_TARGET_MAX_PIECES {
            len *= 2;
        }
        Self(len)
    }

    /// The length in bytes.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PieceLength {
    /// `16 KiB`, `1 MiB`, `256 MiB`: always exact because the value is a power of two.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1 << 20 {
            write!(f, "{} MiB", self.0 >> 20)
        } else {
            write!(f, "{} KiB", self.0 >> 10)
        }
    }
}

impl FromStr for PieceLength {
    type Err = PieceLengthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(crate::parse_size(s).map_err(|e| PieceLengthError::Syntax(e.0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        for (s, v) in [
            ("16384", 16384),
            ("16K", 16 << 10),
            ("256k", 256 << 10),
            ("256KiB", 256 << 10),
            ("1M", 1 << 20),
            ("4MiB", 4 << 20),
            ("4 MiB", 4 << 20),
            ("2mb", 2 << 20),
            ("256M", 256 << 20),
        ] {
            assert_eq!(s.parse::<PieceLength>().map(PieceLength::get), Ok(v), "{s}");
        }
    }

    #[test]
    fn rejects_bad_syntax() {
        for s in ["", "K", "1.M", "-1", "1T", "12Q", "99999999999999999999"] {
            assert!(
                matches!(s.parse::<PieceLength>(), Err(PieceLengthError::Syntax(_))),
                "{s}"
            );
        }
        assert!(matches!(
            "18446744073709551615G".parse::<PieceLength>(),
            Err(PieceLengthError::Syntax(_))
        ));
    }

    #[test]
    fn rejects_non_powers_of_two() {
        assert_eq!(
            "1.5M".parse::<PieceLength>(),
            Err(PieceLengthError::NotPowerOfTwo(3 << 19))
        );
        assert_eq!(
            "24K".parse::<PieceLength>(),
            Err(PieceLengthError::NotPowerOfTwo(24 << 10))
        );
    }

    #[test]
    fn rejects_out_of_range() {
        assert_eq!(
            "8K".parse::<PieceLength>(),
            Err(PieceLengthError::OutOfRange(8 << 10))
        );
        assert_eq!(
            "512M".parse::<PieceLength>(),
            Err(PieceLengthError::OutOfRange(512 << 20))
        );
        assert_eq!(PieceLength::new(0), Err(PieceLengthError::OutOfRange(0)));
    }

    #[test]
    fn auto_aims_at_1000_to_2000_pieces() {
        assert_eq!(PieceLength::auto(0).get(), 16 << 10);
        assert_eq!(PieceLength::auto(1).get(), 16 << 10);
        assert_eq!(PieceLength::auto(2000 * 16384).get(), 16 << 10);
        assert_eq!(PieceLength::auto(2000 * 16384 + 1).get(), 32 << 10);
        assert_eq!(PieceLength::auto(2 << 30).get(), 2 << 20);
        assert_eq!(PieceLength::auto(1 << 50).get(), 16 << 20);
        for shift in 25..35 {
            let total = (1u64 << shift) + 12345;
            let pieces = total.div_ceil(PieceLength::auto(total).get());
            assert!((1000..=2000).contains(&pieces), "{total}: {pieces}");
        }
    }

    #[test]
    fn display_is_exact() {
        assert_eq!(PieceLength::new(16384).unwrap().to_string(), "16 KiB");
        assert_eq!(PieceLength::new(4 << 20).unwrap().to_string(), "4 MiB");
    }
}
