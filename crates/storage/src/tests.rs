//! Unit tests: one per failure mode, plus property tests on random layouts.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use metainfo::{FileEntry, Info, Infohash};
use proptest::prelude::*;
use sha1::{Digest, Sha1};
use tempfile::TempDir;

use crate::atomic_file::temp_path;
use crate::*;

/// A torrent over generated data, and a temp dir to put it in.
struct Fixture {
    dir: TempDir,
    info: Arc<Info>,
    /// The whole byte space, pad bytes as zeros.
    data: Vec<u8>,
}

/// `files`: (path below the torrent name, length, is_pad).
fn fixture(piece_length: u64, files: &[(&str, u64, bool)]) -> Fixture {
    let entries: Vec<FileEntry> = files
        .iter()
        .map(|&(p, len, pad)| {
            if pad {
                FileEntry::pad(len)
            } else {
                FileEntry::new(p.split('/').map(str::to_string).collect(), len)
            }
        })
        .collect();
    let mut data = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ piece_length;
    for &(_, len, pad) in files {
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            data.push(if pad { 0 } else { (seed >> 24) as u8 });
        }
    }
    let pieces = data
        .chunks(usize::try_from(piece_length).unwrap())
        .map(|c| Sha1::digest(c).into())
        .collect();
    let info = Info::multi("t", piece_length, pieces, entries);
    info.validate().expect("valid fixture");
    Fixture {
        dir: tempfile::tempdir().unwrap(),
        info: Arc::new(info),
        data,
    }
}

impl Fixture {
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.root().join("t").join(rel)
    }
    fn piece(&self, i: usize) -> &[u8] {
        let pl = usize::try_from(self.info.piece_length()).unwrap();
        let start = i * pl;
        &self.data[start..(start + pl).min(self.data.len())]
    }
    fn open(&self, mode: OpenMode) -> Result<FileStorage, StorageError> {
        self.open_with(mode, FileStorageOptions::default())
    }
    fn open_with(
        &self,
        mode: OpenMode,
        o: FileStorageOptions,
    ) -> Result<FileStorage, StorageError> {
        FileStorage::open(self.info.clone(), self.root(), mode, o)
    }
    fn write_all(&self, s: &FileStorage) {
        for i in 0..self.info.num_pieces() {
            let p = PieceIndex::from_usize(i).unwrap();
            assert!(verify_piece(&self.info, p, self.piece(i)));
            s.write_piece(p, self.piece(i)).unwrap();
        }
        s.sync().unwrap();
    }
    fn downloaded(&self) -> FileStorage {
        let s = self.open(OpenMode::Download).unwrap();
        self.write_all(&s);
        s
    }
}

fn three_files() -> Fixture {
    fixture(
        1024,
        &[
            ("a", 1500, false),
            ("sub/b", 2000, false),
            ("c", 700, false),
        ],
    )
}

fn p(i: u32) -> PieceIndex {
    PieceIndex(i)
}

// ---- seed mode -------------------------------------------------------------

#[test]
fn seed_missing_file_is_an_error_naming_it() {
    let fx = three_files();
    drop(fx.downloaded());
    fs::remove_file(fx.path("sub/b")).unwrap();
    match fx.open(OpenMode::Seed) {
        Err(StorageError::MissingFile { path }) => assert_eq!(path, fx.path("sub/b")),
        other => panic!("expected MissingFile, got {other:?}"),
    }
    assert!(
        !fx.path("sub/b").exists(),
        "seed mode must not create files"
    );
}

#[test]
fn seed_missing_directory_is_missing_file() {
    let fx = three_files();
    drop(fx.downloaded());
    fs::remove_dir_all(fx.path("sub")).unwrap();
    assert!(
        matches!(fx.open(OpenMode::Seed), Err(StorageError::MissingFile { path }) if path == fx.path("sub/b"))
    );
    assert!(!fx.path("sub").exists());
}

#[test]
fn seed_missing_data_dir_is_missing_file() {
    let fx = three_files();
    let gone = fx.root().join("nope");
    let r = FileStorage::open(
        Arc::clone(&fx.info),
        &gone,
        OpenMode::Seed,
        FileStorageOptions::default(),
    );
    assert!(matches!(r, Err(StorageError::MissingFile { path }) if path == gone));
    assert!(!gone.exists());
}

#[test]
fn seed_wrong_size_is_an_error_with_sizes() {
    let fx = three_files();
    drop(fx.downloaded());
    for (len, name) in [(1999u64, "shorter"), (2001, "longer")] {
        fs::OpenOptions::new()
            .write(true)
            .open(fx.path("sub/b"))
            .unwrap()
            .set_len(len)
            .unwrap();
        match fx.open(OpenMode::Seed) {
            Err(StorageError::WrongSize {
                path,
                expected,
                actual,
            }) => {
                assert_eq!(
                    (path, expected, actual),
                    (fx.path("sub/b"), 2000, len),
                    "{name}"
                );
            }
            other => panic!("{name}: expected WrongSize, got {other:?}"),
        }
        assert_eq!(
            fs::metadata(fx.path("sub/b")).unwrap().len(),
            len,
            "seed must not resize"
        );
    }
}

