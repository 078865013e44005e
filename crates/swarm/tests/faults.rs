//! Failure modes: a peer sending corrupt data, a leecher killed mid-download.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use common::*;
use swarm::{AddTorrent, Rate, Session, SessionOptions, TorrentSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire::{
    Bitfield, DecoderOptions, Handshake, HandshakeParser, Message, MessageDecoder, PeerId, Piece,
    Reserved,
};

/// The scripted side of a connection: reads the handshake, answers with
/// ours, a full bitfield and an unchoke. `None` if the peer went away.
async fn greet(
    s: &mut tokio::net::TcpStream,
    infohash: [u8; 20],
    pieces: u32,
    id: &[u8; 20],
) -> Option<MessageDecoder> {
    let mut buf = BytesMut::new();
    let mut hp = HandshakeParser::new();
    loop {
        if hp.decode(&mut buf).unwrap().is_some() {
            break;
        }
        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return None;
        }
    }
    let mut out = BytesMut::new();
    Handshake::new(Reserved::NONE, wire::Infohash(infohash), PeerId(*id)).encode(&mut out);
    Bitfield::full(pieces).to_message().encode(&mut out);
    Message::Unchoke.encode(&mut out);
    s.write_all(&out).await.ok()?;
    Some(MessageDecoder::with_buffer(buf, DecoderOptions::default()))
}

/// Dials `to` as peer `id` holding `have` and returns the engine's first
/// message after its handshake, `None` if it closed the connection first
/// (it refused the peer). A torrent that accepts a peer answers it: a
/// bitfield if it has pieces, an interest if the peer has pieces it wants.
async fn first_message(
    to: std::net::SocketAddr,
    infohash: [u8; 20],
    id: &[u8; 20],
    pieces: u32,
    have: &[u32],
) -> Option<Message> {
    let first = [bitfield(pieces, have), Message::Unchoke];
    Puppet::dial(to, infohash, id, Reserved::NONE, &first)
        .await?
        .next()
        .await
}

/// A bitfield message of `pieces` pieces holding `have`.
fn bitfield(pieces: u32, have: &[u32]) -> Message {
    let mut bf = Bitfield::new(pieces);
    for &i in have {
        bf.set(wire::PieceIndex(i)).unwrap();
    }
    bf.to_message()
}

/// What [`scripted_seeder`] does with a request for part of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnPartial {
    Serve,
    Close,
    Ignore,
    Reject,
}

/// Every request a [`scripted_seeder`] received, with its connection number.
type RequestLog = Arc<std::sync::Mutex<Vec<(usize, wire::BlockRequest)>>>;

/// True if `r` is not a whole 16 KiB block (or the short last block of its piece).
fn is_partial(r: &wire::BlockRequest, piece_len: usize, total: usize) -> bool {
    let piece_size = (total - r.piece.as_usize() * piece_len).min(piece_len);
    let off = r.offset.0 as usize;
    off % (16 * 1024) != 0 || r.length.as_usize() != (piece_size - off).min(16 * 1024)
}

