use super::*;
use bencode::{Encoder, OwnedValue};
use proptest::prelude::*;

fn s(v: &str) -> OwnedValue {
    OwnedValue::from(v)
}
fn i(v: i64) -> OwnedValue {
    OwnedValue::Int(v)
}
fn d(pairs: &[(&str, OwnedValue)]) -> OwnedValue {
    OwnedValue::Dict(
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect(),
    )
}
fn l(items: &[OwnedValue]) -> OwnedValue {
    OwnedValue::List(items.to_vec())
}
fn file(path: &[&str], len: i64) -> OwnedValue {
    d(&[
        ("length", i(len)),
        ("path", l(&path.iter().map(|c| s(c)).collect::<Vec<_>>())),
    ])
}
fn pieces(n: usize) -> OwnedValue {
    OwnedValue::Bytes(vec![7u8; 20 * n])
}
fn multi(files: Vec<OwnedValue>, piece_len: i64, n: usize) -> OwnedValue {
    d(&[
        ("files", OwnedValue::List(files)),
        ("name", s("root")),
        ("piece length", i(piece_len)),
        ("pieces", pieces(n)),
    ])
}
fn torrent(info: OwnedValue) -> Vec<u8> {
    bencode::encode(&d(&[("announce", s("http://t/a")), ("info", info)]))
}
fn err(info: OwnedValue) -> MetainfoError {
    Metainfo::from_bytes(&torrent(info)).unwrap_err()
}
fn with(info: OwnedValue, key: &str, v: OwnedValue) -> OwnedValue {
    let OwnedValue::Dict(mut m) = info else {
        unreachable!()
    };
    m.insert(key.as_bytes().to_vec(), v);
    OwnedValue::Dict(m)
}
fn without(info: OwnedValue, key: &str) -> OwnedValue {
    let OwnedValue::Dict(mut m) = info else {
        unreachable!()
    };
    m.remove(key.as_bytes());
    OwnedValue::Dict(m)
}

fn single(len: i64, piece_len: i64, n: usize) -> OwnedValue {
    d(&[
        ("length", i(len)),
        ("name", s("a.bin")),
        ("piece length", i(piece_len)),
        ("pieces", pieces(n)),
    ])
}

#[test]
fn parses_single_file() {
    let m = Metainfo::from_bytes(&torrent(single(40000, 16384, 3))).unwrap();
    assert_eq!(m.info().name(), "a.bin");
    assert!(!m.info().is_multi_file());
    assert_eq!(m.info().total_length(), 40000);
    assert_eq!(m.info().piece_size(2), 40000 - 2 * 16384);
    assert_eq!(m.announce_tiers(), &[vec!["http://t/a".to_string()]]);
}

#[test]
fn infohash_is_over_raw_info_bytes() {
    // Unsorted keys inside info: re-encoding would change the hash; raw bytes must be used.
    let raw_info = b"d4:name1:x6:lengthi1e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let mut e = Encoder::new();
    e.dict(|t| {
        t.key("info").raw(raw_info);
    });
    let m = Metainfo::from_bytes(&e.finish()).unwrap();
    assert_eq!(m.infohash(), Infohash::of_info(raw_info));
    assert_eq!(m.raw_info(), raw_info);
}

#[test]
fn parses_multi_file_with_offsets_and_pads() {
    let info = multi(
        vec![
            file(&["a"], 10),
            d(&[
                ("attr", s("p")),
                ("length", i(16374)),
                ("path", l(&[s(".pad"), s("16374")])),
            ]),
            file(&["dir", "b"], 5),
        ],
        16384,
        2,
    );
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    let f = m.info().files();
    assert_eq!(f.len(), 3);
    assert!(f[1].is_pad());
    assert_eq!(f[2].offset, 16384);
    assert_eq!(m.info().file_pieces(2), 1..2);
    let spans: Vec<_> = m.info().piece_spans(0).collect();
    assert_eq!(spans.len(), 2);
    assert_eq!((spans[0].file, spans[0].len), (0, 10));
    assert_eq!(
        (spans[1].file, spans[1].file_offset, spans[1].len),
        (1, 0, 16374)
    );
}

