//! Tests of creation, the piece hasher and verification against real files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sha1::{Digest, Sha1};

use super::*;

/// Writes `files` (path, contents) under `root`.
fn tree(root: &Path, files: &[(&str, &[u8])]) {
    for (p, data) in files {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Reference hashes: the byte space (pads as zeros) cut into pieces.
fn reference(info: &Info, data: &[Vec<u8>]) -> Vec<PieceHash> {
    let mut space = Vec::new();
    for (f, d) in info.files().iter().zip(data) {
        if f.is_pad() {
            space.extend(std::iter::repeat_n(0u8, f.length as usize));
        } else {
            space.extend_from_slice(d);
        }
    }
    space
        .chunks(info.piece_length() as usize)
        .map(|c| Sha1::digest(c).into())
        .collect()
}

fn opts(threads: usize) -> HashOptions {
    HashOptions {
        threads,
        chunk_size: 16 << 10,
        read_size: 4096,
    }
}

fn plan(root: &Path) -> Result<TorrentPlan, CreateError> {
    TorrentPlan::new(root, &CreateOptions::default())
}

/// Bytes of every file of `root`, for checking nothing was modified.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let m = fs::metadata(&p).unwrap().modified().unwrap();
                out.push((p.clone(), fs::read(&p).unwrap(), m));
            }
        }
    }
    out.sort();
    out
}

/// A source over bytes in memory; file `short` stops after `short_at` bytes.
struct MemSource {
    data: Vec<Vec<u8>>,
    short: Option<(usize, u64)>,
    fail: bool,
}

impl PieceSource for MemSource {
    type Cursor = ();
    type Error = &'static str;
    fn cursor(&self) {}
    fn read_at(
        &self,
        _: &mut (),
        file: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, &'static str> {
        if self.fail {
            return Err("boom");
        }
        let d = &self.data[file];
        let end = match self.short {
            Some((f, at)) if f == file => at.min(d.len() as u64),
            _ => d.len() as u64,
        };
        let start = offset.min(end) as usize;
        let n = buf.len().min(end as usize - start);
        buf[..n].copy_from_slice(&d[start..start + n]);
        Ok(n)
    }
}

fn mem_info(lengths: &[u64], pl: u64, pads_before: &[usize]) -> (Info, Vec<Vec<u8>>) {
    let mut entries = Vec::new();
    let mut data = Vec::new();
    let mut offset = 0;
    for (i, &len) in lengths.iter().enumerate() {
        if pads_before.contains(&i) && offset % pl != 0 {
            let pad = pl - offset % pl;
            entries.push(FileEntry::pad(pad));
            data.push(Vec::new());
            offset += pad;
        }
        entries.push(FileEntry::new(vec![format!("f{i}")], len));
        data.push(bytes(len as usize, i as u8));
        offset += len;
    }
    (Info::multi("m", pl, Vec::new(), entries), data)
}

#[test]
fn hasher_matches_reference_across_files_and_pads() {
    let (info, data) = mem_info(&[10, 0, 40000, 16384, 1, 0, 70000], 16384, &[3, 6]);
    let src = MemSource {
        data: data.clone(),
        short: None,
        fail: false,
    };
    let want = reference(&info, &data);
    for threads in [1, 2, 3] {
        let got = hash_pieces(&info, 0..usize::MAX, &src, &opts(threads), &()).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got.iter().zip(&want).all(|(g, w)| g.as_ref() == Some(w)));
    }
    // a sub-range hashes just those pieces
    let part = hash_pieces(&info, 2..4, &src, &opts(2), &()).unwrap();
    assert_eq!(part, vec![Some(want[2]), Some(want[3])]);
}

#[test]
fn hasher_reports_unavailable_bytes_as_none() {
    // f0 = 20000 bytes (pieces 0,1), f1 = 30000 (pieces 1,2,3): f1 stops after 100 bytes.
    let (info, data) = mem_info(&[20000, 30000], 16384, &[]);
    let src = MemSource {
        data: data.clone(),
        short: Some((1, 100)),
        fail: false,
    };
    let want = reference(&info, &data);
    let got = hash_pieces(&info, 0..usize::MAX, &src, &opts(2), &()).unwrap();
    assert_eq!(got, vec![Some(want[0]), None, None, None]);
}