#[test]
fn seed_never_modifies_files_and_rejects_writes() {
    let fx = three_files();
    drop(fx.downloaded());
    let before: Vec<_> = ["a", "sub/b", "c"]
        .iter()
        .map(|f| fs::metadata(fx.path(f)).unwrap())
        .map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ctime_nsec()))
        .collect();
    let s = fx.open(OpenMode::Seed).unwrap();
    assert!(
        matches!(s.write_piece(p(0), fx.piece(0)), Err(StorageError::ReadOnly { piece }) if piece == p(0))
    );
    assert!(check_existing(&s, 2, |_| {}).is_complete());
    s.sync().unwrap();
    drop(s);
    let after: Vec<_> = ["a", "sub/b", "c"]
        .iter()
        .map(|f| fs::metadata(fx.path(f)).unwrap())
        .map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ctime_nsec()))
        .collect();
    assert_eq!(before, after);
}

// ---- download mode ---------------------------------------------------------

#[test]
fn download_creates_sparse_files_and_directories() {
    let fx = fixture(1 << 20, &[("big", 64 << 20, false), ("d/e/f", 10, false)]);
    let s = fx.open(OpenMode::Download).unwrap();
    let m = fs::metadata(fx.path("big")).unwrap();
    assert_eq!(m.len(), 64 << 20);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "file should be sparse, {} blocks",
        m.blocks()
    );
    assert_eq!(fs::metadata(fx.path("d/e/f")).unwrap().len(), 10);
    // nothing can be on disk yet, so a recheck reads nothing
    assert!((0..64).all(|i| !s.may_hold(p(i))));
    let mut calls = 0;
    let counter = Mutex::new(&mut calls);
    assert_eq!(
        check_existing(&s, 2, |_| **counter.lock().unwrap() += 1).count(),
        0
    );
    assert_eq!(calls, 0);
}

#[test]
fn download_full_allocation_reserves_space() {
    let fx = fixture(1 << 20, &[("big", 8 << 20, false)]);
    let o = FileStorageOptions {
        allocation: Allocation::Full,
        ..Default::default()
    };
    fx.open_with(OpenMode::Download, o).unwrap();
    let m = fs::metadata(fx.path("big")).unwrap();
    assert_eq!(m.len(), 8 << 20);
    assert!(
        m.blocks() * 512 >= 8 << 20,
        "expected preallocation, {} blocks",
        m.blocks()
    );
}

#[test]
fn download_refuses_to_truncate_a_longer_file() {
    let fx = three_files();
    fs::create_dir_all(fx.path("sub")).unwrap();
    fs::write(fx.path("sub/b"), vec![7u8; 2500]).unwrap();
    match fx.open(OpenMode::Download) {
        Err(StorageError::FileTooLong {
            path,
            expected,
            actual,
        }) => {
            assert_eq!((path, expected, actual), (fx.path("sub/b"), 2000, 2500));
        }
        other => panic!("expected FileTooLong, got {other:?}"),
    }
    assert_eq!(fs::read(fx.path("sub/b")).unwrap(), vec![7u8; 2500]);
}

#[test]
fn download_extends_a_short_file_keeping_its_bytes() {
    let fx = three_files();
    fs::create_dir_all(fx.path("sub")).unwrap();
    // "a" holds its first 1024 bytes (= piece 0) and nothing more
    fs::write(fx.path("a"), &fx.data[..1024]).unwrap();
    let s = fx.open(OpenMode::Download).unwrap();
    assert_eq!(fs::metadata(fx.path("a")).unwrap().len(), 1500);
    assert!(s.may_hold(p(0)));
    assert!(!s.may_hold(p(1)));
    let found = check_existing(&s, 1, |_| {});
    assert_eq!(found.iter().collect::<Vec<_>>(), [p(0)]);
}

#[test]
fn download_creates_executable_files_with_exec_mode() {
    let mut e = FileEntry::new(vec!["run.sh".into()], 4);
    e.attr.executable = true;
    let data = b"#!/b";
    let info = Arc::new(Info::multi(
        "t",
        1024,
        vec![Sha1::digest(data).into()],
        vec![e],
    ));
    let dir = tempfile::tempdir().unwrap();
    FileStorage::open(
        info,
        dir.path(),
        OpenMode::Download,
        FileStorageOptions::default(),
    )
    .unwrap();
    let mode = fs::metadata(dir.path().join("t/run.sh")).unwrap().mode();
    assert_ne!(mode & 0o100, 0, "mode {mode:o}");
}

// ---- path safety -----------------------------------------------------------

#[test]
fn symlinked_directory_in_tree_is_refused() {
    let fx = three_files();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(fx.path("")).unwrap();
    symlink(outside.path(), fx.path("sub")).unwrap();
    for mode in [OpenMode::Download, OpenMode::Seed] {
        match fx.open(mode) {
            Err(StorageError::Symlink { path }) => assert_eq!(path, fx.path("sub")),
            Err(StorageError::MissingFile { .. }) if mode == OpenMode::Seed => {} // "a" missing first
            other => panic!("{mode:?}: expected Symlink, got {other:?}"),
        }
    }
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside"
    );
}

#[test]
fn symlinked_file_in_tree_is_refused() {
    let fx = three_files();
    drop(fx.downloaded());
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    fs::write(&target, vec![1u8; 700]).unwrap();
    fs::remove_file(fx.path("c")).unwrap();
    symlink(&target, fx.path("c")).unwrap();
    for mode in [OpenMode::Seed, OpenMode::Download] {
        assert!(
            matches!(fx.open(mode), Err(StorageError::Symlink { ref path }) if *path == fx.path("c")),
            "{mode:?}"
        );
    }
    assert_eq!(fs::read(&target).unwrap(), vec![1u8; 700]);
}

