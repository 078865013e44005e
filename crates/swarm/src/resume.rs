//! Where a torrent's resume state lives. The state itself (format, atomic
//! saves, fingerprint checks) is the storage crate's `ResumeState` /
//! `ResumeWriter`; see its `STATE.md`.

use std::path::{Path, PathBuf};

use metainfo::Infohash;

/// The resume state of `infohash` for data under `dir`:
/// `DIR/.anthill/<infohash>.resume`.
pub fn resume_path(dir: &Path, infohash: &Infohash) -> PathBuf {
    dir.join(".anthill")
        .join(format!("{}.resume", infohash.to_hex()))
}
