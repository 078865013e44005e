//! Interop with real programs from Debian, both directions:
//! torrents we create are read by `transmission-show` and python3-libtorrent
//! (same infohash, data 100 % complete), and torrents from `mktorrent`,
//! `transmission-create` and libtorrent (hybrid v1+v2 with pad files) are read
//! and verified by `anthill torrent verify`. A missing program fails the test.

use std::ffi::OsStr;
use std::path::Path;

use crate::util::{PYTHON, anthill, bytes, require_libtorrent, run_ok, tree};

/// Loads a torrent, prints its v1 infohash, adds it to a session over the
/// data in `save` (not seeding mode, so libtorrent checks every piece), waits
/// for the check and prints the result.
const LT_CHECK: &str = r#"
import sys, time
import libtorrent as lt
torrent, save = sys.argv[1], sys.argv[2]
ti = lt.torrent_info(torrent)
print("infohash", ti.info_hashes().v1)
s = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                "enable_upnp": False, "enable_natpmp": False,
                "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification})
p = lt.add_torrent_params()
p.ti = ti
p.save_path = save
p.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused | lt.torrent_flags.seed_mode)
h = s.add_torrent(p)
deadline = time.time() + 50
checked = False
while time.time() < deadline and not checked:
    s.wait_for_alert(200)
    for a in s.pop_alerts():
        if isinstance(a, lt.torrent_checked_alert):
            checked = True
        elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
            sys.exit("libtorrent error: " + a.message())
if not checked:
    sys.exit("libtorrent did not finish checking in time")
st = h.status()
print("pieces", st.num_pieces, ti.num_pieces())
"#;

/// Creates a torrent with libtorrent's defaults (2.x: hybrid v1+v2, pad files).
const LT_CREATE: &str = r#"
import sys, os
import libtorrent as lt
path, out = sys.argv[1], sys.argv[2]
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs)
ct.add_tracker("http://127.0.0.1:1/announce")
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
open(out, "wb").write(lt.bencode(ct.generate()))
"#;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A release-like tree: nested dirs, an empty file, sizes on and off piece
/// boundaries, many small files.
fn release(dir: &Path) {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("rel/bin/tool".into(), bytes(300_000, 1)),
        ("rel/data/exact".into(), bytes(65_536, 2)),
        ("rel/data/empty".into(), Vec::new()),
        ("rel/README".into(), b"readme\n".to_vec()),
    ];
    for i in 0..40 {
        files.push((format!("rel/small/{i:02}.txt"), bytes(i * 37 + 1, i as u8)));
    }
    for (p, d) in &files {
        tree(dir, &[(p, d)]);
    }
}

/// Runs the libtorrent check script; returns (infohash, pieces have, pieces total).
fn libtorrent_check(dir: &Path, torrent: &str) -> (String, u64, u64) {
    require_libtorrent();
    let out = run_ok(dir, PYTHON, &[os("-c"), os(LT_CHECK), os(torrent), os(".")]);
    let mut hash = String::new();
    let mut have = (0, 0);
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["infohash", h] => hash = (*h).to_string(),
            ["pieces", a, b] => have = (a.parse().unwrap(), b.parse().unwrap()),
            _ => {}
        }
    }
    (hash, have.0, have.1)
}

fn our_infohash(dir: &Path, torrent: &str) -> String {
    anthill(dir, ["torrent", "show", "--json", torrent])
        .expect(0)
        .json()["infohash"]
        .as_str()
        .unwrap()
        .to_string()
}

fn transmission_hash(dir: &Path, torrent: &str) -> String {
    let out = run_ok(dir, "transmission-show", &[os(torrent)]);
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Hash: "))
        .unwrap_or_else(|| panic!("no Hash line in transmission-show output:\n{out}"))
        .trim()
        .to_string()
}

#[test]
fn transmission_show_reads_our_torrents() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    tree(dir.path(), &[("single.bin", &bytes(100_000, 7))]);
    for (path, torrent, extra) in [
        ("rel", "aligned.torrent", None),
        ("rel", "packed.torrent", Some("--no-align")),
        ("single.bin", "single.torrent", None),
    ] {
        let mut args = vec![
            "torrent",
            "create",
            path,
            "-o",
            torrent,
            "-a",
            "http://127.0.0.1:1/announce",
            "--private",
        ];
        args.extend(extra);
        anthill(dir.path(), args).expect(0);
        assert_eq!(
            transmission_hash(dir.path(), torrent),
            our_infohash(dir.path(), torrent),
            "{torrent}"
        );
        let out = run_ok(dir.path(), "transmission-show", &[os(torrent)]);
        assert!(out.contains("Private torrent"), "{out}");
    }
}

