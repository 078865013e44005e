//! The parallel piece hasher shared by `torrent create`, `torrent verify` and
//! the storage layer's recheck (`storage::check_pieces`, through
//! [`hash_piece_ranges`]).
//!
//! Why workers read for themselves instead of one reader thread feeding them:
//! on a machine with few cores a dedicated reader is one more thread competing
//! with the hashers, and its multi-megabyte buffers go through main memory
//! twice (written by the copy out of the page cache, read again by SHA-1). Here
//! each worker claims the next chunk of consecutive pieces (a few MiB of the
//! torrent's byte space, claimed in order so the disk still sees a forward
//! sweep), reads it with large sequential `pread`s into a buffer that stays in
//! its own cache, and hashes it right there. Pad files (BEP 47) are hashed as
//! zeros and never read.
//!
//! The hasher knows nothing about files on disk: a [`PieceSource`] reads bytes
//! of a given file. [`crate::DiskSource`] is the one for plain directories.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha1::{Digest, Sha1};

use crate::Info;

/// SHA-1 of one piece.
pub type PieceHash = [u8; 20];

/// Where the hasher gets the bytes of non-pad files from.
///
/// Each worker thread makes one [`PieceSource::Cursor`] and passes it to every
/// read, so an implementation can keep a file open between reads.
pub trait PieceSource: Sync {
    /// Per-worker state, e.g. the file opened last.
    type Cursor;
    /// An error that stops hashing altogether.
    type Error: Send;
    /// Makes the state for one worker.
    fn cursor(&self) -> Self::Cursor;
    /// Reads up to `buf.len()` bytes of file `file` (an index into
    /// [`Info::files`]) starting at `offset`, and returns how many it read.
    /// Fewer than `buf.len()` means the rest is unavailable (a missing or short
    /// file): the pieces covering it are reported as `None`.
    fn read_at(
        &self,
        cursor: &mut Self::Cursor,
        file: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Self::Error>;
}

/// Receives progress from the worker threads.
pub trait HashProgress: Sync {
    /// `bytes` more of the torrent's content were processed (hashed or found
    /// unavailable). Pad files are not content and are not reported, so the
    /// calls add up to [`crate::Info::content_length`].
    fn hashed(&self, bytes: u64);

    /// Piece `piece` is done: `Some(sha1)`, or `None` when some of its bytes
    /// were unavailable. Called once per piece hashed, from the worker that
    /// hashed it, in no particular order across workers.
    fn piece_done(&self, piece: usize, hash: Option<&PieceHash>) {
        let _ = (piece, hash);
    }
}

impl HashProgress for () {
    fn hashed(&self, _bytes: u64) {}
}

/// Tuning for [`hash_pieces`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashOptions {
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// Bytes of consecutive pieces a worker claims at a time (rounded to whole
    /// pieces, at least one). Smaller spreads small torrents over more cores;
    /// larger keeps each worker's reads longer.
    pub chunk_size: u64,
    /// Largest single read, in bytes. About the size of a core's L2 cache, so
    /// the bytes are still cached when SHA-1 reads them.
    pub read_size: usize,
}

impl Default for HashOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            chunk_size: 4 << 20,
            read_size: 512 << 10,
        }
    }
}

impl HashOptions {
    fn worker_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
    }
}

/// Number of pieces the layout of `info` has (from its lengths, not from its hash list).
pub fn piece_count(info: &Info) -> usize {
    if info.piece_length() == 0 {
        return 0;
    }
    usize::try_from(info.total_length().div_ceil(info.piece_length())).unwrap_or(usize::MAX)
}

/// Hashes pieces `pieces` of the layout described by `info` (its own piece
/// hashes are not used), in parallel. Element `i` of the result is piece
/// `pieces.start + i`: `Some(sha1)`, or `None` when some of its bytes were
/// unavailable. The range is clamped to the layout's piece count. The first
/// error from `source` stops all workers and is returned.
pub fn hash_pieces<S: PieceSource>(
    info: &Info,
    pieces: Range<usize>,
    source: &S,
    options: &HashOptions,
    progress: &dyn HashProgress,
) -> Result<Vec<Option<PieceHash>>, S::Error> {
    hash_piece_ranges(info, &[pieces], source, options, progress)
}

