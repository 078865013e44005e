use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use metainfo::Info;
use rustix::fs::FallocateFlags;
use rustix::io::Errno;

use crate::handle_cache::HandleCache;
use crate::tree::{self, Access, Create};
use crate::{FileFingerprint, PieceIndex, Storage, StorageError};

/// How [`FileStorage::open`] treats the files on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read-only. Every stored file must already exist with exactly its
    /// torrent length, otherwise opening fails naming the file and sizes.
    /// Nothing is ever created, truncated or extended.
    Seed,
    /// Read-write. Missing directories and files are created; a new or
    /// shorter file is extended to its length (see [`Allocation`]). A file
    /// longer than its torrent length is an error, never truncated.
    Download,
}

/// How [`OpenMode::Download`] gives a new or short file its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocation {
    /// `ftruncate` to the length: a sparse file, space is used as pieces arrive.
    #[default]
    Sparse,
    /// `fallocate` the whole length up front, so a full disk is reported at
    /// open time ([`StorageError::DiskFull`]) rather than mid-download.
    /// Falls back to sparse where the file system cannot preallocate.
    Full,
}

/// Options for [`FileStorage::open`].
#[derive(Debug, Clone)]
pub struct FileStorageOptions {
    /// Most file descriptors kept open between operations (at least 1).
    /// Default 128.
    pub max_open_files: usize,
    /// How new or short files get their length in [`OpenMode::Download`].
    pub allocation: Allocation,
}

impl Default for FileStorageOptions {
    fn default() -> Self {
        Self {
            max_open_files: 128,
            allocation: Allocation::default(),
        }
    }
}

/// [`Storage`] on plain files below a directory, laid out as every
/// BitTorrent client does: `DIR/<name>` for a single-file torrent,
/// `DIR/<name>/<path...>` for a multi-file one.
///
/// Pad files (BEP 47) and symlink entries are never created; pad bytes read
/// as zeros. See the crate docs for the safety rules on paths.
pub struct FileStorage {
    /// The torrent; shared with the engine.
    info: Arc<Info>,
    /// The data directory as given, for messages and directory syncs.
    root_path: PathBuf,
    /// Descriptor of the data directory; every open walks down from it.
    root: OwnedFd,
    mode: OpenMode,
    /// One slot per [`Info::files`] entry.
    files: Vec<Slot>,
    handles: HandleCache,
    /// Files written since the last successful [`Storage::sync`].
    dirty: Mutex<BTreeSet<usize>>,
    /// Directories that gained entries and still need an `fsync`.
    dirs_to_sync: Mutex<BTreeSet<PathBuf>>,
    /// Serializes [`Storage::sync`] so a second caller cannot return before
    /// the first caller's files are durable.
    sync_lock: Mutex<()>,
}

struct Slot {
    /// Path below the data directory.
    rel: PathBuf,
    /// Full path, for messages.
    path: PathBuf,
    /// False for pad files and symlink entries: no bytes on disk.
    stored: bool,
    length: u64,
    /// Device the file was on when opened; files are synced per device.
    dev: u64,
    /// Bytes that may hold data: 0 for a file we created, the old length for
    /// one we extended; the full length once anything was written to it.
    may_hold: AtomicU64,
}