/// A seeder built from the wire codec that answers requests with the
/// torrent's bytes (`space`: the whole byte space, pads as zeros) and logs
/// every request; what it does with requests for part of a block is `mode`.
async fn scripted_seeder(
    infohash: [u8; 20],
    piece_len: usize,
    space: Arc<Vec<u8>>,
    mode: OnPartial,
) -> (std::net::SocketAddr, RequestLog) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let log: RequestLog = Default::default();
    let log2 = Arc::clone(&log);
    let pieces = space.len().div_ceil(piece_len) as u32;
    tokio::spawn(async move {
        for conn in 0.. {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let (log, space) = (Arc::clone(&log2), Arc::clone(&space));
            tokio::spawn(async move {
                let fast = mode == OnPartial::Reject;
                let mut buf = BytesMut::new();
                let mut hp = HandshakeParser::new();
                while hp.decode(&mut buf).unwrap().is_none() {
                    if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
                let mut out = BytesMut::new();
                let id = PeerId(*b"-XX0001-scriptedseed");
                let reserved = Reserved::NONE.with_fast(fast);
                Handshake::new(reserved, wire::Infohash(infohash), id).encode(&mut out);
                Bitfield::full(pieces).to_message().encode(&mut out);
                Message::Unchoke.encode(&mut out);
                if s.write_all(&out).await.is_err() {
                    return;
                }
                let mut dec = MessageDecoder::with_buffer(buf, DecoderOptions::default());
                loop {
                    let mut out = BytesMut::new();
                    while let Ok(Some(m)) = dec.next_message() {
                        let Message::Request(r) = m else { continue };
                        log.lock().unwrap().push((conn, r));
                        if is_partial(&r, piece_len, space.len()) {
                            match mode {
                                OnPartial::Serve => {}
                                OnPartial::Close => return,
                                OnPartial::Ignore => continue,
                                OnPartial::Reject => {
                                    Message::RejectRequest(r).encode(&mut out);
                                    continue;
                                }
                            }
                        }
                        let start = r.piece.as_usize() * piece_len + r.offset.0 as usize;
                        let data = space[start..start + r.length.as_usize()].to_vec();
                        let p = Piece {
                            index: r.piece,
                            offset: r.offset,
                            data: data.into(),
                        };
                        Message::Piece(p).encode(&mut out);
                    }
                    if !out.is_empty() && s.write_all(&out).await.is_err() {
                        return;
                    }
                    if s.read_buf(dec.buffer_mut()).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
            });
        }
    });
    (addr, log)
}

/// Files and pads with every case: a block partly in a pad, blocks wholly
/// in pads, a piece that is all padding, a piece split by a pad mid-block.
fn pad_layout() -> Vec<Entry> {
    const PL: usize = 64 * 1024;
    vec![
        Entry::File("a.bin".into(), 20_000),
        Entry::Pad(PL - 20_000),
        Entry::File("b.bin".into(), PL + 40_000),
        // pieces 3 and 4 are all padding
        Entry::Pad(PL - 40_000 + 2 * PL),
        Entry::File("c.bin".into(), 5000),
        // a pad ending mid-block: d.bin starts 10 000 bytes into a block
        Entry::Pad(16 * 1024 + 5000),
        Entry::File("d/e.bin".into(), 3 * PL + 123),
    ]
}

/// Downloads [`pad_layout`] from a [`scripted_seeder`]; returns its log.
async fn download_padded_from_script(
    mode: OnPartial,
) -> (Vec<(usize, wire::BlockRequest)>, Vec<(u64, u64)>, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let piece_len = 64 * 1024;
    let (m, space) = padded_torrent(&src, "padded", &pad_layout(), piece_len, 5);
    let pads: Vec<(u64, u64)> = m
        .info()
        .files()
        .iter()
        .filter(|f| f.is_pad())
        .map(|f| (f.offset, f.end()))
        .collect();
    assert!(
        (0..m.info().num_pieces() as u64).any(|p| pads
            .iter()
            .any(|&(a, z)| a <= p * piece_len as u64 && z >= (p + 1) * piece_len as u64)),
        "the layout must have a piece that is all padding"
    );
    let (seeder, log) = scripted_seeder(m.infohash().0, piece_len, Arc::new(space), mode).await;
    let leecher = session().await;
    let out = tmp.path().join("out");
    let mut add = AddTorrent::download(TorrentSource::Metainfo(Box::new(m.clone())), &out);
    add.peers = vec![seeder];
    let h = leecher.add_torrent(add).await.unwrap();
    tokio::time::timeout(deadline(), h.wait_complete())
        .await
        .unwrap_or_else(|_| panic!("{mode:?}: timed out; requests {:?}", log.lock().unwrap()))
        .unwrap();
    assert_same_data(&m, &src, &out);
    let p = h.progress();
    assert_eq!(
        (p.bytes_have, p.bytes_total),
        (content_bytes(&m), content_bytes(&m))
    );
    leecher.shutdown().await;
    let log = log.lock().unwrap().clone();
    (log, pads, m.info().total_length())
}

/// Bytes of request `r` that lie in a pad range.
fn pad_bytes_in(r: &wire::BlockRequest, pads: &[(u64, u64)]) -> u64 {
    let a = r.piece.0 as u64 * 64 * 1024 + u64::from(r.offset.0);
    let z = a + u64::from(r.length.0);
    pads.iter()
        .map(|&(pa, pz)| pz.min(z).saturating_sub(pa.max(a)))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pad_bytes_are_never_requested() {
    let (log, pads, total) = download_padded_from_script(OnPartial::Serve).await;
    assert!(!log.is_empty());
    for (_, r) in &log {
        assert_eq!(
            pad_bytes_in(r, &pads),
            0,
            "request {r:?} asks for pad bytes"
        );
    }
    // Pieces 3 and 4 are all padding: never asked for at all.
    assert!(log.iter().all(|(_, r)| r.piece.0 != 3 && r.piece.0 != 4));
    assert!(
        log.iter()
            .any(|(_, r)| is_partial(r, 64 * 1024, total as usize)),
        "expected requests for part of a block"
    );
}

/// A peer that cannot do partial requests gets whole blocks instead, and
/// the download still completes.
async fn falls_back_to_whole_blocks(mode: OnPartial) {
    let (log, _, total) = download_padded_from_script(mode).await;
    let total = total as usize;
    let pl = 64 * 1024;
    let partial = |r: &wire::BlockRequest| is_partial(r, pl, total);
    let refused: Vec<wire::BlockRequest> =
        log.iter().map(|(_, r)| *r).filter(|r| partial(r)).collect();
    assert!(
        !refused.is_empty(),
        "{mode:?}: partial requests were never tried"
    );
    // The fallback: a refused block asked for again, whole.
    let same_block = |a: &wire::BlockRequest, b: &wire::BlockRequest| {
        a.piece == b.piece && a.offset.0 / (16 * 1024) == b.offset.0 / (16 * 1024)
    };
    let fallback = log
        .iter()
        .position(|(_, r)| !partial(r) && refused.iter().any(|q| same_block(q, r)))
        .unwrap_or_else(|| panic!("{mode:?}: no refused block was asked for whole: {log:?}"));
    let after: Vec<_> = log[fallback..].iter().filter(|(_, r)| partial(r)).collect();
    assert!(
        after.is_empty(),
        "{mode:?}: partial requests after falling back to whole blocks: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_closing_on_partial_requests_gets_whole_blocks() {
    falls_back_to_whole_blocks(OnPartial::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_ignoring_partial_requests_gets_whole_blocks() {
    falls_back_to_whole_blocks(OnPartial::Ignore).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_rejecting_partial_requests_gets_whole_blocks() {
    falls_back_to_whole_blocks(OnPartial::Reject).await;
}

/// A peer built from the wire codec that claims every piece and answers
/// every request with garbage. Counts the connections it accepted.
async fn corrupt_peer(infohash: [u8; 20], pieces: u32) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let acc = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            acc.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Some(mut dec) = greet(&mut s, infohash, pieces, b"-XX0001-badbadbadbad").await
                else {
                    return;
                };
                loop {
                    while let Ok(Some(m)) = dec.next_message() {
                        if let Message::Request(r) = m {
                            let p = Piece {
                                index: r.piece,
                                offset: r.offset,
                                data: vec![0xEE; r.length.as_usize()].into(),
                            };
                            let mut o = BytesMut::new();
                            Message::Piece(p).encode(&mut o);
                            if s.write_all(&o).await.is_err() {
                                return;
                            }
                        }
                    }
                    if s.read_buf(dec.buffer_mut()).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// A peer that claims every piece, unchokes and never sends a block. Records
/// the requests and cancels it receives.
async fn silent_peer(
    infohash: [u8; 20],
    pieces: u32,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::Mutex<(Vec<wire::BlockRequest>, Vec<wire::BlockRequest>)>>,
) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new())));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let Some(mut dec) = greet(&mut s, infohash, pieces, b"-XX0001-silentsilent").await else {
            return;
        };
        loop {
            while let Ok(Some(m)) = dec.next_message() {
                let mut seen = log.lock().unwrap();
                match m {
                    Message::Request(r) => seen.0.push(r),
                    Message::Cancel(r) => seen.1.push(r),
                    _ => {}
                }
            }
            if s.read_buf(dec.buffer_mut()).await.unwrap_or(0) == 0 {
                return;
            }
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snubbing_peer_gets_cancels_that_repeat_its_requests_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // 100 000 bytes in 32 KiB pieces: the last block is 1 696 bytes.
    let m = single_file(&src, "data.bin", 100_000, 32 * 1024, 9);
    let n = m.info().num_pieces() as u32;
    let (silent, seen) = silent_peer(m.infohash().0, n).await;
    let leecher = Session::new(SessionOptions {
        request_timeout: Duration::from_millis(300),
        ..opts()
    })
    .await
    .unwrap();
    let mut add =
        AddTorrent::download(TorrentSource::Metainfo(Box::new(m)), tmp.path().join("out"));
    add.peers = vec![silent];
    let _h = leecher.add_torrent(add).await.unwrap();
    // A snub cancels every request still out, in one flush: wait for the
    // cancel of the short last block.
    let snubbed = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if seen
                .lock()
                .unwrap()
                .1
                .iter()
                .any(|c| c.length.0 < 16 * 1024)
            {
                return;
            }
        }
    };
    tokio::time::timeout(deadline(), snubbed)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the short last block was never cancelled: {:?}",
                seen.lock().unwrap()
            )
        });
    let (requests, cancels) = seen.lock().unwrap().clone();
    for c in &cancels {
        assert!(
            requests.contains(c),
            "cancel {c:?} repeats no request; requests: {requests:?}"
        );
    }
    assert!(
        requests.iter().any(|r| r.length.0 < 16 * 1024),
        "the short last block was never requested: {requests:?}"
    );
    leecher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_peer_is_banned_and_download_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let m = single_file(&src, "data.bin", 2 * 1024 * 1024, 64 * 1024, 3);
    let n = m.info().num_pieces() as u32;
    let (bad, accepted) = corrupt_peer(m.infohash().0, n).await;
    // A slow honest seeder, so the bad peer certainly gets pieces to "serve".
    let seeder = Session::new(SessionOptions {
        upload_rate: Rate(4 << 20),
        ..opts()
    })
    .await
    .unwrap();
    let mut seed = AddTorrent::seed(m.clone(), &src);
    seed.super_seed = false;
    seeder.add_torrent(seed).await.unwrap();
    let leecher = session().await;
    let out = tmp.path().join("out");
    let mut add = AddTorrent::download(TorrentSource::Metainfo(Box::new(m.clone())), &out);
    add.peers = vec![bad, addr(&seeder)];
    let h = leecher.add_torrent(add).await.unwrap();
    tokio::time::timeout(deadline(), h.wait_complete())
        .await
        .expect("timed out")
        .unwrap();
    assert_same_data(&m, &src, &out);
    let p = h.progress();
    assert!(
        p.hash_failures >= 1,
        "the corrupt peer was never used: {p:?}"
    );
    assert_eq!(p.banned, 1, "{p:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // Offered again explicitly (as `--peer`, a tracker or PEX would), the
    // banned address is refused, so it is never dialled.
    let mut events = h.subscribe();
    h.add_peers(vec![bad]).await;
    let refused = async {
        loop {
            if let swarm::TorrentEvent::BannedPeerRefused(a) = events.recv().await.unwrap() {
                return a;
            }
        }
    };
    let refused = tokio::time::timeout(deadline(), refused)
        .await
        .expect("the banned address was taken again");
    assert_eq!(refused, bad);

    // The banned peer dials in from a new source port, as a leecher: the
    // completed torrent would greet any other peer with its bitfield.
    let first = first_message(
        addr(&leecher),
        m.infohash().0,
        b"-XX0001-badbadbadbad",
        n,
        &[],
    )
    .await;
    assert_eq!(first, None, "a banned peer dialling in must be refused");
    let other = first_message(
        addr(&leecher),
        m.infohash().0,
        b"-XX0001-goodgoodgood",
        n,
        &[],
    )
    .await;
    assert!(
        matches!(other, Some(Message::Bitfield(_) | Message::HaveAll)),
        "an unbanned peer is greeted: {other:?}"
    );
    assert_eq!(h.progress().banned, 1);
    leecher.shutdown().await;
    seeder.shutdown().await;
}

