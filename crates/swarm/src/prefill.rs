//! Pieces a caller puts into a download's directory before the engine opens
//! it (the agent's delta reuse: pieces copied from earlier releases).
//!
//! Why a callback and not a bitfield: with a magnet link the caller learns
//! the piece hashes only when the metadata arrives from peers, and the
//! engine starts downloading right after. The engine calls the prefill at
//! the one moment in between, for both sources, so no byte is fetched that
//! the caller could have supplied.
//!
//! The invariant is unchanged: **a piece counts only after the engine
//! hashed it.** What the prefill returns is a hint of which pieces to hash,
//! never a claim that they are good (see `ENGINE.md`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use metainfo::Metainfo;
use storage::PieceSet;

/// The function behind a [`Prefill`].
type PrefillFn = dyn Fn(&Metainfo, &Path) -> PieceSet + Send + Sync;

/// A caller's hook run once per start of a download, on the blocking pool,
/// after the metadata is known and before the storage is opened: it may
/// write whole pieces into the data directory (through its own
/// `storage::FileStorage` in download mode, which creates the files at
/// their full length) and returns the set of pieces it wrote. The engine
/// then hashes those pieces (besides what its resume state asks for) and
/// counts only the ones that verify; the rest are downloaded.
///
/// It is called again on every start of the torrent (including a restart
/// after a crash), so it must be idempotent; it may return an empty set
/// when it has nothing to add (for example when a resume state exists).
#[derive(Clone)]
pub struct Prefill(Arc<PrefillFn>);

impl Prefill {
    /// Wraps `f(metainfo, data_dir) -> pieces written`.
    pub fn new(f: impl Fn(&Metainfo, &Path) -> PieceSet + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Runs the hook (blocking).
    pub(crate) fn run(&self, metainfo: &Metainfo, dir: &Path) -> PieceSet {
        (self.0)(metainfo, dir)
    }
}

impl fmt::Debug for Prefill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Prefill(..)")
    }
}
