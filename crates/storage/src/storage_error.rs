use std::io;
use std::path::{Path, PathBuf};

use crate::PieceIndex;

/// Why a storage operation failed. Every variant names the file or piece.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A data file (or a directory above it) does not exist.
    #[error("missing file {path}")]
    MissingFile {
        /// The missing path.
        path: PathBuf,
    },
    /// Seeding needs every file at exactly its torrent length.
    #[error("{path} is {actual} bytes but the torrent says {expected}; refusing to seed it")]
    WrongSize {
        /// The data file.
        path: PathBuf,
        /// Length in the torrent.
        expected: u64,
        /// Length on disk.
        actual: u64,
    },
    /// Downloading into a file longer than the torrent says would need a
    /// truncation, which could destroy data that is not ours.
    #[error(
        "{path} is {actual} bytes, longer than the {expected} the torrent says; refusing to truncate it"
    )]
    FileTooLong {
        /// The data file.
        path: PathBuf,
        /// Length in the torrent.
        expected: u64,
        /// Length on disk.
        actual: u64,
    },
    /// A file got shorter than its torrent length while in use.
    #[error("{path} is shorter than the torrent says (changed on disk while in use?)")]
    ShortFile {
        /// The data file.
        path: PathBuf,
    },
    /// A symbolic link inside the data tree; the storage never follows them.
    #[error("{path} is a symbolic link; refusing to follow links inside the data directory")]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Something other than a regular file or directory where one is needed.
    #[error("{path} is not {expected}")]
    UnexpectedFileType {
        /// The path.
        path: PathBuf,
        /// What was needed: "a regular file" or "a directory".
        expected: &'static str,
    },
    /// A path component that is not a plain name (the torrent was not validated).
    #[error("unsafe path {path} in torrent")]
    UnsafePath {
        /// The relative path from the torrent.
        path: PathBuf,
    },
    /// The file system is full (ENOSPC) or the quota is exhausted (EDQUOT).
    #[error("disk full writing {path}")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "open", ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A write to storage opened with [`crate::OpenMode::Seed`].
    #[error("storage is read-only (opened for seeding); cannot write piece {piece}")]
    ReadOnly {
        /// The piece.
        piece: PieceIndex,
    },
    /// A piece index past the end of the torrent.
    #[error("piece {piece} out of range (torrent has {num_pieces} pieces)")]
    PieceOutOfRange {
        /// The piece.
        piece: PieceIndex,
        /// Pieces in the torrent.
        num_pieces: usize,
    },
    /// A block that does not lie within its piece.
    #[error("block at offset {offset} length {len} is outside piece {piece} of {piece_size} bytes")]
    BlockOutOfRange {
        /// The piece.
        piece: PieceIndex,
        /// Offset within the piece.
        offset: u32,
        /// Block length.
        len: usize,
        /// Size of the piece.
        piece_size: u64,
    },
    /// `write_piece` data is not exactly one piece long.
    #[error("piece {piece} is {expected} bytes, got {actual}")]
    WrongPieceLength {
        /// The piece.
        piece: PieceIndex,
        /// Size of the piece.
        expected: u64,
        /// Bytes given.
        actual: usize,
    },
    /// The torrent has more pieces than [`PieceIndex`] can address.
    #[error("torrent has {0} pieces, more than storage supports")]
    TooManyPieces(usize),
}

impl StorageError {
    /// Wraps an I/O error, turning ENOSPC/EDQUOT into [`StorageError::DiskFull`]
    /// and ENOENT into [`StorageError::MissingFile`].
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::DiskFull {
                path: path.to_path_buf(),
            },
            io::ErrorKind::NotFound => Self::MissingFile {
                path: path.to_path_buf(),
            },
            _ => Self::Io {
                op,
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_maps_to_disk_full() {
        let e = StorageError::io(
            "write",
            Path::new("/d/f"),
            io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error()),
        );
        assert!(matches!(e, StorageError::DiskFull { ref path } if path == Path::new("/d/f")));
        assert_eq!(e.to_string(), "disk full writing /d/f");
    }

    #[test]
    fn edquot_maps_to_disk_full() {
        let e = StorageError::io(
            "write",
            Path::new("/d/f"),
            io::Error::from_raw_os_error(rustix::io::Errno::DQUOT.raw_os_error()),
        );
        assert!(matches!(e, StorageError::DiskFull { .. }));
    }

    #[test]
    fn other_errors_keep_op_and_path() {
        let e = StorageError::io(
            "read",
            Path::new("/d/f"),
            io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()),
        );
        assert!(matches!(e, StorageError::Io { op: "read", .. }));
        assert!(e.to_string().starts_with("cannot read /d/f: "));
    }
}
