//! The torrent's core: every decision of a torrent, synchronous and
//! sans-IO. [`Core::handle`] takes one [`Input`] at a time (with the time
//! it happened) and queues [`Output`]s; the tokio shell (`shell.rs`)
//! performs them and feeds their results back as inputs. Nothing here reads
//! a clock, spawns a task or waits, so tests drive it with made-up times and
//! check [`Core::check_invariants`] after every step. See `ENGINE.md`.
//!
//! The core's state is here; its handling is grouped by concern in the
//! submodules: peers, candidates, requests, pieces (and bans), metadata,
//! PEX, super-seeding.

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
pub(crate) use crate::event::PeerGone;
use crate::options::SessionOptions;
use crate::pad::PadMap;
use crate::picker::{BlockOutcome, Picker};
use crate::superseed::SuperSeeder;
use crate::{BLOCK_SIZE, PeerSlot, TorrentError};
use storage::{FileStorage, ResumeError, ResumeWriter};

mod candidates;
mod metadata;
mod peers;
mod pex;
mod pieces;
mod requests;
mod superseed;

/// Our extension ids (what peers must use when sending to us).
const OUR_UT_METADATA: ExtendedId = ExtendedId(1);
const OUR_UT_PEX: ExtendedId = ExtendedId(2);
/// Pipeline depth bounds (blocks outstanding per peer).
const MIN_DEPTH: usize = 16;
const MAX_DEPTH: usize = 250;
/// Blocks added each tick to the pipeline of a peer whose pipeline ran dry
/// while we had more to ask of it; one comes off each tick it does not.
const DRY_STEP: usize = 4;
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
/// A super-seeding origin keeps this much of its best upload rate in
/// pieces revealed and not yet delivered, over all peers (see
/// `superseed.rs`): enough to keep its uplink busy, few enough that each
/// piece leaves it whole quickly.
const REVEALS_IN_FLIGHT: Duration = Duration::from_secs(1);
/// Pieces pending over all peers, at least (`REVEAL_WINDOW` each for 4 peers).
const MIN_REVEALS: usize = 4 * REVEAL_WINDOW;
/// Piece buffers kept for reuse once hashed and written: this many bytes of
/// them, and at least [`MIN_SPARE`]. A fresh buffer is zeroed whole; a
/// reused one is only overwritten by the blocks that arrive.
const SPARE_BYTES: usize = 16 << 20;
/// Piece buffers kept for reuse, at least (whatever their size).
const MIN_SPARE: usize = 8;
/// HAVEs remembered per peer before the metadata is known.
const MAX_EARLY_HAVES: usize = 100_000;
/// A request for part of a block still unanswered this long after the peer
/// answered a later one means the peer ignores such requests.
const PARTIAL_IGNORED: Duration = Duration::from_secs(5);

/// What the peers delivering to us hold in requests together, at least:
/// this much of our best download rate. A floor in time, not in blocks: 16
/// blocks from each of 8 peers were 2 MiB in flight, 0.8 s of a 20 Mbit/s
/// downlink, and their answers overflowed its queue (incast).
const PIPELINE_TIME: Duration = Duration::from_millis(200);

/// Blocks asked of each delivering peer at least, however thin its share of
/// our downlink: twice what a sender keeps unsent in its socket (ours keep
/// [`crate::peer::UNSENT_LOWAT`], 4 blocks). Where a connection gets a thin
/// share of a slow link, the blocks in that socket leave more slowly than
/// our next request arrives only if as many again were asked for. With 4 a
/// peer (the 200 ms floor at 20 Mbit/s among 7 peers) the agents last to
/// finish took blocks at 80-90 % of their downlink; N = 8 at 20 Mbit/s took
/// 1.24-1.33 x T_min with 2, 1.14-1.18 x with 8 (no change at 100 Mbit/s,
/// where the floor is 10-16 anyway).
const MIN_PEER_DEPTH: usize = 2 * (crate::peer::UNSENT_LOWAT / BLOCK_SIZE) as usize;

