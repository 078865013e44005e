//! Interop with real clients from Debian, both directions, on loopback:
//! anthill seed -> aria2c and libtorrent (python3-libtorrent) leechers, and
//! their seeders -> anthill get. A missing client is a failure, never a skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{
    Log, PYTHON, Proc, bin, require, require_libtorrent, start_seeder, start_seeder_logged,
};
use metainfo::{Info, Metainfo};
use sha1::{Digest, Sha1};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a multi-file release under `dir/name` and its torrent next to it.
fn release(dir: &Path, name: &str) -> (PathBuf, Metainfo) {
    release_scaled(dir, name, 1)
}

/// [`release`] with the two big files `1/div` the size.
fn release_scaled(dir: &Path, name: &str, div: usize) -> (PathBuf, Metainfo) {
    let files = [
        ("bin/app", 3_000_000usize / div),
        ("README", 1234),
        ("lib/data.bin", 5_500_000 / div),
    ];
    let mut all = Vec::new();
    let mut entries = Vec::new();
    for (i, (p, len)) in files.iter().enumerate() {
        let bytes: Vec<u8> = (0..*len)
            .map(|k| ((k * 31 + k / 97 + i) % 251) as u8)
            .collect();
        let path = dir.join(name).join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        all.extend_from_slice(&bytes);
        entries.push(metainfo::FileEntry::new(
            p.split('/').map(String::from).collect(),
            *len as u64,
        ));
    }
    let piece = 256 * 1024;
    let hashes = all.chunks(piece).map(|c| Sha1::digest(c).into()).collect();
    let m = Metainfo::new(Info::multi(name, piece as u64, hashes, entries));
    let t = dir.join(format!("{name}.torrent"));
    std::fs::write(&t, m.to_bytes()).unwrap();
    (t, m)
}

fn assert_same(m: &Metainfo, a: &Path, b: &Path) {
    for f in m.info().files() {
        let rel = m.info().file_relative_path(f);
        let x = std::fs::read(a.join(&rel)).unwrap();
        let y = std::fs::read(b.join(&rel))
            .unwrap_or_else(|e| panic!("{}: {e}", b.join(&rel).display()));
        assert!(x == y, "{} differs", rel.display());
    }
}

/// Waits for `p` to exit successfully within `limit`; on failure shows what
/// every process in `logs` wrote.
fn wait_ok(p: &mut Proc, limit: Duration, what: &str, logs: &[(&str, &Log)]) {
    let status = wait_exit_logged(p, limit, what, logs);
    assert!(status.success(), "{what} failed: {status}\n{}", shown(logs));
}

fn shown(logs: &[(&str, &Log)]) -> String {
    logs.iter()
        .map(|(name, log)| format!("--- {name}\n{}\n", log.text()))
        .collect()
}

/// Starts lt_peer.py leeching `torrent` into `out` from `addr`; its status
/// lines and alerts are kept.
fn lt_leech(torrent: &Path, out: &Path, addr: &str) -> (Proc, Log) {
    std::fs::create_dir_all(out).unwrap();
    let mut child = Command::new(PYTHON)
        .arg(lt_script())
        .arg("leech")
        .arg(torrent)
        .arg(out)
        .arg(addr)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::of(child.stdout.take().unwrap());
    (Proc(child), log)
}

fn wait_exit(p: &mut Proc, limit: Duration, what: &str) -> std::process::ExitStatus {
    wait_exit_logged(p, limit, what, &[])
}

/// [`wait_exit`] that shows what every process in `logs` wrote if `p` does
/// not exit in time.
fn wait_exit_logged(
    p: &mut Proc,
    limit: Duration,
    what: &str,
    logs: &[(&str, &Log)],
) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = p.0.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not finish within {limit:?}\n{}",
            shown(logs)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn anthill_seed_to_aria2() {
    require("aria2c");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m) = release(&src, "rel");
    let out = tmp.path().join("aria");
    let port = free_port();
    let mut aria = Proc(
        Command::new("aria2c")
            .args([
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--seed-time=0",
            ])
            .args([
                "--follow-torrent=mem",
                "--summary-interval=0",
                "--console-log-level=warn",
                "--file-allocation=none",
            ])
            .arg(format!("--listen-port={port}"))
            .arg("--bt-stop-timeout=60")
            .arg("-d")
            .arg(&out)
            .arg(&t)
            .stdout(Stdio::null())
            .spawn()
            .expect("aria2c"),
    );
    // We dial aria2 (it has no other way to find us without a tracker).
    let (_seeder, _) = start_seeder(&t, &src, &["--peer".into(), format!("127.0.0.1:{port}")]);
    let status = wait_exit(&mut aria, Duration::from_secs(50), "aria2c");
    assert!(status.success(), "aria2c failed: {status}");
    assert_same(&m, &src, &out);
}

