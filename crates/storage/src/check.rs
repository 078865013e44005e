//! Piece verification: single pieces, and parallel rechecks of what is on disk.
//!
//! A recheck hashes on `threads` worker threads, each reusing one
//! piece-sized buffer, so memory stays at `threads × piece length` whatever
//! the torrent size. Workers take pieces in increasing order from a shared
//! counter, which keeps the reads close to sequential.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use metainfo::Info;
use sha1::{Digest, Sha1};

use crate::{PieceIndex, PieceSet, ResumeState, Storage};

/// Progress of a recheck, reported after each piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckProgress {
    /// Pieces examined so far (hashed or found unreadable).
    pub checked: usize,
    /// Pieces this recheck will examine.
    pub total: usize,
    /// Pieces that hashed correctly so far.
    pub verified: usize,
}

/// True if `data` is exactly piece `piece` of `info` and hashes to its SHA-1.
pub fn verify_piece(info: &Info, piece: PieceIndex, data: &[u8]) -> bool {
    let i = piece.as_usize();
    let Some(expected) = info.pieces().get(i) else {
        return false;
    };
    u64::try_from(data.len()).ok() == Some(info.piece_size(i))
        && Sha1::digest(data).as_slice() == expected.as_slice()
}

/// Hashes every piece that may be on disk ([`Storage::may_hold`]) and
/// returns the ones that verify. Pieces under missing or short files are
/// skipped without reading; unreadable pieces count as not verified.
pub fn check_existing<S, F>(storage: &S, threads: usize, progress: F) -> PieceSet
where
    S: Storage + ?Sized,
    F: Fn(CheckProgress) + Sync,
{
    let n = storage.info().num_pieces();
    check_pieces(storage, &PieceSet::full(n), threads, progress)
}

/// Like [`check_existing`], limited to the pieces in `pieces`.
pub fn check_pieces<S, F>(storage: &S, pieces: &PieceSet, threads: usize, progress: F) -> PieceSet
where
    S: Storage + ?Sized,
    F: Fn(CheckProgress) + Sync,
{
    let info = storage.info();
    let todo: Vec<PieceIndex> = pieces.iter().filter(|p| storage.may_hold(*p)).collect();
    let total = todo.len();
    if total == 0 {
        return PieceSet::new(info.num_pieces());
    }
    let result = Mutex::new(PieceSet::new(info.num_pieces()));
    let next = AtomicUsize::new(0);
    let checked = AtomicUsize::new(0);
    let verified = AtomicUsize::new(0);
    let workers = threads.clamp(1, 64).min(total);
    let piece_len = usize::try_from(info.piece_length()).unwrap_or(0);

    let work = || {
        let mut buf = vec![0u8; piece_len];
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&piece) = todo.get(k) else { break };
            let size = usize::try_from(info.piece_size(piece.as_usize())).unwrap_or(0);
            let Some(data) = buf.get_mut(..size) else {
                break;
            };
            let ok = match storage.read_block(piece, 0, data) {
                Ok(()) => verify_piece(info, piece, data),
                Err(e) => {
                    tracing::debug!(%piece, error = %e, "piece unreadable during recheck");
                    false
                }
            };
            let mut v = verified.load(Ordering::Relaxed);
            if ok {
                result
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(piece);
                v = verified.fetch_add(1, Ordering::Relaxed) + 1;
            }
            let c = checked.fetch_add(1, Ordering::Relaxed) + 1;
            progress(CheckProgress {
                checked: c,
                total,
                verified: v,
            });
        }
    };
    std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(work);
        }
        work();
    });
    result
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Decides what is verified when a torrent is reopened.
///
/// With a saved state for the same layout: pieces marked verified whose
/// files all still have their saved fingerprint are trusted without reading;
/// every piece touching a file whose fingerprint changed is rehashed (that
/// also recovers pieces written after the last save). Without a usable
/// state, every piece is hashed ([`check_existing`]). See `STATE.md`.
pub fn check_resume<S, F>(
    storage: &S,
    saved: Option<&ResumeState>,
    threads: usize,
    progress: F,
) -> PieceSet
where
    S: Storage + ?Sized,
    F: Fn(CheckProgress) + Sync,
{
    let info = storage.info();
    let n = info.num_pieces();
    let Some(saved) = saved.filter(|s| s.layout_matches(info)) else {
        if saved.is_some() {
            tracing::warn!("resume state does not match the torrent layout; rechecking everything");
        }
        return check_existing(storage, threads, progress);
    };
    let mut rehash = PieceSet::new(n);
    let mut changed_files = 0usize;
    for (i, saved_fp) in saved.files.iter().enumerate() {
        if storage.fingerprint(i) != *saved_fp {
            changed_files += 1;
            for p in info.file_pieces(i).filter_map(PieceIndex::from_usize) {
                rehash.insert(p);
            }
        }
    }
    let mut trusted = saved.verified.clone();
    for p in rehash.iter() {
        trusted.remove(p);
    }
    tracing::debug!(
        trusted = trusted.count(),
        rehash = rehash.count(),
        changed_files,
        "resuming from saved state"
    );
    let hashed = check_pieces(storage, &rehash, threads, progress);
    trusted.union_with(&hashed);
    trusted
}