#[test]
fn hasher_stops_on_source_error() {
    let (info, data) = mem_info(&[100_000], 16384, &[]);
    let src = MemSource {
        data,
        short: None,
        fail: true,
    };
    assert_eq!(
        hash_pieces(&info, 0..usize::MAX, &src, &opts(2), &()),
        Err("boom")
    );
}

#[test]
fn hasher_reports_progress_for_every_byte() {
    use std::sync::atomic::{AtomicU64, Ordering};
    struct Count(AtomicU64);
    impl HashProgress for Count {
        fn hashed(&self, b: u64) {
            self.0.fetch_add(b, Ordering::Relaxed);
        }
    }
    let (info, data) = mem_info(&[10, 40000, 5, 70000], 16384, &[1, 3]);
    let src = MemSource {
        data,
        short: Some((3, 1000)),
        fail: false,
    };
    let count = Count(AtomicU64::new(0));
    hash_pieces(&info, 0..usize::MAX, &src, &opts(2), &count).unwrap();
    // Content only: the pad files' zeros are not reported.
    assert!(info.content_length() < info.total_length());
    assert_eq!(count.0.into_inner(), info.content_length());
}

#[test]
fn hasher_hashes_several_ranges_in_order() {
    let (info, data) = mem_info(&[10, 0, 40000, 16384, 1, 0, 70000], 16384, &[3, 6]);
    let src = MemSource {
        data: data.clone(),
        short: None,
        fail: false,
    };
    let want = reference(&info, &data);
    let n = want.len();
    // Out-of-layout and empty ranges are clamped away.
    let ranges = [0..1, 2..2, 3..5, n - 1..n + 5, n + 7..n + 9];
    for threads in [1, 2, 3] {
        let got = hash_piece_ranges(&info, &ranges, &src, &opts(threads), &()).unwrap();
        let expect: Vec<_> = [0, 3, 4, n - 1].iter().map(|&i| Some(want[i])).collect();
        assert_eq!(got, expect, "threads {threads}");
    }
    assert_eq!(
        hash_piece_ranges(&info, &[], &src, &opts(2), &()),
        Ok(vec![])
    );
}

#[test]
fn hasher_reports_every_piece_once_with_its_hash() {
    use std::sync::Mutex;
    struct Pieces(Mutex<Vec<(usize, Option<PieceHash>)>>);
    impl HashProgress for Pieces {
        fn hashed(&self, _: u64) {}
        fn piece_done(&self, piece: usize, hash: Option<&PieceHash>) {
            self.0.lock().unwrap().push((piece, hash.copied()));
        }
    }
    // f0 = 20000 bytes (pieces 0,1), f1 = 30000 (pieces 1,2,3): f1 stops after 100 bytes.
    let (info, data) = mem_info(&[20000, 30000], 16384, &[]);
    let src = MemSource {
        data: data.clone(),
        short: Some((1, 100)),
        fail: false,
    };
    let want = reference(&info, &data);
    let seen = Pieces(Mutex::new(Vec::new()));
    let got = hash_piece_ranges(&info, &[0..1, 2..4], &src, &opts(2), &seen).unwrap();
    assert_eq!(got, vec![Some(want[0]), None, None]);
    let mut seen = seen.0.into_inner().unwrap();
    seen.sort();
    assert_eq!(seen, vec![(0, Some(want[0])), (2, None), (3, None)]);
}