#[test]
fn aria2_seed_to_anthill_get() {
    require("aria2c");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m) = release(&src, "rel");
    let port = free_port();
    let _aria = Proc(
        Command::new("aria2c")
            .args([
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--seed-ratio=0.0",
            ])
            .args([
                "--check-integrity=true",
                "--bt-seed-unverified=false",
                "--console-log-level=warn",
                "--summary-interval=0",
            ])
            .arg(format!("--listen-port={port}"))
            .arg("-d")
            .arg(&src)
            .arg(&t)
            .stdout(Stdio::null())
            .spawn()
            .expect("aria2c"),
    );
    let out = tmp.path().join("out");
    let mut get = Proc(
        bin()
            .arg("get")
            .arg(&t)
            .arg("--output")
            .arg(&out)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--peer",
                &format!("127.0.0.1:{port}"),
            ])
            .spawn()
            .unwrap(),
    );
    let status = wait_exit(&mut get, Duration::from_secs(50), "anthill get");
    assert!(status.success(), "anthill get failed: {status}");
    assert_same(&m, &src, &out);
}

fn lt_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_peer.py")
}

#[test]
fn anthill_seed_to_libtorrent() {
    require_libtorrent();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m) = release(&src, "rel");
    let (_seeder, addr, seeder_log) = start_seeder_logged::<&str>(&t, &src, &[]);
    let out = tmp.path().join("lt");
    let (mut lt, lt_log) = lt_leech(&t, &out, &addr);
    wait_ok(
        &mut lt,
        Duration::from_secs(55),
        "libtorrent leecher",
        &[("anthill seed", &seeder_log), ("libtorrent", &lt_log)],
    );
    assert_same(&m, &src, &out);
}

#[test]
fn libtorrent_seed_to_anthill_get() {
    require_libtorrent();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m) = release(&src, "rel");
    let mut child = Command::new(PYTHON)
        .arg(lt_script())
        .arg("seed")
        .arg(&t)
        .arg(&src)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("libtorrent printed nothing").unwrap();
    let port = first
        .strip_prefix("port ")
        .expect("port line")
        .trim()
        .to_string();
    let _lt = Proc(child);
    let out = tmp.path().join("out");
    let mut get = Proc(
        bin()
            .arg("get")
            .arg(&t)
            .arg("--output")
            .arg(&out)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--peer",
                &format!("127.0.0.1:{port}"),
            ])
            .spawn()
            .unwrap(),
    );
    let status = wait_exit(&mut get, Duration::from_secs(50), "anthill get");
    assert!(status.success(), "anthill get failed: {status}");
    assert_same(&m, &src, &out);
}

// Transmission 3.00 drops peers on 127.0.0.0/8, so these two run the peers on
// hosts in network namespaces (netsim: a bridge in its own namespace, nothing
// configured in the root namespace; everything is removed when `net` drops).
// anthill dials Transmission's listen port directly, so no tracker is needed.
// Transmission serves a peer's requests in timed batches (~500 KiB/s here),
// so these use a quarter of the data.

const TRANSMISSION_PORT: u16 = 51413;

fn transmission_net(name: &str) -> (netsim::Net, netsim::Host, netsim::Host) {
    require("transmission-cli");
    require("ip");
    let mut net =
        netsim::Net::new(name).expect("cannot build the test network (needs root and iproute2)");
    let a = net.add_host("a", netsim::HostOptions::default()).unwrap();
    let b = net.add_host("b", netsim::HostOptions::default()).unwrap();
    (net, a, b)
}

fn transmission_cmd(host: &netsim::Host, dir: &Path, cfg: &Path, torrent: &Path) -> Command {
    let mut c = host.command("transmission-cli");
    c.arg("-w").arg(dir).arg("-g").arg(cfg).args([
        "-p",
        &TRANSMISSION_PORT.to_string(),
        "-et",
        "-M",
        "-D",
        "-U",
    ]);
    c.arg(torrent);
    c
}

