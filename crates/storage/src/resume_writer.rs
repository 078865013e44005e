use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use metainfo::Infohash;

use crate::resume_error::ResumeError;
use crate::{FileFingerprint, PieceIndex, PieceSet, ResumeState, Storage};

/// When [`ResumeWriter::maybe_save`] actually writes.
#[derive(Debug, Clone)]
pub struct ResumeOptions {
    /// Save when this long has passed since the last save and something
    /// changed. Default 2 s.
    pub interval: Duration,
    /// Save as soon as this many pieces were recorded since the last save,
    /// whatever the interval. Default 64.
    pub max_pending: usize,
}

impl Default for ResumeOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            max_pending: 64,
        }
    }
}

/// Keeps a torrent's resume state file up to date while it downloads.
///
/// The engine calls [`ResumeWriter::piece_written`] after each
/// [`Storage::write_piece`] of a verified piece returned `Ok`, calls
/// [`ResumeWriter::maybe_save`] now and then (it is cheap when nothing is
/// due), and [`ResumeWriter::save_now`] on shutdown. Both save methods block
/// on `fdatasync`/`fsync`: call them from the blocking pool.
///
/// Each save takes a snapshot of the recorded pieces, then syncs the data
/// files, then fingerprints the files, then writes the state atomically.
/// So the state never claims a piece whose bytes were not durable before the
/// state was (see `STATE.md`).
pub struct ResumeWriter {
    path: PathBuf,
    infohash: Infohash,
    storage: Arc<dyn Storage>,
    options: ResumeOptions,
    /// Recorded pieces; held briefly by `piece_written` and snapshots.
    progress: Mutex<Progress>,
    /// Held for a whole save, so saves never interleave.
    saving: Mutex<Saved>,
}

struct Progress {
    verified: PieceSet,
    /// Changes since the last snapshot.
    pending: usize,
    /// Files under pieces recorded since the last snapshot.
    touched: BTreeSet<usize>,
    last_save: Instant,
}

struct Saved {
    /// Fingerprints written by the last save; `None` until the first.
    files: Option<Vec<FileFingerprint>>,
}

impl ResumeWriter {
    /// A writer for `path`, starting from `verified` (what
    /// [`crate::check_resume`] found). Call [`ResumeWriter::save_now`] once
    /// after the initial check so the file reflects it.
    pub fn new(
        path: impl Into<PathBuf>,
        infohash: Infohash,
        storage: Arc<dyn Storage>,
        verified: PieceSet,
        options: ResumeOptions,
    ) -> Self {
        Self {
            path: path.into(),
            infohash,
            storage,
            options,
            progress: Mutex::new(Progress {
                verified,
                pending: 0,
                touched: BTreeSet::new(),
                last_save: Instant::now(),
            }),
            saving: Mutex::new(Saved { files: None }),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that `piece` was verified and its `write_piece` returned
    /// `Ok`. Never call it earlier. Cheap; does no I/O.
    pub fn piece_written(&self, piece: PieceIndex) {
        let info = self.storage.info();
        let mut p = lock(&self.progress);
        if p.verified.insert(piece) {
            p.pending += 1;
            for span in info.piece_spans(piece.as_usize()) {
                p.touched.insert(span.file);
            }
        }
    }

    /// Records that `piece` must no longer be trusted (for example its file
    /// was found damaged). The next save drops it.
    pub fn forget(&self, piece: PieceIndex) {
        let mut p = lock(&self.progress);
        if p.verified.remove(piece) {
            p.pending += 1;
        }
    }

    /// The pieces recorded so far.
    pub fn verified(&self) -> PieceSet {
        lock(&self.progress).verified.clone()
    }

    /// Saves if [`ResumeOptions`] say a save is due; returns whether it saved.
    pub fn maybe_save(&self) -> Result<bool, ResumeError> {
        self.save(Force::WhenDue)
    }

    /// Saves now, whatever the options say.
    pub fn save_now(&self) -> Result<(), ResumeError> {
        self.save(Force::Always).map(|_| ())
    }

    /// Saves now if a piece was recorded since the last save (a stop: a
    /// seed with nothing new has nothing to sync); returns whether it saved.
    pub fn save_pending(&self) -> Result<bool, ResumeError> {
        self.save(Force::IfPending)
    }

    fn save(&self, force: Force) -> Result<bool, ResumeError> {
        let mut saved = lock(&self.saving);
        // 1. snapshot: only pieces whose writes already returned
        let (snapshot, touched, pending) = {
            let mut p = lock(&self.progress);
            let due = match force {
                Force::Always => true,
                Force::IfPending => p.pending > 0,
                Force::WhenDue => {
                    p.pending >= self.options.max_pending.max(1)
                        || (p.pending > 0 && p.last_save.elapsed() >= self.options.interval)
                }
            };
            if !due {
                return Ok(false);
            }
            p.last_save = Instant::now();
            let pending = std::mem::take(&mut p.pending);
            (p.verified.clone(), std::mem::take(&mut p.touched), pending)
        };
        let result = self.write_state(&mut saved, snapshot, &touched);
        if result.is_err() {
            // Retry at the next due save; last_save stays bumped so a
            // persistent failure (a full disk) is not retried in a tight loop.
            let mut p = lock(&self.progress);
            p.pending += pending;
            p.touched.extend(touched);
        }
        result.map(|()| true)
    }

    fn write_state(
        &self,
        saved: &mut Saved,
        verified: PieceSet,
        touched: &BTreeSet<usize>,
    ) -> Result<(), ResumeError> {
        // 2. make every recorded write durable
        self.storage.sync()?;
        // 3. fingerprint after the writes (files not written since the last
        //    save keep their fingerprint: if they changed since, the mismatch
        //    at load time forces a rehash, which is the safe direction)
        let n = self.storage.info().files().len();
        let files = match saved.files.take() {
            Some(mut files) if files.len() == n => {
                for &i in touched {
                    if let Some(slot) = files.get_mut(i) {
                        *slot = self.storage.fingerprint(i);
                    }
                }
                files
            }
            _ => (0..n).map(|i| self.storage.fingerprint(i)).collect(),
        };
        let state = ResumeState {
            infohash: self.infohash,
            piece_length: self.storage.info().piece_length(),
            verified,
            files,
        };
        // 4. write atomically
        let result = state.save(&self.path);
        if result.is_ok() {
            saved.files = Some(state.files);
        }
        result
    }
}

/// When [`ResumeWriter::save`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Force {
    /// As the options say (pieces pending, interval).
    WhenDue,
    /// Whenever a piece is pending.
    IfPending,
    /// Always.
    Always,
}

impl std::fmt::Debug for ResumeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumeWriter")
            .field("path", &self.path)
            .field("infohash", &self.infohash)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Both guarded values stay consistent across a panic (plain data updated
    // in single assignments), so poisoning is ignored.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