#[test]
fn empty_range_and_empty_layout() {
    let (info, data) = mem_info(&[0], 16384, &[]);
    let src = MemSource {
        data,
        short: None,
        fail: false,
    };
    assert_eq!(hash_pieces(&info, 0..10, &src, &opts(2), &()), Ok(vec![]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn hasher_equals_reference(
        lengths in proptest::collection::vec(prop_oneof![Just(0u64), 1u64..100, 16380u64..16390, 0u64..70000], 1..10),
        pl_shift in 14u32..16,
        align in any::<bool>(),
        threads in 1usize..4,
        chunk in 1u64..100_000,
        read in 4096usize..40000,
    ) {
        let pl = 1u64 << pl_shift;
        let all: Vec<usize> = (0..lengths.len()).collect();
        let (info, data) = mem_info(&lengths, pl, if align { &all } else { &[] });
        let src = MemSource { data: data.clone(), short: None, fail: false };
        let want = reference(&info, &data);
        let o = HashOptions { threads, chunk_size: chunk, read_size: read };
        let got = hash_pieces(&info, 0..usize::MAX, &src, &o, &()).unwrap();
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g.as_ref(), Some(w));
        }
    }

    /// Any tree we create parses back, verifies clean, and is aligned.
    #[test]
    fn created_torrents_round_trip_and_verify(
        lengths in proptest::collection::vec(prop_oneof![Just(0usize), 1usize..50, 16384usize..16385, 0usize..40000], 1..8),
        align in any::<bool>(),
    ) {
        prop_assume!(lengths.iter().sum::<usize>() > 0);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        for (i, &len) in lengths.iter().enumerate() {
            let p = root.join(format!("d{}", i % 3)).join(format!("f{i}"));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes(len, i as u8)).unwrap();
        }
        let o = CreateOptions { align, ..CreateOptions::default() };
        let info = TorrentPlan::new(&root, &o).unwrap().hash(&opts(2), &()).unwrap();
        let m = Metainfo::new(info.clone());
        let back = Metainfo::from_bytes(&m.to_bytes()).unwrap();
        prop_assert_eq!(back.info(), &info);
        for f in info.files() {
            if align && f.length > 0 && !f.is_pad() {
                prop_assert_eq!(f.offset % info.piece_length(), 0);
            }
            prop_assert!(!(f.is_pad() && f.end() == info.total_length()), "pad at the end");
        }
        let report = verify(&info, dir.path(), &opts(2), &()).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report);
    }
}

#[test]
fn walk_order_is_bytewise_by_component() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    // created in an order unlike the sorted one
    tree(
        &root,
        &[
            ("b", b"1"),
            ("a.txt", b"2"),
            ("a/z", b"3"),
            ("a/b/c", b"4"),
            ("B", b"5"),
            ("é", b"6"),
            ("_", b"7"),
        ],
    );
    let p = plan(&root).unwrap();
    let names: Vec<String> = p
        .info()
        .files()
        .iter()
        .filter(|f| !f.is_pad())
        .map(FileEntry::display_path)
        .collect();
    assert_eq!(names, ["B", "_", "a/b/c", "a/z", "a.txt", "b", "é"]);
}

#[test]
fn same_tree_same_infohash() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("x/rel"), dir.path().join("y/rel"));
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| (format!("d{}/f{i:02}", i % 4), bytes(i * 997, i as u8)))
        .collect();
    for (p, d) in &files {
        tree(&one, &[(p, d)]);
    }
    for (p, d) in files.iter().rev() {
        tree(&two, &[(p, d)]);
    }
    let a = Metainfo::new(create(&one, &CreateOptions::default()).unwrap());
    let b = Metainfo::new(create(&two, &CreateOptions::default()).unwrap());
    assert_eq!(a.infohash(), b.infohash());
}

#[test]
fn symlinked_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("real", b"x")]);
    std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
    match plan(&root) {
        Err(CreateError::Symlink { path }) => assert_eq!(path, root.join("link")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn symlinked_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("sub/real", b"x")]);
    std::os::unix::fs::symlink(root.join("sub"), root.join("dirlink")).unwrap();
    assert!(matches!(plan(&root), Err(CreateError::Symlink { .. })));
}

#[test]
fn dangling_symlink_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("real", b"x")]);
    std::os::unix::fs::symlink("/nonexistent/anthill", root.join("dangling")).unwrap();
    assert!(matches!(plan(&root), Err(CreateError::Symlink { .. })));
}

#[test]
fn symlinked_root_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("v1"), &[("a", b"xyz")]);
    std::os::unix::fs::symlink(dir.path().join("v1"), dir.path().join("current")).unwrap();
    let p = plan(&dir.path().join("current")).unwrap();
    assert_eq!(p.info().name(), "current");
    assert_eq!(p.data_length(), 3);
}