fn wait_until(limit: Duration, what: &str, net: &netsim::Net, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}\n{}",
            net.log_tails(30)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn anthill_seed_to_transmission() {
    let (net, a, b) = transmission_net("ahtx1");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m) = release_scaled(&src, "rel", 4);
    let out = tmp.path().join("tr");
    std::fs::create_dir_all(&out).unwrap();
    let marker = tmp.path().join("done");
    let hook = tmp.path().join("hook.sh");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut tr = transmission_cmd(&b, &out, &tmp.path().join("trcfg"), &t);
    tr.arg("-f").arg(&hook);
    let _tr = b.spawn("transmission", tr).unwrap();
    let mut seed = a.command(env!("CARGO_BIN_EXE_anthill"));
    seed.env("RUST_LOG", "info")
        .arg("seed")
        .arg(&t)
        .arg("--path")
        .arg(&src)
        .args(["--listen", &format!("{}:6881", a.ip())])
        .args(["--peer", &format!("{}:{TRANSMISSION_PORT}", b.ip())]);
    let _seed = a.spawn("anthill", seed).unwrap();
    wait_until(
        Duration::from_secs(55),
        "transmission completing the download",
        &net,
        || marker.exists(),
    );
    assert_same(&m, &src, &out);
}

#[test]
fn transmission_seed_to_anthill_get() {
    let (net, a, b) = transmission_net("ahtx2");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m) = release_scaled(&src, "rel", 4);
    let _tr = b
        .spawn(
            "transmission",
            transmission_cmd(&b, &src, &tmp.path().join("trcfg"), &t),
        )
        .unwrap();
    let out = tmp.path().join("out");
    let mut get = a.command(env!("CARGO_BIN_EXE_anthill"));
    get.env("RUST_LOG", "info")
        .arg("get")
        .arg(&t)
        .arg("--output")
        .arg(&out)
        .args(["--listen", &format!("{}:6881", a.ip())])
        .args(["--peer", &format!("{}:{TRANSMISSION_PORT}", b.ip())]);
    let get = a.spawn("anthill", get).unwrap();
    let mut status = None;
    wait_until(
        Duration::from_secs(55),
        "anthill get finishing",
        &net,
        || {
            status = net.try_wait(&get);
            status.is_some()
        },
    );
    let status = status.unwrap();
    assert!(
        status.success(),
        "anthill get failed: {status}\n{}",
        net.log_tails(30)
    );
    assert_same(&m, &src, &out);
}

// Aligned torrents (BEP 47 pad files) made by `anthill torrent create`, so
// every client shares our v1 infohash. Most pieces end in a pad file, so
// anthill asks for the last real bytes of a piece with requests shorter
// than 16 KiB that do not end on a block boundary ("partial" requests): the
// seeders below must answer them. aria2 1.36 and Transmission 3.00 do not
// know pad files (they store them as zero-filled files and ask for their
// bytes); libtorrent 2.0 does.

/// Piece length of [`aligned_release`]: small files leave most of each piece to padding.
const ALIGNED_PIECE: &str = "64K";