#[test]
fn piece_spans_skip_empty_files_and_cross_boundaries() {
    let info = Info::multi(
        "r",
        4,
        vec![[0; 20]; 3],
        vec![
            FileEntry::new(vec!["a".into()], 3),
            FileEntry::new(vec!["e".into()], 0),
            FileEntry::new(vec!["b".into()], 6),
            FileEntry::new(vec!["z".into()], 0),
        ],
    );
    info.validate().unwrap();
    let p1: Vec<_> = info
        .piece_spans(1)
        .map(|s| (s.file, s.file_offset, s.piece_offset, s.len))
        .collect();
    assert_eq!(p1, vec![(2, 1, 0, 4)]);
    let p0: Vec<_> = info
        .piece_spans(0)
        .map(|s| (s.file, s.file_offset, s.len))
        .collect();
    assert_eq!(p0, vec![(0, 0, 3), (2, 0, 1)]);
    let p2: Vec<_> = info
        .piece_spans(2)
        .map(|s| (s.file, s.file_offset, s.len))
        .collect();
    assert_eq!(p2, vec![(2, 5, 1)]);
    assert_eq!(info.file_pieces(1), 0..0);
}

#[test]
fn rejects_dot_dot() {
    assert!(matches!(
        err(multi(vec![file(&["..", "etc"], 1)], 16384, 1)),
        MetainfoError::UnsafePath {
            reason: "relative component",
            ..
        }
    ));
}

#[test]
fn infohash_of_a_refused_torrent_is_still_known() {
    let info = multi(vec![file(&["..", "etc"], 1)], 16384, 1);
    let bytes = torrent(info.clone());
    assert!(Metainfo::from_bytes(&bytes).is_err());
    let ih = Metainfo::infohash_of_file(&bytes).unwrap();
    assert_eq!(ih, Infohash::of_info(&bencode::encode(&info)));
    let good = torrent(single(1, 16384, 1));
    assert_eq!(
        Metainfo::infohash_of_file(&good).unwrap(),
        Metainfo::from_bytes(&good).unwrap().infohash()
    );
    assert!(matches!(
        Metainfo::infohash_of_file(&bencode::encode(&d(&[("info", i(1))]))),
        Err(MetainfoError::NotADict("info"))
    ));
    assert!(Metainfo::infohash_of_file(b"<html>").is_err());
}

#[test]
fn rejects_dot_and_empty_components() {
    assert!(matches!(
        err(multi(vec![file(&["."], 1)], 16384, 1)),
        MetainfoError::UnsafePath { .. }
    ));
    assert!(matches!(
        err(multi(vec![file(&["a", ""], 1)], 16384, 1)),
        MetainfoError::UnsafePath {
            reason: "empty component",
            ..
        }
    ));
}

#[test]
fn rejects_separators_and_absolute_paths() {
    assert!(matches!(
        err(multi(vec![file(&["/etc/passwd"], 1)], 16384, 1)),
        MetainfoError::UnsafePath {
            reason: "contains a path separator",
            ..
        }
    ));
    assert!(matches!(
        err(multi(vec![file(&["a\\b"], 1)], 16384, 1)),
        MetainfoError::UnsafePath { .. }
    ));
    assert!(matches!(
        err(with(single(1, 16384, 1), "name", s("../x"))),
        MetainfoError::UnsafePath { .. }
    ));
    assert!(matches!(
        err(with(single(1, 16384, 1), "name", s(".."))),
        MetainfoError::UnsafePath { .. }
    ));
}

#[test]
fn rejects_empty_name_and_path() {
    assert!(matches!(
        err(with(single(1, 16384, 1), "name", s(""))),
        MetainfoError::UnsafePath { .. }
    ));
    assert!(matches!(
        err(multi(vec![file(&[], 1)], 16384, 1)),
        MetainfoError::BadFileList(_)
    ));
    assert!(matches!(
        err(multi(vec![], 16384, 0)),
        MetainfoError::BadFileList(_)
    ));
}

