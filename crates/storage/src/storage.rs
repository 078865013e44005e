use metainfo::Info;

use crate::{FileFingerprint, PieceIndex, StorageError};

/// The engine's view of a torrent's data: positioned, thread-safe piece I/O.
///
/// Every method takes `&self` and may be called from many threads at once
/// (the engine runs them on tokio's blocking pool); implementations do their
/// own locking and never hold a lock across a read or write system call.
///
/// Pieces are verified *before* they are written: the engine hashes the
/// assembled piece with [`crate::verify_piece`] and only then calls
/// [`Storage::write_piece`], so data is never read back to check it.
pub trait Storage: Send + Sync {
    /// The torrent this storage holds.
    fn info(&self) -> &Info;

    /// Reads `buf.len()` bytes of `piece` starting at `offset` within the
    /// piece. Bytes of pad files read as zeros.
    fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), StorageError>;

    /// Writes a whole piece (`data.len()` must equal the piece size). Bytes
    /// that fall in pad files are skipped. On error (for example
    /// [`StorageError::DiskFull`]) part of the piece may have been written;
    /// other pieces are untouched.
    fn write_piece(&self, piece: PieceIndex, data: &[u8]) -> Result<(), StorageError>;

    /// Makes every write that completed before this call durable
    /// (`fdatasync` on each file written, or one `syncfs` per file system
    /// when many were; `fsync` on directories that gained entries).
    /// Concurrent calls are serialized.
    fn sync(&self) -> Result<(), StorageError>;

    /// False when `piece` certainly holds no valid data because a file under
    /// it was missing or shorter than the piece's end when the storage was
    /// opened, and has not been written since; a recheck skips such pieces
    /// without reading them.
    fn may_hold(&self, piece: PieceIndex) -> bool;

    /// The current fingerprint of file `file` (an index into
    /// [`Info::files`]); [`FileFingerprint::ABSENT`] if it cannot be examined.
    fn fingerprint(&self, file: usize) -> FileFingerprint;
}