/// A tree of small files of mixed sizes and one larger file under
/// `dir/name`, and its aligned torrent made by `anthill torrent create`.
/// Returns the torrent, its metainfo and its real (non-pad) size.
fn aligned_release(dir: &Path, name: &str) -> (PathBuf, Metainfo, u64) {
    let root = dir.join(name);
    for i in 0..30usize {
        let len = if i == 7 {
            700_000
        } else {
            100 + (i * 7919) % 50_000
        };
        let bytes: Vec<u8> = (0..len)
            .map(|k| ((k * 13 + k / 101 + i * 7) % 253) as u8)
            .collect();
        let path = root
            .join(format!("d{}", i % 4))
            .join(format!("f{i:02}.bin"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    }
    let t = dir.join(format!("{name}.torrent"));
    let out = bin()
        .args(["torrent", "create", "--no-date", "-l", ALIGNED_PIECE, "-o"])
        .arg(&t)
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "torrent create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = Metainfo::from_bytes(&std::fs::read(&t).unwrap()).unwrap();
    let pads = m.info().files().iter().filter(|f| f.is_pad()).count();
    assert!(
        pads >= 20,
        "expected an aligned torrent, got {pads} pad files"
    );
    let content = m
        .info()
        .files()
        .iter()
        .filter(|f| !f.is_pad())
        .map(|f| f.length)
        .sum();
    (t, m, content)
}

/// Writes the pad files as zeros under `dir`, for seeders that do not know
/// BEP 47 and want them on disk like any file.
fn write_pad_files(m: &Metainfo, dir: &Path) {
    for f in m.info().files().iter().filter(|f| f.is_pad()) {
        let p = dir.join(m.info().file_relative_path(f));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![0u8; f.length as usize]).unwrap();
    }
}

/// Every real file of `m` is the same under `a` and `b`.
fn assert_same_content(m: &Metainfo, a: &Path, b: &Path) {
    for f in m.info().files().iter().filter(|f| !f.is_pad()) {
        let rel = m.info().file_relative_path(f);
        let x = std::fs::read(a.join(&rel)).unwrap();
        let y = std::fs::read(b.join(&rel))
            .unwrap_or_else(|e| panic!("{}: {e}", b.join(&rel).display()));
        assert!(x == y, "{} differs", rel.display());
    }
}

/// Checks what an `anthill get` (RUST_LOG=info or more) printed: it
/// completed, reported the real size, wrote no pad file and received at most
/// 3% more payload than the real data, i.e. it asked for no pad bytes and
/// the seeder answered its partial requests.
fn check_aligned_get(log: &str, m: &Metainfo, content: u64, out: &Path, seeder: &str) {
    let log = &strip_ansi(log);
    let done = log
        .lines()
        .find(|l| l.contains("download complete"))
        .unwrap_or_else(|| panic!("no completion from {seeder}:\n{log}"));
    let field = |k: &str| -> u64 {
        let v = done
            .split(&format!("{k}="))
            .nth(1)
            .unwrap_or_else(|| panic!("no {k} in {done:?}"));
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    };
    let (downloaded, reported) = (field("downloaded"), field("content"));
    assert_eq!(reported, content, "content size seen by the engine");
    let fallback: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("whole blocks from now on"))
        .collect();
    eprintln!(
        "{seeder}: received {downloaded} payload bytes for {content} bytes of content ({:.3}x); fallbacks: {fallback:?}",
        downloaded as f64 / content as f64
    );
    assert!(
        downloaded * 100 <= content * 103,
        "{seeder}: received {downloaded} bytes for {content} bytes of content; fallbacks {fallback:?}"
    );
    assert!(
        !out.join(m.info().name()).join(".pad").exists(),
        "anthill wrote pad files"
    );
    let complete = log
        .lines()
        .find(|l| l.starts_with("complete: "))
        .unwrap_or_else(|| panic!("no summary line:\n{log}"));
    let size = format!("({:.1} MiB)", content as f64 / 1048576.0);
    assert!(
        complete.contains(&size),
        "summary {complete:?} should give the real size {size}"
    );
}

/// `s` without terminal colour sequences (the log colours even into a file).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `anthill get` on loopback against `peer`; returns its stderr once it exited 0.
fn get_aligned(t: &Path, out: &Path, peer: &str, what: &str) -> String {
    let log_path = out.with_extension("log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut get = Proc(
        Command::new(env!("CARGO_BIN_EXE_anthill"))
            .env("RUST_LOG", "info,swarm=debug")
            .arg("get")
            .arg(t)
            .arg("--output")
            .arg(out)
            .args(["--listen", "127.0.0.1:0", "--peer", peer])
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let status = wait_exit(&mut get, Duration::from_secs(50), what);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "{what} failed: {status}\n{log}");
    log
}

#[test]
fn aria2_seeds_aligned_torrent_to_anthill_get() {
    require("aria2c");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m, content) = aligned_release(&src, "rel");
    write_pad_files(&m, &src);
    let port = free_port();
    let _aria = Proc(
        Command::new("aria2c")
            .args([
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--seed-ratio=0.0",
            ])
            .args([
                "--check-integrity=true",
                "--bt-seed-unverified=false",
                "--console-log-level=warn",
                "--summary-interval=0",
            ])
            .arg(format!("--listen-port={port}"))
            .arg("-d")
            .arg(&src)
            .arg(&t)
            .stdout(Stdio::null())
            .spawn()
            .expect("aria2c"),
    );
    let out = tmp.path().join("out");
    let log = get_aligned(
        &t,
        &out,
        &format!("127.0.0.1:{port}"),
        "anthill get from aria2",
    );
    check_aligned_get(&log, &m, content, &out, "aria2");
    assert_same_content(&m, &src, &out);
}

#[test]
fn libtorrent_seeds_aligned_torrent_to_anthill_get() {
    require_libtorrent();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m, content) = aligned_release(&src, "rel");
    let mut child = Command::new(PYTHON)
        .arg(lt_script())
        .arg("seed")
        .arg(&t)
        .arg(&src)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("libtorrent printed nothing").unwrap();
    let port = first
        .strip_prefix("port ")
        .expect("port line")
        .trim()
        .to_string();
    let _lt = Proc(child);
    let out = tmp.path().join("out");
    let log = get_aligned(
        &t,
        &out,
        &format!("127.0.0.1:{port}"),
        "anthill get from libtorrent",
    );
    check_aligned_get(&log, &m, content, &out, "libtorrent");
    assert_same_content(&m, &src, &out);
}

