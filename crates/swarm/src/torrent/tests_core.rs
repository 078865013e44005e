//! The torrent core driven without sockets, threads or sleeps: inputs with
//! made-up times, outputs read back, `check_invariants` after every step.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use metainfo::{Info, Metainfo};
use proptest::prelude::*;
use sha1::{Digest, Sha1};
use storage::{FileStorage, OpenMode, Storage, verify_piece_padded};
use wire::{
    BlockRequest, ExtendedHandshake, ExtendedId, ExtendedMessage, Handshake, Message,
    MetadataMessage, MetadataPiece, PeerId, Piece, PieceIndex, Reserved, UT_METADATA,
};

use super::core::{Core, CoreInit, Input, Output, PeerGone};
use super::{Loaded, TorrentEvent, TorrentState, load_storage};
use crate::event::PeerError;
use crate::{BLOCK_SIZE, PeerSlot, SessionOptions, TorrentError};

const PIECE: usize = 2 * BLOCK_SIZE as usize;

fn data(len: usize, seed: u64) -> Vec<u8> {
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

/// A torrent of `len` bytes (pieces of two blocks) and its content.
fn torrent(len: usize) -> (Arc<Metainfo>, Vec<u8>) {
    let bytes = data(len, len as u64);
    let hashes = bytes
        .chunks(PIECE)
        .map(|c| Sha1::digest(c).into())
        .collect();
    let info = Info::single("f.bin", PIECE as u64, hashes, len as u64);
    let m = Metainfo::from_bytes(&Metainfo::new(info).to_bytes()).unwrap();
    (Arc::new(m), bytes)
}

fn addr(i: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, (i % 250) as u8 + 1], 7000 + i))
}

fn peer_id(i: u8) -> PeerId {
    PeerId([i; 20])
}

fn fast() -> Reserved {
    Reserved::NONE.with_extension_protocol(true).with_fast(true)
}

/// An `Output::Verify` not yet performed.
type PendingVerify = (
    u32,
    Vec<u8>,
    Arc<Info>,
    Arc<crate::pad::PadMap>,
    Arc<FileStorage>,
);

/// A core and a record of everything it asked for.
struct Harness {
    core: Core,
    now: Instant,
    meta: Arc<Metainfo>,
    content: Vec<u8>,
    dir: tempfile::TempDir,
    next_conn: u64,
    admitted: HashMap<u64, Option<PeerSlot>>,
    /// Every message sent to each peer, in order.
    sent: HashMap<PeerSlot, Vec<Message>>,
    /// Requests sent to each peer and not cancelled.
    asked: HashMap<PeerSlot, Vec<BlockRequest>>,
    served: HashMap<PeerSlot, Vec<BlockRequest>>,
    dials: Vec<SocketAddr>,
    disconnected: HashSet<PeerSlot>,
    verify: VecDeque<PendingVerify>,
    opens: Vec<Arc<Metainfo>>,
    events: Vec<TorrentEvent>,
    store: Option<Arc<FileStorage>>,
}

fn options() -> SessionOptions {
    SessionOptions {
        listen: vec![SocketAddr::from(([10, 0, 0, 254], 6881))],
        ..SessionOptions::default()
    }
}

impl Harness {
    /// A downloader of an empty directory (`magnet`: without the metadata).
    fn leecher(len: usize, magnet: bool) -> Self {
        let (meta, content) = torrent(len);
        let dir = tempfile::tempdir().unwrap();
        let loaded = (!magnet).then(|| Self::open(&meta, dir.path(), OpenMode::Download));
        Self::with(meta, content, dir, loaded, false)
    }

    /// A (super-)seed of the content.
    fn seed(len: usize, super_seed: bool) -> Self {
        let (meta, content) = torrent(len);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.bin"), &content).unwrap();
        let loaded = Self::open(&meta, dir.path(), OpenMode::Seed);
        Self::with(meta, content, dir, Some(loaded), super_seed)
    }

