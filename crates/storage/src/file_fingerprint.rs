use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// What a data file looked like when the resume state was saved.
///
/// Resume trusts a saved "verified" bit only while every file under the
/// piece still has the same fingerprint. Besides the length and mtime this
/// holds the ctime (which no user tool can set back, unlike mtime) and the
/// inode (a file replaced by rename); a needless mismatch only costs a
/// rehash, a missed change would cost serving corrupt data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileFingerprint {
    /// Length on disk in bytes.
    pub length: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub inode: u64,
}

impl FileFingerprint {
    /// A file that could not be examined (missing, unreadable, a link). It
    /// never equals the fingerprint of a real file.
    pub const ABSENT: Self = Self {
        length: u64::MAX,
        mtime_ns: i64::MIN,
        ctime_ns: i64::MIN,
        inode: 0,
    };

    /// The fixed fingerprint of a file that is never stored (a BEP 47 pad file).
    pub fn virtual_file(length: u64) -> Self {
        Self {
            length,
            mtime_ns: 0,
            ctime_ns: 0,
            inode: 0,
        }
    }

    /// The fingerprint of a file from its metadata.
    pub fn of(meta: &Metadata) -> Self {
        Self {
            length: meta.len(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
        }
    }
}

fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}