/// A piece assembled from the blocks of two peers fails its hash: each gets
/// a strike and neither is banned, since either could be the one that lied.
/// The guilty peer's second strike (another shared piece, with another
/// partner) bans it; its partners, at one strike each, stay. The banned
/// peer dialling in again from a new port is refused.
///
/// Scripted with puppets so every block's sender is known: an honest peer
/// sends the first block of a piece and chokes us, which (no fast
/// extension) frees the piece's other block for the next peer; the guilty
/// peer, holding both pieces, is then asked for the freed blocks and sends
/// garbage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_blame_bans_the_guilty_peer_at_its_second_strike() {
    const PL: usize = 32 * 1024;
    const BLOCK: u32 = 16 * 1024;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let out = tmp.path().join("out");
    // Three pieces of two blocks; nobody offers piece 2 until the end, so
    // the picker never enters endgame (which would duplicate requests).
    let m = single_file(&src, "data.bin", 3 * PL, PL, 17);
    let space = Arc::new(std::fs::read(src.join("data.bin")).unwrap());
    let (ih, n) = (m.infohash().0, m.info().num_pieces() as u32);
    let block = |piece: u32, offset: u32, data: Vec<u8>| {
        Message::Piece(Piece {
            index: wire::PieceIndex(piece),
            offset: wire::BlockOffset(offset),
            data: data.into(),
        })
    };
    let real = |piece: u32, offset: u32| {
        let a = piece as usize * PL + offset as usize;
        block(piece, offset, space[a..a + BLOCK as usize].to_vec())
    };
    let leecher = session().await;
    let h = leecher
        .add_torrent(AddTorrent::download(
            TorrentSource::Metainfo(Box::new(m.clone())),
            &out,
        ))
        .await
        .unwrap();
    let mut events = h.subscribe();
    let to = addr(&leecher);

    // Each honest peer holds one piece, sends its first block, chokes us
    // and says it is interested: the unchoke it gets back shows the engine
    // handled the choke (one connection's messages are handled in order).
    let mut honest = Vec::new();
    for (piece, id) in [(0, b"-XX0001-honestpeer01"), (1, b"-XX0001-honestpeer02")] {
        let first = [bitfield(n, &[piece]), Message::Unchoke];
        let mut p = Puppet::dial(to, ih, id, Reserved::NONE, &first)
            .await
            .unwrap();
        assert_eq!(p.requests(2).await, [(piece, 0), (piece, BLOCK)]);
        p.send(&[real(piece, 0), Message::Choke, Message::Interested])
            .await;
        p.wait_for("an unchoke", |m| *m == Message::Unchoke).await;
        honest.push(p);
    }
    let first = [bitfield(n, &[0, 1]), Message::Unchoke];
    let mut guilty = Puppet::dial(to, ih, b"-XX0001-guiltyguilty", Reserved::NONE, &first)
        .await
        .unwrap();
    assert_eq!(guilty.requests(2).await, [(0, BLOCK), (1, BLOCK)]);

    let mut rx = h.watch();
    guilty
        .send(&[block(0, BLOCK, vec![0xEE; BLOCK as usize])])
        .await;
    let p = tokio::time::timeout(deadline(), rx.wait_for(|p| p.hash_failures >= 1))
        .await
        .expect("piece 0 was never hashed")
        .unwrap()
        .clone();
    assert_eq!((p.hash_failures, p.banned, p.peers), (1, 0, 3), "{p:?}");

    guilty
        .send(&[block(1, BLOCK, vec![0xEE; BLOCK as usize])])
        .await;
    let p = tokio::time::timeout(deadline(), rx.wait_for(|p| p.banned >= 1))
        .await
        .expect("the guilty peer was never banned")
        .unwrap()
        .clone();
    assert_eq!((p.hash_failures, p.banned), (2, 1), "{p:?}");
    let banned = loop {
        match events.recv().await.unwrap() {
            swarm::TorrentEvent::PeerBanned(a) => break a,
            _ => continue,
        }
    };
    assert_eq!(banned, guilty.addr(), "the wrong peer was banned");
    // Its connection is closed (requests it may still have had are void).
    while guilty.next().await.is_some() {}

    // Back from a new port with the same peer id: refused. The torrent
    // wants pieces 0 and 1, so it would tell an accepted peer so.
    let first = first_message(to, ih, b"-XX0001-guiltyguilty", n, &[0, 1]).await;
    assert_eq!(first, None, "a banned peer dialling in must be refused");

    // The honest peers finish the download (piece 2 from the second).
    honest[1].send(&[Message::Have(wire::PieceIndex(2))]).await;
    for mut p in honest {
        p.send(&[Message::Unchoke]).await;
        tokio::spawn(p.serve(Arc::clone(&space), PL));
    }
    tokio::time::timeout(deadline(), h.wait_complete())
        .await
        .expect("timed out")
        .unwrap();
    assert_same_data(&m, &src, &out);
    let p = h.progress();
    assert_eq!((p.hash_failures, p.banned), (2, 1), "{p:?}");
    leecher.shutdown().await;
}

