//! The engine's storage seam and a file-backed implementation.
//!
//! The engine talks to data through [`PieceStore`]: positioned, thread-safe,
//! synchronous piece I/O that it calls on tokio's blocking pool. Storage is
//! sync on purpose: positioned reads and writes (`pread`/`pwrite`) on the
//! blocking pool are simpler and faster than async file I/O, and the trait
//! keeps the engine testable with in-memory or fault-injecting stores.
//!
//! Pieces are hashed in memory *before* they are written ([`verify_piece`]),
//! so nothing is ever read back to check it.
//!
//! [`FileStore`] maps pieces onto the torrent's files (`DIR/name` for a single
//! file, `DIR/name/...` for many), skips BEP 47 pad files (never written, read
//! as zeros) and keeps a small cache of open descriptors so torrents of
//! thousands of files do not hold one descriptor per file.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use metainfo::Info;
use sha1::{Digest, Sha1};

/// Most descriptors a [`FileStore`] keeps open at once.
const MAX_OPEN_FILES: usize = 64;

/// Positioned piece I/O; see the module docs.
pub trait PieceStore: Send + Sync + std::fmt::Debug + 'static {
    /// Reads `buf.len()` bytes of `piece` at `offset` within the piece.
    fn read_block(&self, piece: u32, offset: u32, buf: &mut [u8]) -> Result<(), StoreError>;
    /// Writes a whole, already verified piece.
    fn write_piece(&self, piece: u32, data: &[u8]) -> Result<(), StoreError>;
    /// Makes completed writes durable.
    fn sync(&self) -> Result<(), StoreError>;
}

/// How a [`FileStore`] treats the files it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Existing data, read-only: every file must exist at exactly its length;
    /// nothing is ever created, truncated, extended or written.
    Seed,
    /// Files are created (sparse) or extended as needed; a file longer than
    /// the torrent says is an error (we never truncate).
    Download,
}

/// Why a storage operation failed; every variant names the file or piece.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A data file does not exist.
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
    /// Downloading into a longer file would need a truncation.
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
    /// An I/O error.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A piece index or range outside the torrent.
    #[error("piece {piece} range {offset}+{len} is outside the torrent")]
    OutOfRange {
        /// The piece.
        piece: u32,
        /// Offset in the piece.
        offset: u32,
        /// Length.
        len: usize,
    },
    /// A write to a store opened with [`OpenMode::Seed`].
    #[error("storage is read-only (seed mode)")]
    ReadOnly,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Hashes `data` and compares it with the torrent's hash of `piece`.
pub fn verify_piece(info: &Info, piece: u32, data: &[u8]) -> bool {
    let Some(expected) = info.pieces().get(piece as usize) else {
        return false;
    };
    let got: [u8; 20] = Sha1::digest(data).into();
    &got == expected
}

#[derive(Debug, Default)]
struct FdCache {
    open: HashMap<usize, (Arc<File>, u64)>,
    clock: u64,
}

/// File-backed [`PieceStore`]; see the module docs.
#[derive(Debug)]
pub struct FileStore {
    info: Arc<Info>,
    paths: Vec<PathBuf>,
    mode: OpenMode,
    /// Per file, the length that existed before we opened it: pieces reaching
    /// past it cannot hold valid data yet.
    valid_len: Vec<u64>,
    fds: Mutex<FdCache>,
    /// Serializes piece writes: the kernel takes the inode lock for every
    /// buffered write anyway, and a second writer would spin on it.
    write_lock: Mutex<()>,
}