#[test]
fn symlinked_torrent_root_is_refused() {
    let fx = three_files();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), fx.root().join("t")).unwrap();
    assert!(
        matches!(fx.open(OpenMode::Download), Err(StorageError::Symlink { path }) if path == fx.root().join("t"))
    );
}

#[test]
fn symlink_swapped_in_after_open_is_refused_on_reopen() {
    // max_open_files = 1 forces a reopen of "a" after touching "sub/b"
    let fx = three_files();
    let o = FileStorageOptions {
        max_open_files: 1,
        ..Default::default()
    };
    let s = fx.open_with(OpenMode::Download, o).unwrap();
    s.write_piece(p(2), fx.piece(2)).unwrap(); // only sub/b
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("x"), vec![0u8; 1500]).unwrap();
    fs::remove_file(fx.path("a")).unwrap();
    symlink(outside.path().join("x"), fx.path("a")).unwrap();
    assert!(matches!(
        s.write_piece(p(0), fx.piece(0)),
        Err(StorageError::Symlink { .. })
    ));
    assert_eq!(fs::read(outside.path().join("x")).unwrap(), vec![0u8; 1500]);
}

#[test]
fn fifo_in_tree_is_rejected_without_blocking() {
    let fx = three_files();
    fs::create_dir_all(fx.path("")).unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(fx.path("a"))
        .status()
        .unwrap();
    assert!(st.success());
    for mode in [OpenMode::Download, OpenMode::Seed] {
        assert!(
            matches!(fx.open(mode), Err(StorageError::UnexpectedFileType { ref path, expected: "a regular file" }) if *path == fx.path("a")),
            "{mode:?}"
        );
    }
}

#[test]
fn directory_where_a_file_belongs_is_rejected() {
    let fx = three_files();
    fs::create_dir_all(fx.path("c")).unwrap();
    assert!(matches!(
        fx.open(OpenMode::Download),
        Err(StorageError::UnexpectedFileType { path, expected: "a regular file" }) if path == fx.path("c")
    ));
}

#[test]
fn file_where_a_directory_belongs_is_rejected() {
    let fx = three_files();
    fs::create_dir_all(fx.path("")).unwrap();
    fs::write(fx.path("sub"), b"x").unwrap();
    assert!(matches!(
        fx.open(OpenMode::Download),
        Err(StorageError::UnexpectedFileType { path, expected: "a directory" }) if path == fx.path("sub")
    ));
}

#[test]
fn unvalidated_dotdot_path_is_refused() {
    let data = [0u8; 4];
    let info = Info::multi(
        "t",
        1024,
        vec![Sha1::digest(data).into()],
        vec![FileEntry::new(vec!["..".into(), "escape".into()], 4)],
    );
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("inner");
    let r = FileStorage::open(
        Arc::new(info),
        &inner,
        OpenMode::Download,
        FileStorageOptions::default(),
    );
    assert!(matches!(r, Err(StorageError::UnsafePath { .. })), "{r:?}");
    assert!(!dir.path().join("escape").exists());
}

// ---- piece I/O -------------------------------------------------------------

#[test]
fn out_of_range_requests_are_typed_errors() {
    let fx = three_files();
    let s = fx.open(OpenMode::Download).unwrap();
    let n = fx.info.num_pieces();
    assert_eq!(n, 5);
    assert!(
        matches!(s.read_block(p(5), 0, &mut [0; 1]), Err(StorageError::PieceOutOfRange { piece, num_pieces }) if piece == p(5) && num_pieces == n)
    );
    assert!(matches!(
        s.write_piece(p(99), &[]),
        Err(StorageError::PieceOutOfRange { .. })
    ));
    // the last piece is 4200 - 4 * 1024 = 104 bytes
    assert!(matches!(
        s.read_block(p(4), 100, &mut [0; 5]),
        Err(StorageError::BlockOutOfRange {
            piece_size: 104,
            len: 5,
            offset: 100,
            ..
        })
    ));
    s.read_block(p(4), 100, &mut [0; 4]).unwrap();
    assert!(matches!(
        s.read_block(p(4), u32::MAX, &mut [0; 4]),
        Err(StorageError::BlockOutOfRange { .. })
    ));
    assert!(matches!(
        s.write_piece(p(0), &[0; 1023]),
        Err(StorageError::WrongPieceLength {
            expected: 1024,
            actual: 1023,
            ..
        })
    ));
}

#[test]
fn file_shrunk_while_seeding_is_short_file() {
    let fx = three_files();
    drop(fx.downloaded());
    let s = fx.open(OpenMode::Seed).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(fx.path("c"))
        .unwrap()
        .set_len(10)
        .unwrap();
    assert!(
        matches!(s.read_block(p(4), 0, &mut [0; 104]), Err(StorageError::ShortFile { path }) if path == fx.path("c"))
    );
    let found = check_existing(&s, 1, |_| {});
    assert_eq!(found.iter().collect::<Vec<_>>(), [p(0), p(1), p(2)]);
}