#[test]
fn libtorrent_reads_our_torrents_and_finds_the_data_complete() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    tree(dir.path(), &[("single.bin", &bytes(100_000, 7))]);
    for (path, torrent, extra) in [
        ("rel", "aligned.torrent", vec![]),
        ("rel", "packed.torrent", vec!["--no-align"]),
        ("rel", "big-pieces.torrent", vec!["-l", "256K"]),
        ("single.bin", "single.torrent", vec![]),
    ] {
        let mut args = vec!["torrent", "create", path, "-o", torrent];
        args.extend(extra);
        anthill(dir.path(), args).expect(0);
        let (hash, have, total) = libtorrent_check(dir.path(), torrent);
        assert_eq!(hash, our_infohash(dir.path(), torrent), "{torrent}");
        assert!(total > 0);
        assert_eq!(
            have, total,
            "{torrent}: libtorrent found {have} of {total} pieces"
        );
    }
    // and libtorrent really checks: a flipped byte costs one piece
    let tool = dir.path().join("rel/bin/tool");
    let mut data = std::fs::read(&tool).unwrap();
    data[1000] ^= 1;
    std::fs::write(&tool, data).unwrap();
    let (_, have, total) = libtorrent_check(dir.path(), "aligned.torrent");
    assert_eq!(have + 1, total);
}

#[test]
fn we_verify_mktorrent_torrents() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    run_ok(
        dir.path(),
        "mktorrent",
        &[
            os("-l"),
            os("15"),
            os("-a"),
            os("http://127.0.0.1:1/announce"),
            os("-o"),
            os("mk.torrent"),
            os("rel"),
        ],
    );
    check_foreign(dir.path(), "mk.torrent", "rel/bin/tool");
    assert_eq!(
        our_infohash(dir.path(), "mk.torrent"),
        transmission_hash(dir.path(), "mk.torrent")
    );
}

#[test]
fn we_verify_transmission_create_torrents() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    run_ok(
        dir.path(),
        "transmission-create",
        &[
            os("-s"),
            os("32"),
            os("-t"),
            os("http://127.0.0.1:1/announce"),
            os("-o"),
            os("tc.torrent"),
            os("rel"),
        ],
    );
    check_foreign(dir.path(), "tc.torrent", "rel/data/exact");
    assert_eq!(
        our_infohash(dir.path(), "tc.torrent"),
        transmission_hash(dir.path(), "tc.torrent")
    );
}

#[test]
fn we_verify_libtorrent_hybrid_torrents_with_pad_files() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    require_libtorrent();
    run_ok(
        dir.path(),
        PYTHON,
        &[os("-c"), os(LT_CREATE), os("rel"), os("lt.torrent")],
    );
    let j = anthill(dir.path(), ["torrent", "show", "--json", "lt.torrent"])
        .expect(0)
        .json();
    assert_eq!(j["hybrid"], true, "libtorrent 2 makes v1+v2 hybrids");
    assert!(j["pad_files"].as_u64().unwrap() > 0, "with pad files");
    let (lt_hash, have, total) = libtorrent_check(dir.path(), "lt.torrent");
    assert_eq!(
        j["infohash"],
        lt_hash.as_str(),
        "same v1 infohash as libtorrent"
    );
    assert_eq!(have, total);
    check_foreign(dir.path(), "lt.torrent", "rel/small/07.txt");
}

/// `torrent verify` passes on the data, then fails after a byte of `victim` flips.
fn check_foreign(dir: &Path, torrent: &str, victim: &str) {
    let out = anthill(dir, ["torrent", "verify", torrent, "--path", "."]).expect(0);
    assert!(out.stdout.starts_with("ok: rel verified"), "{}", out.stdout);
    let path = dir.join(victim);
    let mut data = std::fs::read(&path).unwrap();
    data[0] ^= 0x40;
    std::fs::write(&path, &data).unwrap();
    let out = anthill(dir, ["torrent", "verify", torrent, "--path", "."]).expect(1);
    assert!(
        out.stdout.contains(&format!("corrupt     {victim}")),
        "{}",
        out.stdout
    );
    data[0] ^= 0x40;
    std::fs::write(&path, &data).unwrap();
}