#[test]
fn rejects_duplicate_paths() {
    assert_eq!(
        err(multi(vec![file(&["a"], 1), file(&["a"], 1)], 16384, 1)),
        MetainfoError::DuplicatePath("a".into())
    );
}

#[test]
fn rejects_file_that_is_also_a_directory() {
    assert_eq!(
        err(multi(vec![file(&["a"], 1), file(&["a", "b"], 1)], 16384, 1)),
        MetainfoError::DuplicatePath("a".into())
    );
}

#[test]
fn repeated_pad_paths_are_fine() {
    let pad = d(&[
        ("attr", s("p")),
        ("length", i(16383)),
        ("path", l(&[s(".pad"), s("16383")])),
    ]);
    let info = multi(
        vec![
            file(&["a"], 1),
            pad.clone(),
            file(&["b"], 1),
            pad,
            file(&["c"], 1),
        ],
        16384,
        3,
    );
    assert!(Metainfo::from_bytes(&torrent(info)).is_ok());
}

#[test]
fn rejects_piece_count_mismatch() {
    assert!(matches!(
        err(single(40000, 16384, 2)),
        MetainfoError::PieceCountMismatch { expected: 3, .. }
    ));
    assert!(matches!(
        err(single(32768, 16384, 3)),
        MetainfoError::PieceCountMismatch { expected: 2, .. }
    ));
}

#[test]
fn exact_multiple_and_empty_torrents() {
    assert!(Metainfo::from_bytes(&torrent(single(32768, 16384, 2))).is_ok());
    let m = Metainfo::from_bytes(&torrent(single(0, 16384, 0))).unwrap();
    assert_eq!(m.info().num_pieces(), 0);
    assert_eq!(m.info().piece_spans(0).count(), 0);
}

#[test]
fn rejects_bad_pieces_length() {
    let info = with(
        single(1, 16384, 1),
        "pieces",
        OwnedValue::Bytes(vec![0; 19]),
    );
    assert_eq!(err(info), MetainfoError::BadPiecesLength(19));
}

#[test]
fn rejects_negative_and_absurd_sizes() {
    assert!(matches!(
        err(single(-1, 16384, 1)),
        MetainfoError::BadSize { what: "length", .. }
    ));
    assert!(matches!(
        err(single(1, 0, 1)),
        MetainfoError::BadSize {
            what: "piece length",
            ..
        }
    ));
    assert!(matches!(
        err(single(1, 1 << 40, 1)),
        MetainfoError::BadSize {
            what: "piece length",
            ..
        }
    ));
    assert!(matches!(
        err(single(1 << 60, 1 << 20, 1)),
        MetainfoError::BadSize { .. }
    ));
    // many files whose sum is absurd
    let big = (1i64 << 50) - 1;
    assert!(matches!(
        err(multi(
            vec![file(&["a"], big), file(&["b"], big)],
            1 << 20,
            1
        )),
        MetainfoError::BadSize {
            what: "total length",
            ..
        }
    ));
}

#[test]
fn rejects_missing_and_mistyped_keys() {
    assert_eq!(
        err(without(single(1, 16384, 1), "name")),
        MetainfoError::Missing("name")
    );
    assert_eq!(
        err(without(single(1, 16384, 1), "pieces")),
        MetainfoError::Missing("pieces")
    );
    assert_eq!(
        err(without(single(1, 16384, 1), "piece length")),
        MetainfoError::Missing("piece length")
    );
    assert!(matches!(
        err(with(single(1, 16384, 1), "length", s("1"))),
        MetainfoError::WrongType { key: "length", .. }
    ));
    assert_eq!(
        err(with(single(1, 16384, 1), "files", l(&[]))),
        MetainfoError::AmbiguousLayout
    );
    assert_eq!(
        Metainfo::from_bytes(&bencode::encode(&d(&[("announce", s("x"))]))).unwrap_err(),
        MetainfoError::Missing("info")
    );
    assert_eq!(
        Metainfo::from_bytes(b"le").unwrap_err(),
        MetainfoError::NotADict("torrent")
    );
    assert_eq!(
        Metainfo::from_bytes(&bencode::encode(&d(&[("info", i(1))]))).unwrap_err(),
        MetainfoError::NotADict("info")
    );
}