#[test]
fn pad_files_are_never_written_and_read_as_zeros() {
    let fx = fixture(
        1024,
        &[
            ("a", 1000, false),
            (".pad/24", 24, true),
            ("b", 2048, false),
            ("", 3000, true),
            ("c", 5, false),
        ],
    );
    let s = fx.downloaded();
    assert!(
        !fx.path(".pad").exists(),
        "pad files must not exist on disk"
    );
    // a block entirely inside the 3000-byte pad (pieces 3..=5 are pad-only)
    let mut buf = vec![9u8; 1024];
    s.read_block(p(4), 0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    // a block straddling data and pad
    let mut buf = vec![9u8; 48];
    s.read_block(p(0), 976, &mut buf).unwrap();
    assert_eq!(&buf[..24], &fx.data[976..1000]);
    assert!(buf[24..].iter().all(|&b| b == 0));
    assert!(check_existing(&s, 2, |_| {}).is_complete());
    let data_len: u64 = fs::metadata(fx.path("a")).unwrap().len()
        + fs::metadata(fx.path("b")).unwrap().len()
        + fs::metadata(fx.path("c")).unwrap().len();
    assert_eq!(data_len, 1000 + 2048 + 5);
}

#[test]
fn a_padded_piece_verifies_whatever_its_buffer_holds_in_the_pad_ranges() {
    // piece 0: 1000 real bytes and 24 of padding; piece 1: 1024 real bytes
    let fx = fixture(
        1024,
        &[
            ("a", 1000, false),
            (".pad/24", 24, true),
            ("b", 2048, false),
        ],
    );
    let mut buf = fx.piece(0).to_vec();
    assert!(verify_piece_padded(&fx.info, p(0), &buf, &[(1000, 1024)]));
    buf[1000..].fill(0xAB);
    assert!(
        !verify_piece(&fx.info, p(0), &buf),
        "garbage in the pad range"
    );
    assert!(verify_piece_padded(&fx.info, p(0), &buf, &[(1000, 1024)]));
    // ranges that are not the piece's padding, or not inside it, fail
    assert!(!verify_piece_padded(&fx.info, p(0), &buf, &[(1001, 1024)]));
    assert!(!verify_piece_padded(&fx.info, p(0), &buf, &[(1000, 1025)]));
    assert!(!verify_piece_padded(
        &fx.info,
        p(0),
        &buf,
        &[(1000, 1024), (10, 20)]
    ));
    // a corrupt real byte fails
    buf[999] ^= 1;
    assert!(!verify_piece_padded(&fx.info, p(0), &buf, &[(1000, 1024)]));
    // no ranges: the plain hash
    assert!(verify_piece_padded(&fx.info, p(1), fx.piece(1), &[]));
    assert!(!verify_piece_padded(&fx.info, p(1), &fx.piece(1)[1..], &[]));
}

#[test]
fn pieces_spanning_many_files_including_empty_ones() {
    let mut files = Vec::new();
    let names: Vec<String> = (0..60).map(|i| format!("d{}/f{i}", i % 3)).collect();
    for (i, n) in names.iter().enumerate() {
        files.push((
            n.as_str(),
            if i % 4 == 0 { 0 } else { 37 + i as u64 },
            false,
        ));
    }
    let fx = fixture(256, &files);
    let s = fx.downloaded();
    for (i, n) in names.iter().enumerate() {
        let want = if i % 4 == 0 { 0 } else { 37 + i as u64 };
        assert_eq!(fs::metadata(fx.path(n)).unwrap().len(), want, "{n}");
    }
    for i in 0..fx.info.num_pieces() {
        let mut buf = vec![0; fx.piece(i).len()];
        s.read_block(PieceIndex::from_usize(i).unwrap(), 0, &mut buf)
            .unwrap();
        assert_eq!(buf, fx.piece(i));
    }
    drop(s);
    assert!(check_existing(&fx.open(OpenMode::Seed).unwrap(), 3, |_| {}).is_complete());
}

#[test]
fn handle_cache_bounds_descriptors_across_1000_files() {
    let names: Vec<String> = (0..1000).map(|i| format!("f{i:04}")).collect();
    let files: Vec<_> = names.iter().map(|n| (n.as_str(), 100u64, false)).collect();
    let fx = fixture(16384, &files);
    let o = FileStorageOptions {
        max_open_files: 8,
        ..Default::default()
    };
    let s = fx.open_with(OpenMode::Download, o.clone()).unwrap();
    assert!(s.cached_handles() <= 8);
    fx.write_all(&s);
    assert!(s.cached_handles() <= 8);
    let mut buf = vec![0; 16384];
    for i in 0..fx.info.num_pieces() {
        let len = fx.piece(i).len();
        s.read_block(PieceIndex::from_usize(i).unwrap(), 0, &mut buf[..len])
            .unwrap();
        assert_eq!(&buf[..len], fx.piece(i));
        assert!(s.cached_handles() <= 8);
    }
    drop(s);
    let seed = fx.open_with(OpenMode::Seed, o).unwrap();
    assert!(check_existing(&seed, 4, |_| {}).is_complete());
    assert!(seed.cached_handles() <= 8);
}

#[test]
fn concurrent_writers_and_readers() {
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let files: Vec<_> = names.iter().map(|n| (n.as_str(), 3000u64, false)).collect();
    let fx = fixture(1024, &files);
    let o = FileStorageOptions {
        max_open_files: 4,
        ..Default::default()
    };
    let s = fx.open_with(OpenMode::Download, o).unwrap();
    let n = fx.info.num_pieces();
    std::thread::scope(|sc| {
        for t in 0..4 {
            let (s, fx) = (&s, &fx);
            sc.spawn(move || {
                for i in (t..n).step_by(4) {
                    s.write_piece(PieceIndex::from_usize(i).unwrap(), fx.piece(i))
                        .unwrap();
                    let mut buf = vec![0; fx.piece(i).len()];
                    s.read_block(PieceIndex::from_usize(i).unwrap(), 0, &mut buf)
                        .unwrap();
                    assert_eq!(buf, fx.piece(i));
                }
            });
        }
    });
    assert!(check_existing(&s, 2, |_| {}).is_complete());
}

#[test]
fn verify_piece_rejects_wrong_data_length_and_index() {
    let fx = three_files();
    assert!(verify_piece(&fx.info, p(3), fx.piece(3)));
    assert!(!verify_piece(&fx.info, p(2), fx.piece(3)));
    assert!(!verify_piece(&fx.info, p(3), &fx.piece(3)[1..]));
    assert!(!verify_piece(&fx.info, p(4), fx.piece(3)));
    let mut bad = fx.piece(0).to_vec();
    bad[5] ^= 1;
    assert!(!verify_piece(&fx.info, p(0), &bad));
}

#[test]
fn check_existing_reports_progress_and_skips_corrupt_pieces() {
    let fx = three_files();
    let s = fx.downloaded();
    let mut bad = fx.piece(1).to_vec();
    bad[0] ^= 0xff;
    s.write_piece(p(1), &bad).unwrap();
    let seen = Mutex::new(Vec::new());
    let found = check_existing(&s, 3, |pr| seen.lock().unwrap().push(pr));
    assert_eq!(found.iter().collect::<Vec<_>>(), [p(0), p(2), p(3), p(4)]);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|pr| pr.total == 5));
    assert_eq!(seen.iter().map(|pr| pr.checked).max(), Some(5));
    assert_eq!(seen.iter().map(|pr| pr.verified).max(), Some(4));
}