impl FileStorage {
    /// Opens (and in [`OpenMode::Download`], creates) the torrent's files
    /// below `dir`.
    pub fn open(
        info: Arc<Info>,
        dir: impl AsRef<Path>,
        mode: OpenMode,
        options: FileStorageOptions,
    ) -> Result<Self, StorageError> {
        if PieceIndex::from_usize(info.num_pieces()).is_none() {
            return Err(StorageError::TooManyPieces(info.num_pieces()));
        }
        let root_path = dir.as_ref().to_path_buf();
        let mut changed_dirs = Vec::new();
        if mode == OpenMode::Download {
            create_root(&root_path, &mut changed_dirs)?;
        }
        let root = tree::open_root(&root_path)?;
        let handles = HandleCache::new(options.max_open_files);
        let mut slots = Vec::with_capacity(info.files().len());
        for (i, f) in info.files().iter().enumerate() {
            let rel = info.file_relative_path(f);
            let path = root_path.join(&rel);
            let stored = !f.is_pad() && !f.attr.symlink;
            let mut slot = Slot {
                rel,
                path,
                stored,
                length: f.length,
                may_hold: AtomicU64::new(f.length),
                dev: 0,
            };
            if stored {
                let opened = match mode {
                    OpenMode::Seed => {
                        let o =
                            tree::open_beneath(&root, &root_path, &slot.rel, Access::Read, None)?;
                        if o.len != f.length {
                            return Err(StorageError::WrongSize {
                                path: slot.path,
                                expected: f.length,
                                actual: o.len,
                            });
                        }
                        o
                    }
                    OpenMode::Download => {
                        let create = Create {
                            file_mode: if f.attr.executable { 0o755 } else { 0o644 },
                            changed_dirs: &mut changed_dirs,
                        };
                        let o = tree::open_beneath(
                            &root,
                            &root_path,
                            &slot.rel,
                            Access::ReadWrite,
                            Some(create),
                        )?;
                        if o.len > f.length {
                            return Err(StorageError::FileTooLong {
                                path: slot.path,
                                expected: f.length,
                                actual: o.len,
                            });
                        }
                        slot.may_hold = AtomicU64::new(if o.created { 0 } else { o.len });
                        if o.len < f.length {
                            allocate(&o.file, f.length, options.allocation, &slot.path)?;
                        }
                        o
                    }
                };
                slot.dev = opened.dev;
                handles.insert(i, opened.file);
            }
            slots.push(slot);
        }
        // A previous process may have been killed with data still in the page
        // cache: the first sync flushes every file, not only ones we wrote.
        let dirty = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.stored)
            .map(|(i, _)| i)
            .collect();
        Ok(Self {
            info,
            root_path,
            root,
            mode,
            files: slots,
            handles,
            dirty: Mutex::new(dirty),
            dirs_to_sync: Mutex::new(changed_dirs.into_iter().collect()),
            sync_lock: Mutex::new(()),
        })
    }

    /// The mode this storage was opened in.
    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.root_path
    }

    /// The full path of file `file` (an index into [`Info::files`]).
    pub fn file_path(&self, file: usize) -> Option<&Path> {
        self.files.get(file).map(|s| s.path.as_path())
    }

    /// File descriptors currently cached (at most
    /// [`FileStorageOptions::max_open_files`]).
    pub fn cached_handles(&self) -> usize {
        self.handles.len()
    }

    /// Copies `len` bytes of `src` at `src_offset` into file `file` at
    /// `offset` inside the kernel (`copy_file_range`): on a file system with
    /// reflinks (Btrfs, XFS) the two files then share those extents, and
    /// elsewhere the bytes are copied without passing through user space.
    /// The caller has checked what the bytes are (the engine hashes a
    /// prefilled piece again before it counts it). Fails with
    /// [`StorageError::Io`] where the kernel cannot do it (another file
    /// system, an old kernel); the caller then writes the bytes itself.
    pub fn copy_range_from(
        &self,
        file: usize,
        offset: u64,
        src: &File,
        src_offset: u64,
        len: u64,
    ) -> Result<(), StorageError> {
        let slot = self.files.get(file).ok_or(StorageError::io(
            "copy",
            &self.root_path,
            io::Error::new(io::ErrorKind::InvalidInput, "no such file in the torrent"),
        ))?;
        if self.mode == OpenMode::Seed {
            return Err(StorageError::io(
                "copy",
                &slot.path,
                io::Error::new(io::ErrorKind::PermissionDenied, "opened for seeding only"),
            ));
        }
        if !slot.stored || offset.checked_add(len).is_none_or(|e| e > slot.length) {
            return Err(StorageError::io(
                "copy",
                &slot.path,
                io::Error::new(io::ErrorKind::InvalidInput, "range outside the file"),
            ));
        }
        let dst = self.handle(file)?;
        let (mut from, mut to, mut left) = (src_offset, offset, len);
        // Marked before the first byte lands, as in `write_piece`.
        lock(&self.dirty).insert(file);
        slot.may_hold.store(slot.length, Ordering::Relaxed);
        while left > 0 {
            let chunk = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
            let n = rustix::fs::copy_file_range(src, Some(&mut from), &*dst, Some(&mut to), chunk)
                .map_err(|e| StorageError::io("copy", &slot.path, e.into()))?;
            if n == 0 {
                return Err(StorageError::io(
                    "copy",
                    &slot.path,
                    io::ErrorKind::UnexpectedEof.into(),
                ));
            }
            left -= n as u64;
        }
        Ok(())
    }

    fn handle(&self, file: usize) -> Result<Arc<File>, StorageError> {
        if let Some(f) = self.handles.get(file) {
            return Ok(f);
        }
        let slot = &self.files[file];
        let access = match self.mode {
            OpenMode::Seed => Access::Read,
            OpenMode::Download => Access::ReadWrite,
        };
        let o = tree::open_beneath(&self.root, &self.root_path, &slot.rel, access, None)?;
        Ok(self.handles.insert(file, o.file))
    }

    fn piece_size(&self, piece: PieceIndex) -> Result<u64, StorageError> {
        let n = self.info.num_pieces();
        if piece.as_usize() >= n {
            return Err(StorageError::PieceOutOfRange {
                piece,
                num_pieces: n,
            });
        }
        Ok(self.info.piece_size(piece.as_usize()))
    }

    /// Syncs `files`, then `dirs`. On failure, returns how many of `files`
    /// are known durable (0 if unsure) with the error.
    fn sync_inner(&self, files: &[usize], dirs: &[PathBuf]) -> Result<(), (usize, StorageError)> {
        if files.len() <= FDATASYNC_MAX_FILES {
            for (n, &i) in files.iter().enumerate() {
                let slot = &self.files[i];
                self.handle(i)
                    .and_then(|f| {
                        f.sync_data()
                            .map_err(|e| StorageError::io("sync", &slot.path, e))
                    })
                    .map_err(|e| (n, e))?;
            }
        } else {
            // One syncfs per file system instead of one flush per file.
            let mut devices = BTreeSet::new();
            for &i in files {
                if devices.insert(self.files[i].dev) {
                    let slot = &self.files[i];
                    self.handle(i)
                        .and_then(|f| {
                            rustix::fs::syncfs(&*f)
                                .map_err(|e| StorageError::io("sync", &slot.path, e.into()))
                        })
                        .map_err(|e| (0, e))?;
                }
            }
        }
        for d in dirs {
            File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|e| (files.len(), StorageError::io("sync directory", d, e)))?;
        }
        Ok(())
    }
}