#[test]
fn rejects_non_utf8_names() {
    let info = with(
        single(1, 16384, 1),
        "name",
        OwnedValue::Bytes(vec![0xff, 0xfe]),
    );
    assert!(matches!(err(info), MetainfoError::NonUtf8Name(_)));
    let f = d(&[
        ("length", i(1)),
        ("path", l(&[OwnedValue::Bytes(vec![b'a', 0x80])])),
    ]);
    assert!(matches!(
        err(multi(vec![f], 16384, 1)),
        MetainfoError::NonUtf8Name(_)
    ));
}

#[test]
fn prefers_utf8_variants() {
    let info = with(
        with(single(1, 16384, 1), "name", OwnedValue::Bytes(vec![0xff])),
        "name.utf-8",
        s("good"),
    );
    assert_eq!(
        Metainfo::from_bytes(&torrent(info)).unwrap().info().name(),
        "good"
    );
}

#[test]
fn rejects_v2_only() {
    let info = d(&[
        ("file tree", d(&[])),
        ("meta version", i(2)),
        ("name", s("x")),
        ("piece length", i(16384)),
    ]);
    assert_eq!(err(info), MetainfoError::V2Only);
}

#[test]
fn hybrid_loads_through_v1_part() {
    let info = with(
        with(single(1, 16384, 1), "meta version", i(2)),
        "file tree",
        d(&[]),
    );
    let bytes = torrent(info.clone());
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert!(m.is_hybrid());
    assert_eq!(m.infohash(), Infohash::of_info(&bencode::encode(&info)));
}

#[test]
fn rejects_trailing_garbage_and_oversize() {
    let mut bytes = torrent(single(1, 16384, 1));
    bytes.push(b'x');
    assert!(matches!(
        Metainfo::from_bytes(&bytes).unwrap_err(),
        MetainfoError::Bencode(_)
    ));
    let huge = vec![b'l'; MAX_TORRENT_FILE_SIZE + 1];
    assert!(matches!(
        Metainfo::from_bytes(&huge).unwrap_err(),
        MetainfoError::TooLarge { .. }
    ));
}

#[test]
fn reads_announce_list_and_url_list() {
    let bytes = bencode::encode(&d(&[
        ("announce", s("http://a")),
        (
            "announce-list",
            l(&[
                l(&[s("http://a"), s("udp://b")]),
                l(&[]),
                l(&[s("http://c")]),
            ]),
        ),
        ("info", single(1, 16384, 1)),
        ("url-list", l(&[s("http://w1/"), i(3), s("http://w2/")])),
    ]));
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.announce_tiers().len(), 2);
    assert_eq!(
        m.trackers().collect::<Vec<_>>(),
        ["http://a", "udp://b", "http://c"]
    );
    assert_eq!(m.web_seeds(), ["http://w1/", "http://w2/"]);
    let again = Metainfo::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(again, m);
}

#[test]
fn private_source_and_attrs_round_trip() {
    let mut exe = FileEntry::new(vec!["run.sh".into()], 3);
    exe.attr.executable = true;
    let info = Info::multi("r", 16384, vec![[1; 20]], vec![exe, FileEntry::pad(16381)])
        .with_private(true)
        .with_source(Some("fleet".into()));
    info.validate().unwrap();
    let m = Metainfo::new(info.clone())
        .with_comment(Some("c".into()))
        .with_creation_date(Some(5));
    let back = Metainfo::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(back.info(), &info);
    assert_eq!(back.infohash(), m.infohash());
    assert!(back.info().is_private());
    assert_eq!(back.info().source(), Some("fleet"));
    assert!(back.info().files()[0].attr.executable);
}

#[test]
fn magnet_round_trip() {
    let m = Metainfo::new(Info::single("a b&c.iso", 16384, vec![[3; 20]], 9)).with_announce(vec![
        vec!["http://t/announce?x=1".into()],
        vec!["udp://u:80".into()],
    ]);
    let mag = Magnet::from_metainfo(&m);
    let text = mag.to_string();
    assert!(text.starts_with(&format!(
        "magnet:?xt=urn:btih:{}&dn=a%20b%26c.iso&xl=9&tr=",
        m.infohash()
    )));
    let back: Magnet = text.parse().unwrap();
    assert_eq!(back, mag);
}

