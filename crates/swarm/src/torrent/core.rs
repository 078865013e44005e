//! The torrent's core: every decision of a torrent, synchronous and
//! sans-IO. [`Core::handle`] takes one [`Input`] at a time (with the time
//! it happened) and queues [`Output`]s; the tokio shell (`shell.rs`)
//! performs them and feeds their results back as inputs. Nothing here reads
//! a clock, spawns a task or waits, so tests drive it with made-up times and
//! check [`Core::check_invariants`] after every step. See `ENGINE.md`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use metainfo::{Info, Metainfo};
use tracing::{debug, error, info, warn};
use wire::{
    Bitfield, ExtendedHandshake, ExtendedId, ExtendedMessage, Handshake, Message,
    MetadataAssembler, MetadataMessage, MetadataPiece, PeerId, PexFlags, PexMessage, PexPeer,
    PieceIndex, UT_METADATA, UT_PEX,
};

use super::{Loaded, TorrentEvent, TorrentProgress, TorrentState};
use crate::choker::{ChokeChange, Choker};
use crate::options::SessionOptions;
use crate::pad::PadMap;
use crate::picker::{BlockOutcome, Picker};
use crate::superseed::SuperSeeder;
use crate::{BLOCK_SIZE, PeerSlot, TorrentError};
use storage::{FileStorage, ResumeError, ResumeWriter};

/// Our extension ids (what peers must use when sending to us).
const OUR_UT_METADATA: ExtendedId = ExtendedId(1);
const OUR_UT_PEX: ExtendedId = ExtendedId(2);
/// Pipeline depth bounds (blocks outstanding per peer).
const MIN_DEPTH: usize = 16;
const MAX_DEPTH: usize = 250;
/// Requests from one peer we queue for upload at most.
const MAX_SERVING: usize = 500;
/// Unrequested blocks tolerated from one peer.
const MAX_UNREQUESTED: u32 = 32;
/// Pieces revealed per peer when super-seeding (see `PICKER.md`).
const REVEAL_WINDOW: usize = 2;
/// How often a super-seeding origin looks for reveals nobody asks for, at
/// most (besides each tick).
const RELEASE_SCAN: Duration = Duration::from_millis(100);
/// A super-seeding origin uploading at this fraction of the best smoothed
/// rate it has seen counts as busy: its uplink is the bottleneck, and no
/// reveal is released.
const RELEASE_BUSY: f64 = 0.95;
/// HAVEs remembered per peer before the metadata is known.
const MAX_EARLY_HAVES: usize = 100_000;
/// A request for part of a block still unanswered this long after the peer
/// answered a later one means the peer ignores such requests.
const PARTIAL_IGNORED: Duration = Duration::from_secs(5);

/// Key of a request in `PeerState::outstanding`: piece and block index (a
/// request for part of a block and for the whole block share it).
fn block_key(r: &wire::BlockRequest) -> (u32, u32) {
    (r.piece.0, r.offset.0 / BLOCK_SIZE)
}

/// What is known once the info dictionary is.
struct Meta {
    metainfo: Arc<Metainfo>,
    info: Arc<Info>,
    store: Arc<FileStorage>,
    /// Records verified pieces and saves the resume state (storage crate).
    resume: Arc<ResumeWriter>,
    picker: Picker,
    /// Where the pad bytes are; shared with the picker.
    pads: Arc<PadMap>,
    /// Real bytes of the pieces in `have`.
    content_have: u64,
    have: Bitfield,
    superseed: Option<SuperSeeder>,
    /// Pieces being assembled, by index.
    buffers: HashMap<u32, Vec<u8>>,
    /// Piece buffers back from hashing, reused (fresh memory costs page faults).
    spare: Vec<Vec<u8>>,
}

/// Failed resume saves.
#[derive(Debug, Default)]
struct ResumeHealth {
    errors: u64,
    last: Option<TorrentError>,
}

#[derive(Default)]
struct Outbox {
    msgs: Vec<Message>,
    serve: Vec<wire::BlockRequest>,
}

struct PeerState {
    addr: SocketAddr,
    id: PeerId,
    /// A web seed, or a peer at an origin address.
    origin: bool,
    outgoing: bool,
    fast: bool,
    ext: bool,
    their_ext: Option<ExtendedHandshake>,
    /// Their pieces (empty, with the torrent's length, once metadata is known).
    bitfield: Bitfield,
    raw_bitfield: Option<Bytes>,
    early_haves: Vec<u32>,
    has_all: bool,
    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,
    /// Our requests by (piece, block index): when sent, and exactly what
    /// went on the wire (the picker's request, or its whole block).
    outstanding: HashMap<(u32, u32), (Instant, wire::BlockRequest)>,
    /// Requests we cancelled, by (piece, block index); their blocks may still arrive.
    cancelled: HashSet<(u32, u32)>,
    /// Ask this peer for whole blocks, pad bytes included: it refused,
    /// ignored or hung up on a request for part of a block.
    whole_blocks: bool,
    /// The peer answered a request for part of a block (no fallback needed).
    partial_ok: bool,
    /// Send time of the latest-sent request the peer answered.
    last_answered_sent: Option<Instant>,
    depth: usize,
    allowed_fast: HashSet<u32>,
    /// Blocks handed to the writer and not yet reported sent.
    serving: usize,
    uploaded_per_piece: HashMap<u32, u64>,
    last_block: Instant,
    connected_at: Instant,
    down_tick: u64,
    up_tick: u64,
    down_rate: f64,
    up_rate: f64,
    min_latency: Option<Duration>,
    unrequested: u32,
    ss_joined: bool,
    pex_sent: HashSet<SocketAddr>,
    /// It rejected a metadata request (BEP 9): not asked again unless a
    /// later extended handshake says it has the metadata now.
    metadata_rejected: bool,
    outbox: Outbox,
}

impl PeerState {
    /// The address others can reach this peer at (for PEX).
    fn listen_addr(&self) -> Option<SocketAddr> {
        if self.outgoing {
            return Some(self.addr);
        }
        let port = self.their_ext.as_ref()?.listen_port?;
        Some(SocketAddr::new(self.addr.ip(), port))
    }
    fn is_seed(&self) -> bool {
        self.has_all || (!self.bitfield.is_empty() && self.bitfield.is_full())
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    next_attempt: Instant,
    failures: u32,
    explicit: bool,
}

/// How the core is set up (by the shell, from [`crate::Session::add_torrent`]).
pub(crate) struct CoreInit {
    pub(crate) infohash: wire::Infohash,
    pub(crate) peer_id: PeerId,
    /// The session's options (limits, timeouts, PEX).
    pub(crate) options: SessionOptions,
    /// The session's listen addresses: never dialled; the first one's port
    /// is announced in the extended handshake.
    pub(crate) listen: Vec<SocketAddr>,
    pub(crate) super_seed: bool,
    pub(crate) loaded: Option<Loaded>,
    pub(crate) name: Option<String>,
    pub(crate) peers: Vec<SocketAddr>,
    /// BEP 19 web seed URLs.
    pub(crate) web_seeds: Vec<String>,
    /// Origin addresses (see `AddTorrent::origin`).
    pub(crate) origin: Vec<std::net::IpAddr>,
    /// Seeds the core's randomness (picker, choker, super-seeder).
    pub(crate) seed: u64,
    /// The time the core starts at.
    pub(crate) now: Instant,
}

/// What the core is told: every input of a torrent, with no I/O attached.
#[derive(Debug)]
pub(crate) enum Input {
    /// A peer finished the handshake and wants to join; the core answers
    /// with [`Output::Admit`] for the same `conn`.
    Connected {
        conn: u64,
        addr: SocketAddr,
        handshake: Handshake,
        outgoing: bool,
    },
    /// Messages decoded from one read, in order.
    Messages(PeerSlot, Vec<Message>),
    /// These blocks were written to the peer's socket.
    Uploaded(PeerSlot, Vec<wire::BlockRequest>),
    /// The connection ended (or its command queue overflowed).
    Gone(PeerSlot, PeerGone),
    /// An outgoing connection attempt failed.
    ConnectFailed(SocketAddr, String),
    /// An [`Output::Dial`] found no free connection permit (the session's
    /// cap): it is tried again later, with no failure counted.
    DialDeferred(SocketAddr),
    /// An [`Output::Verify`] finished: `Ok(true)` verified and stored,
    /// `Ok(false)` hash mismatch, an error is the storage's or a bug's.
    PieceDone {
        piece: u32,
        result: Result<bool, TorrentError>,
        buf: Vec<u8>,
    },
    /// An [`Output::Open`] finished.
    Opened(Box<Result<Loaded, TorrentError>>),
    /// A resume save finished (`background`: one of [`Output::SaveResume`]).
    ResumeSaved {
        result: Result<(), ResumeError>,
        background: bool,
    },
    /// A web seed failed too often and stopped.
    WebSeedGaveUp(TorrentError),
    /// Connect to these addresses (from `--peer`, a tracker, a magnet link).
    AddPeers(Vec<SocketAddr>),
    /// Drop every peer and stop connecting, or start again.
    Pause(bool),
    /// The torrent ends: every peer is dropped (after the shell's final
    /// resume save).
    Stop,
    /// The once-a-second timer.
    Tick,
}

/// Why a peer left (see [`Input::Gone`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerGone {
    /// The connection ended; the peer task's reason.
    Closed(String),
    /// Its command queue was full or closed.
    QueueFull,
}

