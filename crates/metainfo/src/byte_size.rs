//! Byte counts as people write and read them: `1.5M`, `256KiB`, `4 MiB` in,
//! `12.3 MiB` out. Binary multiples everywhere (k = 1024), as piece lengths,
//! rate limits and release sizes are counted in this workspace.

use std::fmt;

/// Text that is not a number with an optional binary unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {0:?} (expected e.g. 262144, 256K, 1.5M or 4MiB)")]
pub struct SizeSyntaxError(pub String);

/// Parses `123`, `16K`, `16KiB`, `16KB`, `1.5M`, `4 MiB`, `1G` (binary
/// multiples, case-insensitive, a space allowed before the unit). A
/// fraction of a byte is dropped; a value that does not fit a `u64` is an
/// error.
pub fn parse_size(s: &str) -> Result<u64, SizeSyntaxError> {
    let bad = || SizeSyntaxError(s.chars().take(64).collect());
    let t = s.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let shift = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(bad()),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() || frac.contains('.') || (num.contains('.') && frac.is_empty()) {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let mut bytes = whole.checked_mul(1 << shift).ok_or_else(bad)?;
    if !frac.is_empty() {
        // Decimal digits of the fraction, times the unit, in integers:
        // exact for every fraction a person types.
        let digits = frac.len().min(18);
        let f: u128 = frac[..digits].parse().map_err(|_| bad())?;
        let part = (f << shift) / 10u128.pow(u32::try_from(digits).map_err(|_| bad())?);
        bytes = bytes
            .checked_add(u64::try_from(part).map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    Ok(bytes)
}

/// A byte count shown with a binary unit: `100 B`, `1 KiB`, `1.5 KiB`,
/// `12.3 MiB` (one decimal unless exact, rounded to nearest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut unit = 0;
        let mut whole = self.0;
        while whole >= 1024 * 1024 && unit + 1 < UNITS.len() {
            whole /= 1024;
            unit += 1;
        }
        // One decimal, computed in integers: tenths of the chosen unit.
        let div = 1u128 << (10 * (unit + 1));
        if u128::from(self.0) % div == 0 {
            return write!(f, "{} {}", u128::from(self.0) / div, UNITS[unit]);
        }
        let tenths = (u128::from(self.0) * 10 + div / 2) / div;
        write!(f, "{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_fractions() {
        for (s, v) in [
            ("0", 0),
            ("16384", 16384),
            ("16K", 16 << 10),
            ("256k", 256 << 10),
            ("256KiB", 256 << 10),
            ("4 MiB", 4 << 20),
            ("2mb", 2 << 20),
            (" 1G ", 1 << 30),
            ("12b", 12),
            ("1.5M", 3 << 19),
            ("1.5G", 3 << 29),
            ("0.5k", 512),
            ("0.3k", 307),
            ("16777216.00000000000000000001G", 1 << 54),
        ] {
            assert_eq!(parse_size(s), Ok(v), "{s}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_size() {
        for s in [
            "",
            "x",
            "K",
            "-1M",
            "5Q",
            "1.2.3",
            ".5M",
            "1.M",
            "5 parsecs",
            "1e3",
            "17179869184G",
            "18446744073709551616",
        ] {
            assert_eq!(parse_size(s), Err(SizeSyntaxError(s.into())), "{s:?}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(ByteSize(0).to_string(), "0 B");
        assert_eq!(ByteSize(1023).to_string(), "1023 B");
        assert_eq!(ByteSize(1024).to_string(), "1 KiB");
        assert_eq!(ByteSize(1025).to_string(), "1.0 KiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(12_900_000).to_string(), "12.3 MiB");
        assert_eq!(ByteSize(2 << 30).to_string(), "2 GiB");
        assert_eq!(ByteSize(u64::MAX).to_string(), "16.0 EiB");
    }

    #[test]
    fn what_is_shown_parses_back_close() {
        for v in [1u64, 1000, 1536, 12_900_000, 3 << 29, 123_456_789_012] {
            let shown = ByteSize(v).to_string();
            let back = parse_size(&shown.replace(' ', "")).unwrap();
            assert!(back.abs_diff(v) <= v / 20 + 1, "{v} -> {shown} -> {back}");
        }
    }
}