/// Like [`hash_pieces`] for several ranges of pieces at once (for example the
/// pieces of the files that changed), sharing one set of workers. The result
/// lists the pieces of every range in turn: element `i` is the `i`-th piece
/// of the ranges concatenated, each range clamped to the layout's piece
/// count. Give the ranges ascending and disjoint so the reads sweep forward.
pub fn hash_piece_ranges<S: PieceSource>(
    info: &Info,
    ranges: &[Range<usize>],
    source: &S,
    options: &HashOptions,
    progress: &dyn HashProgress,
) -> Result<Vec<Option<PieceHash>>, S::Error> {
    let layout = piece_count(info);
    let piece_length = info.piece_length().max(1);
    let per_chunk = usize::try_from(options.chunk_size / piece_length)
        .unwrap_or(usize::MAX)
        .max(1);
    let mut runs = Vec::with_capacity(ranges.len());
    let (mut count, mut chunks) = (0, 0);
    for r in ranges {
        let end = r.end.min(layout);
        let start = r.start.min(end);
        if start < end {
            runs.push(Run {
                pieces: start..end,
                first_chunk: chunks,
                first_out: count,
            });
            count += end - start;
            chunks += (end - start).div_ceil(per_chunk);
        }
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    let job = Job {
        info,
        source,
        progress,
        runs,
        per_chunk,
        chunks,
        read_size: options.read_size.max(4096),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let workers = options.worker_count().min(chunks).max(1);
    let parts = if workers == 1 {
        vec![job.work()]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(|| job.work())).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect::<Vec<_>>()
        })
    };
    let mut out = vec![None; count];
    for part in parts {
        for (at, hashes) in part? {
            for (slot, h) in out[at..].iter_mut().zip(hashes) {
                *slot = h;
            }
        }
    }
    Ok(out)
}

/// One non-empty range of pieces to hash.
struct Run {
    pieces: Range<usize>,
    /// Number of the range's first chunk (chunks are numbered across ranges).
    first_chunk: usize,
    /// Position of the range's first piece in the result.
    first_out: usize,
}

/// Shared state of one [`hash_piece_ranges`] call.
struct Job<'a, S: PieceSource> {
    info: &'a Info,
    source: &'a S,
    progress: &'a dyn HashProgress,
    /// The pieces to hash, in claiming order.
    runs: Vec<Run>,
    /// Pieces per chunk.
    per_chunk: usize,
    /// Number of chunks, over all runs.
    chunks: usize,
    read_size: usize,
    /// Next chunk to claim.
    next: AtomicUsize,
    /// Set by the first worker that fails.
    stop: AtomicBool,
}

/// Position in the result of a chunk's first piece, and the chunk's hashes.
type ChunkResult = (usize, Vec<Option<PieceHash>>);