#[test]
fn check_existing_counts_a_file_shortened_after_open_as_not_had() {
    // a: bytes 0..1500 (pieces 0, 1); sub/b: 1500..3500 (pieces 1..=3); c: 3500..4200 (pieces 3, 4)
    let fx = three_files();
    drop(fx.downloaded());
    for threads in [1, 2] {
        let s = fx.open(OpenMode::Seed).unwrap();
        // sub/b keeps 1000 bytes (up to byte 2500): piece 1 is still whole.
        fs::OpenOptions::new()
            .write(true)
            .open(fx.path("sub/b"))
            .unwrap()
            .set_len(1000)
            .unwrap();
        assert!(s.may_hold(p(2)), "opened before the truncation");
        let seen = Mutex::new(Vec::new());
        let found = check_existing(&s, threads, |pr| seen.lock().unwrap().push(pr));
        assert_eq!(found.iter().collect::<Vec<_>>(), [p(0), p(1), p(4)]);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 5);
        assert_eq!(seen.iter().map(|pr| pr.checked).max(), Some(5));
        assert_eq!(seen.iter().map(|pr| pr.verified).max(), Some(3));
        drop(s);
        fs::write(fx.path("sub/b"), &fx.data[1500..3500]).unwrap();
    }
}

#[test]
fn check_pieces_reads_only_the_pieces_asked_for() {
    let fx = fixture(1024, &[("a", 10 * 1024, false)]);
    let s = fx.downloaded();
    let c = CountingStorage::new(&s);
    let mut want = PieceSet::new(10);
    for i in [1, 2, 5, 9] {
        want.insert(p(i));
    }
    let found = check_pieces(&c, &want, 2, |_| {});
    assert_eq!(found, want);
    assert_eq!(c.read_pieces(), want.iter().collect());
}

// ---- resume ----------------------------------------------------------------

fn ih(b: u8) -> Infohash {
    Infohash([b; 20])
}

fn state_for(fx: &Fixture, s: &FileStorage) -> ResumeState {
    let mut v = PieceSet::new(fx.info.num_pieces());
    v.insert(p(0));
    v.insert(p(3));
    ResumeState::capture(ih(7), s, v)
}

#[test]
fn resume_state_round_trips_through_a_file() {
    let fx = three_files();
    let s = fx.downloaded();
    let st = state_for(&fx, &s);
    let path = fx.root().join("state");
    st.save(&path).unwrap();
    assert_eq!(ResumeState::read(&path).unwrap(), st);
    assert_eq!(ResumeState::load(&path, ih(7), &fx.info), Some(st.clone()));
    assert!(!temp_path(&path).exists());
    assert_eq!(ResumeState::decode(&st.encode()).unwrap(), st);
}

#[test]
fn corrupted_state_is_a_typed_error_and_ignored_by_load() {
    let fx = three_files();
    let s = fx.downloaded();
    let path = fx.root().join("state");
    let good = state_for(&fx, &s).encode();

    let mut flipped = good.clone();
    flipped[60] ^= 1;
    fs::write(&path, &flipped).unwrap();
    assert!(matches!(
        ResumeState::read(&path),
        Err(ResumeError::Corrupt {
            kind: CorruptKind::BadChecksum,
            ..
        })
    ));
    assert_eq!(ResumeState::load(&path, ih(7), &fx.info), None);

    let mut magic = good.clone();
    magic[0] = b'X';
    assert_eq!(ResumeState::decode(&magic), Err(CorruptKind::BadMagic));

    let mut version = good.clone();
    version[8] = 9;
    assert_eq!(
        ResumeState::decode(&version),
        Err(CorruptKind::UnsupportedVersion(9))
    );

    assert_eq!(ResumeState::decode(&[]), Err(CorruptKind::Truncated));
    assert_eq!(
        ResumeState::decode(&good[..40]),
        Err(CorruptKind::Truncated)
    );
}