    fn open(meta: &Arc<Metainfo>, dir: &std::path::Path, mode: OpenMode) -> Loaded {
        load_storage(
            Arc::clone(meta),
            dir,
            mode,
            1,
            Duration::from_secs(30),
            None,
        )
        .unwrap()
    }

    fn with(
        meta: Arc<Metainfo>,
        content: Vec<u8>,
        dir: tempfile::TempDir,
        loaded: Option<Loaded>,
        super_seed: bool,
    ) -> Self {
        let now = Instant::now();
        let core = Core::new(CoreInit {
            infohash: meta.infohash(),
            peer_id: peer_id(0xaa),
            options: options(),
            listen: options().listen,
            super_seed,
            loaded,
            name: None,
            peers: Vec::new(),
            web_seeds: Vec::new(),
            origin: Vec::new(),
            seed: 7,
            now,
        });
        let mut h = Self {
            core,
            now,
            meta,
            content,
            dir,
            next_conn: 0,
            admitted: HashMap::new(),
            sent: HashMap::new(),
            asked: HashMap::new(),
            served: HashMap::new(),
            dials: Vec::new(),
            disconnected: HashSet::new(),
            verify: VecDeque::new(),
            opens: Vec::new(),
            events: Vec::new(),
            store: None,
        };
        h.drain();
        h
    }

    fn step(&mut self, input: Input) {
        self.core.handle(self.now, input);
        self.core.flush();
        self.drain();
        self.core.check_invariants();
    }