impl std::fmt::Display for PeerGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed(r) => f.write_str(r),
            Self::QueueFull => f.write_str("its command queue is full or closed"),
        }
    }
}

/// What the core asks of its shell, in order.
#[derive(Debug)]
pub(crate) enum Output {
    /// The answer to [`Input::Connected`]: its slot, or `None` if refused.
    Admit { conn: u64, slot: Option<PeerSlot> },
    /// Send these messages to the peer.
    Send(PeerSlot, Vec<Message>),
    /// Read these blocks from storage and send them to the peer.
    Serve(PeerSlot, Vec<wire::BlockRequest>),
    /// Drop the connection.
    Disconnect(PeerSlot),
    /// Connect to this address (answered by `Connected`, `ConnectFailed`
    /// or `DialDeferred`).
    Dial(SocketAddr),
    /// Hash the piece and write it if it matches (answered by `PieceDone`).
    Verify {
        piece: u32,
        buf: Vec<u8>,
        info: Arc<Info>,
        store: Arc<FileStorage>,
    },
    /// Save the resume state on the blocking pool: now, or if it is due
    /// (answered by `ResumeSaved`).
    SaveResume {
        resume: Arc<ResumeWriter>,
        now: bool,
    },
    /// The metadata arrived: open (prefill, check) the data for it
    /// (answered by `Opened`).
    Open(Arc<Metainfo>),
    /// The metadata and storage are known (for peer tasks and web seeds).
    Installed {
        metainfo: Arc<Metainfo>,
        store: Arc<FileStorage>,
        pieces: u32,
    },
    /// Start the web seed at `url` (the `n`th).
    StartWebSeed {
        url: String,
        n: u16,
        info: Arc<Info>,
    },
    /// Tell subscribers.
    Event(TorrentEvent),
}

/// The torrent's decisions, synchronous: [`Core::handle`] takes an input at
/// a time and queues outputs; nothing here reads a clock, spawns or waits.
pub(crate) struct Core {
    infohash: wire::Infohash,
    peer_id: PeerId,
    opts: SessionOptions,
    listen: Vec<SocketAddr>,
    /// The time of the input being handled.
    now: Instant,
    out: VecDeque<Output>,
    super_seed: bool,
    meta: Option<Meta>,
    name: Option<String>,
    peers: HashMap<PeerSlot, PeerState>,
    next_slot: u32,
    choker: Choker,
    known: HashMap<SocketAddr, Candidate>,
    connecting: HashSet<SocketAddr>,
    banned_addrs: HashSet<SocketAddr>,
    banned_ids: HashSet<PeerId>,
    strikes: HashMap<SocketAddr, u32>,
    /// Addresses that hung up on a request for part of a block.
    whole_block_addrs: HashSet<SocketAddr>,
    metadata: Option<MetadataAssembler>,
    metadata_inflight: HashMap<u32, (PeerSlot, Instant)>,
    paused: bool,
    /// The prefill and the check of a magnet's data run (`Checking`).
    checking: bool,
    /// The actor is ending (`stop`): the state is `Stopped` unless failed.
    stopped: bool,
    error: Option<TorrentError>,
    resume_dirty: bool,
    last_resume_save: Instant,
    /// An `Output::SaveResume` is out (at most one at a time).
    saving: bool,
    /// An `Output::Open` is out: the metadata is known, the data not yet.
    opening: bool,
    downloaded: u64,
    downloaded_origin: u64,
    uploaded: u64,
    metadata_uploaded: u64,
    hash_failures: u32,
    banned_count: u32,
    down_rate: f64,
    up_rate: f64,
    tick_down: u64,
    tick_up: u64,
    ticks: u64,
    /// When the super-seeder last looked for reveals nobody asks for.
    last_release_scan: Instant,
    /// The highest smoothed upload rate seen, bytes per tick: what the
    /// uplink can do, as far as we know.
    peak_up_rate: f64,
    last_pex: Instant,
    completed_announced: bool,
    web_seeds: Vec<String>,
    web_seeds_started: bool,
    origin: Vec<std::net::IpAddr>,
    /// Something shown in the progress changed since the last
    /// [`Core::take_progress`].
    progress_dirty: bool,
    /// Failed resume saves.
    resume_health: ResumeHealth,
    /// Seed-only data: failed resume saves are logged at debug level.
    resume_quiet: bool,
    rng: crate::rng::Rng,
}

impl Core {
    pub(crate) fn new(init: CoreInit) -> Self {
        let seed = init.seed;
        let now = init.now;
        let mode = init.options.choke_mode;
        let mut a = Self {
            infohash: init.infohash,
            peer_id: init.peer_id,
            opts: init.options,
            listen: init.listen,
            now,
            out: VecDeque::new(),
            super_seed: init.super_seed,
            meta: None,
            name: init.name,
            peers: HashMap::new(),
            next_slot: 0,
            choker: Choker::new(mode, seed ^ 0xc40c),
            known: HashMap::new(),
            connecting: HashSet::new(),
            banned_addrs: HashSet::new(),
            banned_ids: HashSet::new(),
            strikes: HashMap::new(),
            whole_block_addrs: HashSet::new(),
            metadata: None,
            metadata_inflight: HashMap::new(),
            paused: false,
            checking: false,
            stopped: false,
            error: None,
            resume_dirty: false,
            last_resume_save: now,
            saving: false,
            opening: false,
            downloaded: 0,
            downloaded_origin: 0,
            uploaded: 0,
            metadata_uploaded: 0,
            hash_failures: 0,
            banned_count: 0,
            down_rate: 0.0,
            up_rate: 0.0,
            tick_down: 0,
            tick_up: 0,
            ticks: 0,
            last_release_scan: now,
            peak_up_rate: 0.0,
            last_pex: now,
            completed_announced: false,
            web_seeds: init.web_seeds,
            origin: init.origin,
            web_seeds_started: false,
            progress_dirty: true,
            resume_health: ResumeHealth::default(),
            resume_quiet: false,
            rng: crate::rng::Rng::new(seed),
        };
        if let Some(l) = init.loaded {
            a.install_meta(l);
        }
        a.add_candidates(&init.peers, true);
        a.maybe_connect();
        a
    }

