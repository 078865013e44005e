//! `anthill torrent create | show | verify | magnet`.

use std::path::Path;

use crate::util::{anthill, bytes, sample, tree};

/// Creates `<cwd>/<out>` from `path` with `--no-date` plus `extra` flags.
fn create(cwd: &Path, path: &str, out: &str, extra: &[&str]) -> crate::util::Output {
    let mut args = vec!["torrent", "create", path, "-o", out, "--no-date"];
    args.extend_from_slice(extra);
    anthill(cwd, args)
}

fn show_json(cwd: &Path, torrent: &str) -> serde_json::Value {
    anthill(cwd, ["torrent", "show", "--json", torrent])
        .expect(0)
        .json()
}

#[test]
fn create_show_verify_magnet() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let out = create(
        dir.path(),
        "rel",
        "rel.torrent",
        &[
            "-a",
            "http://t1/announce,http://t2/announce",
            "-a",
            "udp://t3:6969",
            "-w",
            "https://mirror/rel/",
            "--comment",
            "nightly",
            "--source",
            "fleet",
            "--private",
        ],
    )
    .expect(0);
    assert!(out.stdout.starts_with("created rel.torrent: infohash "));
    let j = show_json(dir.path(), "rel.torrent");
    assert_eq!(j["name"], "rel");
    assert_eq!(j["file_count"], 5);
    assert_eq!(j["size"], 40_000 + 16_384 + 5);
    assert_eq!(j["piece_length"], 16384);
    assert_eq!(j["private"], true);
    assert_eq!(j["source"], "fleet");
    assert_eq!(j["comment"], "nightly");
    assert_eq!(
        j["trackers"],
        serde_json::json!([
            ["http://t1/announce", "http://t2/announce"],
            ["udp://t3:6969"]
        ])
    );
    assert_eq!(j["web_seeds"], serde_json::json!(["https://mirror/rel/"]));
    assert!(j["creation_date"].is_null(), "--no-date");
    let hash = j["infohash"].as_str().unwrap().to_string();
    assert!(out.stdout.contains(&hash));

    let text = anthill(dir.path(), ["torrent", "show", "rel.torrent"]).expect(0);
    for needle in [
        "name:          rel",
        &format!("infohash:      {hash}"),
        "private:       yes",
        "source:        fleet",
        "tracker tier 1: http://t1/announce http://t2/announce",
        "tracker tier 2: udp://t3:6969",
        "web seed:      https://mirror/rel/",
        "files:         5 (+1 pad file, ",
        "rel/b/d/e.txt",
        "rel/z/last-empty",
    ] {
        assert!(
            text.stdout.contains(needle),
            "{needle:?} in\n{}",
            text.stdout
        );
    }

    let v = anthill(
        dir.path(),
        ["torrent", "verify", "rel.torrent", "--path", "."],
    )
    .expect(0);
    assert!(
        v.stdout.starts_with("ok: rel verified: 5 files"),
        "{}",
        v.stdout
    );

    let m = anthill(dir.path(), ["torrent", "magnet", "rel.torrent"]).expect(0);
    assert_eq!(
        m.stdout.trim(),
        format!(
            "magnet:?xt=urn:btih:{hash}&dn=rel&xl={}&tr=http://t1/announce&tr=http://t2/announce\
             &tr=udp://t3:6969&ws=https://mirror/rel/",
            j["size"]
        )
    );
}

#[test]
fn malformed_torrent_exits_1_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.torrent"), b"d4:infoi3e").unwrap();
    for cmd in ["show", "magnet", "verify"] {
        let out = anthill(dir.path(), ["torrent", cmd, "junk.torrent"]).expect(1);
        assert!(
            out.stderr
                .contains("junk.torrent is not a valid torrent: not a torrent file"),
            "{cmd}: {}",
            out.stderr
        );
    }
    // well-formed bencode, invalid torrent
    std::fs::write(
        dir.path().join("evil.torrent"),
        b"d4:infod6:lengthi1e4:name2:..12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
    )
    .unwrap();
    let out = anthill(dir.path(), ["torrent", "show", "evil.torrent"]).expect(1);
    assert!(
        out.stderr.contains("unsafe path component"),
        "{}",
        out.stderr
    );
    let out = anthill(dir.path(), ["torrent", "show", "absent.torrent"]).expect(1);
    assert!(
        out.stderr.contains("cannot read absent.torrent"),
        "{}",
        out.stderr
    );
}