/// Hostile peers: random bytes after a valid handshake, and random but
/// well-framed messages (huge indexes, bogus requests, pieces nobody asked
/// for, bad extension payloads). The seeder must survive them all and still
/// serve an honest leecher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeder_survives_garbage_from_peers() {
    use wire::{BlockLength, BlockOffset, BlockRequest, ExtendedId, ExtendedMessage, PieceIndex};
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let m = single_file(&src, "data.bin", 1024 * 1024, 32 * 1024, 21);
    let seeder = session().await;
    seeder
        .add_torrent(AddTorrent::seed(m.clone(), &src))
        .await
        .unwrap();
    let target = addr(&seeder);
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..40 {
        let Ok(mut s) = tokio::net::TcpStream::connect(target).await else {
            continue;
        };
        let mut out = BytesMut::new();
        let reserved = Reserved::NONE
            .with_fast(round % 2 == 0)
            .with_extension_protocol(true);
        Handshake::new(reserved, m.infohash(), PeerId([round as u8; 20])).encode(&mut out);
        for _ in 0..50 {
            let r = rnd();
            let u = |v: u64| (v % 5_000_000) as u32;
            let req = BlockRequest::new(
                PieceIndex(u(r)),
                BlockOffset(u(r >> 7)),
                BlockLength(u(r >> 13)),
            );
            let msg = match r % 12 {
                0 => Message::Have(PieceIndex(r as u32)),
                1 => Message::Request(req),
                2 => Message::Cancel(req),
                3 => Message::RejectRequest(req),
                4 => Message::Piece(Piece {
                    index: PieceIndex(u(r) % 40),
                    offset: BlockOffset(u(r >> 3) % 40_000),
                    data: vec![7; (r % 16384) as usize].into(),
                }),
                5 => Message::Bitfield(vec![0xff; (r % 200) as usize].into()),
                6 => Message::Extended(ExtendedMessage::new(
                    ExtendedId((r % 4) as u8),
                    vec![b'd'; (r % 300) as usize],
                )),
                7 => Message::Extended(ExtendedMessage::new(
                    ExtendedId(1),
                    &b"d8:msg_typei0e5:piecei99999ee"[..],
                )),
                8 => Message::Interested,
                9 => Message::HaveAll,
                10 => Message::AllowedFast(PieceIndex(r as u32)),
                _ => Message::Unknown {
                    id: 100 + (r % 100) as u8,
                    payload: vec![1; 10].into(),
                },
            };
            msg.encode(&mut out);
        }
        if round % 3 == 0 {
            // Plain noise after the handshake.
            for _ in 0..512 {
                out.extend_from_slice(&rnd().to_le_bytes());
            }
        }
        let _ = s.write_all(&out).await;
        let mut sink = vec![0u8; 65536];
        let _ = tokio::time::timeout(Duration::from_millis(20), s.read(&mut sink)).await;
    }
    // Still alive and serving.
    let leecher = session().await;
    let out = tmp.path().join("out");
    let mut add = AddTorrent::download(TorrentSource::Metainfo(Box::new(m.clone())), &out);
    add.peers.push(target);
    let h = leecher.add_torrent(add).await.unwrap();
    tokio::time::timeout(deadline(), h.wait_complete())
        .await
        .expect("timed out")
        .unwrap();
    assert_same_data(&m, &src, &out);
    leecher.shutdown().await;
    seeder.shutdown().await;
}