#[test]
fn non_utf8_name_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("ok", b"x")]);
    let bad = root.join(std::ffi::OsStr::from_bytes(b"bad\xff.bin"));
    fs::write(&bad, b"y").unwrap();
    match plan(&root) {
        Err(CreateError::NonUtf8Name { path }) => assert_eq!(path, bad),
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_utf8_root_name_is_an_error_unless_named() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(std::ffi::OsStr::from_bytes(b"r\xfe"));
    tree(&root, &[("ok", b"x")]);
    assert!(matches!(plan(&root), Err(CreateError::NonUtf8Name { .. })));
    let named = CreateOptions {
        name: Some("renamed".into()),
        ..CreateOptions::default()
    };
    assert_eq!(
        TorrentPlan::new(&root, &named).unwrap().info().name(),
        "renamed"
    );
}

#[test]
fn backslash_name_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a\\b", b"x")]);
    assert!(matches!(
        plan(&root),
        Err(CreateError::BadName {
            reason: "contains a path separator",
            ..
        })
    ));
}

#[test]
fn bad_explicit_name_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("f", b"x")]);
    for bad in ["..", "../evil", "a/b", ""] {
        let o = CreateOptions {
            name: Some(bad.into()),
            ..CreateOptions::default()
        };
        let err = TorrentPlan::new(&dir.path().join("f"), &o).unwrap_err();
        assert!(
            matches!(&err, CreateError::BadTorrentName { name, .. } if name == bad),
            "{bad:?}: {err:?}"
        );
        // The message names the name given, not the path.
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        assert!(
            !err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn socket_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a", b"x")]);
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    assert!(matches!(plan(&root), Err(CreateError::NotRegular { .. })));
}

#[test]
fn missing_root_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    match plan(&dir.path().join("nope")) {
        Err(CreateError::Io { path, source }) => {
            assert_eq!(path, dir.path().join("nope"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn zero_bytes_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[("single-empty", b""), ("d/e1", b""), ("d/e2", b"")],
    );
    fs::create_dir(dir.path().join("emptydir")).unwrap();
    for p in ["single-empty", "d", "emptydir"] {
        assert!(
            matches!(plan(&dir.path().join(p)), Err(CreateError::Empty { .. })),
            "{p}"
        );
    }
}

#[test]
fn pad_directory_is_reserved_when_aligning() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a", b"x"), (".pad/5", b"y")]);
    assert!(matches!(plan(&root), Err(CreateError::ReservedName { .. })));
    let unaligned = CreateOptions {
        align: false,
        ..CreateOptions::default()
    };
    assert!(TorrentPlan::new(&root, &unaligned).is_ok());
}

#[test]
fn file_growing_after_listing_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a", &bytes(50000, 1)), ("b", b"xyz")]);
    let p = plan(&root).unwrap();
    fs::write(root.join("a"), bytes(50001, 1)).unwrap();
    assert!(matches!(
        p.hash(&opts(2), &()),
        Err(CreateError::Changed { .. })
    ));
}

#[test]
fn file_shrinking_after_listing_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a", &bytes(50000, 1)), ("b", b"xyz")]);
    let p = plan(&root).unwrap();
    fs::write(root.join("a"), bytes(10, 1)).unwrap();
    match p.hash(&opts(2), &()) {
        Err(CreateError::Changed { path }) => assert_eq!(path, root.join("a")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn file_removed_after_listing_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a", &bytes(50000, 1)), ("b", b"xyz")]);
    let p = plan(&root).unwrap();
    fs::remove_file(root.join("a")).unwrap();
    assert!(matches!(p.hash(&opts(2), &()), Err(CreateError::Io { .. })));
}

#[test]
fn single_file_torrent_and_executable_attr() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("tool", &bytes(40000, 3))]);
    let path = dir.path().join("tool");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    let info = create(&path, &CreateOptions::default()).unwrap();
    assert!(!info.is_multi_file());
    assert_eq!(info.name(), "tool");
    assert!(info.files()[0].attr.executable);
    assert_eq!(info.num_pieces(), 3);
    let back = Metainfo::from_bytes(&Metainfo::new(info.clone()).to_bytes()).unwrap();
    assert!(back.info().files()[0].attr.executable);
    assert!(verify(&info, dir.path(), &opts(2), &()).unwrap().is_ok());
}