#[test]
fn truncated_state_is_ignored() {
    let fx = three_files();
    let s = fx.downloaded();
    let path = fx.root().join("state");
    let good = state_for(&fx, &s).encode();
    for cut in [1, 20, good.len() / 2, good.len() - 1] {
        fs::write(&path, &good[..cut]).unwrap();
        assert!(
            matches!(ResumeState::read(&path), Err(ResumeError::Corrupt { .. })),
            "cut {cut}"
        );
        assert_eq!(ResumeState::load(&path, ih(7), &fx.info), None);
    }
    // without a usable state every piece is hashed
    let reads = CountingStorage::new(&s);
    assert!(check_resume(&reads, None, 1, |_| {}).is_complete());
    assert_eq!(reads.read_pieces(), (0..5).map(p).collect());
}

#[test]
fn state_with_consistent_checksum_but_bad_lengths_is_rejected() {
    let fx = three_files();
    let s = fx.downloaded();
    let mut body = state_for(&fx, &s).encode();
    body.truncate(body.len() - 20);
    body[40..48].copy_from_slice(&u64::MAX.to_le_bytes()); // num_pieces
    let sum = Sha1::digest(&body);
    body.extend_from_slice(&sum);
    assert!(matches!(
        ResumeState::decode(&body),
        Err(CorruptKind::BadLength { .. })
    ));
}

#[test]
fn state_for_another_torrent_is_a_mismatch() {
    let fx = three_files();
    let s = fx.downloaded();
    let path = fx.root().join("state");
    state_for(&fx, &s).save(&path).unwrap();
    assert!(matches!(
        ResumeState::read_for(&path, ih(8), &fx.info),
        Err(ResumeError::Mismatch {
            what: "infohash",
            ..
        })
    ));
    assert_eq!(ResumeState::load(&path, ih(8), &fx.info), None);
    let other = fixture(
        512,
        &[
            ("a", 1500, false),
            ("sub/b", 2000, false),
            ("c", 700, false),
        ],
    );
    assert!(matches!(
        ResumeState::read_for(&path, ih(7), &other.info),
        Err(ResumeError::Mismatch {
            what: "piece length",
            ..
        })
    ));
}

#[test]
fn leftover_temp_file_does_not_break_loading_or_saving() {
    let fx = three_files();
    let s = fx.downloaded();
    let path = fx.root().join("state");
    let st = state_for(&fx, &s);
    st.save(&path).unwrap();
    // a crash mid-save leaves a partial temp file beside the real one
    fs::write(temp_path(&path), b"ANTHRSM\0partial garbage").unwrap();
    assert_eq!(ResumeState::load(&path, ih(7), &fx.info), Some(st.clone()));
    let mut st2 = st;
    st2.verified.insert(p(1));
    st2.save(&path).unwrap();
    assert_eq!(ResumeState::read(&path).unwrap(), st2);
    assert!(!temp_path(&path).exists());
}

#[test]
fn missing_state_file_is_none() {
    let fx = three_files();
    let path = fx.root().join("nope");
    assert!(matches!(
        ResumeState::read(&path),
        Err(ResumeError::Io { op: "open", .. })
    ));
    assert_eq!(ResumeState::load(&path, ih(7), &fx.info), None);
}

/// Wraps a storage and records which pieces were read.
struct CountingStorage<'a> {
    inner: &'a FileStorage,
    reads: Mutex<BTreeSet<PieceIndex>>,
}

impl<'a> CountingStorage<'a> {
    fn new(inner: &'a FileStorage) -> Self {
        Self {
            inner,
            reads: Mutex::new(BTreeSet::new()),
        }
    }
    fn read_pieces(&self) -> BTreeSet<PieceIndex> {
        self.reads.lock().unwrap().clone()
    }
}

impl Storage for CountingStorage<'_> {
    fn info(&self) -> &Info {
        self.inner.info()
    }
    fn read_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), StorageError> {
        self.reads.lock().unwrap().insert(piece);
        self.inner.read_block(piece, offset, buf)
    }
    fn write_piece(&self, piece: PieceIndex, data: &[u8]) -> Result<(), StorageError> {
        self.inner.write_piece(piece, data)
    }
    fn sync(&self) -> Result<(), StorageError> {
        self.inner.sync()
    }
    fn may_hold(&self, piece: PieceIndex) -> bool {
        self.inner.may_hold(piece)
    }
    fn fingerprint(&self, file: usize) -> FileFingerprint {
        self.inner.fingerprint(file)
    }
}

#[test]
fn unchanged_files_are_trusted_without_reading() {
    let fx = three_files();
    let s = fx.downloaded();
    let st = ResumeState::capture(ih(7), &s, PieceSet::full(5));
    drop(s);
    let s = fx.open(OpenMode::Seed).unwrap();
    let c = CountingStorage::new(&s);
    assert!(check_resume(&c, Some(&st), 2, |_| {}).is_complete());
    assert!(c.read_pieces().is_empty(), "read {:?}", c.read_pieces());
}