    fn drain(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Admit { conn, slot } => {
                    self.admitted.insert(conn, slot);
                }
                Output::Send(slot, msgs) => {
                    assert!(!self.disconnected.contains(&slot), "sent to a gone peer");
                    let asked = self.asked.entry(slot).or_default();
                    for m in &msgs {
                        match m {
                            Message::Request(r) => asked.push(*r),
                            Message::Cancel(r) => asked.retain(|q| q != r),
                            _ => {}
                        }
                    }
                    self.sent.entry(slot).or_default().extend(msgs);
                }
                Output::Serve(slot, reqs) => {
                    self.served.entry(slot).or_default().extend(reqs);
                }
                Output::Disconnect(slot) => {
                    self.disconnected.insert(slot);
                    self.asked.remove(&slot);
                }
                Output::Dial(a) => self.dials.push(a),
                Output::Verify {
                    piece,
                    buf,
                    info,
                    pads,
                    store,
                } => self.verify.push_back((piece, buf, info, pads, store)),
                Output::SaveResume { .. } => {}
                Output::Open(m) => self.opens.push(m),
                Output::Installed { store, .. } => self.store = Some(store),
                Output::StartWebSeed { .. } => {}
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    /// Hashes and writes what the core handed over, as the shell would.
    fn run_verifies(&mut self) {
        while let Some((piece, buf, info, pads, store)) = self.verify.pop_front() {
            let p = PieceIndex(piece);
            let result = if verify_piece_padded(&info, p, &buf, pads.pads(piece)) {
                store
                    .write_piece(p, &buf)
                    .map(|()| true)
                    .map_err(|e| TorrentError::Storage {
                        piece,
                        source: Arc::new(e),
                    })
            } else {
                Ok(false)
            };
            self.step(Input::PieceDone { piece, result, buf });
        }
    }

    fn connect_as(&mut self, a: SocketAddr, id: PeerId, reserved: Reserved) -> Option<PeerSlot> {
        let conn = self.next_conn;
        self.next_conn += 1;
        let handshake = Handshake {
            reserved,
            info_hash: self.meta.infohash(),
            peer_id: id,
        };
        self.step(Input::Connected {
            conn,
            addr: a,
            handshake,
            outgoing: false,
        });
        self.admitted[&conn]
    }

    fn connect(&mut self, i: u8) -> PeerSlot {
        self.connect_as(addr(u16::from(i)), peer_id(i), fast())
            .expect("admitted")
    }

    fn msgs(&mut self, slot: PeerSlot, msgs: Vec<Message>) {
        self.step(Input::Messages(slot, msgs));
    }

    /// The block `r` of the content, as a peer sends it.
    fn block(&self, r: BlockRequest, corrupt: bool) -> Message {
        let at = r.piece.0 as usize * PIECE + r.offset.0 as usize;
        let mut bytes = self.content[at..at + r.length.0 as usize].to_vec();
        if corrupt {
            bytes[0] ^= 0xff;
        }
        Message::Piece(Piece {
            index: r.piece,
            offset: r.offset,
            data: Bytes::from(bytes),
        })
    }

    /// The peer answers everything asked of it.
    fn answer(&mut self, slot: PeerSlot, corrupt: bool) -> usize {
        let asked = self.asked.remove(&slot).unwrap_or_default();
        let n = asked.len();
        let blocks = asked.into_iter().map(|r| self.block(r, corrupt)).collect();
        self.msgs(slot, blocks);
        n
    }

    fn tick(&mut self, d: Duration) {
        self.now += d;
        self.step(Input::Tick);
    }

    fn state(&mut self) -> TorrentState {
        self.core.progress_now().state
    }

    /// Gives the core the metadata through peer `s` (BEP 9), up to the
    /// `Output::Open` of its data.
    fn fetch_metadata(&mut self, s: PeerSlot) {
        let raw = self.meta.raw_info().to_vec();
        let mut ext = ExtendedHandshake::default();
        ext.extensions.insert(UT_METADATA.into(), ExtendedId(3));
        ext.metadata_size = Some(raw.len() as u64);
        let hs = Message::Extended(ExtendedMessage::new(ExtendedId::HANDSHAKE, ext.to_bytes()));
        self.msgs(s, vec![hs, Message::HaveAll]);
        let request = MetadataMessage::Request(MetadataPiece(0)).to_bytes();
        let asked = self.sent[&s].iter().any(
            |m| matches!(m, Message::Extended(e) if e.id == ExtendedId(3) && e.payload == request),
        );
        assert!(asked, "metadata not requested: {:?}", self.sent[&s]);
        let data = MetadataMessage::Data {
            piece: MetadataPiece(0),
            total_size: raw.len() as u64,
            data: Bytes::from(raw),
        };
        let ours = Message::Extended(ExtendedMessage::new(ExtendedId(1), data.to_bytes()));
        self.msgs(s, vec![ours]);
        assert_eq!(self.opens.len(), 1, "the data is opened in the background");
    }

    fn pieces(&self) -> u32 {
        self.meta.info().num_pieces() as u32
    }
}

#[test]
fn leecher_downloads_from_a_seed_and_the_data_is_on_disk() {
    let mut h = Harness::leecher(5 * PIECE + 100, false);
    let s = h.connect(1);
    // Fast extension: HAVE NONE first, since we have nothing.
    assert!(matches!(
        h.sent[&s][..],
        [Message::Extended(_), Message::HaveNone]
    ));
    h.msgs(s, vec![Message::HaveAll, Message::Unchoke]);
    assert!(h.sent[&s].contains(&Message::Interested));
    for _ in 0..20 {
        if h.answer(s, false) == 0 && h.verify.is_empty() {
            break;
        }
        h.run_verifies();
    }
    assert!(h.events.contains(&TorrentEvent::Complete), "{:?}", h.events);
    assert_eq!(h.state(), TorrentState::Seeding);
    let on_disk = std::fs::read(h.dir.path().join("f.bin")).unwrap();
    assert_eq!(on_disk, h.content);
    // Every piece was asked once, as whole blocks.
    let asked: usize = h.sent[&s]
        .iter()
        .filter(|m| matches!(m, Message::Request(_)))
        .count();
    assert_eq!(asked, 11);
    // A seed has nothing for a complete torrent: it is dropped.
    assert!(h.disconnected.contains(&s));
}

/// A verified piece is announced to every peer, those that have it too: a
/// super-seeding origin learns so that a piece it revealed to us arrived
/// from someone else (else it stays pending there and holds a reveal).
#[test]
fn a_verified_piece_is_announced_to_peers_that_have_it() {
    let mut h = Harness::leecher(200 * PIECE, false);
    let s = h.connect(1);
    h.msgs(s, vec![Message::HaveAll, Message::Unchoke]);
    assert!(h.answer(s, false) > 0);
    h.run_verifies();
    let done: Vec<u32> = h
        .events
        .iter()
        .filter_map(|e| match e {
            TorrentEvent::PieceVerified(p) => Some(*p),
            _ => None,
        })
        .collect();
    assert!(!done.is_empty() && done.len() < 200, "{done:?}");
    let haves: Vec<u32> = h.sent[&s]
        .iter()
        .filter_map(|m| match m {
            Message::Have(i) => Some(i.0),
            _ => None,
        })
        .collect();
    assert_eq!(haves, done);
}

#[test]
fn pipelines_hold_time_not_blocks_on_a_slow_downlink() {
    // 8 peers deliver to us, first at 2.5 MB/s together (20 Mbit/s), then
    // at 12.5 MB/s. Each tick is a second in which every peer answers its
    // share of blocks (within the instant, so the latency adds nothing).
    let mut h = Harness::leecher(1500 * PIECE, false);
    let slots: Vec<PeerSlot> = (1..=8).map(|i| h.connect(i)).collect();
    for &s in &slots {
        h.msgs(s, vec![Message::HaveAll, Message::Unchoke]);
    }
    let phase = |h: &mut Harness, rate: usize| -> usize {
        let per_peer = rate / 8 / BLOCK_SIZE as usize;
        for _ in 0..3 {
            for &s in &slots {
                // The pipeline refills as blocks arrive: answer in rounds.
                let mut left = per_peer;
                while left > 0 {
                    let mut asked = h.asked.remove(&s).unwrap_or_default();
                    let rest = asked.split_off(left.min(asked.len()));
                    h.asked.insert(s, rest);
                    if asked.is_empty() {
                        break;
                    }
                    left -= asked.len();
                    let blocks = asked.into_iter().map(|r| h.block(r, false)).collect();
                    h.msgs(s, blocks);
                }
            }
            h.run_verifies();
            h.tick(Duration::from_secs(1));
        }
        slots
            .iter()
            .map(|s| h.asked.get(s).map_or(0, Vec::len))
            .sum()
    };
    // 200 ms of 2.5 MB/s is 31 blocks, 4 a peer: the per-peer minimum of 8
    // (and the bonus of pipelines this test empties each round), not 16 +
    // bonus (over 128 in all, 0.8 s of that downlink, which overflows its
    // queue).
    let slow = phase(&mut h, 2_500_000);
    assert!(slow < 128, "{slow} requests out at 2.5 MB/s");
    // At 12.5 MB/s the floor is back at 16 a peer.
    let fast = phase(&mut h, 12_500_000);
    assert!(fast >= 104, "{fast} requests out at 12.5 MB/s");
    assert!(h.state() == TorrentState::Downloading);
}

#[test]
fn a_snubbing_peer_loses_its_requests_to_another_after_the_timeout() {
    // 80 blocks: two pipelines of 16 leave the torrent far from endgame.
    let mut h = Harness::leecher(40 * PIECE, false);
    let a = h.connect(1);
    h.msgs(a, vec![Message::HaveAll, Message::Unchoke]);
    let asked_a = h.asked[&a].clone();
    assert_eq!(asked_a.len(), 16);
    let b = h.connect(2);
    h.msgs(b, vec![Message::HaveAll, Message::Unchoke]);
    let timeout = options().request_timeout;
    // Just inside the timeout: nothing is taken from A; B delivers.
    h.tick(timeout - Duration::from_millis(10));
    assert_eq!(h.asked[&a], asked_a);
    assert!(!h.sent[&a].iter().any(|m| matches!(m, Message::Cancel(_))));
    h.answer(b, false);
    let before = h.sent[&b].len();
    // Past it: A's requests are cancelled, exactly as sent...
    h.tick(Duration::from_millis(20));
    let cancels: HashSet<BlockRequest> = h.sent[&a]
        .iter()
        .filter_map(|m| match m {
            Message::Cancel(r) => Some(*r),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, asked_a.iter().copied().collect::<HashSet<_>>());
    // A keeps a pipeline of a quarter of the minimum, to prove itself.
    assert!(h.asked[&a].len() <= 4, "{:?}", h.asked[&a]);
    // ...and B, which delivers, is asked for them next.
    h.answer(b, false);
    let now_b: HashSet<BlockRequest> = h.sent[&b][before..]
        .iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(*r),
            _ => None,
        })
        .collect();
    assert!(
        asked_a.iter().any(|r| now_b.contains(r)),
        "A's blocks never went to B"
    );
    // B is not snubbed: it answered within the timeout.
    assert!(!h.sent[&b].iter().any(|m| matches!(m, Message::Cancel(_))));
}