impl Storage for FileStorage {
    fn info(&self) -> &Info {
        &self.info
    }

    fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), StorageError> {
        let piece_size = self.piece_size(piece)?;
        let start = u64::from(offset);
        let end = u64::try_from(buf.len())
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= piece_size)
            .ok_or(StorageError::BlockOutOfRange {
                piece,
                offset,
                len: buf.len(),
                piece_size,
            })?;
        for span in self.info.piece_spans(piece.as_usize()) {
            let s = span.piece_offset.max(start);
            let e = (span.piece_offset + span.len).min(end);
            if span.piece_offset >= end {
                break;
            }
            if s >= e {
                continue;
            }
            let dst = &mut buf[to_usize(s - start)..to_usize(e - start)];
            let slot = &self.files[span.file];
            if !slot.stored {
                dst.fill(0);
                continue;
            }
            let file = self.handle(span.file)?;
            file.read_exact_at(dst, span.file_offset + (s - span.piece_offset))
                .map_err(|err| match err.kind() {
                    io::ErrorKind::UnexpectedEof => StorageError::ShortFile {
                        path: slot.path.clone(),
                    },
                    _ => StorageError::io("read", &slot.path, err),
                })?;
        }
        Ok(())
    }

    fn write_piece(&self, piece: PieceIndex, data: &[u8]) -> Result<(), StorageError> {
        let piece_size = self.piece_size(piece)?;
        if self.mode == OpenMode::Seed {
            return Err(StorageError::ReadOnly { piece });
        }
        if u64::try_from(data.len()).ok() != Some(piece_size) {
            return Err(StorageError::WrongPieceLength {
                piece,
                expected: piece_size,
                actual: data.len(),
            });
        }
        for span in self.info.piece_spans(piece.as_usize()) {
            let slot = &self.files[span.file];
            if !slot.stored {
                continue;
            }
            let src = &data[to_usize(span.piece_offset)..to_usize(span.piece_offset + span.len)];
            let file = self.handle(span.file)?;
            let result = file.write_all_at(src, span.file_offset);
            // Marked even on failure: part of the span may have been written.
            lock(&self.dirty).insert(span.file);
            slot.may_hold.store(slot.length, Ordering::Relaxed);
            result.map_err(|e| StorageError::io("write", &slot.path, e))?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        let _serial = lock(&self.sync_lock);
        let files: Vec<usize> = std::mem::take(&mut *lock(&self.dirty))
            .into_iter()
            .collect();
        let dirs: Vec<PathBuf> = std::mem::take(&mut *lock(&self.dirs_to_sync))
            .into_iter()
            .collect();
        self.sync_inner(&files, &dirs).map_err(|(done, e)| {
            // Whatever is not known durable must be synced next time.
            lock(&self.dirty).extend(files.iter().skip(done));
            lock(&self.dirs_to_sync).extend(dirs);
            e
        })
    }

    fn may_hold(&self, piece: PieceIndex) -> bool {
        if piece.as_usize() >= self.info.num_pieces() {
            return false;
        }
        self.info
            .piece_spans(piece.as_usize())
            .all(|s| s.file_offset + s.len <= self.files[s.file].may_hold.load(Ordering::Relaxed))
    }

    fn fingerprint(&self, file: usize) -> FileFingerprint {
        let Some(slot) = self.files.get(file) else {
            return FileFingerprint::ABSENT;
        };
        if !slot.stored {
            return FileFingerprint::virtual_file(slot.length);
        }
        match self.handle(file).and_then(|f| {
            f.metadata()
                .map_err(|e| StorageError::io("stat", &slot.path, e))
        }) {
            Ok(meta) => FileFingerprint::of(&meta),
            Err(e) => {
                tracing::debug!(path = %slot.path.display(), error = %e, "cannot fingerprint file");
                FileFingerprint::ABSENT
            }
        }
    }
}