/// A resume state that cannot be saved (a file where `.anthill/` should be)
/// does not stop the download, and shows in the progress: counted, with the
/// last error naming the state file once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_save_failures_show_in_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let out = tmp.path().join("out");
    let m = single_file(&src, "data.bin", 1024 * 1024, 64 * 1024, 21);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(".anthill"), b"not a directory").unwrap();
    let seeder = session().await;
    seeder
        .add_torrent(AddTorrent::seed(m.clone(), &src))
        .await
        .unwrap();
    let leecher = session().await;
    let mut add = AddTorrent::download(TorrentSource::Metainfo(Box::new(m.clone())), &out);
    add.peers.push(addr(&seeder));
    let h = leecher.add_torrent(add).await.unwrap();
    tokio::time::timeout(deadline(), h.wait_complete())
        .await
        .expect("timed out")
        .expect("a failed resume save must not fail the download");
    // The save at completion runs on the blocking pool; the progress shows
    // it at the next tick.
    let mut rx = h.watch();
    let p = tokio::time::timeout(deadline(), rx.wait_for(|p| p.resume_errors >= 2))
        .await
        .expect("the failed saves did not show up")
        .unwrap()
        .clone();
    let e = p.last_resume_error.expect("no last resume error");
    assert!(
        matches!(e, swarm::TorrentError::ResumeSave(_)),
        "unexpected error {e:?}"
    );
    let text = e.to_string();
    let state = swarm::resume_path(&out, &m.infohash());
    assert_eq!(
        text.matches(&*state.display().to_string()).count(),
        1,
        "{text}"
    );
    assert_same_data(&m, &src, &out);
    leecher.shutdown().await;
    seeder.shutdown().await;
}
