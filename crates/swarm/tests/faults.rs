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
    let snubbed = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let ready = {
                let s = seen.lock().unwrap();
                !s.1.is_empty() && s.0.iter().any(|r| r.length.0 < 16 * 1024)
            };
            if ready {
                // Give the rest of the cancels a moment to arrive.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
        }
    };
    tokio::time::timeout(deadline(), snubbed)
        .await
        .expect("the silent peer was never snubbed (or never asked for the short last block)");
    let (requests, cancels) = seen.lock().unwrap().clone();
    for c in &cancels {
        assert!(
            requests.contains(c),
            "cancel {c:?} repeats no request; requests: {requests:?}"
        );
    }
    assert!(
        cancels.iter().any(|c| c.length.0 < 16 * 1024),
        "the short last block was not cancelled: {cancels:?}"
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a banned peer must not be dialled again"
    );
    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[test]
fn killed_leecher_resumes_without_redownloading() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let out = tmp.path().join("out");
    let m = single_file(&src, "data.bin", 8 * 1024 * 1024, 64 * 1024, 5);
    let total = m.info().total_length();
    // Seeder at 4 MiB/s: the first leecher is killed about half way.
    let seeder = rt.block_on(async {
        let s = Session::new(SessionOptions {
            upload_rate: Rate(4 << 20),
            ..opts()
        })
        .await
        .unwrap();
        let mut seed = AddTorrent::seed(m.clone(), &src);
        seed.super_seed = false;
        s.add_torrent(seed).await.unwrap();
        s
    });
    let seed_addr = addr(&seeder);
    let leech_opts = SessionOptions {
        resume_save_interval: Duration::from_millis(200),
        ..opts()
    };

    // First run, on its own runtime, dropped abruptly (no shutdown, no final save).
    let rt1 = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let had = rt1.block_on(async {
        let l = Session::new(leech_opts.clone()).await.unwrap();
        let mut add = AddTorrent::download(TorrentSource::Metainfo(Box::new(m.clone())), &out);
        add.peers.push(seed_addr);
        let h = l.add_torrent(add).await.unwrap();
        let start = std::time::Instant::now();
        while h.progress().bytes_have < total / 2 {
            assert!(
                start.elapsed() < deadline(),
                "first run too slow: {:?}",
                h.progress()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let at least one resume save happen after the halfway mark.
        tokio::time::sleep(Duration::from_millis(450)).await;
        std::mem::forget(l);
        h.progress().bytes_have
    });
    rt1.shutdown_background();
    assert!(had < total, "killed too late");
    assert!(
        swarm::resume_path(&out, &m.infohash()).exists(),
        "no resume state was saved while downloading"
    );

    // Second run: resumes from disk, unlimited seeder.
    seeder.set_upload_rate(Rate::UNLIMITED);
    rt.block_on(async {
        let l = Session::new(leech_opts).await.unwrap();
        let mut add = AddTorrent::download(TorrentSource::Metainfo(Box::new(m.clone())), &out);
        add.peers.push(seed_addr);
        let h = l.add_torrent(add).await.unwrap();
        let resumed = h.progress().bytes_have;
        assert!(
            resumed >= total / 2,
            "resume lost verified pieces: had {had}, resumed {resumed}"
        );
        tokio::time::timeout(deadline(), h.wait_complete())
            .await
            .expect("timed out")
            .unwrap();
        let downloaded = h.progress().downloaded;
        // `had` was verified (on disk) when the first run died; only the rest
        // may be fetched again (the live `resumed` may already include some
        // of this run's progress, so it is not the bound).
        let remaining = total - had;
        let slack = 4 * m.info().piece_length();
        assert!(
            downloaded <= remaining + slack,
            "second run downloaded {downloaded} bytes for {remaining} remaining (had {had}, resumed {resumed}): {:?}",
            h.progress()
        );
        l.shutdown().await;
        seeder.shutdown().await;
    });
    assert_same_data(&m, &src, &out);
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
