use std::io;
use std::path::PathBuf;

use crate::PieceSetError;

/// Why a resume state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// Reading, writing, syncing or renaming failed.
    #[error("cannot {op} resume state {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is damaged or not a resume state.
    #[error("resume state {path} is corrupt: {kind}")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// The file is a valid state for another torrent or layout.
    #[error("resume state {path} is for a different torrent ({what} differs)")]
    Mismatch {
        /// The state file.
        path: PathBuf,
        /// The field that differs.
        what: &'static str,
    },
    /// Syncing the data files before saving failed (the state is not saved,
    /// since it could claim pieces whose bytes are not durable).
    #[error("cannot save resume state: {0}")]
    Storage(#[from] crate::StorageError),
}

/// What is wrong with the bytes of a resume state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CorruptKind {
    /// Shorter than the fixed header.
    #[error("truncated")]
    Truncated,
    /// Larger than any state this crate writes.
    #[error("file of {0} bytes is too large")]
    TooLarge(u64),
    /// Does not start with the magic bytes.
    #[error("not a resume state file (bad magic)")]
    BadMagic,
    /// Written by an incompatible version.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u32),
    /// The trailing SHA-1 does not match the contents.
    #[error("checksum mismatch")]
    BadChecksum,
    /// The size does not match the piece and file counts in the header.
    #[error("length {actual} does not match the header (expected {expected})")]
    BadLength {
        /// Bytes implied by the header.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The verified-piece bitfield is invalid.
    #[error("bad bitfield: {0}")]
    BadBitfield(PieceSetError),
}
