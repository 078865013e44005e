//! Piece verification: single pieces, and parallel rechecks of what is on disk.
//!
//! A recheck runs `metainfo`'s parallel piece hasher ([`hash_piece_ranges`],
//! the same one behind `torrent create` and `torrent verify`) over the
//! storage: `threads` workers each claim a few MiB of consecutive pieces in
//! increasing order, so the reads stay close to sequential, and read them in
//! pieces of [`HashOptions::read_size`], so memory stays at
//! `threads × read size` whatever the piece length.

use std::convert::Infallible;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use metainfo::{
    HashOptions, HashProgress, Info, PieceHash, PieceSource, hash_piece_ranges, piece_count,
};
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

/// Like [`verify_piece`], with the byte ranges `zeros` of the piece (offsets
/// within it, sorted, not overlapping: its BEP 47 padding) hashed as zeros
/// whatever `data` holds there, so a piece buffer's pad ranges need no
/// clearing. Ranges reaching past the piece make it fail.
pub fn verify_piece_padded(
    info: &Info,
    piece: PieceIndex,
    data: &[u8],
    zeros: &[(u32, u32)],
) -> bool {
    const ZEROS: [u8; 16384] = [0; 16384];
    let i = piece.as_usize();
    let Some(expected) = info.pieces().get(i) else {
        return false;
    };
    if u64::try_from(data.len()).ok() != Some(info.piece_size(i)) {
        return false;
    }
    let mut hasher = Sha1::new();
    let mut at = 0usize;
    for &(a, z) in zeros {
        let (a, z) = (a as usize, z as usize);
        if a < at || z < a || z > data.len() {
            return false;
        }
        hasher.update(&data[at..a]);
        let mut left = z - a;
        while left > 0 {
            let n = left.min(ZEROS.len());
            hasher.update(&ZEROS[..n]);
            left -= n;
        }
        at = z;
    }
    hasher.update(&data[at..]);
    hasher.finalize().as_slice() == expected.as_slice()
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

/// Like [`check_existing`], limited to the pieces in `pieces`. At most
/// `threads` worker threads hash (at least one, at most 64).
pub fn check_pieces<S, F>(storage: &S, pieces: &PieceSet, threads: usize, progress: F) -> PieceSet
where
    S: Storage + ?Sized,
    F: Fn(CheckProgress) + Sync,
{
    let info = storage.info();
    let mut result = PieceSet::new(info.num_pieces());
    // Pieces past the layout's end cannot be hashed (a validated `Info` has none).
    let layout = piece_count(info);
    let runs = runs(
        pieces
            .iter()
            .filter(|p| p.as_usize() < layout && storage.may_hold(*p)),
    );
    let total = runs.iter().map(ExactSizeIterator::len).sum();
    if total == 0 {
        return result;
    }
    let options = HashOptions {
        threads: threads.clamp(1, 64),
        ..HashOptions::default()
    };
    let progress = Progress {
        info,
        report: progress,
        total,
        checked: AtomicUsize::new(0),
        verified: AtomicUsize::new(0),
    };
    let hashes = match hash_piece_ranges(info, &runs, &StorageSource(storage), &options, &progress)
    {
        Ok(h) => h,
        Err(never) => match never {},
    };
    let indexes = runs.into_iter().flatten();
    for (i, hash) in indexes.zip(&hashes) {
        if let Some(piece) = PieceIndex::from_usize(i)
            && hash.is_some_and(|h| info.pieces().get(i) == Some(&h))
        {
            result.insert(piece);
        }
    }
    result
}

/// Groups ascending pieces into ranges of consecutive ones.
fn runs(pieces: impl Iterator<Item = PieceIndex>) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for p in pieces.map(PieceIndex::as_usize) {
        match runs.last_mut() {
            Some(r) if r.end == p => r.end = p + 1,
            _ => runs.push(p..p + 1),
        }
    }
    runs
}

/// Reads a [`Storage`] the way the hasher asks: by file and offset. A read
/// that fails (a file vanished or shrank since it was opened) makes the rest
/// of the request unavailable, so the pieces under it do not verify; it never
/// stops the recheck.
struct StorageSource<'a, S: ?Sized>(&'a S);

impl<S: Storage + ?Sized> PieceSource for StorageSource<'_, S> {
    type Cursor = ();
    type Error = Infallible;

    fn cursor(&self) {}

    fn read_at(
        &self,
        _cursor: &mut (),
        file: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Infallible> {
        let info = self.0.info();
        let piece_length = info.piece_length();
        let Some(mut at) = info
            .files()
            .get(file)
            .and_then(|f| f.offset.checked_add(offset))
        else {
            return Ok(0);
        };
        let mut done = 0;
        // Storage reads stay within one piece: split at piece boundaries.
        while done < buf.len() && piece_length > 0 {
            let Some(piece) = usize::try_from(at / piece_length)
                .ok()
                .and_then(PieceIndex::from_usize)
            else {
                break;
            };
            let within = at % piece_length;
            let in_piece = usize::try_from(piece_length - within).unwrap_or(usize::MAX);
            let len = in_piece.min(buf.len() - done);
            let Ok(within) = u32::try_from(within) else {
                break;
            };
            if let Err(e) = self.0.read_block(piece, within, &mut buf[done..done + len]) {
                tracing::debug!(%piece, error = %e, "piece unreadable during recheck");
                break;
            }
            done += len;
            at += len as u64;
        }
        Ok(done)
    }
}

/// Turns the hasher's per-piece reports into [`CheckProgress`] calls.
struct Progress<'a, F> {
    info: &'a Info,
    report: F,
    total: usize,
    checked: AtomicUsize,
    verified: AtomicUsize,
}

impl<F: Fn(CheckProgress) + Sync> HashProgress for Progress<'_, F> {
    fn hashed(&self, _bytes: u64) {}

    fn piece_done(&self, piece: usize, hash: Option<&PieceHash>) {
        let ok = hash.is_some_and(|h| self.info.pieces().get(piece) == Some(h));
        let verified = if ok {
            self.verified.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.verified.load(Ordering::Relaxed)
        };
        let checked = self.checked.fetch_add(1, Ordering::Relaxed) + 1;
        (self.report)(CheckProgress {
            checked,
            total: self.total,
            verified,
        });
    }
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
