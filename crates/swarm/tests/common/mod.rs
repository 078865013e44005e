//! Helpers for the in-process swarm tests: deterministic data, torrents, sessions.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire::{
    DecoderOptions, Handshake, HandshakeParser, Message, MessageDecoder, PeerId, Piece, Reserved,
};

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

/// One connection to the engine under test, driven message by message by
/// the test: it dials in, so the engine sees it as an incoming peer at the
/// connection's source address.
pub struct Puppet {
    s: tokio::net::TcpStream,
    dec: MessageDecoder,
}

impl Puppet {
    /// Dials `to`, sends a handshake with peer id `id` and `reserved`
    /// bits, then `first`, and reads the engine's handshake. `None` if the
    /// engine closed the connection first.
    pub async fn dial(
        to: SocketAddr,
        infohash: [u8; 20],
        id: &[u8; 20],
        reserved: Reserved,
        first: &[Message],
    ) -> Option<Self> {
        let mut s = tokio::net::TcpStream::connect(to).await.unwrap();
        let mut out = BytesMut::new();
        Handshake::new(reserved, wire::Infohash(infohash), PeerId(*id)).encode(&mut out);
        for m in first {
            m.encode(&mut out);
        }
        s.write_all(&out).await.unwrap();
        let mut buf = BytesMut::new();
        let mut hp = HandshakeParser::new();
        while hp.decode(&mut buf).unwrap().is_none() {
            if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return None;
            }
        }
        let dec = MessageDecoder::with_buffer(buf, DecoderOptions::default());
        Some(Self { s, dec })
    }

    /// The connection's own address: what the engine sees as the peer's.
    pub fn addr(&self) -> SocketAddr {
        self.s.local_addr().unwrap()
    }

    pub async fn send(&mut self, msgs: &[Message]) {
        let mut out = BytesMut::new();
        for m in msgs {
            m.encode(&mut out);
        }
        self.s.write_all(&out).await.unwrap();
    }

    /// The engine's next message; `None` once it closed the connection.
    /// Waits at most [`deadline`] (a hang guard).
    pub async fn next(&mut self) -> Option<Message> {
        let read = async {
            loop {
                if let Some(m) = self.dec.next_message().unwrap() {
                    return Some(m);
                }
                if self.s.read_buf(self.dec.buffer_mut()).await.unwrap_or(0) == 0 {
                    return None;
                }
            }
        };
        tokio::time::timeout(deadline(), read)
            .await
            .expect("the engine neither sent a message nor closed the connection")
    }

    /// Skips messages until one `f` accepts; panics if the connection ends.
    pub async fn wait_for(&mut self, what: &str, mut f: impl FnMut(&Message) -> bool) -> Message {
        loop {
            match self.next().await {
                Some(m) if f(&m) => return m,
                Some(_) => {}
                None => panic!("connection closed while waiting for {what}"),
            }
        }
    }

    /// The next `n` requests (other messages skipped), as (piece, offset).
    pub async fn requests(&mut self, n: usize) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        while out.len() < n {
            if let Message::Request(r) = self
                .wait_for("a request", |m| matches!(m, Message::Request(_)))
                .await
            {
                out.push((r.piece.0, r.offset.0));
            }
        }
        out.sort_unstable();
        out
    }

    /// Answers every request with the bytes of `space` until the engine
    /// hangs up.
    pub async fn serve(mut self, space: Arc<Vec<u8>>, piece_len: usize) {
        while let Some(m) = self.next_unbounded().await {
            if let Message::Request(r) = m {
                let start = r.piece.as_usize() * piece_len + r.offset.0 as usize;
                let data = space[start..start + r.length.as_usize()].to_vec();
                let p = Piece {
                    index: r.piece,
                    offset: r.offset,
                    data: data.into(),
                };
                self.send(&[Message::Piece(p)]).await;
            }
        }
    }

    /// [`Puppet::next`] without the hang guard (for a serving task).
    pub async fn next_unbounded(&mut self) -> Option<Message> {
        loop {
            if let Ok(Some(m)) = self.dec.next_message() {
                return Some(m);
            }
            if self.s.read_buf(self.dec.buffer_mut()).await.unwrap_or(0) == 0 {
                return None;
            }
        }
    }
}

/// Sends the engine's log lines to stderr when `ANTHILL_TEST_LOG` holds a
/// filter (`ANTHILL_TEST_LOG=anthill_swarm=debug`); a no-op otherwise, and
/// when a subscriber is already set.
pub fn log() {
    if let Ok(filter) = std::env::var("ANTHILL_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}