#[test]
fn changed_mtime_forces_rehash_of_just_that_files_pieces() {
    // a: bytes 0..1500 (pieces 0, 1); sub/b: 1500..3500 (pieces 1..=3); c: 3500..4200 (pieces 3, 4)
    let fx = three_files();
    let s = fx.downloaded();
    let st = ResumeState::capture(ih(7), &s, PieceSet::full(5));
    drop(s);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(fx.path("a"))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(f);
    let s = fx.open(OpenMode::Seed).unwrap();
    let c = CountingStorage::new(&s);
    assert!(check_resume(&c, Some(&st), 2, |_| {}).is_complete());
    assert_eq!(c.read_pieces(), [p(0), p(1)].into());
}

#[test]
fn content_changed_in_place_is_detected() {
    let fx = three_files();
    let s = fx.downloaded();
    let st = ResumeState::capture(ih(7), &s, PieceSet::full(5));
    drop(s);
    // rewrite c (pieces 3, 4) with garbage, then put the mtime back
    let old = fs::metadata(fx.path("c")).unwrap().modified().unwrap();
    fs::write(fx.path("c"), vec![0u8; 700]).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(fx.path("c"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let s = fx.open(OpenMode::Seed).unwrap();
    let c = CountingStorage::new(&s);
    let got = check_resume(&c, Some(&st), 2, |_| {});
    assert_eq!(got.iter().collect::<Vec<_>>(), [p(0), p(1), p(2)]);
    assert_eq!(
        c.read_pieces(),
        [p(3), p(4)].into(),
        "ctime differs, so c's pieces are reread"
    );
}

#[test]
fn deleted_file_loses_its_pieces_on_resume() {
    let fx = three_files();
    let s = fx.downloaded();
    let st = ResumeState::capture(ih(7), &s, PieceSet::full(5));
    drop(s);
    fs::remove_file(fx.path("c")).unwrap();
    let s = fx.open(OpenMode::Download).unwrap(); // recreates c, sparse
    let got = check_resume(&s, Some(&st), 2, |_| {});
    assert_eq!(got.iter().collect::<Vec<_>>(), [p(0), p(1), p(2)]);
}

#[test]
fn resume_writer_saves_by_count_interval_and_on_demand() {
    let fx = three_files();
    let s: Arc<FileStorage> = Arc::new(fx.open(OpenMode::Download).unwrap());
    let path = fx.root().join("state");
    let opts = ResumeOptions {
        interval: Duration::from_secs(3600),
        max_pending: 2,
    };
    let w = ResumeWriter::new(&path, ih(7), s.clone(), PieceSet::new(5), opts);
    assert!(!w.maybe_save().unwrap(), "nothing pending");
    s.write_piece(p(0), fx.piece(0)).unwrap();
    w.piece_written(p(0));
    w.piece_written(p(0)); // duplicates don't count
    assert!(!w.maybe_save().unwrap());
    assert!(!path.exists());
    s.write_piece(p(2), fx.piece(2)).unwrap();
    w.piece_written(p(2));
    assert!(w.maybe_save().unwrap());
    let st = ResumeState::load(&path, ih(7), &fx.info).unwrap();
    assert_eq!(st.verified.iter().collect::<Vec<_>>(), [p(0), p(2)]);
    assert_eq!(
        st.files,
        (0..3).map(|i| s.fingerprint(i)).collect::<Vec<_>>()
    );

    s.write_piece(p(3), fx.piece(3)).unwrap();
    w.piece_written(p(3));
    assert!(!w.maybe_save().unwrap());
    w.save_now().unwrap();
    let st = ResumeState::load(&path, ih(7), &fx.info).unwrap();
    assert_eq!(st.verified.count(), 3);
    // pieces 2 and 3 touched sub/b and c: their fingerprints were refreshed
    assert_eq!(
        st.files,
        (0..3).map(|i| s.fingerprint(i)).collect::<Vec<_>>()
    );

    w.forget(p(0));
    w.save_now().unwrap();
    let st = ResumeState::load(&path, ih(7), &fx.info).unwrap();
    assert_eq!(st.verified.iter().collect::<Vec<_>>(), [p(2), p(3)]);

    // A stop saves only what is new: nothing pending, nothing written.
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert!(
        !w.save_pending().unwrap(),
        "nothing new since the last save"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before
    );
    w.forget(p(2));
    assert!(w.save_pending().unwrap(), "a forgotten piece is news");
    let st = ResumeState::load(&path, ih(7), &fx.info).unwrap();
    assert_eq!(st.verified.iter().collect::<Vec<_>>(), [p(3)]);

    let w2 = ResumeWriter::new(
        &path,
        ih(7),
        s,
        PieceSet::new(5),
        ResumeOptions {
            interval: Duration::ZERO,
            max_pending: 100,
        },
    );
    w2.piece_written(p(1));
    assert!(w2.maybe_save().unwrap(), "interval elapsed");
}

#[test]
fn resume_after_partial_download_keeps_saved_and_recovers_later_pieces() {
    let fx = three_files();
    let s: Arc<FileStorage> = Arc::new(fx.open(OpenMode::Download).unwrap());
    let path = fx.root().join("state");
    let w = ResumeWriter::new(
        &path,
        ih(7),
        s.clone(),
        PieceSet::new(5),
        ResumeOptions::default(),
    );
    s.write_piece(p(0), fx.piece(0)).unwrap();
    w.piece_written(p(0));
    w.save_now().unwrap();
    // written after the last save, then the process "dies"
    s.write_piece(p(3), fx.piece(3)).unwrap();
    drop(w);
    drop(s);
    let st = ResumeState::load(&path, ih(7), &fx.info).unwrap();
    let s = fx.open(OpenMode::Download).unwrap();
    let c = CountingStorage::new(&s);
    let got = check_resume(&c, Some(&st), 2, |_| {});
    assert_eq!(got.iter().collect::<Vec<_>>(), [p(0), p(3)]);
    // a is unchanged since the save: piece 0 is trusted; sub/b and c changed
    assert_eq!(c.read_pieces(), [p(1), p(2), p(3), p(4)].into());
}

#[test]
fn failed_save_keeps_previous_state_and_retries() {
    let fx = three_files();
    let s: Arc<FileStorage> = Arc::new(fx.open(OpenMode::Download).unwrap());
    let state_dir = fx.root().join("state-dir");
    fs::create_dir(&state_dir).unwrap();
    let path = state_dir.join("state");
    let w = ResumeWriter::new(
        &path,
        ih(7),
        s.clone(),
        PieceSet::new(5),
        ResumeOptions::default(),
    );
    s.write_piece(p(0), fx.piece(0)).unwrap();
    w.piece_written(p(0));
    w.save_now().unwrap();
    // make the temp file name a directory: the write step fails
    fs::create_dir(temp_path(&path)).unwrap();
    s.write_piece(p(1), fx.piece(1)).unwrap();
    w.piece_written(p(1));
    assert!(matches!(
        w.save_now(),
        Err(ResumeError::Io { op: "write", .. })
    ));
    assert_eq!(
        ResumeState::load(&path, ih(7), &fx.info)
            .unwrap()
            .verified
            .count(),
        1
    );
    fs::remove_dir(temp_path(&path)).unwrap();
    assert!(w.maybe_save().is_ok());
    w.save_now().unwrap();
    assert_eq!(
        ResumeState::load(&path, ih(7), &fx.info)
            .unwrap()
            .verified
            .count(),
        2
    );
}

// ---- properties ------------------------------------------------------------

#[derive(Debug, Clone)]
struct Layout {
    piece_length: u64,
    files: Vec<(u64, bool)>,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop_oneof![Just(1u64), 1u64..64, Just(256), Just(1024)],
        proptest::collection::vec(
            (
                prop_oneof![Just(0u64), 1u64..40, 1u64..3000],
                proptest::bool::weighted(0.2),
            ),
            1..12,
        ),
    )
        .prop_map(|(piece_length, files)| Layout {
            piece_length,
            files,
        })
        .prop_filter("needs data", |l| {
            l.files.iter().map(|f| f.0).sum::<u64>() > 0
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_layouts_read_back_what_was_written(
        l in layout(),
        blocks in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..40),
        max_open in 1usize..4,
    ) {
        let names: Vec<String> = (0..l.files.len()).map(|i| format!("d{}/f{i}", i % 2)).collect();
        let files: Vec<_> = l.files.iter().zip(&names).map(|(&(len, pad), n)| (n.as_str(), len, pad)).collect();
        let fx = fixture(l.piece_length, &files);
        let o = FileStorageOptions { max_open_files: max_open, ..Default::default() };
        let s = fx.open_with(OpenMode::Download, o.clone()).unwrap();
        // write in reverse order to exercise out-of-order positioned writes
        for i in (0..fx.info.num_pieces()).rev() {
            s.write_piece(PieceIndex::from_usize(i).unwrap(), fx.piece(i)).unwrap();
        }
        s.sync().unwrap();
        drop(s);
        let s = fx.open_with(OpenMode::Seed, o).unwrap();
        for (pi, a, b) in blocks {
            let i = pi.index(fx.info.num_pieces());
            let piece = fx.piece(i);
            let (x, y) = (a.index(piece.len() + 1), b.index(piece.len() + 1));
            let (lo, hi) = (x.min(y), x.max(y));
            let mut buf = vec![0xAA; hi - lo];
            s.read_block(PieceIndex::from_usize(i).unwrap(), u32::try_from(lo).unwrap(), &mut buf).unwrap();
            prop_assert_eq!(&buf[..], &piece[lo..hi]);
        }
        let found = check_existing(&s, 2, |_| {});
        prop_assert!(found.is_complete());
    }

    #[test]
    fn resume_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = ResumeState::decode(&bytes);
    }

    #[test]
    fn resume_decode_never_panics_on_mutated_states(
        pieces in 0usize..40,
        files in 0usize..5,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let st = ResumeState {
            infohash: ih(3),
            piece_length: 1024,
            verified: PieceSet::full(pieces),
            files: vec![FileFingerprint::ABSENT; files],
        };
        let mut bytes = st.encode();
        prop_assert_eq!(&ResumeState::decode(&bytes).unwrap(), &st);
        for (i, v) in edits {
            let k = i.index(bytes.len());
            bytes[k] = v;
        }
        let n = cut.index(bytes.len() + 1);
        if let Ok(back) = ResumeState::decode(&bytes[..n]) {
            // only an unmodified, complete encoding can decode
            prop_assert_eq!(back, st);
        }
    }
}