#[test]
fn exact_multiple_of_piece_length() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a", &bytes(32768, 1)), ("b", &bytes(16384, 2))]);
    let info = create(&root, &CreateOptions::default()).unwrap();
    assert_eq!(info.piece_length(), 16384);
    assert_eq!(info.num_pieces(), 3);
    assert_eq!(info.files().len(), 2, "no pads needed");
    assert!(verify(&info, dir.path(), &opts(2), &()).unwrap().is_ok());
}

#[test]
fn last_file_empty_gets_no_pad() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a", &bytes(100, 1)), ("z", b"")]);
    let info = create(&root, &CreateOptions::default()).unwrap();
    let shape: Vec<_> = info
        .files()
        .iter()
        .map(|f| (f.length, f.is_pad()))
        .collect();
    assert_eq!(shape, [(100, false), (0, false)]);
    assert!(verify(&info, dir.path(), &opts(2), &()).unwrap().is_ok());
}

#[test]
fn piece_length_option_and_private_source() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    tree(&root, &[("a", &bytes(100_000, 1))]);
    let o = CreateOptions {
        piece_length: Some(PieceLength::new(64 << 10).unwrap()),
        private: true,
        source: Some("fleet".into()),
        ..CreateOptions::default()
    };
    let info = create(&root, &o).unwrap();
    assert_eq!(info.piece_length(), 64 << 10);
    assert!(info.is_private());
    assert_eq!(info.source(), Some("fleet"));
}

/// A download directory holding a correct copy of a 4-file torrent.
fn verify_fixture() -> (tempfile::TempDir, Info) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rel");
    tree(
        &root,
        &[
            ("a", &bytes(40000, 1)),
            ("b", &bytes(20000, 2)),
            ("c", &bytes(100, 3)),
            ("d/e", b""),
        ],
    );
    let info = create(&root, &CreateOptions::default()).unwrap();
    (dir, info)
}

fn status_of<'a>(r: &'a VerifyReport, path: &str) -> &'a FileReport {
    r.files.iter().find(|f| f.path == path).unwrap()
}

#[test]
fn verify_clean_copy() {
    let (dir, info) = verify_fixture();
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    assert!(r.is_ok());
    assert_eq!(r.files.len(), 4);
    assert_eq!(r.pieces, info.num_pieces());
    assert_eq!(r.problems().count(), 0);
}

#[test]
fn verify_reports_missing_file() {
    let (dir, info) = verify_fixture();
    fs::remove_file(dir.path().join("rel/b")).unwrap();
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    assert!(!r.is_ok());
    let b = status_of(&r, "rel/b");
    assert_eq!(b.status, FileStatus::Missing);
    assert_eq!(b.bad_pieces, 2);
    assert_eq!(r.bad_pieces.len(), 2);
    // aligned: neighbours are untouched
    assert_eq!(status_of(&r, "rel/a").status, FileStatus::Ok);
    assert_eq!(status_of(&r, "rel/c").status, FileStatus::Ok);
}

#[test]
fn verify_reports_missing_empty_file_and_missing_tree() {
    let (dir, info) = verify_fixture();
    fs::remove_dir_all(dir.path().join("rel/d")).unwrap();
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    assert_eq!(status_of(&r, "rel/d/e").status, FileStatus::Missing);
    assert!(r.bad_pieces.is_empty());
    assert!(!r.is_ok());

    let empty = tempfile::tempdir().unwrap();
    let r = verify(&info, empty.path(), &opts(2), &()).unwrap();
    assert!(r.files.iter().all(|f| f.status == FileStatus::Missing));
    assert_eq!(r.bad_pieces.len(), info.num_pieces());
}