#[test]
fn a_peer_sending_bad_data_is_banned_and_refused_by_address_port_and_id() {
    let mut h = Harness::leecher(4 * PIECE, false);
    let bad = h.connect(1);
    h.msgs(bad, vec![Message::HaveAll, Message::Unchoke]);
    h.answer(bad, true);
    h.run_verifies();
    assert!(h.disconnected.contains(&bad));
    assert!(
        h.events.contains(&TorrentEvent::PeerBanned(addr(1))),
        "{:?}",
        h.events
    );
    // The same peer from another port: refused by its id.
    let mut other_port = addr(1);
    other_port.set_port(9999);
    assert_eq!(h.connect_as(other_port, peer_id(1), fast()), None);
    // Its address offered again: refused, never dialled.
    h.step(Input::AddPeers(vec![addr(1)]));
    assert!(!h.dials.contains(&addr(1)), "{:?}", h.dials);
    assert!(h.events.contains(&TorrentEvent::BannedPeerRefused(addr(1))));
    // Another peer is welcome and completes the download.
    let good = h.connect(2);
    h.msgs(good, vec![Message::HaveAll, Message::Unchoke]);
    for _ in 0..10 {
        h.answer(good, false);
        h.run_verifies();
    }
    assert!(h.events.contains(&TorrentEvent::Complete));
}

