//! Opening a torrent's data: storage, the resume check and the caller's
//! prefill, on the blocking pool (for an add, and for a magnet link once
//! its metadata is in).

use std::sync::Arc;
use std::time::Duration;

use metainfo::{Info, Metainfo};
use tracing::warn;
use wire::PieceIndex;

use crate::prefill::Prefill;
use storage::{
    FileStorage, FileStorageOptions, OpenMode, ResumeError, ResumeOptions, ResumeState,
    ResumeWriter, Storage, StorageError,
};

/// Opened storage and the verified pieces found in it.
pub(crate) struct Loaded {
    pub(crate) metainfo: Arc<Metainfo>,
    pub(crate) info: Arc<Info>,
    pub(crate) store: Arc<FileStorage>,
    pub(crate) resume: Arc<ResumeWriter>,
    pub(crate) have: Vec<bool>,
    /// The save at the end of the load failed.
    pub(crate) resume_error: Option<ResumeError>,
    /// Opened to seed only: the directory may well be read-only, so a
    /// failed resume save is no news worth a warning.
    pub(crate) seed_only: bool,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("name", &self.info.name())
            .field("verified", &self.have.iter().filter(|h| **h).count())
            .field("resume_error", &self.resume_error)
            .field("seed_only", &self.seed_only)
            .finish_non_exhaustive()
    }
}

/// Opens storage and finds the verified pieces: the saved resume state is
/// trusted for files whose fingerprint is unchanged, everything else is
/// hashed (`storage::check_resume`). A download's `prefill` runs first; the
/// pieces it wrote are hashed too, and count only if they verify.
pub(crate) fn load_storage(
    metainfo: Arc<Metainfo>,
    dir: &std::path::Path,
    mode: OpenMode,
    threads: usize,
    save_interval: Duration,
    prefill: Option<&Prefill>,
) -> Result<Loaded, StorageError> {
    let present = match (prefill, mode) {
        (Some(f), OpenMode::Download) => Some(f.run(&metainfo, dir)),
        _ => None,
    };
    let info = Arc::new(metainfo.info().clone());
    let store = Arc::new(FileStorage::open(
        Arc::clone(&info),
        dir,
        mode,
        FileStorageOptions::default(),
    )?);
    let infohash = metainfo.infohash();
    let path = crate::resume::resume_path(dir, &infohash);
    if let Some(parent) = path.parent() {
        // A read-only seed directory just means no state file.
        let _ = std::fs::create_dir_all(parent);
    }
    let saved = ResumeState::load(&path, infohash, &info);
    let mut verified = storage::check_resume(&*store, saved.as_ref(), threads, |_| {});
    if let Some(mut present) = present.filter(|p| p.len() == info.num_pieces()) {
        // Only what the resume state did not already give: with no state,
        // `check_resume` hashed everything on disk, prefilled pieces included.
        for p in verified.iter() {
            present.remove(p);
        }
        let asked = present.count();
        let hashed = storage::check_pieces(&*store, &present, threads, |_| {});
        if hashed.count() != asked {
            warn!(
                prefilled = asked,
                verified = hashed.count(),
                "some prefilled pieces do not verify; they will be downloaded"
            );
        }
        verified.union_with(&hashed);
    }
    let have = (0..info.num_pieces())
        .map(|i| verified.contains(PieceIndex(i as u32)))
        .collect();
    let resume = Arc::new(ResumeWriter::new(
        path,
        infohash,
        Arc::clone(&store) as Arc<dyn Storage>,
        verified,
        ResumeOptions {
            interval: save_interval,
            ..ResumeOptions::default()
        },
    ));
    // Record the check so the next start takes the fast path (a read-only
    // seed directory just means no state file: the actor records the error
    // quietly then).
    let resume_error = resume.save_now().err();
    Ok(Loaded {
        metainfo,
        info,
        store,
        resume,
        have,
        resume_error,
        seed_only: mode == OpenMode::Seed,
    })
}