#[test]
fn verify_reports_missing_short_long_and_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rel");
    tree(
        &root,
        &[
            ("a", &bytes(40_000, 1)),
            ("b", &bytes(20_000, 2)),
            ("c", &bytes(30_000, 3)),
            ("d", &bytes(100, 4)),
            ("e", &bytes(50_000, 5)),
        ],
    );
    create(dir.path(), "rel", "rel.torrent", &[]).expect(0);
    std::fs::remove_file(root.join("b")).unwrap();
    std::fs::write(root.join("c"), &bytes(30_000, 3)[..10_000]).unwrap();
    let mut long = bytes(100, 4);
    long.push(0);
    std::fs::write(root.join("d"), long).unwrap();
    let mut bad = bytes(50_000, 5);
    bad[49_999] ^= 0x80;
    std::fs::write(root.join("e"), &bad).unwrap();
    let before = std::fs::read(root.join("e")).unwrap();

    let out = anthill(dir.path(), ["torrent", "verify", "rel.torrent", "-p", "."]).expect(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "missing     rel/b",
            "short       rel/c (10000 of 30000 bytes)",
            "long        rel/d (101 of 100 bytes)",
            "corrupt     rel/e (1 bad piece)",
            "FAILED: rel: 4 of 5 files have problems, 5 of 12 pieces bad",
        ]
    );
    assert_eq!(
        std::fs::read(root.join("e")).unwrap(),
        before,
        "never modified"
    );

    let j = anthill(dir.path(), ["torrent", "verify", "rel.torrent", "--json"])
        .expect(1)
        .json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["bad_pieces"].as_array().unwrap().len(), 5);
    let statuses: Vec<&str> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ok", "missing", "short", "long", "corrupt"]);
}

#[test]
fn verify_with_missing_download_dir_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    create(dir.path(), "rel", "rel.torrent", &[]).expect(0);
    let out = anthill(
        dir.path(),
        ["torrent", "verify", "rel.torrent", "-p", "nope"],
    )
    .expect(1);
    assert!(
        out.stderr.contains("cannot verify rel in nope"),
        "{}",
        out.stderr
    );
}

#[test]
fn symlink_in_tree_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = sample(dir.path());
    std::os::unix::fs::symlink("a.bin", root.join("link")).unwrap();
    let out = create(dir.path(), "rel", "rel.torrent", &[]).expect(1);
    assert!(
        out.stderr.contains("rel/link is a symbolic link"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("rel.torrent").exists());
}

#[test]
fn non_utf8_name_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = sample(dir.path());
    std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"caf\xe9")), b"x").unwrap();
    let out = create(dir.path(), "rel", "rel.torrent", &[]).expect(1);
    assert!(
        out.stderr.contains("file name is not valid UTF-8"),
        "{}",
        out.stderr
    );
}

#[test]
fn single_empty_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("empty.bin", b"")]);
    let out = create(dir.path(), "empty.bin", "e.torrent", &[]).expect(1);
    assert!(
        out.stderr.contains("holds no data (0 bytes)"),
        "{}",
        out.stderr
    );
}

#[test]
fn empty_files_including_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("rel/0-empty", b""),
            ("rel/a", b"abc"),
            ("rel/m-empty", b""),
            ("rel/z/zz-empty", b""),
        ],
    );
    create(dir.path(), "rel", "rel.torrent", &[]).expect(0);
    let j = show_json(dir.path(), "rel.torrent");
    let files: Vec<(String, u64)> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["length"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("rel/0-empty".into(), 0),
            ("rel/a".into(), 3),
            ("rel/m-empty".into(), 0),
            ("rel/z/zz-empty".into(), 0),
        ]
    );
    assert_eq!(j["pieces"], 1);
    anthill(dir.path(), ["torrent", "verify", "rel.torrent"]).expect(0);
    std::fs::remove_file(dir.path().join("rel/z/zz-empty")).unwrap();
    let out = anthill(dir.path(), ["torrent", "verify", "rel.torrent"]).expect(1);
    assert!(out.stdout.contains("missing     rel/z/zz-empty"));
}