#[test]
fn metadata_from_peers_is_opened_while_peers_are_served() {
    let mut h = Harness::leecher(3 * PIECE, true);
    let s = h.connect(1);
    h.fetch_metadata(s);
    assert_eq!(h.state(), TorrentState::Checking);
    // Meanwhile the peer is served: messages are taken, a second copy of
    // the metadata opens nothing twice, a tick asks for nothing.
    h.msgs(s, vec![Message::Unchoke, Message::KeepAlive]);
    h.tick(Duration::from_secs(1));
    assert_eq!(h.opens.len(), 1);
    let loaded = Harness::open(&h.meta, h.dir.path(), OpenMode::Download);
    h.step(Input::Opened(Box::new(Ok(loaded))));
    assert!(h.events.contains(&TorrentEvent::MetadataReceived));
    assert_eq!(h.state(), TorrentState::Downloading);
    assert!(!h.asked[&s].is_empty(), "requests follow the metadata");
}

#[test]
fn a_failed_open_fails_the_torrent_and_drops_its_peers() {
    let mut h = Harness::leecher(PIECE, true);
    let s = h.connect(1);
    h.fetch_metadata(s);
    let e = TorrentError::Bug("injected".into());
    h.step(Input::Opened(Box::new(Err(e.clone()))));
    assert!(h.disconnected.contains(&s));
    assert!(h.events.contains(&TorrentEvent::Error(e.clone())));
    assert_eq!(h.state(), TorrentState::Failed(e));
    // Nobody is admitted any more.
    assert_eq!(h.connect_as(addr(2), peer_id(2), fast()), None);
}