    /// Handles one input at `now`, queueing outputs (see [`Core::poll_output`]).
    /// Peers' messages are batched: [`Core::flush`] queues them.
    pub(crate) fn handle(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::Connected {
                conn,
                addr,
                handshake,
                outgoing,
            } => {
                let slot = self.on_connected(addr, &handshake, outgoing);
                self.out.push_back(Output::Admit { conn, slot });
            }
            Input::Messages(slot, msgs) => self.on_messages(slot, msgs),
            Input::Uploaded(slot, reqs) => self.on_uploaded(slot, &reqs),
            Input::Gone(slot, reason) => self.on_gone(slot, &reason),
            Input::ConnectFailed(addr, reason) => {
                debug!(%addr, %reason, "connection attempt failed");
                self.connecting.remove(&addr);
                if let Some(c) = self.known.get_mut(&addr) {
                    c.failures += 1;
                    // Peers we were told to use (--peer, magnet) are often
                    // just starting: keep retrying them every few seconds.
                    let cap = if c.explicit { 2 } else { 6 };
                    let backoff = Duration::from_secs(1u64 << c.failures.min(cap));
                    c.next_attempt = self.now + backoff;
                }
            }
            Input::DialDeferred(addr) => {
                self.connecting.remove(&addr);
                if let Some(c) = self.known.get_mut(&addr) {
                    c.next_attempt = self.now;
                }
            }
            Input::PieceDone { piece, result, buf } => {
                if let Some(meta) = self.meta.as_mut() {
                    if meta.spare.len() < 8 && !buf.is_empty() {
                        meta.spare.push(buf);
                    }
                }
                self.on_piece_done(piece, result);
            }
            Input::Opened(loaded) => self.on_opened(*loaded),
            Input::ResumeSaved { result, background } => {
                if background {
                    self.saving = false;
                }
                if let Err(e) = result {
                    self.record_resume_error(e);
                }
                self.update_progress();
            }
            Input::WebSeedGaveUp(e) => {
                warn!(error = %e, "web seed given up");
                self.emit(TorrentEvent::WebSeedGaveUp(e));
            }
            Input::AddPeers(addrs) => {
                self.add_candidates(&addrs, true);
                self.maybe_connect();
            }
            Input::Pause(p) => {
                self.paused = p;
                if p {
                    let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
                    for s in slots {
                        self.remove_peer(s, false);
                    }
                } else {
                    self.maybe_connect();
                }
                self.update_progress();
            }
            Input::Stop => {
                let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
                for s in slots {
                    self.peers.remove(&s);
                    self.out.push_back(Output::Disconnect(s));
                }
                self.resume_dirty = false;
                self.last_resume_save = self.now;
                self.stopped = true;
                self.update_progress();
            }
            Input::Tick => self.on_tick(),
        }
    }

    /// The next output, in the order queued.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The resume writer, once the data is open (for the shell's final save).
    pub(crate) fn resume_writer(&self) -> Option<Arc<ResumeWriter>> {
        self.meta.as_ref().map(|m| Arc::clone(&m.resume))
    }

    fn emit(&mut self, e: TorrentEvent) {
        self.out.push_back(Output::Event(e));
    }

    /// Records a failed resume save: a warning for a download (its progress
    /// is at stake), debug for seed-only data (often on a read-only directory).
    fn record_resume_error(&mut self, e: ResumeError) {
        let e = TorrentError::ResumeSave(Arc::new(e));
        if self.resume_quiet {
            debug!(error = %e, "cannot save resume state");
        } else {
            warn!(error = %e, "cannot save resume state; a restart will rehash the data");
        }
        self.resume_health.errors += 1;
        self.resume_health.last = Some(e);
        self.update_progress();
    }

    fn install_meta(&mut self, l: Loaded) {
        self.resume_quiet = l.seed_only;
        if let Some(e) = l.resume_error {
            self.record_resume_error(e);
        }
        let info = Arc::clone(&l.info);
        let n = u32::try_from(info.num_pieces()).unwrap_or(u32::MAX);
        let piece_len = u32::try_from(info.piece_length()).unwrap_or(u32::MAX);
        let pads = Arc::new(PadMap::new(&info));
        let mut picker = Picker::new(n, piece_len, info.total_length(), self.rng.next_u64())
            .with_pads(Arc::clone(&pads));
        let mut have = Bitfield::new(n);
        let mut content_have = 0;
        for (i, h) in l.have.iter().enumerate() {
            if *h {
                picker.set_have(i as u32);
                let _ = have.set(PieceIndex(i as u32));
                content_have += u64::from(pads.content_len(i as u32));
            }
        }
        let superseed = (self.super_seed && have.is_full()).then(|| {
            let mut ss = SuperSeeder::new(n, REVEAL_WINDOW, self.rng.next_u64());
            for p in (0..n).filter(|&p| pads.is_pad_only(p)) {
                ss.set_pad_only(p);
            }
            ss
        });
        let pad_only = picker.take_pad_only_pieces();
        self.name = Some(info.name().to_string());
        self.out.push_back(Output::Installed {
            metainfo: Arc::clone(&l.metainfo),
            store: Arc::clone(&l.store),
            pieces: n,
        });
        self.meta = Some(Meta {
            metainfo: l.metainfo,
            info,
            store: l.store,
            resume: l.resume,
            picker,
            pads,
            content_have,
            have,
            superseed,
            buffers: HashMap::new(),
            spare: Vec::new(),
        });
        // Pieces that are all padding need no peer: zeros, hashed as usual.
        for p in pad_only {
            let size = self
                .meta
                .as_ref()
                .map_or(0, |m| m.info.piece_size(p as usize));
            if let Some(meta) = self.meta.as_mut() {
                meta.buffers.insert(p, vec![0; size as usize]);
            }
            self.start_verify(p);
        }
        // Peers that connected before the metadata: parse what they sent.
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for slot in slots {
            self.adopt_peer_pieces(slot);
            self.announce_our_pieces(slot);
        }
    }

    /// Builds a peer's bitfield from what it sent before we knew the piece count.
    fn adopt_peer_pieces(&mut self, slot: PeerSlot) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        let n = meta.have.len();
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let mut bf = Bitfield::new(n);
        if p.has_all {
            bf = Bitfield::full(n);
        } else if let Some(raw) = p.raw_bitfield.take() {
            match Bitfield::from_payload(&raw, n) {
                Ok(b) => bf = b,
                Err(e) => {
                    debug!(peer = %p.addr, error = %e, "bad bitfield");
                }
            }
        }
        for h in p.early_haves.drain(..) {
            let _ = bf.set(PieceIndex(h));
        }
        meta.picker.peer_has_all_of(|i| bf.get(PieceIndex(i)));
        p.bitfield = bf;
        self.update_interest(slot);
    }

    fn announce_our_pieces(&mut self, slot: PeerSlot) {
        let Some(meta) = self.meta.as_ref() else {
            return;
        };
        if meta.superseed.is_some() {
            return;
        }
        let msgs: Vec<Message> = meta.have.iter_ones().map(Message::Have).collect();
        if let Some(p) = self.peers.get_mut(&slot) {
            p.outbox.msgs.extend(msgs);
        }
    }

    /// Lets the resume writer save if it is due (or now, with `now`), on the
    /// blocking pool; at most one such save runs at a time.
    fn save_resume_background(&mut self, now: bool) {
        let Some(meta) = self.meta.as_ref() else {
            return;
        };
        if std::mem::replace(&mut self.saving, true) {
            return;
        }
        self.resume_dirty = false;
        self.last_resume_save = self.now;
        self.out.push_back(Output::SaveResume {
            resume: Arc::clone(&meta.resume),
            now,
        });
    }

    fn on_gone(&mut self, slot: PeerSlot, reason: &PeerGone) {
        let Some(p) = self.peers.get(&slot) else {
            return;
        };
        debug!(slot = slot.0, %reason, "peer gone");
        // It may have hung up on a request for part of a block:
        // ask it for whole blocks if it comes back.
        if !p.partial_ok && !p.whole_blocks {
            if let Some(meta) = self.meta.as_ref() {
                let partial = p
                    .outstanding
                    .values()
                    .any(|(_, r)| meta.picker.whole_block(*r) != *r);
                if partial {
                    debug!(peer = %p.addr, "peer left with partial-block requests pending; whole blocks from now on");
                    self.whole_block_addrs.insert(p.addr);
                    self.whole_block_addrs.extend(p.listen_addr());
                }
            }
        }
        self.remove_peer(slot, false);
    }

    fn add_candidates(&mut self, addrs: &[SocketAddr], explicit: bool) {
        let now = self.now;
        for &a in addrs {
            if self.banned_addrs.contains(&a) {
                self.emit(TorrentEvent::BannedPeerRefused(a));
                continue;
            }
            if a.port() == 0 {
                continue;
            }
            if !explicit && self.known.len() >= self.opts.max_known_peers {
                break;
            }
            self.known
                .entry(a)
                .and_modify(|c| {
                    c.explicit |= explicit;
                    if explicit {
                        c.next_attempt = c.next_attempt.min(now);
                    }
                })
                .or_insert(Candidate {
                    next_attempt: now,
                    failures: 0,
                    explicit,
                });
        }
    }

    /// The metadata is still to come from peers (not known, not being opened).
    fn wants_metadata(&self) -> bool {
        self.meta.is_none() && !self.opening
    }

    fn is_complete(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.picker.is_complete())
    }

    fn maybe_connect(&mut self) {
        if self.paused || self.error.is_some() || self.stopped {
            return;
        }
        let cap = self.opts.max_connections_per_torrent;
        let now = self.now;
        let connected: HashSet<SocketAddr> = self
            .peers
            .values()
            .flat_map(|p| [Some(p.addr), p.listen_addr()])
            .flatten()
            .collect();
        let due: Vec<SocketAddr> = self
            .known
            .iter()
            .filter(|(a, c)| {
                c.next_attempt <= now && !connected.contains(a) && !self.connecting.contains(a)
            })
            .map(|(a, _)| *a)
            .collect();
        for addr in due {
            if self.peers.len() + self.connecting.len() >= cap {
                break;
            }
            if crate::session::is_own_addr(&self.listen, addr) {
                self.known.remove(&addr);
                continue;
            }
            self.connecting.insert(addr);
            if let Some(c) = self.known.get_mut(&addr) {
                // Until the attempt reports back, don't try again.
                c.next_attempt = now + Duration::from_secs(3600);
            }
            self.out.push_back(Output::Dial(addr));
        }
    }

    /// A peer finished its handshake: its slot, or `None` if refused.
    fn on_connected(
        &mut self,
        addr: SocketAddr,
        handshake: &Handshake,
        outgoing: bool,
    ) -> Option<PeerSlot> {
        if outgoing {
            self.connecting.remove(&addr);
            if let Some(k) = self.known.get_mut(&addr) {
                k.failures = 0;
                k.next_attempt = self.now + Duration::from_secs(5);
            }
        }
        let id = handshake.peer_id;
        let banned = self.banned_addrs.contains(&addr) || self.banned_ids.contains(&id);
        if banned {
            self.emit(TorrentEvent::BannedPeerRefused(addr));
        }
        let refuse = banned
            || self.paused
            || self.error.is_some()
            || id == self.peer_id
            || self.peers.len() >= self.opts.max_connections_per_torrent;
        if refuse {
            return None;
        }
        // Two connections to the same peer (both sides dialled): keep the one
        // opened by the smaller peer id, as the other side will decide too.
        if let Some((&dup, old)) = self.peers.iter().find(|(_, p)| p.id == id) {
            let initiator = |out: bool| if out { self.peer_id } else { id };
            let keep_new =
                old.outgoing != outgoing && initiator(outgoing) < initiator(old.outgoing);
            if !keep_new {
                return None;
            }
            self.remove_peer(dup, false);
        }
        let slot = PeerSlot(self.next_slot);
        self.next_slot += 1;
        let theirs = handshake.reserved;
        let ours = crate::peer::our_reserved();
        let common = ours.common(theirs);
        let n = self.meta.as_ref().map_or(0, |m| m.have.len());
        let now = self.now;
        let origin = crate::webseed::is_web_seed(&id) || self.origin.contains(&addr.ip());
        let mut p = PeerState {
            addr,
            id,
            origin,
            outgoing,
            fast: common.fast(),
            ext: common.extension_protocol(),
            their_ext: None,
            bitfield: Bitfield::new(n),
            raw_bitfield: None,
            early_haves: Vec::new(),
            has_all: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            outstanding: HashMap::new(),
            cancelled: HashSet::new(),
            whole_blocks: self.whole_block_addrs.contains(&addr),
            partial_ok: false,
            last_answered_sent: None,
            depth: MIN_DEPTH,
            allowed_fast: HashSet::new(),
            serving: 0,
            uploaded_per_piece: HashMap::new(),
            last_block: now,
            connected_at: now,
            down_tick: 0,
            up_tick: 0,
            down_rate: 0.0,
            up_rate: 0.0,
            min_latency: None,
            unrequested: 0,
            ss_joined: false,
            pex_sent: HashSet::new(),
            metadata_rejected: false,
            outbox: Outbox::default(),
        };
        if p.ext {
            p.outbox.msgs.push(self.extended_handshake(addr));
        }
        match self.meta.as_ref() {
            Some(m) if m.superseed.is_none() && !m.have.is_clear() => {
                if m.have.is_full() && p.fast {
                    p.outbox.msgs.push(Message::HaveAll);
                } else {
                    p.outbox.msgs.push(m.have.to_message());
                }
            }
            _ => {
                if p.fast {
                    p.outbox.msgs.push(Message::HaveNone);
                }
            }
        }
        self.peers.insert(slot, p);
        self.choker.add_peer(slot);
        self.update_progress();
        Some(slot)
    }

    /// Disconnects a peer and returns its work to the picker.
    fn remove_peer(&mut self, slot: PeerSlot, banned: bool) {
        let Some(p) = self.peers.remove(&slot) else {
            return;
        };
        self.out.push_back(Output::Disconnect(slot));
        if let Some(meta) = self.meta.as_mut() {
            let bf = &p.bitfield;
            meta.picker.peer_gone(slot, |i| bf.get(PieceIndex(i)));
            if let Some(ss) = meta.superseed.as_mut() {
                ss.peer_left(slot);
            }
        }
        let changes = self.choker.remove_peer(slot);
        self.apply_choke(changes);
        self.metadata_inflight.retain(|_, (s, _)| *s != slot);
        if p.outgoing && !banned {
            let complete = self.is_complete();
            if complete && p.is_seed() {
                self.known.remove(&p.addr);
            } else if let Some(k) = self.known.get_mut(&p.addr) {
                k.next_attempt = self.now + Duration::from_secs(5);
            }
        }
        drop(p);
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in slots {
            self.fill_requests(s);
        }
        self.update_progress();
    }

    fn ban(&mut self, slot: PeerSlot) {
        let Some(p) = self.peers.get(&slot) else {
            return;
        };
        let (addr, id) = (p.addr, p.id);
        warn!(peer = %addr, id = %id, "banning peer that sent data failing the hash check");
        self.banned_addrs.insert(addr);
        if let Some(l) = p.listen_addr() {
            self.banned_addrs.insert(l);
            self.known.remove(&l);
        }
        self.banned_ids.insert(id);
        self.known.remove(&addr);
        self.banned_count += 1;
        self.emit(TorrentEvent::PeerBanned(addr));
        self.remove_peer(slot, true);
    }

    fn apply_choke(&mut self, changes: Vec<ChokeChange>) {
        for (slot, unchoke) in changes {
            if let Some(p) = self.peers.get_mut(&slot) {
                p.am_choking = !unchoke;
                p.outbox.msgs.push(if unchoke {
                    Message::Unchoke
                } else {
                    Message::Choke
                });
                if !unchoke {
                    // Requests queued but not yet handed to the writer are void.
                    let dropped = std::mem::take(&mut p.outbox.serve);
                    p.serving = p.serving.saturating_sub(dropped.len());
                    if p.fast {
                        p.outbox
                            .msgs
                            .extend(dropped.into_iter().map(Message::RejectRequest));
                    }
                }
            }
        }
    }

    /// Queues every peer's batched messages and blocks to serve as
    /// outputs: the shell calls it after a batch of inputs, so that a
    /// batch makes one write per peer.
    pub(crate) fn flush(&mut self) {
        let mut slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        slots.sort_unstable();
        for slot in slots {
            let Some(p) = self.peers.get_mut(&slot) else {
                continue;
            };
            let msgs = std::mem::take(&mut p.outbox.msgs);
            if !msgs.is_empty() {
                self.out.push_back(Output::Send(slot, msgs));
            }
            let serve = std::mem::take(&mut p.outbox.serve);
            if !serve.is_empty() {
                self.out.push_back(Output::Serve(slot, serve));
            }
        }
    }

    /// Stops the torrent for good with `e`: every peer is dropped, none is
    /// accepted or dialled again, and the state becomes `Failed(e)`.
    fn fail(&mut self, e: TorrentError) {
        if e.is_bug() {
            error!(error = %e, "stopping the torrent");
        } else {
            warn!(error = %e, "stopping the torrent");
        }
        self.error = Some(e.clone());
        self.emit(TorrentEvent::Error(e));
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in slots {
            self.remove_peer(s, false);
        }
        self.update_progress();
    }

    fn on_messages(&mut self, slot: PeerSlot, msgs: Vec<Message>) {
        for m in msgs {
            if !self.peers.contains_key(&slot) {
                return;
            }
            self.on_message(slot, m);
        }
        self.superseed_join(slot, false);
        self.fill_requests(slot);
    }

    /// When a super-seeding origin sends below the best rate it has seen (its
    /// uplink is not the bottleneck), reveals other pieces in place of those peers were
    /// shown and do not ask for. While the uplink is busy nothing is
    /// released: every piece it sends is one the peer asked for, and
    /// releasing would only make the origin send pieces twice.
    fn superseed_release_scan(&mut self, now: Instant) {
        if self.meta.as_ref().is_none_or(|m| m.superseed.is_none()) {
            return;
        }
        self.last_release_scan = now;
        // Busy: sending at (nearly) the best rate seen. Application queues
        // say little here, the kernel's socket buffers hold the backlog.
        if self.up_rate >= RELEASE_BUSY * self.peak_up_rate {
            return;
        }
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in slots {
            self.superseed_release(s, now);
        }
    }

    /// Reveals other pieces in place of those a peer was shown and does not
    /// ask for, if it waits on nothing from us (see `superseed`).
    fn superseed_release(&mut self, slot: PeerSlot, now: Instant) {
        let Some(ss) = self.meta.as_mut().and_then(|m| m.superseed.as_mut()) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        if !p.ss_joined || p.am_choking || !p.peer_interested || p.serving > 0 {
            return;
        }
        let reveal = ss.release_unrequested(slot, now);
        p.outbox
            .msgs
            .extend(reveal.into_iter().map(|i| Message::Have(PieceIndex(i))));
    }

    /// Introduces a peer to the super-seeder once its pieces are known (its
    /// first messages arrived) or after a grace period (`force`).
    fn superseed_join(&mut self, slot: PeerSlot, force: bool) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        let Some(ss) = meta.superseed.as_mut() else {
            return;
        };
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        if p.ss_joined || (force && p.connected_at.elapsed() < Duration::from_secs(1)) {
            return;
        }
        p.ss_joined = true;
        let bf = &p.bitfield;
        let reveal = ss.peer_joined(slot, self.now, |i| bf.get(PieceIndex(i)));
        p.outbox
            .msgs
            .extend(reveal.into_iter().map(|i| Message::Have(PieceIndex(i))));
    }

    fn on_message(&mut self, slot: PeerSlot, m: Message) {
        match m {
            Message::KeepAlive | Message::Port(_) | Message::SuggestPiece(_) => {}
            Message::Unknown { .. } => {}
            Message::Choke => {
                let Some(p) = self.peers.get_mut(&slot) else {
                    return;
                };
                p.peer_choking = true;
                if !p.fast {
                    let keys: Vec<(u32, u32)> = p.outstanding.drain().map(|(k, _)| k).collect();
                    p.cancelled.extend(keys);
                    if let Some(meta) = self.meta.as_mut() {
                        meta.picker.peer_released(slot);
                    }
                    self.refill_all();
                }
            }
            Message::Unchoke => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.peer_choking = false;
                }
            }
            Message::Interested | Message::NotInterested => {
                let interested = matches!(m, Message::Interested);
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.peer_interested = interested;
                }
                let changes = self.choker.set_interested(slot, interested);
                self.apply_choke(changes);
            }
            Message::Have(i) => self.on_have(slot, i.0),
            Message::Bitfield(raw) => self.on_bitfield(slot, Some(raw)),
            Message::HaveAll => self.on_bitfield(slot, None),
            Message::HaveNone => {}
            Message::Request(r) => self.on_request(slot, r),
            Message::Piece(piece) => self.on_block(slot, piece),
            Message::Cancel(r) => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    let before = p.outbox.serve.len();
                    p.outbox.serve.retain(|q| *q != r);
                    p.serving -= before - p.outbox.serve.len();
                }
            }
            Message::RejectRequest(r) => {
                let Some(p) = self.peers.get_mut(&slot) else {
                    return;
                };
                let key = block_key(&r);
                if p.outstanding.get(&key).is_some_and(|(_, w)| *w == r) {
                    p.outstanding.remove(&key);
                    if let Some(meta) = self.meta.as_mut() {
                        // Rejecting part of a block while unchoking us: the
                        // peer may serve only whole blocks (pad bytes and all).
                        if meta.picker.whole_block(r) != r
                            && !p.peer_choking
                            && !p.partial_ok
                            && !p.whole_blocks
                        {
                            debug!(peer = %p.addr, "peer rejected part of a block; whole blocks from now on");
                            p.whole_blocks = true;
                        }
                        meta.picker.request_dropped(slot, r);
                    }
                    // Someone else may take it.
                    self.refill_all();
                }
            }
            Message::AllowedFast(i) => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    if p.allowed_fast.len() < 64 {
                        p.allowed_fast.insert(i.0);
                    }
                }
            }
            Message::Extended(e) => self.on_extended(slot, e),
        }
    }

    fn on_have(&mut self, slot: PeerSlot, i: u32) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let Some(meta) = self.meta.as_mut() else {
            if p.early_haves.len() < MAX_EARLY_HAVES {
                p.early_haves.push(i);
            }
            return;
        };
        if i >= meta.have.len() || p.bitfield.get(PieceIndex(i)) {
            return;
        }
        let _ = p.bitfield.set(PieceIndex(i));
        meta.picker.peer_has(i);
        if let Some(ss) = meta.superseed.as_mut() {
            if p.ss_joined {
                let reveal = ss.peer_has(slot, i, self.now);
                p.outbox
                    .msgs
                    .extend(reveal.into_iter().map(|q| Message::Have(PieceIndex(q))));
            }
        }
        if !p.am_interested && !meta.have.get(PieceIndex(i)) {
            self.update_interest(slot);
        }
    }

    fn on_bitfield(&mut self, slot: PeerSlot, raw: Option<Bytes>) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let Some(meta) = self.meta.as_mut() else {
            match raw {
                Some(r) => p.raw_bitfield = Some(r),
                None => p.has_all = true,
            }
            return;
        };
        let n = meta.have.len();
        let bf = match raw {
            None => {
                p.has_all = true;
                Bitfield::full(n)
            }
            Some(r) => match Bitfield::from_payload(&r, n) {
                Ok(b) => b,
                Err(e) => {
                    debug!(peer = %p.addr, error = %e, "bad bitfield; disconnecting");
                    self.remove_peer(slot, false);
                    return;
                }
            },
        };
        if bf.is_full() && meta.picker.is_complete() {
            // Two seeds have nothing to trade (and will not redial: `is_seed`).
            p.bitfield = bf;
            p.has_all = true;
            self.remove_peer(slot, false);
            return;
        }
        let new: Vec<PieceIndex> = bf.iter_and_not(&p.bitfield).collect();
        for &i in &new {
            let _ = p.bitfield.set(i);
        }
        if new.len() as u32 == n {
            meta.picker.peer_has_all_of(|_| true);
        } else {
            for &i in &new {
                meta.picker.peer_has(i.0);
            }
        }
        if p.ss_joined {
            if let Some(ss) = meta.superseed.as_mut() {
                for &i in &new {
                    let reveal = ss.peer_has(slot, i.0, self.now);
                    p.outbox
                        .msgs
                        .extend(reveal.into_iter().map(|q| Message::Have(PieceIndex(q))));
                }
            }
        }
        self.update_interest(slot);
    }

    fn update_interest(&mut self, slot: PeerSlot) {
        let Some(meta) = self.meta.as_ref() else {
            return;
        };
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let want = p.bitfield.any_and_not(&meta.have);
        if want != p.am_interested {
            p.am_interested = want;
            p.outbox.msgs.push(if want {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
    }

    fn refill_all(&mut self) {
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in slots {
            self.fill_requests(s);
        }
    }

    /// Tops up the peer's request pipeline from the picker.
    fn fill_requests(&mut self, slot: PeerSlot) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        if meta.picker.is_complete() {
            return;
        }
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        if !p.am_interested || (p.peer_choking && p.allowed_fast.is_empty()) {
            return;
        }
        let want = p.depth.saturating_sub(p.outstanding.len());
        // Ask in batches: one picker call and one write per few blocks.
        if want == 0 || (want < 4 && !p.outstanding.is_empty()) {
            return;
        }
        let choked = p.peer_choking;
        let bf = &p.bitfield;
        let af = &p.allowed_fast;
        let reqs = meta.picker.next_requests(
            slot,
            |i| bf.get(PieceIndex(i)) && (!choked || af.contains(&i)),
            want,
        );
        let now = self.now;
        for r in reqs {
            let r = if p.whole_blocks {
                meta.picker.whole_block(r)
            } else {
                r
            };
            let key = block_key(&r);
            p.outstanding.insert(key, (now, r));
            p.cancelled.remove(&key);
            p.outbox.msgs.push(Message::Request(r));
        }
    }

    fn on_request(&mut self, slot: PeerSlot, r: wire::BlockRequest) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let ok = match self.meta.as_ref() {
            None => false,
            Some(meta) => {
                let i = r.piece.0;
                let size = meta.info.piece_size(i as usize);
                i < meta.have.len()
                    && meta.have.get(r.piece)
                    && r.length.0 > 0
                    && r.length.0 <= 128 * 1024
                    && u64::from(r.offset.0) + u64::from(r.length.0) <= size
                    && !p.am_choking
                    && p.serving < MAX_SERVING
                    && meta
                        .superseed
                        .as_ref()
                        .is_none_or(|ss| ss.may_serve(slot, i))
            }
        };
        if ok {
            if let Some(ss) = self.meta.as_mut().and_then(|m| m.superseed.as_mut()) {
                ss.requested(slot, r.piece.0);
            }
            p.serving += 1;
            p.outbox.serve.push(r);
        } else if p.fast {
            p.outbox.msgs.push(Message::RejectRequest(r));
        }
    }

    fn on_uploaded(&mut self, slot: PeerSlot, reqs: &[wire::BlockRequest]) {
        let bytes: u64 = reqs.iter().map(|r| u64::from(r.length.0)).sum();
        self.uploaded += bytes;
        self.tick_up += bytes;
        self.choker.record(slot, 0, bytes);
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        p.serving = p.serving.saturating_sub(reqs.len());
        p.up_tick += bytes;
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        for r in reqs {
            // Real bytes only: pad-aware peers never ask for the pad bytes.
            let i = r.piece.0;
            let real = meta
                .pads
                .content_in(i, r.offset.0, r.offset.0.saturating_add(r.length.0));
            let c = p.uploaded_per_piece.entry(i).or_default();
            *c += u64::from(real);
            if *c >= u64::from(meta.pads.content_len(i)) {
                p.uploaded_per_piece.remove(&i);
                if let Some(ss) = meta.superseed.as_mut() {
                    let reveal = ss.piece_uploaded(slot, i, self.now);
                    p.outbox
                        .msgs
                        .extend(reveal.into_iter().map(|q| Message::Have(PieceIndex(q))));
                }
            }
        }
        // Between ticks too, so the origin's uplink idles for at most a
        // scan period plus the release age when agents fetch elsewhere.
        if meta.superseed.is_some() {
            let now = self.now;
            if now.duration_since(self.last_release_scan) >= RELEASE_SCAN {
                self.superseed_release_scan(now);
            }
        }
    }

    fn on_block(&mut self, slot: PeerSlot, piece: wire::Piece) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let got = piece.block();
        let key = block_key(&got);
        let len = piece.data.len() as u64;
        self.downloaded += len;
        if p.origin {
            self.downloaded_origin += len;
        }
        self.tick_down += len;
        p.down_tick += len;
        let now = self.now;
        let asked = match p.outstanding.get(&key) {
            Some(&(sent, wire)) if wire == got => p.outstanding.remove(&key).map(|_| sent),
            _ => None,
        };
        match asked {
            Some(sent) => {
                let lat = now.duration_since(sent);
                p.min_latency = Some(p.min_latency.map_or(lat, |m| m.min(lat)));
                p.last_block = now;
                if p.last_answered_sent.is_none_or(|t| t < sent) {
                    p.last_answered_sent = Some(sent);
                }
                if let Some(m) = self.meta.as_ref() {
                    if m.picker.whole_block(got) != got {
                        p.partial_ok = true;
                    }
                }
            }
            None => {
                if !p.cancelled.remove(&key) {
                    p.unrequested += 1;
                    if p.unrequested > MAX_UNREQUESTED {
                        debug!(peer = %p.addr, "too many unrequested blocks; disconnecting");
                        self.remove_peer(slot, false);
                    }
                }
                return;
            }
        }
        self.choker.record(slot, len, 0);
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        // What the picker asked for: the block's real bytes. A whole-block
        // answer carries pad bytes around them, which are dropped (the
        // buffer's pad ranges are zeros).
        let Some(req) = meta.picker.block_request(key.0, key.1) else {
            return;
        };
        match meta.picker.block_received(slot, req) {
            BlockOutcome::Accepted {
                piece_complete,
                cancel,
            } => {
                let size = meta.info.piece_size(req.piece.as_usize()) as usize;
                let spare = &mut meta.spare;
                let pads = &meta.pads;
                let buf = meta.buffers.entry(req.piece.0).or_insert_with(|| {
                    let mut b = spare.pop().unwrap_or_default();
                    b.resize(size, 0);
                    // A reused buffer holds an old piece: zero the pad ranges.
                    for &(a, z) in pads.pads(req.piece.0) {
                        b[a as usize..z as usize].fill(0);
                    }
                    b
                });
                let off = req.offset.0 as usize;
                let from = (req.offset.0 - got.offset.0) as usize;
                buf[off..off + req.length.as_usize()]
                    .copy_from_slice(&piece.data[from..from + req.length.as_usize()]);
                for (q, _) in cancel {
                    if let Some(qp) = self.peers.get_mut(&q) {
                        if let Some((_, wire)) = qp.outstanding.remove(&key) {
                            qp.cancelled.insert(key);
                            qp.outbox.msgs.push(Message::Cancel(wire));
                        }
                    }
                }
                if piece_complete {
                    self.start_verify(req.piece.0);
                }
            }
            BlockOutcome::Duplicate => {}
            BlockOutcome::Unexpected => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.unrequested += 1;
                }
            }
        }
    }

    fn start_verify(&mut self, piece: u32) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        let Some(buf) = meta.buffers.remove(&piece) else {
            return;
        };
        self.out.push_back(Output::Verify {
            piece,
            buf,
            info: Arc::clone(&meta.info),
            store: Arc::clone(&meta.store),
        });
    }

    fn on_piece_done(&mut self, piece: u32, result: Result<bool, TorrentError>) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        match result {
            Ok(true) => {
                meta.picker.piece_verified(piece);
                if !meta.have.get(PieceIndex(piece)) {
                    meta.content_have += u64::from(meta.pads.content_len(piece));
                }
                let _ = meta.have.set(PieceIndex(piece));
                meta.resume.piece_written(PieceIndex(piece));
                self.resume_dirty = true;
                let have_msg = Message::Have(PieceIndex(piece));
                for p in self.peers.values_mut() {
                    if !p.bitfield.get(PieceIndex(piece)) {
                        p.outbox.msgs.push(have_msg.clone());
                    }
                }
                let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
                for s in &slots {
                    self.update_interest(*s);
                }
                self.emit(TorrentEvent::PieceVerified(piece));
                if self.is_complete() {
                    self.on_complete();
                }
            }
            Ok(false) => {
                self.hash_failures += 1;
                let contributors = meta.picker.piece_failed(piece);
                warn!(
                    piece,
                    peers = contributors.len(),
                    "piece failed its hash check"
                );
                let threshold = if contributors.len() <= 1 { 1 } else { 2 };
                for slot in contributors {
                    let Some(p) = self.peers.get(&slot) else {
                        continue;
                    };
                    let s = self.strikes.entry(p.addr).or_default();
                    *s += 1;
                    if *s >= threshold {
                        self.ban(slot);
                    }
                }
            }
            Err(e) => {
                meta.picker.piece_failed(piece);
                self.fail(e);
            }
        }
        self.refill_all();
        self.update_progress();
    }

    fn on_complete(&mut self) {
        let content = self.meta.as_ref().map_or(0, |m| m.pads.content_total());
        info!(downloaded = self.downloaded, content, "download complete");
        self.save_resume_background(true);
        self.emit(TorrentEvent::Complete);
        self.completed_announced = true;
        // Seeds have nothing for us and want nothing from us.
        let seeds: Vec<PeerSlot> = self
            .peers
            .iter()
            .filter(|(_, p)| p.is_seed())
            .map(|(s, _)| *s)
            .collect();
        for s in seeds {
            self.remove_peer(s, false);
        }
    }

    fn on_extended(&mut self, slot: PeerSlot, e: ExtendedMessage) {
        if e.id == ExtendedId::HANDSHAKE {
            let Ok(h) = ExtendedHandshake::parse(&e.payload) else {
                return;
            };
            let size = h.metadata_size;
            let has_md = h.extension_id(UT_METADATA).is_some();
            if let Some(p) = self.peers.get_mut(&slot) {
                p.their_ext = Some(h);
                // A later handshake (BEP 10) may announce metadata it now has.
                p.metadata_rejected = false;
            }
            if self.wants_metadata() && has_md {
                if self.metadata.is_none() {
                    if let Some(size) = size {
                        match MetadataAssembler::new(self.infohash, size) {
                            Ok(a) => self.metadata = Some(a),
                            Err(e) => debug!(error = %e, "peer announced unusable metadata size"),
                        }
                    }
                }
                self.request_metadata();
            }
            return;
        }
        if e.id == OUR_UT_METADATA {
            let Ok(m) = MetadataMessage::parse(&e.payload) else {
                return;
            };
            self.on_metadata(slot, m);
        } else if e.id == OUR_UT_PEX && self.opts.pex {
            let Ok(m) = PexMessage::parse(&e.payload) else {
                return;
            };
            let addrs: Vec<SocketAddr> = m.added.iter().map(|p| p.addr).collect();
            self.add_candidates(&addrs, false);
            self.maybe_connect();
        }
    }

    /// Our BEP 10 handshake for the peer at `addr`; `metadata_size` only
    /// once we have the metadata (BEP 9), so peers ask only who has it.
    fn extended_handshake(&self, addr: SocketAddr) -> Message {
        let mut h = ExtendedHandshake::default();
        h.extensions.insert(UT_METADATA.into(), OUR_UT_METADATA);
        if self.opts.pex {
            h.extensions.insert(UT_PEX.into(), OUR_UT_PEX);
        }
        h.client = Some(concat!("anthill ", env!("CARGO_PKG_VERSION")).into());
        h.listen_port = self.listen.first().map(SocketAddr::port);
        h.request_queue = Some(MAX_SERVING as u32);
        h.metadata_size = self
            .meta
            .as_ref()
            .map(|m| m.metainfo.raw_info().len() as u64);
        h.your_ip = Some(addr.ip());
        Message::Extended(ExtendedMessage::new(ExtendedId::HANDSHAKE, h.to_bytes()))
    }

    fn request_metadata(&mut self) {
        if self.metadata.is_none() {
            let sizes: Vec<u64> = self
                .peers
                .values()
                .filter_map(|p| p.their_ext.as_ref()?.metadata_size)
                .collect();
            if !sizes.is_empty() {
                let size = sizes[self.ticks as usize % sizes.len()];
                self.metadata = MetadataAssembler::new(self.infohash, size).ok();
            }
        }
        let Some(asm) = self.metadata.as_ref() else {
            return;
        };
        let now = self.now;
        let missing: Vec<MetadataPiece> = asm.missing().collect();
        // Ask peers that announced the metadata (BEP 9 `metadata_size`) and
        // did not reject a request; other agents of a flash crowd speak
        // ut_metadata too but have nothing yet, and asking them round-robin
        // left pieces waiting on rejects. Peers other than the origin
        // first, so that the fleet, not the hub, serves most metadata.
        // Clients that do not announce a size are asked only when nobody
        // announced one.
        let rank = |p: &PeerState| -> Option<u8> {
            let ext = p.their_ext.as_ref()?;
            ext.extension_id(UT_METADATA)?;
            match (
                ext.metadata_size.is_some() && !p.metadata_rejected,
                p.origin,
            ) {
                (true, false) => Some(0),
                (true, true) => Some(1),
                (false, _) if !p.metadata_rejected => Some(2),
                _ => None,
            }
        };
        let best = self.peers.values().filter_map(rank).min();
        let Some(best) = best else {
            return;
        };
        let capable: Vec<(PeerSlot, ExtendedId)> = self
            .peers
            .iter()
            .filter(|(_, p)| rank(p) == Some(best))
            .filter_map(|(s, p)| {
                let id = p.their_ext.as_ref()?.extension_id(UT_METADATA)?;
                Some((*s, id))
            })
            .collect();
        if capable.is_empty() {
            return;
        }
        for (k, piece) in missing.into_iter().enumerate() {
            if let Some((_, at)) = self.metadata_inflight.get(&piece.0) {
                if now.duration_since(*at) < Duration::from_secs(10) {
                    continue;
                }
            }
            let (slot, id) = capable[(k + self.ticks as usize) % capable.len()];
            if let Some(p) = self.peers.get_mut(&slot) {
                p.outbox.msgs.push(Message::Extended(ExtendedMessage::new(
                    id,
                    MetadataMessage::Request(piece).to_bytes(),
                )));
                self.metadata_inflight.insert(piece.0, (slot, now));
            }
        }
    }

    fn on_metadata(&mut self, slot: PeerSlot, m: MetadataMessage) {
        match m {
            MetadataMessage::Request(piece) => {
                let Some(p) = self.peers.get_mut(&slot) else {
                    return;
                };
                let Some(id) = p
                    .their_ext
                    .as_ref()
                    .and_then(|h| h.extension_id(UT_METADATA))
                else {
                    return;
                };
                let reply = match self.meta.as_ref() {
                    Some(meta) => {
                        let raw = meta.metainfo.raw_info();
                        let start = piece.0 as usize * wire::METADATA_PIECE_LEN;
                        if start < raw.len() {
                            let end = (start + wire::METADATA_PIECE_LEN).min(raw.len());
                            self.metadata_uploaded += (end - start) as u64;
                            MetadataMessage::Data {
                                piece,
                                total_size: raw.len() as u64,
                                data: Bytes::copy_from_slice(&raw[start..end]),
                            }
                        } else {
                            MetadataMessage::Reject(piece)
                        }
                    }
                    None => MetadataMessage::Reject(piece),
                };
                p.outbox.msgs.push(Message::Extended(ExtendedMessage::new(
                    id,
                    reply.to_bytes(),
                )));
            }
            MetadataMessage::Reject(piece) => {
                self.metadata_inflight.remove(&piece.0);
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.metadata_rejected = true;
                }
                if self.wants_metadata() {
                    self.request_metadata();
                }
            }
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => {
                self.metadata_inflight.remove(&piece.0);
                if !self.wants_metadata() {
                    return;
                }
                let Some(asm) = self.metadata.as_mut() else {
                    return;
                };
                match asm.insert(piece, total_size, data) {
                    Ok(true) => match asm.finish() {
                        Ok(raw) => self.on_metadata_complete(&raw),
                        Err(e) => {
                            // Possibly a peer lying about the size: start over,
                            // taking the size from another peer next time.
                            warn!(error = %e, "received metadata does not match the infohash");
                            self.metadata = None;
                            self.metadata_inflight.clear();
                            self.request_metadata();
                        }
                    },
                    Ok(false) => {}
                    Err(e) => debug!(error = %e, "bad metadata piece"),
                }
            }
        }
    }

    /// The info dictionary arrived and matches the infohash: the shell
    /// opens (prefills, checks) the data in the background, and the torrent
    /// keeps serving its peers meanwhile (`Checking`).
    fn on_metadata_complete(&mut self, raw: &[u8]) {
        let metainfo = match Metainfo::from_info_bytes(raw) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                self.fail(TorrentError::InvalidMetadata {
                    source: Arc::new(e),
                });
                return;
            }
        };
        info!(name = metainfo.info().name(), "metadata received");
        self.metadata = None;
        self.metadata_inflight.clear();
        self.opening = true;
        self.checking = true;
        self.out.push_back(Output::Open(metainfo));
        self.update_progress();
    }

    fn on_opened(&mut self, loaded: Result<Loaded, TorrentError>) {
        if !self.opening {
            return;
        }
        self.opening = false;
        self.checking = false;
        let l = match loaded {
            Ok(l) => l,
            Err(e) => {
                self.fail(e);
                return;
            }
        };
        if self.stopped || self.error.is_some() {
            return;
        }
        self.install_meta(l);
        // A second BEP 10 handshake with `metadata_size`: peers still
        // without the metadata may now ask us instead of the origin.
        // Every peer that got our first one, whether or not its own
        // handshake has reached us yet: one still in flight would
        // otherwise never learn that we have the metadata.
        let slots: Vec<(PeerSlot, SocketAddr)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.ext)
            .map(|(s, p)| (*s, p.addr))
            .collect();
        for (slot, addr) in slots {
            let m = self.extended_handshake(addr);
            if let Some(p) = self.peers.get_mut(&slot) {
                p.outbox.msgs.push(m);
            }
        }
        self.emit(TorrentEvent::MetadataReceived);
        if self.is_complete() {
            self.on_complete();
        }
        self.refill_all();
        self.update_progress();
    }

    fn on_tick(&mut self) {
        self.ticks += 1;
        let now = self.now;
        let timeout = self.opts.request_timeout;
        let mut snubbed = Vec::new();
        let mut ignored = Vec::new();
        // Rates and adaptive pipeline depth.
        for (slot, p) in self.peers.iter_mut() {
            p.down_rate = p.down_rate * 0.6 + p.down_tick as f64 * 0.4;
            p.up_rate = p.up_rate * 0.6 + p.up_tick as f64 * 0.4;
            p.down_tick = 0;
            p.up_tick = 0;
            // Enough requests to cover the bandwidth-delay product with margin.
            let lat = p
                .min_latency
                .unwrap_or(Duration::from_millis(50))
                .as_secs_f64();
            let target = (p.down_rate * (2.0 * lat + 0.05) / f64::from(BLOCK_SIZE)) as usize;
            p.depth = target.clamp(MIN_DEPTH, MAX_DEPTH);
            if !p.outstanding.is_empty() && now.duration_since(p.last_block) > timeout {
                snubbed.push(*slot);
            } else if !p.partial_ok && !p.whole_blocks {
                // A request for part of a block left unanswered while the
                // peer answered later ones (or for as long as a snub): the
                // peer ignores such requests; ask it for whole blocks.
                if let Some(meta) = self.meta.as_ref() {
                    let later = p.last_answered_sent;
                    let partial = |r: &wire::BlockRequest| meta.picker.whole_block(*r) != *r;
                    let ignores = p.outstanding.values().any(|(sent, r)| {
                        let age = now.duration_since(*sent);
                        partial(r)
                            && (age > timeout
                                || (age > PARTIAL_IGNORED && later.is_some_and(|t| t > *sent)))
                    });
                    // Once a peer is known to ignore them, every partial
                    // request still out to it goes back to the picker, the
                    // younger ones too: it would never answer them either.
                    let stale: Vec<(u32, u32)> = if ignores {
                        p.outstanding
                            .iter()
                            .filter(|(_, (_, r))| partial(r))
                            .map(|(k, _)| *k)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    if !stale.is_empty() {
                        debug!(peer = %p.addr, "peer ignores requests for part of a block; whole blocks from now on");
                        p.whole_blocks = true;
                        for k in stale {
                            if let Some((_, r)) = p.outstanding.remove(&k) {
                                p.cancelled.insert(k);
                                p.outbox.msgs.push(Message::Cancel(r));
                                ignored.push((*slot, r));
                            }
                        }
                    }
                }
            }
        }
        if let Some(meta) = self.meta.as_mut() {
            for (slot, r) in ignored {
                meta.picker.request_dropped(slot, r);
            }
        }
        for slot in snubbed {
            if let Some(p) = self.peers.get_mut(&slot) {
                debug!(peer = %p.addr, "peer snubbed us; releasing its requests");
                let partial = self.meta.as_ref().is_some_and(|m| {
                    p.outstanding
                        .values()
                        .any(|(_, r)| m.picker.whole_block(*r) != *r)
                });
                if partial && !p.partial_ok {
                    // Perhaps because of requests for part of a block.
                    p.whole_blocks = true;
                }
                // A cancel must repeat the request exactly (the last block of
                // a torrent is shorter), or the peer ignores it: use what went
                // on the wire.
                let reqs: Vec<((u32, u32), wire::BlockRequest)> =
                    p.outstanding.drain().map(|(k, (_, r))| (k, r)).collect();
                for &(_, r) in &reqs {
                    p.outbox.msgs.push(Message::Cancel(r));
                }
                p.cancelled.extend(reqs.into_iter().map(|(k, _)| k));
                p.depth = MIN_DEPTH / 4;
                p.last_block = now;
                if let Some(meta) = self.meta.as_mut() {
                    meta.picker.peer_released(slot);
                }
            }
        }
        self.down_rate = self.down_rate * 0.6 + self.tick_down as f64 * 0.4;
        self.up_rate = self.up_rate * 0.6 + self.tick_up as f64 * 0.4;
        self.peak_up_rate = self.peak_up_rate.max(self.up_rate);
        self.tick_down = 0;
        self.tick_up = 0;
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in &slots {
            self.superseed_join(*s, true);
            self.fill_requests(*s);
        }
        self.superseed_release_scan(now);
        if self.ticks % 10 == 0 {
            let changes = self.choker.rechoke(self.is_complete());
            self.apply_choke(changes);
        }
        if self.resume_dirty
            && now.duration_since(self.last_resume_save) >= self.opts.resume_save_interval
        {
            self.save_resume_background(false);
        }
        if self.opts.pex && now.duration_since(self.last_pex) >= self.opts.pex_interval {
            self.last_pex = now;
            self.send_pex();
        }
        if self.wants_metadata() {
            self.request_metadata();
        }
        self.maybe_start_web_seeds();
        self.maybe_connect();
        self.update_progress();
    }

    /// Web seeds are a fallback: they join once peers have not delivered for
    /// a few seconds (none connected, or all of them slow).
    fn maybe_start_web_seeds(&mut self) {
        if self.web_seeds_started || self.web_seeds.is_empty() || self.paused || self.ticks < 3 {
            return;
        }
        let Some(meta) = self.meta.as_ref() else {
            return;
        };
        if meta.picker.is_complete() || self.down_rate >= 64.0 * 1024.0 {
            return;
        }
        self.web_seeds_started = true;
        for (i, url) in self.web_seeds.iter().enumerate() {
            info!(%url, "peers are not delivering; using the web seed");
            let n = u16::try_from(i + 1).unwrap_or(u16::MAX);
            self.out.push_back(Output::StartWebSeed {
                url: url.clone(),
                n,
                info: Arc::clone(&meta.info),
            });
        }
    }

    fn send_pex(&mut self) {
        let current: HashSet<SocketAddr> = self
            .peers
            .values()
            .filter_map(PeerState::listen_addr)
            .collect();
        let seeds: HashSet<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.is_seed())
            .filter_map(PeerState::listen_addr)
            .collect();
        for p in self.peers.values_mut() {
            let Some(id) = p.their_ext.as_ref().and_then(|h| h.extension_id(UT_PEX)) else {
                continue;
            };
            let own = p.listen_addr();
            let added: Vec<PexPeer> = current
                .iter()
                .filter(|a| !p.pex_sent.contains(a) && Some(**a) != own)
                .take(wire::MAX_PEX_PEERS)
                .map(|a| PexPeer {
                    addr: *a,
                    flags: PexFlags(if seeds.contains(a) { PexFlags::SEED } else { 0 }),
                })
                .collect();
            let dropped: Vec<SocketAddr> = p
                .pex_sent
                .iter()
                .filter(|a| !current.contains(a))
                .take(wire::MAX_PEX_PEERS)
                .copied()
                .collect();
            if added.is_empty() && dropped.is_empty() {
                continue;
            }
            for a in &added {
                p.pex_sent.insert(a.addr);
            }
            for a in &dropped {
                p.pex_sent.remove(a);
            }
            let msg = PexMessage { added, dropped };
            p.outbox
                .msgs
                .push(Message::Extended(ExtendedMessage::new(id, msg.to_bytes())));
        }
    }

    /// Notes that the progress may have changed; `flush` publishes it.
    fn update_progress(&mut self) {
        self.progress_dirty = true;
    }

    /// Checks what must hold between any two inputs; panics if not.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        assert_eq!(
            self.choker.peer_count(),
            self.peers.len(),
            "choker and peers"
        );
        assert!(self.peers.len() <= self.opts.max_connections_per_torrent);
        if self.error.is_some() || self.stopped || self.paused {
            assert!(
                self.peers.is_empty(),
                "a failed, stopped or paused torrent has peers"
            );
        }
        for a in &self.banned_addrs {
            assert!(!self.known.contains_key(a), "banned {a} is a candidate");
        }
        for (slot, _) in self.metadata_inflight.values() {
            assert!(
                self.peers.contains_key(slot),
                "metadata asked of a gone peer"
            );
        }
        for (slot, p) in &self.peers {
            assert_eq!(
                p.am_choking,
                !self.choker.is_unchoked(*slot),
                "choke state of {slot:?}"
            );
            assert!(
                !self.banned_addrs.contains(&p.addr),
                "banned {} connected",
                p.addr
            );
            assert!(!self.banned_ids.contains(&p.id), "banned id connected");
            assert!(p.serving >= p.outbox.serve.len());
            assert!(p.outstanding.len() <= MAX_DEPTH, "pipeline over its cap");
        }
        let Some(meta) = self.meta.as_ref() else {
            for p in self.peers.values() {
                assert!(!p.am_interested && p.outstanding.is_empty());
            }
            return;
        };
        meta.picker.check_invariants();
        assert!(!self.opening);
        let n = meta.have.len();
        assert_eq!(
            meta.have.count_ones(),
            meta.picker.have_count(),
            "have and picker"
        );
        let content: u64 = meta
            .have
            .iter_ones()
            .map(|i| u64::from(meta.pads.content_len(i.0)))
            .sum();
        assert_eq!(
            content, meta.content_have,
            "content bytes of the pieces we have"
        );
        for i in 0..n {
            assert_eq!(meta.picker.has(i), meta.have.get(PieceIndex(i)));
        }
        for piece in meta.buffers.keys() {
            assert!(
                !meta.have.get(PieceIndex(*piece)),
                "a buffer for a piece we have"
            );
        }
        let mut requested: HashSet<(PeerSlot, (u32, u32))> = HashSet::new();
        for (slot, p) in &self.peers {
            assert_eq!(p.bitfield.len(), n);
            assert_eq!(
                p.am_interested,
                p.bitfield.any_and_not(&meta.have),
                "interest in {slot:?}"
            );
            for (key, (_, r)) in &p.outstanding {
                assert_eq!(block_key(r), *key);
                assert!(
                    p.bitfield.get(PieceIndex(key.0)),
                    "asked {slot:?} for a piece it lacks"
                );
                assert!(
                    !meta.have.get(PieceIndex(key.0)),
                    "asked for a piece we have"
                );
                requested.insert((*slot, *key));
            }
        }
        let mut in_picker: HashSet<(PeerSlot, (u32, u32))> = HashSet::new();
        for (piece, block, peers) in meta.picker.requested_blocks() {
            for s in peers {
                in_picker.insert((s, (piece, block)));
            }
        }
        assert_eq!(
            requested, in_picker,
            "requests on the wire and in the picker"
        );
        if let Some(ss) = meta.superseed.as_ref() {
            assert!(meta.have.is_full(), "only a seed super-seeds");
            let _ = ss;
        }
    }

    /// The progress as it is now.
    #[cfg(test)]
    pub(crate) fn progress_now(&mut self) -> TorrentProgress {
        self.progress_dirty = true;
        self.take_progress().expect("dirty")
    }

    /// The progress, if it may have changed since the last call: the shell
    /// publishes it once per batch of inputs or tick, never per block.
    pub(crate) fn take_progress(&mut self) -> Option<TorrentProgress> {
        if !std::mem::take(&mut self.progress_dirty) {
            return None;
        }
        let (resume_errors, last_resume_error) =
            (self.resume_health.errors, self.resume_health.last.clone());
        let mut next = TorrentProgress {
            state: if let Some(e) = &self.error {
                TorrentState::Failed(e.clone())
            } else if self.stopped {
                TorrentState::Stopped
            } else if self.paused {
                TorrentState::Paused
            } else if self.checking {
                TorrentState::Checking
            } else if self.meta.is_none() {
                TorrentState::FetchingMetadata
            } else if self.is_complete() {
                TorrentState::Seeding
            } else {
                TorrentState::Downloading
            },
            name: self.name.clone(),
            downloaded: self.downloaded,
            downloaded_origin: self.downloaded_origin,
            uploaded: self.uploaded,
            metadata_uploaded: self.metadata_uploaded,
            peers: self.peers.len(),
            download_rate: self.down_rate as u64,
            upload_rate: self.up_rate as u64,
            hash_failures: self.hash_failures,
            banned: self.banned_count,
            resume_errors,
            last_resume_error,
            ..TorrentProgress::default()
        };
        if let Some(meta) = self.meta.as_ref() {
            next.pieces_total = meta.have.len();
            next.pieces_have = meta.have.count_ones();
            next.bytes_total = meta.pads.content_total();
            next.bytes_have = meta.content_have;
        }
        Some(next)
    }
}
