//! Delta reuse (issue 9): before a release is downloaded, the pieces it
//! shares with releases already on disk are copied into staging, so only
//! what changed crosses the network.
//!
//! Why this works: the hub publishes aligned torrents (every file starts on
//! a piece boundary, files under a quarter piece may be packed together), so
//! a file that did not change has the same piece hashes as before, and a big
//! file changed in one region differs only in the pieces around the change.
//!
//! Each piece of the new release is looked for in two ways, cheapest first:
//!
//! 1. **Same path, same offset.** The bytes of the piece's file ranges are
//!    read from the files at the same paths in an earlier release (pad
//!    ranges are zeros), and hashed. This also assembles a piece that spans
//!    several packed small files, or a piece of an unaligned torrent, as long
//!    as each file kept its path, and it does not care about the earlier
//!    torrent's piece length.
//! 2. **Same hash anywhere.** Every earlier torrent's piece hashes are
//!    indexed by (SHA-1, length); a match is read from that earlier piece
//!    (a file that moved, or the same content under another name) and
//!    hashed again, since the earlier file may have been damaged on disk.
//!
//! A piece is written into staging only when its bytes hash to the new
//! torrent's piece hash, through a `storage::FileStorage` in download mode
//! (the same positioned writes, pad handling and symlink refusal as the
//! engine's). The bytes must be read to be hashed anyway; a piece found at
//! the same path is then copied inside the kernel (`copy_file_range`), which
//! on a file system with reflinks (Btrfs, XFS) shares the extents instead of
//! writing them again, and elsewhere copies without a pass through user
//! space; where the kernel cannot (another file system), the hashed buffer
//! is written. Hard links are never used: the earlier release must stay
//! intact while the engine writes into the new one, and a reflink is a
//! copy-on-write copy, so it is as safe as a copy. Pieces found by hash
//! elsewhere are written from the buffer. The pieces written are handed to
//! the engine as a [`swarm::Prefill`]: the engine hashes them again when it opens the
//! storage and counts only those that verify, so nothing is trusted on the
//! strength of the match alone, and a `kill -9` during the copy leaves no
//! claim behind (the next start copies again).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metainfo::{Info, Metainfo};
use sha1::{Digest, Sha1};
use storage::{FileStorage, FileStorageOptions, OpenMode, PieceIndex, PieceSet, Storage};
use tracing::{info, warn};

/// An earlier release on disk that pieces may be taken from.
#[derive(Debug, Clone)]
pub struct Earlier {
    /// Its data directory (the agent's `releases/`); files live at
    /// `dir/NAME/...`.
    pub dir: PathBuf,
    /// Its torrent.
    pub info: Arc<Info>,
}

impl Earlier {
    /// The release whose saved torrent is `torrent`, data in `dir`.
    pub fn load(dir: &Path, torrent: &Path) -> Result<Self, String> {
        let bytes = crate::installer::read_limited(torrent, metainfo::MAX_TORRENT_FILE_SIZE as u64)
            .map_err(|e| format!("{}: {e}", torrent.display()))?;
        let m = Metainfo::from_bytes(&bytes).map_err(|e| format!("{}: {e}", torrent.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            info: Arc::new(m.info().clone()),
        })
    }
}

/// What a reuse did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reuse {
    /// Pieces of the new release (pad-only ones included).
    pub pieces_total: usize,
    /// Pieces written into staging (their bytes hashed correctly).
    pub pieces_reused: usize,
    /// Of those, found at the same path and offset.
    pub by_path: usize,
    /// Of those, found by hash in another place.
    pub by_hash: usize,
    /// Real bytes (pad bytes not counted) of the reused pieces.
    pub bytes_reused: u64,
    /// Of those, bytes copied inside the kernel (`copy_file_range`: shared
    /// extents where the file system has reflinks) rather than written.
    pub bytes_copied_in_kernel: u64,
    /// Real bytes of the release still to download.
    pub bytes_left: u64,
    /// Pieces whose candidate bytes did not hash right (changed or damaged).
    pub mismatches: usize,
    /// Time spent.
    pub elapsed: Duration,
}

/// Open earlier files kept at most (the pieces go in order, so few are
/// needed at once).
const MAX_OPEN: usize = 32;