#[test]
fn magnet_length_is_the_content_without_pad_files() {
    let files = vec![
        FileEntry::new(vec!["a".into()], 100),
        FileEntry::pad(16284),
        FileEntry::new(vec!["b".into()], 5),
    ];
    let info = Info::multi("r", 16384, vec![[1; 20], [2; 20]], files);
    assert_eq!(info.total_length(), 16389);
    assert_eq!(info.content_length(), 105);
    let m = Metainfo::new(info);
    assert_eq!(Magnet::from_metainfo(&m).length, Some(105));
    assert!(Magnet::from_metainfo(&m).to_string().contains("&xl=105"));
}

#[test]
fn magnet_accepts_base32_and_rejects_junk() {
    let hex: Magnet = "magnet:?xt=urn:btih:0102030405060708090a0b0c0d0e0f1011121314"
        .parse()
        .unwrap();
    let b32 = "magnet:?xt=urn:btih:AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU";
    assert_eq!(b32.parse::<Magnet>().unwrap().infohash, hex.infohash);
    assert_eq!(
        "http://x".parse::<Magnet>().unwrap_err(),
        MagnetError::NotMagnet
    );
    assert_eq!(
        "magnet:?dn=x".parse::<Magnet>().unwrap_err(),
        MagnetError::NoInfohash
    );
    assert!(matches!(
        "magnet:?xt=urn:btih:zz".parse::<Magnet>().unwrap_err(),
        MagnetError::BadInfohash(_)
    ));
    assert!(matches!(
        "magnet:?xt=urn:btih:0102030405060708090a0b0c0d0e0f1011121314&dn=%zz"
            .parse::<Magnet>()
            .unwrap_err(),
        MagnetError::BadEncoding(_)
    ));
}

fn arb_component() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.-]{1,12}".prop_filter("safe", |c| c != "." && c != "..")
}

proptest! {
    #[test]
    fn create_parse_round_trip(
        files in proptest::collection::btree_map(proptest::collection::vec(arb_component(), 1..3), 0u64..70000, 1..8),
        pl_shift in 14u32..17,
        private in any::<bool>(),
    ) {
        // drop paths that are prefixes of others (file/dir clashes)
        let keys: Vec<Vec<String>> = files.keys().cloned().collect();
        let entries: Vec<FileEntry> = files.into_iter()
            .filter(|(p, _)| !keys.iter().any(|k| k.len() > p.len() && k.starts_with(p)))
            .map(|(p, len)| FileEntry::new(p, len)).collect();
        let total: u64 = entries.iter().map(|f| f.length).sum();
        let pl = 1u64 << pl_shift;
        let n = usize::try_from(total.div_ceil(pl)).unwrap();
        let info = Info::multi("root", pl, vec![[9; 20]; n], entries).with_private(private);
        prop_assert!(info.validate().is_ok());
        let m = Metainfo::new(info.clone());
        let back = Metainfo::from_bytes(&m.to_bytes()).unwrap();
        prop_assert_eq!(back.info(), &info);
        prop_assert_eq!(back.infohash(), m.infohash());
        // every byte is covered exactly once by the piece spans
        let covered: u64 = (0..n).flat_map(|p| info.piece_spans(p).map(|s| s.len).collect::<Vec<_>>()).sum();
        prop_assert_eq!(covered, total);
    }

    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Metainfo::from_bytes(&data);
    }

    #[test]
    fn never_panics_on_mutated_torrent(flip in any::<(usize, u8)>(), cut in any::<usize>()) {
        let mut bytes = torrent(multi(vec![file(&["a"], 10), file(&["d", "b"], 20000)], 16384, 2));
        let i = flip.0 % bytes.len();
        bytes[i] ^= flip.1;
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = Metainfo::from_bytes(&bytes);
    }
}
