//! Human-readable byte counts for terminal output.

/// A byte count shown with a binary unit: `100 B`, `1.5 KiB`, `12.3 MiB`.
pub(crate) use metainfo::ByteSize as Bytes;

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
}
