//! Helpers for the in-process swarm tests: deterministic data, torrents, sessions.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use metainfo::{FileEntry, Info, Metainfo};
use sha1::{Digest, Sha1};
use swarm::{Session, SessionOptions};

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn hashes(all: &[u8], piece_len: usize) -> Vec<[u8; 20]> {
    all.chunks(piece_len)
        .map(|c| Sha1::digest(c).into())
        .collect()
}

/// Writes one file `dir/name` and returns its torrent.
pub fn single_file(dir: &Path, name: &str, len: usize, piece_len: usize, seed: u64) -> Metainfo {
    let bytes = data(len, seed);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), &bytes).unwrap();
    let info = Info::single(
        name,
        piece_len as u64,
        hashes(&bytes, piece_len),
        len as u64,
    );
    Metainfo::from_bytes(&Metainfo::new(info).to_bytes()).unwrap()
}

/// Writes files `dir/name/<path>` and returns their torrent.
pub fn multi_file(
    dir: &Path,
    name: &str,
    files: &[(String, usize)],
    piece_len: usize,
    seed: u64,
) -> Metainfo {
    let mut all = Vec::new();
    let mut entries = Vec::new();
    for (i, (path, len)) in files.iter().enumerate() {
        let bytes = data(*len, seed + i as u64);
        let p = dir.join(name).join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &bytes).unwrap();
        all.extend_from_slice(&bytes);
        entries.push(FileEntry::new(
            path.split('/').map(String::from).collect(),
            *len as u64,
        ));
    }
    let info = Info::multi(name, piece_len as u64, hashes(&all, piece_len), entries);
    Metainfo::from_bytes(&Metainfo::new(info).to_bytes()).unwrap()
}

/// One entry of a hand-made layout: a file (path, length) or a pad file.
pub enum Entry {
    File(String, usize),
    Pad(usize),
}

/// Writes the files of `layout` under `dir/name` (pad files are not
/// written) and returns their torrent and its whole byte space (pad bytes
/// as zeros).
pub fn padded_torrent(
    dir: &Path,
    name: &str,
    layout: &[Entry],
    piece_len: usize,
    seed: u64,
) -> (Metainfo, Vec<u8>) {
    let mut all = Vec::new();
    let mut entries = Vec::new();
    for (i, e) in layout.iter().enumerate() {
        match e {
            Entry::Pad(len) => {
                all.resize(all.len() + len, 0);
                entries.push(FileEntry::pad(*len as u64));
            }
            Entry::File(path, len) => {
                let bytes = data(*len, seed + i as u64);
                let p = dir.join(name).join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, &bytes).unwrap();
                all.extend_from_slice(&bytes);
                entries.push(FileEntry::new(
                    path.split('/').map(String::from).collect(),
                    *len as u64,
                ));
            }
        }
    }
    let info = Info::multi(name, piece_len as u64, hashes(&all, piece_len), entries);
    let m = Metainfo::from_bytes(&Metainfo::new(info).to_bytes()).unwrap();
    (m, all)
}

/// Writes files `dir/name/<path>` and returns their torrent, aligned the
/// way `anthill torrent create` aligns: a BEP 47 pad file before every file
/// that would not start on a piece boundary (never after the last one).
pub fn aligned_multi_file(
    dir: &Path,
    name: &str,
    files: &[(String, usize)],
    piece_len: usize,
    seed: u64,
) -> Metainfo {
    let mut layout = Vec::new();
    let mut offset = 0;
    for (path, len) in files {
        if *len > 0 && offset % piece_len != 0 {
            let pad = piece_len - offset % piece_len;
            layout.push(Entry::Pad(pad));
            offset += pad;
        }
        layout.push(Entry::File(path.clone(), *len));
        offset += len;
    }
    padded_torrent(dir, name, &layout, piece_len, seed).0
}

/// Bytes of real data in `m` (pad files not counted).
pub fn content_bytes(m: &Metainfo) -> u64 {
    m.info()
        .files()
        .iter()
        .filter(|f| !f.is_pad())
        .map(|f| f.length)
        .sum()
}

/// Options for a test session on 127.0.0.1, port 0.
pub fn opts() -> SessionOptions {
    SessionOptions {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        check_threads: 2,
        ..Default::default()
    }
}

pub async fn session() -> Session {
    Session::new(opts()).await.unwrap()
}

pub fn addr(s: &Session) -> SocketAddr {
    s.listen_addrs()[0]
}

/// Compares every file of `m` under two directories byte for byte.
pub fn assert_same_data(m: &Metainfo, a: &Path, b: &Path) {
    for f in m.info().files() {
        if f.is_pad() {
            continue;
        }
        let rel = m.info().file_relative_path(f);
        let x = std::fs::read(a.join(&rel)).unwrap();
        let y = std::fs::read(b.join(&rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        assert!(x == y, "{} differs", rel.display());
    }
}

/// Test deadline, overridable with ANTHILL_TEST_TIMEOUT (seconds).
pub fn deadline() -> Duration {
    Duration::from_secs(
        std::env::var("ANTHILL_TEST_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(25),
    )
}