/// Copies into `staging` every piece of `new` found in `earlier` (most
/// preferred first) whose bytes hash right, and returns the pieces written.
/// Never fails: whatever cannot be reused is downloaded.
pub fn reuse(earlier: &[Earlier], new: &Metainfo, staging: &Path) -> (PieceSet, Reuse) {
    let start = Instant::now();
    let info = Arc::new(new.info().clone());
    let n = info.num_pieces();
    let mut set = PieceSet::new(n);
    let mut r = Reuse {
        pieces_total: n,
        bytes_left: info.content_length(),
        ..Reuse::default()
    };
    if earlier.is_empty() || n == 0 {
        return (set, r);
    }
    let dest = match FileStorage::open(
        Arc::clone(&info),
        staging,
        OpenMode::Download,
        FileStorageOptions::default(),
    ) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot open staging for reuse; downloading everything");
            return (set, r);
        }
    };
    let mut finder = Finder::new(earlier);
    let mut buf = Vec::new();
    // Where each span of a piece found by path came from: (release, file).
    let mut sources = Vec::new();
    // Off after the first refusal: the kernel or file system cannot.
    let mut kernel_copy = true;
    let mut last_log = Instant::now();
    for i in 0..n {
        let Some(piece) = PieceIndex::from_usize(i) else {
            break;
        };
        let spans: Vec<_> = info.piece_spans(i).collect();
        let real: u64 = spans
            .iter()
            .filter(|s| !info.files()[s.file].is_pad())
            .map(|s| s.len)
            .sum();
        if real == 0 {
            continue; // all padding: the engine makes it up itself
        }
        let Ok(len) = usize::try_from(info.piece_size(i)) else {
            continue;
        };
        let want = info.pieces()[i];
        buf.clear();
        buf.resize(len, 0);
        sources.clear();
        let mut same_path = false;
        let found = if finder.by_path(&info, &spans, &mut buf, &mut sources) && sha1(&buf) == want {
            r.by_path += 1;
            same_path = true;
            true
        } else if finder.by_hash(&want, len as u64, &mut buf) {
            if sha1(&buf) == want {
                r.by_hash += 1;
                true
            } else {
                r.mismatches += 1;
                false
            }
        } else {
            false
        };
        if !found {
            continue;
        }
        let copied = same_path
            && kernel_copy
            && match finder.copy_in_kernel(&dest, &spans, &sources) {
                Ok(()) => true,
                Err(e) => {
                    // The buffer holds the same bytes: write them instead.
                    info!(error = %e, "the kernel cannot copy reused pieces; writing them");
                    kernel_copy = false;
                    false
                }
            };
        if !copied {
            if let Err(e) = dest.write_piece(piece, &buf) {
                warn!(error = %e, "cannot write a reused piece; downloading the rest");
                break;
            }
        }
        set.insert(piece);
        r.pieces_reused += 1;
        r.bytes_reused += real;
        if copied {
            r.bytes_copied_in_kernel += real;
        }
        if last_log.elapsed() >= Duration::from_secs(2) {
            last_log = Instant::now();
            info!(
                piece = i,
                of = n,
                reused = r.pieces_reused,
                bytes_reused = r.bytes_reused,
                "reusing pieces of earlier releases"
            );
        }
    }
    if let Err(e) = dest.sync() {
        // Not fatal: the engine hashes the pieces and syncs before any
        // claim in its resume state.
        warn!(error = %e, "cannot sync reused pieces");
    }
    r.bytes_left = info.content_length().saturating_sub(r.bytes_reused);
    r.elapsed = start.elapsed();
    (set, r)
}

fn sha1(b: &[u8]) -> [u8; 20] {
    Sha1::digest(b).into()
}

/// Where candidate bytes come from.
struct Finder<'a> {
    earlier: &'a [Earlier],
    /// File path inside the torrent → (release, file), most preferred first.
    paths: HashMap<&'a [String], (usize, usize)>,
    /// (piece hash, length) → (release, piece).
    hashes: HashMap<([u8; 20], u64), (usize, usize)>,
    /// Earlier releases opened as seeded storage (by hash), lazily; `None`
    /// when it cannot be opened (a file missing or of the wrong size).
    stores: HashMap<usize, Option<FileStorage>>,
    open: HashMap<(usize, usize), Option<File>>,
}