impl FileStore {
    /// Opens the data of `info` below `dir` (see [`OpenMode`]).
    pub fn open(info: Arc<Info>, dir: &Path, mode: OpenMode) -> Result<Self, StoreError> {
        let mut paths = Vec::with_capacity(info.files().len());
        let mut valid_len = Vec::with_capacity(info.files().len());
        for f in info.files() {
            let path = dir.join(info.file_relative_path(f));
            if f.is_pad() {
                paths.push(path);
                valid_len.push(f.length);
                continue;
            }
            let meta = std::fs::metadata(&path);
            let len = match (&meta, mode) {
                (Ok(m), _) if !m.is_file() => {
                    return Err(StoreError::Io {
                        op: "open",
                        path,
                        source: std::io::Error::other("not a regular file"),
                    });
                }
                (Ok(m), OpenMode::Seed) if m.len() != f.length => {
                    return Err(StoreError::WrongSize {
                        path,
                        expected: f.length,
                        actual: m.len(),
                    });
                }
                (Ok(m), OpenMode::Download) if m.len() > f.length => {
                    return Err(StoreError::FileTooLong {
                        path,
                        expected: f.length,
                        actual: m.len(),
                    });
                }
                (Ok(m), _) => m.len(),
                (Err(e), OpenMode::Seed) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::MissingFile { path });
                }
                (Err(e), OpenMode::Download) if e.kind() == std::io::ErrorKind::NotFound => 0,
                (Err(e), _) => {
                    return Err(StoreError::Io {
                        op: "stat",
                        path,
                        source: std::io::Error::new(e.kind(), e.to_string()),
                    });
                }
            };
            if mode == OpenMode::Download && len < f.length {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
                }
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(io_err("create", &path))?;
                file.set_len(f.length).map_err(io_err("extend", &path))?;
            }
            paths.push(path);
            valid_len.push(len);
        }
        Ok(Self {
            info,
            paths,
            mode,
            valid_len,
            fds: Mutex::new(FdCache::default()),
            write_lock: Mutex::new(()),
        })
    }

    /// The torrent.
    pub fn info(&self) -> &Arc<Info> {
        &self.info
    }

    /// Path of file `i`.
    pub fn path(&self, i: usize) -> &Path {
        &self.paths[i]
    }

    /// False when `piece` certainly holds no valid data (a file under it was
    /// missing or shorter when the store was opened).
    pub fn may_hold(&self, piece: u32) -> bool {
        self.info
            .piece_spans(piece as usize)
            .all(|s| s.file_offset + s.len <= self.valid_len[s.file])
    }

    fn file(&self, i: usize) -> Result<Arc<File>, StoreError> {
        {
            let mut c = self.fds.lock().unwrap_or_else(|e| e.into_inner());
            c.clock += 1;
            let now = c.clock;
            if let Some((f, used)) = c.open.get_mut(&i) {
                *used = now;
                return Ok(Arc::clone(f));
            }
        }
        let path = &self.paths[i];
        let file = OpenOptions::new()
            .read(true)
            .write(self.mode == OpenMode::Download)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    StoreError::MissingFile { path: path.clone() }
                } else {
                    StoreError::Io {
                        op: "open",
                        path: path.clone(),
                        source: e,
                    }
                }
            })?;
        let file = Arc::new(file);
        let mut c = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        if c.open.len() >= MAX_OPEN_FILES {
            if let Some(oldest) = c.open.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k) {
                c.open.remove(&oldest);
            }
        }
        let now = c.clock;
        c.open.insert(i, (Arc::clone(&file), now));
        Ok(file)
    }

    fn check_range(&self, piece: u32, offset: u32, len: usize) -> Result<(), StoreError> {
        let size = self.info.piece_size(piece as usize);
        if (piece as usize) >= self.info.num_pieces() || u64::from(offset) + len as u64 > size {
            return Err(StoreError::OutOfRange { piece, offset, len });
        }
        Ok(())
    }
}

impl PieceStore for FileStore {
    fn read_block(&self, piece: u32, offset: u32, buf: &mut [u8]) -> Result<(), StoreError> {
        self.check_range(piece, offset, buf.len())?;
        let start = u64::from(offset);
        let end = start + buf.len() as u64;
        for s in self.info.piece_spans(piece as usize) {
            let (a, b) = (s.piece_offset.max(start), (s.piece_offset + s.len).min(end));
            if a >= b {
                continue;
            }
            let dst = &mut buf[(a - start) as usize..(b - start) as usize];
            if self.info.files()[s.file].is_pad() {
                dst.fill(0);
                continue;
            }
            let f = self.file(s.file)?;
            f.read_exact_at(dst, s.file_offset + (a - s.piece_offset))
                .map_err(io_err("read", &self.paths[s.file]))?;
        }
        Ok(())
    }

    fn write_piece(&self, piece: u32, data: &[u8]) -> Result<(), StoreError> {
        if self.mode == OpenMode::Seed {
            return Err(StoreError::ReadOnly);
        }
        self.check_range(piece, 0, data.len())?;
        let _serial = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        for s in self.info.piece_spans(piece as usize) {
            if self.info.files()[s.file].is_pad() {
                continue;
            }
            let src = &data[s.piece_offset as usize..(s.piece_offset + s.len) as usize];
            let f = self.file(s.file)?;
            f.write_all_at(src, s.file_offset)
                .map_err(io_err("write", &self.paths[s.file]))?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        if self.mode == OpenMode::Seed {
            return Ok(());
        }
        let files: Vec<(usize, Arc<File>)> = {
            let c = self.fds.lock().unwrap_or_else(|e| e.into_inner());
            c.open
                .iter()
                .map(|(k, (f, _))| (*k, Arc::clone(f)))
                .collect()
        };
        for (i, f) in files {
            f.sync_data().map_err(io_err("sync", &self.paths[i]))?;
        }
        Ok(())
    }
}

/// Hashes the pieces for which `check` is true, on `threads` threads, and
/// returns which of them are valid. Read errors count as invalid.
pub fn check_pieces(
    store: &FileStore,
    check: &(dyn Fn(u32) -> bool + Sync),
    threads: usize,
) -> Vec<bool> {
    let info = store.info();
    let n = info.num_pieces();
    let threads = threads.clamp(1, 16);
    let mut results = vec![false; n];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut buf = Vec::new();
                    let mut ok = Vec::new();
                    let mut i = t;
                    while i < n {
                        let p = i as u32;
                        if check(p) && store.may_hold(p) {
                            buf.resize(info.piece_size(i) as usize, 0);
                            if store.read_block(p, 0, &mut buf).is_ok()
                                && verify_piece(info, p, &buf)
                            {
                                ok.push(i);
                            }
                        }
                        i += threads;
                    }
                    ok
                })
            })
            .collect();
        for h in handles {
            if let Ok(ok) = h.join() {
                for i in ok {
                    results[i] = true;
                }
            }
        }
    });
    results
}