/// Blocks each of `delivering` peers is asked for at least: their share of
/// [`PIPELINE_TIME`] at `peak_rate`, [`MIN_PEER_DEPTH`] to [`MIN_DEPTH`] (as
/// many as before anything arrived).
fn depth_floor(peak_rate: f64, delivering: usize) -> usize {
    if peak_rate <= 0.0 {
        return MIN_DEPTH;
    }
    let blocks = peak_rate * PIPELINE_TIME.as_secs_f64() / f64::from(BLOCK_SIZE);
    ((blocks / delivering.max(1) as f64).ceil() as usize).clamp(MIN_PEER_DEPTH, MIN_DEPTH)
}

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
    /// Its pipeline ran dry this tick with more to ask of it: it answered
    /// everything and waited for our next requests.
    ran_dry: bool,
    /// Blocks asked of it beyond the depth its rate and latency give,
    /// grown while its pipeline runs dry (see [`DRY_STEP`]).
    depth_bonus: usize,
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
        /// The piece; its pad ranges (`pads`) hold anything and hash as zeros.
        buf: Vec<u8>,
        info: Arc<Info>,
        pads: Arc<PadMap>,
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
    /// The actor is ending (`stop`): the state is `Stopped` unless failed.
    stopped: bool,
    error: Option<TorrentError>,
    resume_dirty: bool,
    last_resume_save: Instant,
    /// An `Output::SaveResume` is out (at most one at a time).
    saving: bool,
    /// An `Output::Open` is out: the metadata is known, the data is being
    /// opened, prefilled and checked (`Checking`).
    opening: bool,
    downloaded: u64,
    downloaded_origin: u64,
    uploaded: u64,
    metadata_uploaded: u64,
    hash_failures: u32,
    banned_count: u32,
    down_rate: f64,
    /// The best `down_rate` seen.
    peak_down_rate: f64,
    /// Blocks each delivering peer is asked for at least (see `depth_floor`).
    depth_floor: usize,
    up_rate: f64,
    tick_down: u64,
    tick_up: u64,
    ticks: u64,
    /// When the super-seeder last looked for reveals nobody asks for.
    last_release_scan: Instant,
    /// The super-seeder's reveals (peer, piece), sent as HAVE at the next flush.
    reveals: Vec<(PeerSlot, u32)>,
    /// Real bytes of a piece that is not all padding, on average.
    reveal_piece_bytes: f64,
    /// The highest smoothed upload rate seen, bytes per tick: what the
    /// uplink can do, as far as we know.
    peak_up_rate: f64,
    last_pex: Instant,
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
            peak_down_rate: 0.0,
            depth_floor: MIN_DEPTH,
            up_rate: 0.0,
            tick_down: 0,
            tick_up: 0,
            ticks: 0,
            last_release_scan: now,
            reveals: Vec::new(),
            reveal_piece_bytes: 0.0,
            peak_up_rate: 0.0,
            last_pex: now,
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
            Input::Gone(slot, PeerGone::QueueFull) => {
                debug!(
                    slot = slot.0,
                    "peer's command queue is full or closed; dropping it"
                );
                self.remove_peer(slot, false);
            }
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
                    let keep = SPARE_BYTES / buf.len().max(1);
                    if meta.spare.len() < keep.max(MIN_SPARE) && !buf.is_empty() {
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
                    let _ = self.choker.remove_peer(s);
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
            let mut real = 0u64;
            for p in 0..n {
                if pads.is_pad_only(p) {
                    ss.set_pad_only(p);
                } else {
                    real += 1;
                }
            }
            let _ = ss.set_max_pending(MIN_REVEALS, self.now);
            self.reveal_piece_bytes = pads.content_total() as f64 / real.max(1) as f64;
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

    /// The metadata is still to come from peers (not known, not being opened).
    fn wants_metadata(&self) -> bool {
        self.meta.is_none() && !self.opening
    }

    fn is_complete(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.picker.is_complete())
    }

    /// Queues every peer's batched messages and blocks to serve as
    /// outputs: the shell calls it after a batch of inputs, so that a
    /// batch makes one write per peer.
    pub(crate) fn flush(&mut self) {
        for (slot, i) in std::mem::take(&mut self.reveals) {
            if let Some(p) = self.peers.get_mut(&slot) {
                p.outbox.msgs.push(Message::Have(PieceIndex(i)));
            }
        }
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

    fn on_tick(&mut self) {
        self.ticks += 1;
        let now = self.now;
        let timeout = self.opts.request_timeout;
        let mut snubbed = Vec::new();
        let mut ignored = Vec::new();
        // Rates and adaptive pipeline depth.
        let delivering = self
            .peers
            .values()
            .filter(|p| p.down_rate >= f64::from(BLOCK_SIZE) || !p.outstanding.is_empty())
            .count();
        self.depth_floor = depth_floor(self.peak_down_rate, delivering);
        let floor = self.depth_floor;
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
            // A pipeline that ran dry though we had more to ask for is too
            // short for how long our requests take to reach the peer (they
            // wait in our own full uplink queue, which the latency of a lucky
            // request does not show): grow it until it no longer does.
            p.depth_bonus = if std::mem::take(&mut p.ran_dry) {
                (p.depth_bonus + DRY_STEP).min(MAX_DEPTH)
            } else {
                p.depth_bonus.saturating_sub(1)
            };
            p.depth = (target.clamp(floor, MAX_DEPTH) + p.depth_bonus).min(MAX_DEPTH);
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
        self.peak_down_rate = self.peak_down_rate.max(self.down_rate);
        self.up_rate = self.up_rate * 0.6 + self.tick_up as f64 * 0.4;
        self.peak_up_rate = self.peak_up_rate.max(self.up_rate);
        if let Some(meta) = self.meta.as_mut() {
            if let Some(ss) = meta.superseed.as_mut() {
                let piece = self.reveal_piece_bytes.max(1.0);
                let k = (self.peak_up_rate * REVEALS_IN_FLIGHT.as_secs_f64() / piece).ceil();
                self.reveals
                    .extend(ss.set_max_pending((k as usize).max(MIN_REVEALS), now));
            }
        }
        self.tick_down = 0;
        self.tick_up = 0;
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in &slots {
            self.superseed_join(*s, true);
            self.fill_requests(*s);
        }
        self.superseed_release_scan(now);
        let turns = self.choker.tick();
        self.apply_choke(turns);
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
        if meta.superseed.is_some() {
            assert!(meta.have.is_full(), "only a seed super-seeds");
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
            } else if self.opening {
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