#[test]
fn verify_reports_short_file() {
    let (dir, info) = verify_fixture();
    fs::write(dir.path().join("rel/a"), &bytes(40000, 1)[..20000]).unwrap();
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    let a = status_of(&r, "rel/a");
    assert_eq!(a.status, FileStatus::Short { actual: 20000 });
    // piece 0 (bytes 0..16384) is still there and good; pieces 1 and 2 are not
    assert_eq!(r.bad_pieces, vec![1, 2]);
}

#[test]
fn verify_reports_long_file() {
    let (dir, info) = verify_fixture();
    let mut longer = bytes(100, 3);
    longer.extend_from_slice(b"extra");
    fs::write(dir.path().join("rel/c"), longer).unwrap();
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    assert_eq!(
        status_of(&r, "rel/c").status,
        FileStatus::Long { actual: 105 }
    );
    assert!(r.bad_pieces.is_empty(), "the first 100 bytes are right");
    assert!(!r.is_ok());
}

#[test]
fn verify_reports_corrupt_file() {
    let (dir, info) = verify_fixture();
    let mut data = bytes(40000, 1);
    data[39999] ^= 1;
    fs::write(dir.path().join("rel/a"), data).unwrap();
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    let a = status_of(&r, "rel/a");
    assert_eq!(a.status, FileStatus::Corrupt);
    assert_eq!(a.bad_pieces, 1);
    assert_eq!(r.bad_pieces, vec![2]);
    assert_eq!(r.problems().count(), 1);
}

#[test]
fn verify_reports_directory_in_place_of_file() {
    let (dir, info) = verify_fixture();
    fs::remove_file(dir.path().join("rel/c")).unwrap();
    fs::create_dir(dir.path().join("rel/c")).unwrap();
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    assert_eq!(status_of(&r, "rel/c").status, FileStatus::NotAFile);
}

#[test]
fn verify_unaligned_neighbour_of_missing_file_is_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rel");
    tree(&root, &[("a", &bytes(10000, 1)), ("b", &bytes(10000, 2))]);
    let o = CreateOptions {
        align: false,
        ..CreateOptions::default()
    };
    let info = create(&root, &o).unwrap();
    fs::remove_file(root.join("b")).unwrap();
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    assert_eq!(status_of(&r, "rel/a").status, FileStatus::Ok);
    assert_eq!(status_of(&r, "rel/a").bad_pieces, 1);
    assert_eq!(status_of(&r, "rel/b").status, FileStatus::Missing);
    assert_eq!(r.bad_pieces, vec![0, 1]);
}

#[test]
fn verify_never_modifies_data() {
    let (dir, info) = verify_fixture();
    let mut data = bytes(40000, 1);
    data[0] ^= 0xff;
    fs::write(dir.path().join("rel/a"), data).unwrap();
    fs::write(dir.path().join("rel/c"), b"short").unwrap();
    let before = snapshot(dir.path());
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    assert!(!r.is_ok());
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn verify_missing_download_dir_is_an_error() {
    let (dir, info) = verify_fixture();
    assert!(matches!(
        verify(&info, &dir.path().join("nope"), &opts(2), &()),
        Err(CreateError::Io { .. })
    ));
}

#[test]
fn verify_handles_foreign_pad_files_on_disk() {
    // Transmission writes pad files out; they must neither be required nor read.
    let (dir, info) = verify_fixture();
    let pads: Vec<_> = info.files().iter().filter(|f| f.is_pad()).collect();
    assert_eq!(pads.len(), 2);
    for p in pads {
        tree(
            &dir.path().join("rel"),
            &[(&p.display_path(), b"not zeros")],
        );
    }
    let r = verify(&info, dir.path(), &opts(2), &()).unwrap();
    assert!(r.files.iter().all(|f| !f.path.contains(".pad")));
    assert!(r.is_ok());
}

#[test]
fn root_directory_has_no_name() {
    assert!(matches!(
        plan(Path::new("/")),
        Err(CreateError::NoName { .. })
    ));
}

#[test]
fn dot_is_named_after_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("named-dir");
    tree(&root, &[("a", b"x")]);
    let p = plan(&root.join(".")).unwrap();
    assert_eq!(p.info().name(), "named-dir");
}
