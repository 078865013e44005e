//! The disk layer of anthill's peer engine: a torrent's pieces on plain files.
//!
//! Storage is synchronous on purpose. Positioned reads and writes
//! (`pread`/`pwrite`) need no seek state, so many threads share one
//! descriptor without locking, and a piece goes from the engine's buffer to
//! the page cache with no extra copy. The engine (crate `swarm`) runs these
//! calls on tokio's blocking pool, bounded by a semaphore; nothing here ever
//! blocks an async worker.
//!
//! - [`Storage`]: the trait the engine uses (`&self` everywhere, `Send + Sync`).
//! - [`FileStorage`]: the file-backed implementation. [`OpenMode::Seed`] is
//!   read-only and demands every file at exactly its length;
//!   [`OpenMode::Download`] creates sparse files and never truncates. Paths
//!   are opened one component at a time with `O_NOFOLLOW`, so a symbolic link
//!   in the data tree is refused, never followed. At most
//!   [`FileStorageOptions::max_open_files`] descriptors stay open (an LRU),
//!   so a torrent of 10 000 files does not hold 10 000 descriptors.
//! - [`verify_piece`] hashes a piece in memory *before* it is written (no
//!   read-back); [`check_existing`] rehashes what is on disk on N threads
//!   with `metainfo`'s parallel piece hasher (N read buffers of 512 KiB);
//!   [`PieceSet`] is the bitfield.
//! - Resume: [`ResumeWriter`] saves a [`ResumeState`] (verified pieces plus
//!   a fingerprint of every file) atomically and often; [`check_resume`]
//!   trusts saved pieces whose files are unchanged and rehashes only pieces
//!   touching changed files. The invariants are in `STATE.md` beside this file.
//!
//! Pad files (BEP 47) are never written; their bytes read as zeros. A full
//! disk surfaces as [`StorageError::DiskFull`] naming the file; earlier
//! pieces and the previous resume state stay intact.
//!
//! ```
//! use std::sync::Arc;
//! use metainfo::Info;
//! use sha1::{Digest, Sha1};
//! use storage::{
//!     FileStorage, FileStorageOptions, OpenMode, PieceIndex, Storage, check_existing,
//!     verify_piece,
//! };
//!
//! let data = b"hello, fleet!".to_vec();
//! let info = Arc::new(Info::single("hello.txt", 16384, vec![Sha1::digest(&data).into()], 13));
//! let dir = tempfile::tempdir()?;
//!
//! let store = FileStorage::open(info.clone(), dir.path(), OpenMode::Download, FileStorageOptions::default())?;
//! assert!(verify_piece(&info, PieceIndex(0), &data)); // hash first ...
//! store.write_piece(PieceIndex(0), &data)?; // ... then write
//! store.sync()?;
//!
//! let seed = FileStorage::open(info, dir.path(), OpenMode::Seed, FileStorageOptions::default())?;
//! let mut block = [0u8; 5];
//! seed.read_block(PieceIndex(0), 7, &mut block)?;
//! assert_eq!(&block, b"fleet");
//! assert!(check_existing(&seed, 2, |_| {}).is_complete());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod atomic_file;
mod check;
mod file_fingerprint;
mod file_storage;
mod handle_cache;
mod piece_set;
mod resume_error;
mod resume_state;
mod resume_writer;
mod storage;
mod storage_error;
mod tree;

pub use atomic_file::{lock_pid_file, sync_dir, sync_parent, write_atomic, write_atomic_mode};
pub use check::{
    CheckProgress, check_existing, check_pieces, check_resume, verify_piece, verify_piece_padded,
};
pub use file_fingerprint::FileFingerprint;
pub use file_storage::{Allocation, FileStorage, FileStorageOptions, OpenMode};
/// Piece index, shared with `anthill-wire` (defined in `anthill-metainfo`).
pub use metainfo::PieceIndex;
pub use piece_set::{PieceSet, PieceSetError};
pub use resume_error::{CorruptKind, ResumeError};
pub use resume_state::{MAX_STATE_FILE_SIZE, ResumeState};
pub use resume_writer::{ResumeOptions, ResumeWriter};
pub use storage::Storage;
pub use storage_error::StorageError;

#[cfg(test)]
mod tests;