#[test]
fn total_size_an_exact_multiple_of_the_piece_length() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[("rel/a", &bytes(65_536, 1)), ("rel/b", &bytes(32_768, 2))],
    );
    create(dir.path(), "rel", "rel.torrent", &["--piece-length", "32K"]).expect(0);
    let j = show_json(dir.path(), "rel.torrent");
    assert_eq!(j["pieces"], 3);
    assert_eq!(j["pad_files"], 0);
    anthill(dir.path(), ["torrent", "verify", "rel.torrent"]).expect(0);
    // single file, exact multiple
    tree(dir.path(), &[("one.bin", &bytes(4 * 16384, 3))]);
    create(dir.path(), "one.bin", "one.torrent", &["-l", "16KiB"]).expect(0);
    assert_eq!(show_json(dir.path(), "one.torrent")["pieces"], 4);
    anthill(dir.path(), ["torrent", "verify", "one.torrent"]).expect(0);
}

#[test]
fn five_thousand_tiny_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tiny");
    for d in 0..50 {
        let sub = root.join(format!("d{d:02}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..100 {
            std::fs::write(sub.join(format!("f{f:03}")), format!("{d}/{f}")).unwrap();
        }
    }
    create(dir.path(), "tiny", "tiny.torrent", &[]).expect(0);
    let j = show_json(dir.path(), "tiny.torrent");
    assert_eq!(j["file_count"], 5000);
    // aligned: one piece per file
    assert_eq!(j["pieces"], 5000);
    anthill(dir.path(), ["torrent", "verify", "tiny.torrent"]).expect(0);
    create(dir.path(), "tiny", "packed.torrent", &["--no-align"]).expect(0);
    let j = show_json(dir.path(), "packed.torrent");
    assert_eq!(j["pad_files"], 0);
    assert_eq!(j["pieces"], 2);
    anthill(dir.path(), ["torrent", "verify", "packed.torrent"]).expect(0);
}

#[test]
fn same_tree_gives_the_same_bytes_with_no_date() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    create(dir.path(), "rel", "one.torrent", &["-a", "http://t/a"]).expect(0);
    create(dir.path(), "rel", "two.torrent", &["-a", "http://t/a"]).expect(0);
    let one = std::fs::read(dir.path().join("one.torrent")).unwrap();
    assert_eq!(one, std::fs::read(dir.path().join("two.torrent")).unwrap());
    // a copy elsewhere, written in another order, has the same infohash
    let other = tempfile::tempdir().unwrap();
    let files = [
        ("rel/z/last-empty", Vec::new()),
        ("rel/empty", Vec::new()),
        ("rel/b/d/e.txt", b"hello".to_vec()),
        ("rel/b/c.bin", bytes(16_384, 2)),
        ("rel/a.bin", bytes(40_000, 1)),
    ];
    for (p, d) in &files {
        tree(other.path(), &[(p, d)]);
    }
    create(other.path(), "rel", "three.torrent", &["-a", "http://t/a"]).expect(0);
    assert_eq!(
        one,
        std::fs::read(other.path().join("three.torrent")).unwrap()
    );
    // with a date the info (and infohash) is still the same
    create(dir.path(), "rel", "dated.torrent", &[]).expect(0);
    anthill(
        dir.path(),
        ["torrent", "create", "rel", "-o", "dated.torrent", "-f"],
    )
    .expect(0);
    assert_eq!(
        show_json(dir.path(), "dated.torrent")["infohash"],
        show_json(dir.path(), "one.torrent")["infohash"]
    );
}

