//! Human-readable byte counts for terminal output.

use std::fmt;

/// A byte count shown with a binary unit: `100 B`, `1.5 KiB`, `12.3 MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Bytes(pub(crate) u64);

impl fmt::Display for Bytes {
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

/// Bytes per second over `secs` seconds, as `1.2 GiB/s`.
pub(crate) fn rate(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".to_string();
    }
    let per_sec = bytes as f64 / secs;
    // Saturating float-to-int conversion; rates never approach u64::MAX.
    format!("{}/s", Bytes(per_sec as u64))
}

/// `1 file`, `2 files`: a count and its noun (plural by adding `s`).
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count(0, "file"), "0 files");
        assert_eq!(count(1, "piece"), "1 piece");
        assert_eq!(count(5000, "pad file"), "5000 pad files");
    }

    #[test]
    fn formats() {
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(1023).to_string(), "1023 B");
        assert_eq!(Bytes(1024).to_string(), "1 KiB");
        assert_eq!(Bytes(1025).to_string(), "1.0 KiB");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Bytes(12_900_000).to_string(), "12.3 MiB");
        assert_eq!(Bytes(2 << 30).to_string(), "2 GiB");
        assert_eq!(Bytes(u64::MAX).to_string(), "16.0 EiB");
    }
}