impl<S: PieceSource> Job<'_, S> {
    fn work(&self) -> Result<Vec<ChunkResult>, S::Error> {
        let mut cursor = self.source.cursor();
        let mut buf = vec![0u8; self.read_size];
        let mut done = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            if c >= self.chunks {
                break;
            }
            let (at, pieces) = self.chunk_pieces(c);
            match self.chunk(pieces, &mut cursor, &mut buf) {
                Ok(h) => done.push((at, h)),
                Err(e) => {
                    self.stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Chunk `c`: where its hashes go in the result, and its pieces.
    fn chunk_pieces(&self, c: usize) -> (usize, Range<usize>) {
        let r = self
            .runs
            .partition_point(|r| r.first_chunk <= c)
            .saturating_sub(1);
        let run = &self.runs[r];
        let skip = (c - run.first_chunk) * self.per_chunk;
        let first = run.pieces.start + skip;
        let last = (first + self.per_chunk).min(run.pieces.end);
        (run.first_out + skip, first..last)
    }

    /// Hashes pieces `pieces`, reading the files they cover front to back.
    fn chunk(
        &self,
        pieces: Range<usize>,
        cursor: &mut S::Cursor,
        buf: &mut [u8],
    ) -> Result<Vec<Option<PieceHash>>, S::Error> {
        let info = self.info;
        let pl = info.piece_length();
        let start = (pieces.start as u64).saturating_mul(pl);
        let end = (pieces.end as u64)
            .saturating_mul(pl)
            .min(info.total_length());
        let mut asm = Assembler::new(info, pieces, self.progress);
        let files = info.files();
        let first = files.partition_point(|f| f.end() <= start);
        for (index, f) in files.iter().enumerate().skip(first) {
            if f.offset >= end {
                break;
            }
            let s = start.max(f.offset);
            let e = end.min(f.end());
            if e <= s {
                continue; // empty file
            }
            if f.is_pad() {
                asm.zeros(e - s);
                continue;
            }
            let mut offset = s - f.offset;
            let mut remaining = e - s;
            while remaining > 0 {
                let want = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                let got = self
                    .source
                    .read_at(cursor, index, offset, &mut buf[..want])?
                    .min(want);
                asm.feed(&buf[..got]);
                if got < want {
                    asm.skip(remaining - got as u64);
                    self.progress.hashed(remaining);
                    break;
                }
                offset += want as u64;
                remaining -= want as u64;
                self.progress.hashed(want as u64);
            }
        }
        Ok(asm.finish())
    }
}

/// Cuts a stream of bytes into pieces and hashes each one.
struct Assembler<'a> {
    info: &'a Info,
    progress: &'a dyn HashProgress,
    /// Piece being filled.
    index: usize,
    /// One past the last piece wanted.
    end: usize,
    /// Number of pieces wanted.
    wanted: usize,
    /// Size of the piece being filled.
    size: u64,
    /// Bytes of it seen so far.
    filled: u64,
    /// False once any of its bytes was unavailable.
    complete: bool,
    sha: Sha1,
    out: Vec<Option<PieceHash>>,
}

static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

impl<'a> Assembler<'a> {
    fn new(info: &'a Info, pieces: Range<usize>, progress: &'a dyn HashProgress) -> Self {
        Self {
            info,
            progress,
            index: pieces.start,
            end: pieces.end,
            wanted: pieces.len(),
            size: info.piece_size(pieces.start),
            filled: 0,
            complete: true,
            sha: Sha1::new(),
            out: Vec::with_capacity(pieces.len()),
        }
    }

    /// How much of `n` more bytes fit in the current piece.
    fn room(&self, n: u64) -> u64 {
        (self.size - self.filled).min(n)
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.size > 0 {
            let take = usize::try_from(self.room(data.len() as u64)).unwrap_or(data.len());
            if self.complete {
                self.sha.update(&data[..take]);
            }
            data = &data[take..];
            self.advance(take as u64);
        }
    }

    fn zeros(&mut self, mut n: u64) {
        while n > 0 && self.size > 0 {
            let take = n.min(ZEROS.len() as u64);
            self.feed(&ZEROS[..usize::try_from(take).unwrap_or(ZEROS.len())]);
            n -= take;
        }
    }

    fn skip(&mut self, mut n: u64) {
        while n > 0 && self.size > 0 {
            let take = self.room(n);
            self.complete = false;
            n -= take;
            self.advance(take);
        }
    }

    fn advance(&mut self, n: u64) {
        self.filled += n;
        if self.filled < self.size {
            return;
        }
        let hash = if self.complete {
            Some(self.sha.finalize_reset().into())
        } else {
            self.sha.reset();
            None
        };
        self.progress.piece_done(self.index, hash.as_ref());
        self.out.push(hash);
        self.index += 1;
        self.filled = 0;
        self.complete = true;
        self.size = if self.index < self.end {
            self.info.piece_size(self.index)
        } else {
            0
        };
    }

    fn finish(mut self) -> Vec<Option<PieceHash>> {
        // Only short if the files ended before the pieces did: those pieces were not seen.
        for piece in self.index..self.index + self.wanted.saturating_sub(self.out.len()) {
            self.progress.piece_done(piece, None);
        }
        self.out.resize(self.wanted, None);
        self.out
    }
}