#[test]
fn a_super_seed_hides_its_pieces_and_serves_only_what_it_revealed() {
    let mut h = Harness::seed(16 * PIECE, true);
    let s = h.connect(1);
    assert!(
        h.sent[&s].contains(&Message::HaveNone),
        "a super-seed says HAVE NONE: {:?}",
        h.sent[&s]
    );
    assert!(
        !h.sent[&s]
            .iter()
            .any(|m| matches!(m, Message::Bitfield(_) | Message::HaveAll))
    );
    h.msgs(s, vec![Message::HaveNone, Message::Interested]);
    let revealed: HashSet<u32> = h.sent[&s]
        .iter()
        .filter_map(|m| match m {
            Message::Have(i) => Some(i.0),
            _ => None,
        })
        .collect();
    assert!(!revealed.is_empty() && revealed.len() < h.pieces() as usize);
    assert!(h.sent[&s].contains(&Message::Unchoke));
    let hidden = (0..h.pieces()).find(|p| !revealed.contains(p)).unwrap();
    let shown = *revealed.iter().next().unwrap();
    let req = |p: u32| {
        BlockRequest::new(
            PieceIndex(p),
            wire::BlockOffset(0),
            wire::BlockLength(BLOCK_SIZE),
        )
    };
    h.msgs(
        s,
        vec![Message::Request(req(hidden)), Message::Request(req(shown))],
    );
    assert!(h.sent[&s].contains(&Message::RejectRequest(req(hidden))));
    assert_eq!(h.served[&s], vec![req(shown)]);
}

#[test]
fn a_peer_whose_queue_overflows_is_dropped_and_its_work_returns() {
    let mut h = Harness::leecher(4 * PIECE, false);
    let a = h.connect(1);
    h.msgs(a, vec![Message::HaveAll, Message::Unchoke]);
    assert!(!h.asked[&a].is_empty());
    let b = h.connect(2);
    h.msgs(b, vec![Message::HaveAll, Message::Unchoke]);
    h.step(Input::Gone(a, PeerGone::QueueFull));
    assert!(h.disconnected.contains(&a));
    for _ in 0..10 {
        h.answer(b, false);
        h.run_verifies();
    }
    assert!(h.events.contains(&TorrentEvent::Complete));
}