#[test]
fn aligned_by_default_and_no_align() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    create(dir.path(), "rel", "aligned.torrent", &[]).expect(0);
    let j = show_json(dir.path(), "aligned.torrent");
    let pl = j["piece_length"].as_u64().unwrap();
    let files = j["files"].as_array().unwrap();
    let mut pads = 0;
    for f in files {
        let (off, len) = (f["offset"].as_u64().unwrap(), f["length"].as_u64().unwrap());
        if f["pad"] == true {
            pads += 1;
            assert!(f["path"].as_str().unwrap().starts_with("rel/.pad/"));
        } else if len > 0 {
            assert_eq!(off % pl, 0, "{f}");
        }
    }
    // a.bin (40000) needs one; c.bin (16384) ends on a boundary, so e.txt needs none
    assert_eq!(pads, 1);
    assert_eq!(j["pad_files"], 1);
    assert_ne!(files.last().unwrap()["pad"], true);

    create(dir.path(), "rel", "packed.torrent", &["--no-align"]).expect(0);
    let k = show_json(dir.path(), "packed.torrent");
    assert_eq!(k["pad_files"], 0);
    assert_ne!(k["infohash"], j["infohash"]);
    anthill(dir.path(), ["torrent", "verify", "packed.torrent"]).expect(0);
}

#[test]
fn unchanged_files_keep_their_piece_hashes_across_releases() {
    let dir = tempfile::tempdir().unwrap();
    let big = bytes(100_000, 9);
    tree(dir.path(), &[("v1/app", b"version 1"), ("v1/lib.so", &big)]);
    tree(
        dir.path(),
        &[("v2/app", b"version 2, longer"), ("v2/lib.so", &big)],
    );
    for v in ["v1", "v2"] {
        create(dir.path(), v, &format!("{v}.torrent"), &["-l", "16K"]).expect(0);
    }
    let pieces = |name: &str| {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        metainfo::Metainfo::from_bytes(&bytes)
            .unwrap()
            .info()
            .pieces()
            .to_vec()
    };
    let (p1, p2) = (pieces("v1.torrent"), pieces("v2.torrent"));
    assert_ne!(p1[0], p2[0], "app changed");
    assert_eq!(p1[1..], p2[1..], "lib.so pieces are shared");
}

#[test]
fn output_handling() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    // default name is <name>.torrent in the working directory
    anthill(dir.path(), ["torrent", "create", "rel"]).expect(0);
    assert!(dir.path().join("rel.torrent").is_file());
    let out = anthill(dir.path(), ["torrent", "create", "rel"]).expect(1);
    assert!(
        out.stderr
            .contains("already exists; choose another output file, or pass --force"),
        "{}",
        out.stderr
    );
    anthill(dir.path(), ["torrent", "create", "rel", "--force"]).expect(0);
    // `-o -` writes the torrent to stdout and the summary to stderr
    let out = anthill(dir.path(), ["torrent", "create", "rel", "-o", "-"]).expect(0);
    let m = metainfo::Metainfo::from_bytes(&out.raw_stdout).unwrap();
    assert_eq!(m.info().name(), "rel");
    assert!(out.stderr.contains("created <stdout>"));
    // --name
    create(
        dir.path(),
        "rel",
        "named.torrent",
        &["--name", "release-1.2"],
    )
    .expect(0);
    assert_eq!(
        show_json(dir.path(), "named.torrent")["name"],
        "release-1.2"
    );
    // `.` is named after the directory
    anthill(
        &dir.path().join("rel"),
        ["torrent", "create", ".", "-o", "../dot.torrent"],
    )
    .expect(0);
    assert_eq!(show_json(dir.path(), "dot.torrent")["name"], "rel");
}

#[test]
fn nonexistent_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = create(dir.path(), "nope", "x.torrent", &[]).expect(1);
    assert!(out.stderr.contains("cannot read nope"), "{}", out.stderr);
}

#[test]
fn output_inside_the_shared_tree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = sample(dir.path());
    let out = anthill(&root, ["torrent", "create", "."]).expect(1);
    assert!(
        out.stderr.contains("inside") && out.stderr.contains("the tree being shared"),
        "{}",
        out.stderr
    );
    assert!(!root.join("rel.torrent").exists());
    create(dir.path(), "rel", "rel/sub.torrent", &[]).expect(1);
}