impl<'a> Finder<'a> {
    fn new(earlier: &'a [Earlier]) -> Self {
        let mut paths = HashMap::new();
        let mut hashes = HashMap::new();
        for (r, e) in earlier.iter().enumerate() {
            for (f, entry) in e.info.files().iter().enumerate() {
                if !entry.is_pad() && entry.length > 0 {
                    paths.entry(entry.path.as_slice()).or_insert((r, f));
                }
            }
            for (p, h) in e.info.pieces().iter().enumerate() {
                hashes.entry((*h, e.info.piece_size(p))).or_insert((r, p));
            }
        }
        Self {
            earlier,
            paths,
            hashes,
            stores: HashMap::new(),
            open: HashMap::new(),
        }
    }

    /// Fills `buf` from the files at the same paths and offsets, noting in
    /// `sources` the (release, file) of each span (`None` for pads); false
    /// if one is not there (or is shorter).
    fn by_path(
        &mut self,
        info: &Info,
        spans: &[metainfo::PieceSpan],
        buf: &mut [u8],
        sources: &mut Vec<Option<(usize, usize)>>,
    ) -> bool {
        for s in spans {
            let entry = &info.files()[s.file];
            let (Ok(at), Ok(len)) = (usize::try_from(s.piece_offset), usize::try_from(s.len))
            else {
                return false;
            };
            let out = &mut buf[at..at + len];
            if entry.is_pad() {
                out.fill(0);
                sources.push(None);
                continue;
            }
            let Some(&(r, f)) = self.paths.get(entry.path.as_slice()) else {
                return false;
            };
            sources.push(Some((r, f)));
            let old = &self.earlier[r].info.files()[f];
            if s.file_offset + s.len > old.length {
                return false;
            }
            let Some(file) = self.file(r, f) else {
                return false;
            };
            if file.read_exact_at(out, s.file_offset).is_err() {
                return false;
            }
        }
        true
    }

    /// Copies the spans of a piece found by path from their `sources` into
    /// `dest` inside the kernel (pads are not stored).
    fn copy_in_kernel(
        &mut self,
        dest: &FileStorage,
        spans: &[metainfo::PieceSpan],
        sources: &[Option<(usize, usize)>],
    ) -> Result<(), storage::StorageError> {
        for (s, src) in spans.iter().zip(sources) {
            let Some((r, f)) = *src else { continue };
            let Some(file) = self.file(r, f) else {
                return Err(storage::StorageError::Io {
                    op: "open",
                    path: self.earlier[r].dir.clone(),
                    source: std::io::ErrorKind::NotFound.into(),
                });
            };
            dest.copy_range_from(s.file, s.file_offset, file, s.file_offset, s.len)?;
        }
        Ok(())
    }

    /// Fills `buf` with the earlier piece of the same hash and length; false
    /// if there is none or it cannot be read.
    fn by_hash(&mut self, hash: &[u8; 20], len: u64, buf: &mut [u8]) -> bool {
        let Some(&(r, p)) = self.hashes.get(&(*hash, len)) else {
            return false;
        };
        let e = &self.earlier[r];
        let store = self.stores.entry(r).or_insert_with(|| {
            FileStorage::open(
                Arc::clone(&e.info),
                &e.dir,
                OpenMode::Seed,
                FileStorageOptions::default(),
            )
            .map_err(|err| {
                warn!(release = e.info.name(), error = %err, "cannot read an earlier release; not reusing from it");
            })
            .ok()
        });
        let (Some(store), Some(piece)) = (store.as_ref(), PieceIndex::from_usize(p)) else {
            return false;
        };
        store.read_block(piece, 0, buf).is_ok()
    }