/// One step of a random peer's life.
#[derive(Debug, Clone)]
enum Op {
    Connect(u8),
    Leave(u8),
    HaveAll(u8),
    Have(u8, u32),
    Unchoke(u8),
    Choke(u8),
    Interested(u8, bool),
    Answer(u8, bool),
    RejectFirst(u8),
    Request(u8, u32),
    Uploaded(u8),
    QueueFull(u8),
    Verify,
    Tick(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let peer = 0u8..4;
    prop_oneof![
        peer.clone().prop_map(Op::Connect),
        peer.clone().prop_map(Op::Leave),
        peer.clone().prop_map(Op::HaveAll),
        (peer.clone(), 0u32..6).prop_map(|(p, i)| Op::Have(p, i)),
        peer.clone().prop_map(Op::Unchoke),
        peer.clone().prop_map(Op::Choke),
        (peer.clone(), any::<bool>()).prop_map(|(p, b)| Op::Interested(p, b)),
        (peer.clone(), prop::bool::weighted(0.2)).prop_map(|(p, b)| Op::Answer(p, b)),
        peer.clone().prop_map(Op::RejectFirst),
        (peer.clone(), 0u32..6).prop_map(|(p, i)| Op::Request(p, i)),
        peer.clone().prop_map(Op::Uploaded),
        peer.prop_map(Op::QueueFull),
        Just(Op::Verify),
        (0u64..40_000).prop_map(Op::Tick),
    ]
}

fn play(h: &mut Harness, slots: &mut HashMap<u8, PeerSlot>, op: Op) {
    let live = |h: &Harness, slots: &HashMap<u8, PeerSlot>, p: u8| {
        slots
            .get(&p)
            .copied()
            .filter(|s| !h.disconnected.contains(s))
    };
    match op {
        Op::Connect(p) => {
            if live(h, slots, p).is_none() {
                // A fresh identity each time: a banned one stays refused.
                let id = p.wrapping_add(h.next_conn as u8 * 4);
                if let Some(s) = h.connect_as(addr(u16::from(id)), peer_id(id), fast()) {
                    slots.insert(p, s);
                }
            }
        }
        Op::Verify => h.run_verifies(),
        Op::Tick(ms) => h.tick(Duration::from_millis(ms)),
        op => {
            let p = match op {
                Op::Leave(p)
                | Op::HaveAll(p)
                | Op::Have(p, _)
                | Op::Unchoke(p)
                | Op::Choke(p)
                | Op::Interested(p, _)
                | Op::Answer(p, _)
                | Op::RejectFirst(p)
                | Op::Request(p, _)
                | Op::Uploaded(p)
                | Op::QueueFull(p) => p,
                Op::Connect(_) | Op::Verify | Op::Tick(_) => unreachable!(),
            };
            let Some(s) = live(h, slots, p) else {
                return;
            };
            match op {
                Op::Leave(_) => h.step(Input::Gone(s, PeerGone::Error(PeerError::Closed))),
                Op::QueueFull(_) => h.step(Input::Gone(s, PeerGone::QueueFull)),
                Op::HaveAll(_) => h.msgs(s, vec![Message::HaveAll]),
                Op::Have(_, i) => h.msgs(s, vec![Message::Have(PieceIndex(i))]),
                Op::Unchoke(_) => h.msgs(s, vec![Message::Unchoke]),
                Op::Choke(_) => h.msgs(s, vec![Message::Choke]),
                Op::Interested(_, true) => h.msgs(s, vec![Message::Interested]),
                Op::Interested(_, false) => h.msgs(s, vec![Message::NotInterested]),
                Op::Answer(_, corrupt) => {
                    h.answer(s, corrupt);
                }
                Op::RejectFirst(_) => {
                    let first = h
                        .asked
                        .get_mut(&s)
                        .filter(|a| !a.is_empty())
                        .map(|a| a.remove(0));
                    if let Some(r) = first {
                        h.msgs(s, vec![Message::RejectRequest(r)]);
                    }
                }
                Op::Request(_, i) => {
                    let r = BlockRequest::new(
                        PieceIndex(i),
                        wire::BlockOffset(0),
                        wire::BlockLength(BLOCK_SIZE),
                    );
                    h.msgs(s, vec![Message::Request(r)]);
                }
                Op::Uploaded(_) => {
                    let reqs = h.served.remove(&s).unwrap_or_default();
                    h.step(Input::Uploaded(s, reqs));
                }
                _ => unreachable!(),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random peers doing random things (bad data among them) never break
    /// an invariant, and once they are gone an honest seed completes the
    /// download with the right data.
    #[test]
    fn random_peers_never_break_the_invariants(ops in prop::collection::vec(op(), 1..120)) {
        let mut h = Harness::leecher(5 * PIECE + 777, false);
        let mut slots = HashMap::new();
        for op in ops {
            play(&mut h, &mut slots, op);
        }
        h.run_verifies();
        // The random peers leave (one that never answers would hold its
        // requests until the snub timeout), and an honest seed finishes the
        // job; a new one if one gets blamed.
        for s in slots.into_values() {
            if !h.disconnected.contains(&s) {
                h.step(Input::Gone(s, PeerGone::Error(PeerError::Closed)));
            }
        }
        for seed in 0..4u8 {
            if h.events.contains(&TorrentEvent::Complete) {
                break;
            }
            let id = 200 + seed;
            let Some(s) = h.connect_as(addr(u16::from(id)), peer_id(id), fast()) else {
                continue;
            };
            h.msgs(s, vec![Message::HaveAll, Message::Unchoke]);
            for _ in 0..50 {
                if h.disconnected.contains(&s) || h.events.contains(&TorrentEvent::Complete) {
                    break;
                }
                h.answer(s, false);
                h.run_verifies();
                h.tick(Duration::from_millis(100));
            }
        }
        prop_assert!(h.events.contains(&TorrentEvent::Complete), "{:?}", h.events);
        let on_disk = std::fs::read(h.dir.path().join("f.bin")).unwrap();
        prop_assert!(on_disk == h.content);
    }
}