#[test]
fn transmission_seeds_aligned_torrent_to_anthill_get() {
    let (net, a, b) = transmission_net("ahtx3");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m, content) = aligned_release(&src, "rel");
    write_pad_files(&m, &src);
    let _tr = b
        .spawn(
            "transmission",
            transmission_cmd(&b, &src, &tmp.path().join("trcfg"), &t),
        )
        .unwrap();
    let out = tmp.path().join("out");
    let mut get = a.command(env!("CARGO_BIN_EXE_anthill"));
    get.env("RUST_LOG", "info,swarm=debug")
        .arg("get")
        .arg(&t)
        .arg("--output")
        .arg(&out)
        .args(["--listen", &format!("{}:6881", a.ip())])
        .args(["--peer", &format!("{}:{TRANSMISSION_PORT}", b.ip())]);
    let get = a.spawn("anthill", get).unwrap();
    let mut status = None;
    wait_until(
        Duration::from_secs(55),
        "anthill get finishing",
        &net,
        || {
            status = net.try_wait(&get);
            status.is_some()
        },
    );
    let status = status.unwrap();
    let log = std::fs::read_to_string(get.log()).unwrap();
    assert!(status.success(), "anthill get failed: {status}\n{log}");
    check_aligned_get(&log, &m, content, &out, "transmission");
    assert_same_content(&m, &src, &out);
}

#[test]
fn anthill_seeds_aligned_torrent_to_aria2_and_libtorrent() {
    require("aria2c");
    require_libtorrent();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m, _) = aligned_release(&src, "rel");
    // Super-seeding (the default) must count a piece as delivered on its
    // real bytes, whichever way the leecher asks for them.
    let aria_out = tmp.path().join("aria");
    let port = free_port();
    let mut aria = Proc(
        Command::new("aria2c")
            .args([
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--seed-time=0",
            ])
            .args([
                "--follow-torrent=mem",
                "--summary-interval=0",
                "--console-log-level=warn",
                "--file-allocation=none",
            ])
            .arg(format!("--listen-port={port}"))
            .arg("--bt-stop-timeout=60")
            .arg("-d")
            .arg(&aria_out)
            .arg(&t)
            .stdout(Stdio::null())
            .spawn()
            .expect("aria2c"),
    );
    let (_seeder, addr, seeder_log) =
        start_seeder_logged(&t, &src, &["--peer".into(), format!("127.0.0.1:{port}")]);
    let lt_out = tmp.path().join("lt");
    let (mut lt, lt_log) = lt_leech(&t, &lt_out, &addr);
    let logs = [("anthill seed", &seeder_log), ("libtorrent", &lt_log)];
    wait_ok(&mut aria, Duration::from_secs(50), "aria2c", &logs);
    wait_ok(
        &mut lt,
        Duration::from_secs(55),
        "libtorrent leecher",
        &logs,
    );
    assert_same_content(&m, &src, &aria_out);
    assert_same_content(&m, &src, &lt_out);
}

#[test]
fn anthill_seeds_aligned_torrent_to_transmission() {
    let (net, a, b) = transmission_net("ahtx4");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let (t, m, _) = aligned_release(&src, "rel");
    let out = tmp.path().join("tr");
    std::fs::create_dir_all(&out).unwrap();
    let marker = tmp.path().join("done");
    let hook = tmp.path().join("hook.sh");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut tr = transmission_cmd(&b, &out, &tmp.path().join("trcfg"), &t);
    tr.arg("-f").arg(&hook);
    let _tr = b.spawn("transmission", tr).unwrap();
    let mut seed = a.command(env!("CARGO_BIN_EXE_anthill"));
    seed.env("RUST_LOG", "info")
        .arg("seed")
        .arg(&t)
        .arg("--path")
        .arg(&src)
        .args(["--listen", &format!("{}:6881", a.ip())])
        .args(["--peer", &format!("{}:{TRANSMISSION_PORT}", b.ip())]);
    let _seed = a.spawn("anthill", seed).unwrap();
    wait_until(
        Duration::from_secs(55),
        "transmission completing the download",
        &net,
        || marker.exists(),
    );
    assert_same_content(&m, &src, &out);
}