    /// The earlier release `r`'s file `f`, opened read-only without
    /// following a symlink in its last component (an earlier release is
    /// our own verified data; whatever it holds is hashed before use).
    fn file(&mut self, r: usize, f: usize) -> Option<&File> {
        if self.open.len() >= MAX_OPEN && !self.open.contains_key(&(r, f)) {
            self.open.clear();
        }
        let e = &self.earlier[r];
        self.open
            .entry((r, f))
            .or_insert_with(|| {
                let path = e.dir.join(e.info.file_relative_path(&e.info.files()[f]));
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                    .open(path)
                    .ok()
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metainfo::{CreateOptions, PieceLength};

    const PIECE: usize = 16 * 1024;

    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Writes `releases/name/<path>` for each file and returns its aligned
    /// torrent (small files packed, as the hub does).
    fn release(root: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> Metainfo {
        let dir = root.join("releases").join(name);
        for (p, b) in files {
            let p = dir.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b).unwrap();
        }
        let opts = CreateOptions {
            piece_length: Some(PieceLength::new(PIECE as u64).unwrap()),
            pack_below_per_mille: 250,
            ..CreateOptions::default()
        };
        Metainfo::new(metainfo::create(&dir, &opts).unwrap())
    }

    fn files(s: &[(String, Vec<u8>)]) -> Vec<(&str, Vec<u8>)> {
        s.iter().map(|(p, b)| (p.as_str(), b.clone())).collect()
    }

    fn earlier(root: &Path, m: &Metainfo) -> Earlier {
        Earlier {
            dir: root.join("releases"),
            info: Arc::new(m.info().clone()),
        }
    }

    /// Reuses `new` from `old` into `root/staging` and checks every piece
    /// reported is on disk and verifies.
    fn run(root: &Path, old: &[&Metainfo], new: &Metainfo) -> (PieceSet, Reuse) {
        let e: Vec<Earlier> = old.iter().map(|m| earlier(root, m)).collect();
        let staging = root.join("staging");
        let (set, r) = reuse(&e, new, &staging);
        let info = Arc::new(new.info().clone());
        let s = FileStorage::open(
            Arc::clone(&info),
            &staging,
            OpenMode::Download,
            FileStorageOptions::default(),
        )
        .unwrap();
        let ok = storage::check_pieces(&s, &set, 1, |_| {});
        assert_eq!(ok.count(), set.count(), "every reused piece verifies");
        assert_eq!(r.pieces_reused, set.count());
        (set, r)
    }

    /// Pieces of `m` holding real bytes.
    fn real_pieces(m: &Metainfo) -> usize {
        let info = m.info();
        (0..info.num_pieces())
            .filter(|&i| info.piece_spans(i).any(|s| !info.files()[s.file].is_pad()))
            .count()
    }

    #[test]
    fn unchanged_files_are_reused_by_path_and_offset() {
        let d = tempfile::tempdir().unwrap();
        let a = bytes(5 * PIECE + 100, 1);
        let b = bytes(3 * PIECE, 2);
        let mut b2 = b.clone();
        b2[PIECE + 10] ^= 1; // second piece of b changes
        let m1 = release(d.path(), "app-1", &[("a.bin", a.clone()), ("b.bin", b)]);
        let m2 = release(d.path(), "app-2", &[("a.bin", a), ("b.bin", b2)]);
        let (set, r) = run(d.path(), &[&m1], &m2);
        assert_eq!(r.pieces_reused, real_pieces(&m2) - 1);
        assert_eq!(r.by_path, r.pieces_reused);
        assert_eq!(r.bytes_left, PIECE as u64);
        assert_eq!(set.count(), real_pieces(&m2) - 1);
        // Linux copies within a file system itself (tmpfs, ext4; reflinks
        // on Btrfs, XFS): nothing found by path was written from user space.
        assert_eq!(r.bytes_copied_in_kernel, r.bytes_reused);
    }

    #[test]
    fn a_piece_is_found_by_hash_anywhere() {
        let d = tempfile::tempdir().unwrap();
        let a = bytes(4 * PIECE, 3);
        let m1 = release(d.path(), "app-1", &[("old/name.bin", a.clone())]);
        // Moved, and shifted by whole pieces inside a bigger file.
        let mut shifted = bytes(2 * PIECE, 4);
        shifted.extend_from_slice(&a);
        let m2 = release(d.path(), "app-2", &[("new/place.bin", shifted)]);
        let (_, r) = run(d.path(), &[&m1], &m2);
        assert_eq!((r.by_path, r.by_hash), (0, 4));
        assert_eq!(r.bytes_left, 2 * PIECE as u64);
    }

    #[test]
    fn a_piece_spanning_packed_files_is_assembled_from_them() {
        let d = tempfile::tempdir().unwrap();
        // Files under a quarter piece are packed together into shared pieces.
        let small: Vec<(String, Vec<u8>)> = (0..12)
            .map(|i| {
                (
                    format!("etc/f{i:02}.conf"),
                    bytes(1000 + i * 300, 10 + i as u64),
                )
            })
            .collect();
        let m1 = release(d.path(), "app-1", &files(&small));
        let multi = (0..m1.info().num_pieces())
            .filter(|&i| m1.info().piece_spans(i).count() > 1)
            .count();
        assert!(multi > 0, "the fixture packs files into shared pieces");
        // Same files, but the earlier release was made with another piece
        // length, so no piece hash matches: only assembling by path works.
        let m1_other = {
            let opts = CreateOptions {
                piece_length: Some(PieceLength::new(2 * PIECE as u64).unwrap()),
                pack_below_per_mille: 250,
                ..CreateOptions::default()
            };
            Metainfo::new(metainfo::create(&d.path().join("releases/app-1"), &opts).unwrap())
        };
        let m2 = release(d.path(), "app-2", &files(&small));
        let (_, r) = run(d.path(), &[&m1_other], &m2);
        assert_eq!(r.pieces_reused, real_pieces(&m2));
        assert_eq!(r.by_path, r.pieces_reused);
        assert_eq!(r.bytes_left, 0);
        // One small file changes: only the piece holding it is left.
        let mut changed = small;
        changed[5].1[17] ^= 0xff;
        std::fs::remove_dir_all(d.path().join("staging")).unwrap();
        std::fs::remove_dir_all(d.path().join("releases/app-2")).unwrap();
        let m3 = release(d.path(), "app-2", &files(&changed));
        let (_, r) = run(d.path(), &[&m1], &m3);
        assert_eq!(r.pieces_reused, real_pieces(&m3) - 1);
    }

    #[test]
    fn a_big_file_changed_in_one_region_costs_only_the_pieces_around_it() {
        let d = tempfile::tempdir().unwrap();
        let big = bytes(64 * PIECE, 20);
        let mut big2 = big.clone();
        // 20 KiB overwritten in place across a piece boundary: 2 pieces.
        for b in &mut big2[10 * PIECE - 4096..10 * PIECE + 16384] {
            *b = b.wrapping_add(1);
        }
        let m1 = release(d.path(), "app-1", &[("big.img", big)]);
        let m2 = release(d.path(), "app-2", &[("big.img", big2)]);
        let (set, r) = run(d.path(), &[&m1], &m2);
        assert_eq!(r.pieces_reused, 62);
        assert!(!set.contains(PieceIndex(9)) && !set.contains(PieceIndex(10)));
        assert_eq!(r.bytes_left, 2 * PIECE as u64);
    }

    #[test]
    fn nothing_to_reuse() {
        let d = tempfile::tempdir().unwrap();
        let m1 = release(d.path(), "app-1", &[("a.bin", bytes(3 * PIECE, 30))]);
        let m2 = release(d.path(), "app-2", &[("a.bin", bytes(3 * PIECE, 31))]);
        let (set, r) = run(d.path(), &[&m1], &m2);
        assert_eq!((set.count(), r.bytes_left), (0, 3 * PIECE as u64));
        let (set, r) = run(d.path(), &[], &m2);
        assert_eq!((set.count(), r.bytes_left), (0, 3 * PIECE as u64));
    }

    #[test]
    fn a_damaged_earlier_file_is_not_reused() {
        let d = tempfile::tempdir().unwrap();
        let a = bytes(6 * PIECE, 40);
        let m1 = release(d.path(), "app-1", &[("a.bin", a.clone())]);
        let m2 = release(d.path(), "app-2", &[("a.bin", a)]);
        // The earlier copy rots in piece 2 (same size, other bytes).
        let p = d.path().join("releases/app-1/a.bin");
        let mut b = std::fs::read(&p).unwrap();
        b[2 * PIECE + 5] ^= 0x40;
        std::fs::write(&p, &b).unwrap();
        // app-2's own copy is not a source here: only app-1 is.
        let (set, r) = run(d.path(), &[&m1], &m2);
        assert_eq!(r.pieces_reused, 5);
        assert!(!set.contains(PieceIndex(2)));
        assert_eq!(r.mismatches, 1);
        let before = std::fs::read(&p).unwrap();
        assert_eq!(before, b, "the earlier release is never written");
    }

    /// A kill -9 during the copy leaves torn pieces and no resume state:
    /// the next start copies again over them, and only what hashes counts.
    #[test]
    fn an_interrupted_reuse_is_redone() {
        let d = tempfile::tempdir().unwrap();
        let a = bytes(8 * PIECE, 50);
        let m1 = release(d.path(), "app-1", &[("a.bin", a.clone())]);
        let m2 = release(d.path(), "app-2", &[("a.bin", a)]);
        let staging = d.path().join("staging");
        let torn = staging.join("app-2/a.bin");
        std::fs::create_dir_all(torn.parent().unwrap()).unwrap();
        std::fs::write(&torn, bytes(3 * PIECE + 77, 51)).unwrap();
        let (set, r) = run(d.path(), &[&m1], &m2);
        assert_eq!((set.count(), r.bytes_left), (8, 0));
    }
}