impl std::fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStorage")
            .field("dir", &self.root_path)
            .field("mode", &self.mode)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

/// Creates the data directory and any missing ancestors, remembering which
/// parents gained an entry.
fn create_root(root: &Path, changed_dirs: &mut Vec<PathBuf>) -> Result<(), StorageError> {
    let mut missing = Vec::new();
    let mut p = Some(root);
    while let Some(dir) = p {
        if dir.as_os_str().is_empty() || dir.symlink_metadata().is_ok() {
            break;
        }
        missing.push(dir.to_path_buf());
        p = dir.parent();
    }
    std::fs::create_dir_all(root).map_err(|e| StorageError::io("create directory", root, e))?;
    for dir in missing {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            changed_dirs.push(parent.to_path_buf());
        }
    }
    Ok(())
}

fn allocate(file: &File, length: u64, how: Allocation, path: &Path) -> Result<(), StorageError> {
    if how == Allocation::Full && length > 0 {
        match rustix::fs::fallocate(file, FallocateFlags::empty(), 0, length) {
            Ok(()) => return Ok(()),
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => {} // e.g. tmpfs on old kernels: go sparse
            Err(e) => return Err(StorageError::io("allocate", path, e.into())),
        }
    }
    file.set_len(length)
        .map_err(|e| StorageError::io("extend", path, e))
}

/// Above this many files to sync, `syncfs` (one journal commit and cache
/// flush per file system) beats `fdatasync` per file, which costs a device
/// cache flush each: about 3 ms per file on a typical virtual disk, so 10 000
/// files would take half a minute. The price is that `syncfs` also flushes
/// other processes' dirty data on that file system, and reports writeback
/// errors only on Linux 5.8 and later.
const FDATASYNC_MAX_FILES: usize = 8;

fn to_usize(v: u64) -> usize {
    // Only used for offsets within one piece (<= 256 MiB) that were checked
    // against a slice length.
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values (sets of indexes and paths) are valid after any
    // panic, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
