//! The session: listeners, the torrent map, global limits and shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metainfo::{Magnet, Metainfo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};
use wire::{Handshake, HandshakeParser, PeerId};

use crate::TorrentError;
use crate::context::{Congestion, Net};
use crate::event::{Event, TorrentCmd};
use crate::options::SessionOptions;
use crate::prefill::Prefill;
use crate::rate::Rate;
use crate::torrent::{
    Actor, ActorInit, TorrentEvent, TorrentMode, TorrentProgress, TorrentShared, TorrentState,
    load_storage,
};
use storage::{OpenMode, StorageError};

/// Capacity of a torrent actor's event channel.
const TORRENT_CHANNEL: usize = 4096;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The data could not be opened (missing or wrong-size file, ...).
    #[error("cannot open the data of {name} in {dir}: {source}")]
    Storage {
        /// Torrent name.
        name: String,
        /// Data directory.
        dir: PathBuf,
        /// The cause.
        source: StorageError,
    },
    /// The torrent is already in the session.
    #[error("torrent {0} is already added")]
    Duplicate(metainfo::Infohash),
    /// The session is shutting down.
    #[error("the session is shutting down")]
    ShuttingDown,
    /// Internal error: a task panicked. This is a bug.
    #[error("internal error (this is a bug, please report): {0}")]
    Bug(String),
}

/// State every task of the session can read.
#[derive(Debug)]
pub(crate) struct SessionShared {
    pub(crate) options: SessionOptions,
    /// What connections need of the session (identity, timeouts, limits).
    pub(crate) net: Arc<Net>,
    /// One permit per open peer connection (global cap).
    pub(crate) conn_limit: Arc<Semaphore>,
    /// Pieces being hashed and written at once.
    pub(crate) write_limit: Arc<Semaphore>,
    pub(crate) tasks: TaskTracker,
    /// The session's one map of torrents: incoming connections are routed
    /// through it, handles listed from it.
    torrents: Mutex<Torrents>,
}

/// The torrents of a session, and the infohashes being added (their data
/// opened and checked): a duplicate is refused before its data is hashed.
#[derive(Debug, Default)]
struct Torrents {
    running: HashMap<metainfo::Infohash, TorrentEntry>,
    adding: std::collections::HashSet<metainfo::Infohash>,
}

/// Frees an infohash reserved by [`Session::add_torrent`] when the add ends,
/// whether it succeeded (the torrent is then in `running`) or failed.
struct Reservation<'a> {
    torrents: &'a Mutex<Torrents>,
    infohash: metainfo::Infohash,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.torrents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .adding
            .remove(&self.infohash);
    }
}

/// What to add: a parsed torrent or a magnet link.
#[derive(Debug, Clone)]
pub enum TorrentSource {
    /// A parsed `.torrent`.
    Metainfo(Box<Metainfo>),
    /// A magnet link; the info dictionary is fetched from peers (BEP 9).
    Magnet(Box<Magnet>),
}

impl TorrentSource {
    /// A `.torrent` file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, metainfo::MetainfoError> {
        Ok(Self::Metainfo(Box::new(Metainfo::from_bytes(bytes)?)))
    }
    /// A magnet link (`magnet:?xt=urn:btih:...`).
    pub fn from_magnet(link: &str) -> Result<Self, metainfo::MagnetError> {
        Ok(Self::Magnet(Box::new(link.parse()?)))
    }
    /// The infohash this source names.
    pub fn infohash(&self) -> metainfo::Infohash {
        match self {
            Self::Metainfo(m) => m.infohash(),
            Self::Magnet(m) => m.infohash,
        }
    }
}

/// Options of one torrent; see [`Session::add_torrent`].
#[derive(Debug, Clone)]
pub struct AddTorrent {
    /// The torrent.
    pub source: TorrentSource,
    /// Data directory: files live at `dir/name` (single file) or `dir/name/...`.
    pub dir: PathBuf,
    /// Seed existing data or download.
    pub mode: TorrentMode,
    /// BEP 16 super-seeding while we are the only complete copy (origin).
    pub super_seed: bool,
    /// Peers to connect to right away.
    pub peers: Vec<SocketAddr>,
    /// Per-torrent upload limit (bytes/s, 0 = unlimited).
    pub upload_rate: Rate,
    /// Per-torrent download limit (bytes/s, 0 = unlimited).
    pub download_rate: Rate,
    /// Trackers to announce to besides the torrent's own (each URL its own tier).
    pub trackers: Vec<String>,
    /// Addresses of the origin (a hub's seeder): payload from peers at these
    /// IPs, and from web seeds, is counted in
    /// [`TorrentProgress::downloaded_origin`](crate::TorrentProgress).
    pub origin: Vec<std::net::IpAddr>,
    /// Download only: pieces the caller writes into `dir` before the engine
    /// opens it, hashed by the engine at start (see [`Prefill`]).
    pub prefill: Option<Prefill>,
}

impl AddTorrent {
    /// Download `source` into `dir` with default options.
    pub fn download(source: TorrentSource, dir: impl Into<PathBuf>) -> Self {
        Self {
            source,
            dir: dir.into(),
            mode: TorrentMode::Download,
            super_seed: false,
            peers: Vec::new(),
            upload_rate: Rate::UNLIMITED,
            download_rate: Rate::UNLIMITED,
            trackers: Vec::new(),
            origin: Vec::new(),
            prefill: None,
        }
    }
    /// Seed the data of `metainfo` in `dir`, super-seeding (the origin case).
    pub fn seed(metainfo: Metainfo, dir: impl Into<PathBuf>) -> Self {
        Self {
            source: TorrentSource::Metainfo(Box::new(metainfo)),
            dir: dir.into(),
            mode: TorrentMode::Seed,
            super_seed: true,
            peers: Vec::new(),
            upload_rate: Rate::UNLIMITED,
            download_rate: Rate::UNLIMITED,
            trackers: Vec::new(),
            origin: Vec::new(),
            prefill: None,
        }
    }
}

/// A handle to one torrent of a session; cheap to clone.
#[derive(Debug, Clone)]
pub struct TorrentHandle {
    infohash: metainfo::Infohash,
    shared: Arc<TorrentShared>,
    /// The actor's progress channel; it closes when the actor ends (the
    /// last value, `Stopped` or `Failed`, stays readable).
    progress: watch::Receiver<TorrentProgress>,
    events: broadcast::Sender<TorrentEvent>,
}

/// Whether `p` is final for a waiter: `Some(result)` once complete or ended.
fn outcome(p: &TorrentProgress) -> Option<Result<(), TorrentError>> {
    match &p.state {
        TorrentState::Seeding => Some(Ok(())),
        TorrentState::Failed(e) => Some(Err(e.clone())),
        TorrentState::Stopped => Some(Err(TorrentError::Stopped)),
        _ => None,
    }
}

impl TorrentHandle {
    /// The torrent's infohash.
    pub fn infohash(&self) -> metainfo::Infohash {
        self.infohash
    }
    /// A snapshot of its progress.
    pub fn progress(&self) -> TorrentProgress {
        self.progress.borrow().clone()
    }
    /// The progress as it changes: the torrent actor publishes a new value
    /// when something in it changed (state, metadata, a verified piece,
    /// peers, and the rates at each 1 s tick), at most once per batch of
    /// events, never per block. `changed()` fails once the torrent's actor
    /// has ended (stopped, failed or removed); the last value stays.
    ///
    /// The receiver starts with the current value marked seen.
    pub fn watch(&self) -> watch::Receiver<TorrentProgress> {
        let mut rx = self.progress.clone();
        rx.mark_unchanged();
        rx
    }
    /// The torrent's metainfo once it is known: at once for a `.torrent`
    /// source, after [`TorrentEvent::MetadataReceived`] for a magnet link
    /// (the info dictionary from peers, BEP 9; no announce list).
    pub fn metainfo(&self) -> Option<Arc<Metainfo>> {
        self.shared.metainfo.get().cloned()
    }
    /// Events from now on (metadata, verified pieces, completion, errors).
    pub fn subscribe(&self) -> broadcast::Receiver<TorrentEvent> {
        self.events.subscribe()
    }
    /// Connect to more peers (e.g. from a tracker).
    pub async fn add_peers(&self, peers: Vec<SocketAddr>) {
        let _ = self
            .shared
            .events
            .send(Event::Cmd(TorrentCmd::AddPeers(peers)))
            .await;
    }
    /// Pause (drop all peers, stop connecting) or resume.
    pub async fn pause(&self, paused: bool) {
        let _ = self
            .shared
            .events
            .send(Event::Cmd(TorrentCmd::Pause(paused)))
            .await;
    }
    /// Waits until the torrent is complete and verified, or has stopped:
    /// [`TorrentError::Stopped`], [`TorrentError::Removed`] (its actor
    /// ended without saying why), or the error it failed with.
    pub async fn wait_complete(&self) -> Result<(), TorrentError> {
        let mut rx = self.watch();
        loop {
            if let Some(r) = outcome(&rx.borrow_and_update()) {
                return r;
            }
            if rx.changed().await.is_err() {
                return outcome(&rx.borrow()).unwrap_or(Err(TorrentError::Removed));
            }
        }
    }
}

#[derive(Debug)]
struct TorrentEntry {
    handle: TorrentHandle,
    cancel: CancellationToken,
}

/// The engine: listeners, torrents, limits. Clone it freely (it is a handle).
#[derive(Clone)]
pub struct Session {
    shared: Arc<SessionShared>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("listen", &self.shared.net.listen_addrs())
            .finish_non_exhaustive()
    }
}

/// Alias kept for callers that store the session in several places.
pub type SessionHandle = Session;

fn new_peer_id(prefix: [u8; 8]) -> PeerId {
    const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(&prefix);
    let mut rnd = [0u8; 12];
    if getrandom::fill(&mut rnd).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        rnd.copy_from_slice(&t.to_le_bytes()[..12]);
    }
    for (d, r) in id[8..].iter_mut().zip(rnd) {
        *d = ALNUM[usize::from(r) % ALNUM.len()];
    }
    PeerId(id)
}

fn bind(addr: SocketAddr, congestion: &Congestion) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    // Accepted connections inherit it.
    congestion.apply(socket2::SockRef::from(&s));
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

impl Session {
    /// Starts a session: binds the listeners and starts accepting.
    pub async fn new(options: SessionOptions) -> Result<Session, SwarmError> {
        let mut listeners = Vec::new();
        let congestion = Congestion::new(options.tcp_congestion.clone());
        for &addr in &options.listen {
            let l =
                bind(addr, &congestion).map_err(|source| SwarmError::Listen { addr, source })?;
            listeners.push(l);
        }
        let listen_addrs = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let net = Net::new(
            new_peer_id(options.peer_id_prefix),
            &options,
            listen_addrs,
            congestion,
        );
        let shared = Arc::new(SessionShared {
            net: Arc::new(net),
            conn_limit: Arc::new(Semaphore::new(options.max_connections)),
            write_limit: Arc::new(Semaphore::new(options.max_concurrent_writes.max(1))),
            tasks: TaskTracker::new(),
            torrents: Mutex::new(Torrents::default()),
            options,
        });
        let cancel = CancellationToken::new();
        for l in listeners {
            let shared2 = Arc::clone(&shared);
            let cancel2 = cancel.clone();
            shared.tasks.spawn(accept_loop(shared2, l, cancel2));
        }
        Ok(Session { shared, cancel })
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.shared.net.listen_addrs().to_vec()
    }

    /// Our peer id.
    pub fn peer_id(&self) -> [u8; 20] {
        self.shared.net.peer_id.0
    }

    /// Global upload limit (bytes/s, 0 = unlimited).
    pub fn set_upload_rate(&self, r: Rate) {
        self.shared.net.up.set_rate(r);
    }
    /// Global download limit (bytes/s, 0 = unlimited).
    pub fn set_download_rate(&self, r: Rate) {
        self.shared.net.down.set_rate(r);
    }

    /// Adds a torrent. With a `.torrent` source the data is opened and checked
    /// first (resume state, then hashing), so storage errors — a missing or
    /// wrong-size file when seeding — are returned here.
    pub async fn add_torrent(&self, add: AddTorrent) -> Result<TorrentHandle, SwarmError> {
        if self.cancel.is_cancelled() {
            return Err(SwarmError::ShuttingDown);
        }
        let infohash = add.source.infohash();
        let _reserved = self.reserve(infohash)?;
        let (name, loaded) = match &add.source {
            TorrentSource::Metainfo(m) => {
                let m = Arc::new((**m).clone());
                let dir = add.dir.clone();
                let mode = match add.mode {
                    TorrentMode::Seed => OpenMode::Seed,
                    TorrentMode::Download => OpenMode::Download,
                };
                let threads = self.shared.options.check_threads;
                let interval = self.shared.options.resume_save_interval;
                let m2 = Arc::clone(&m);
                let prefill = add.prefill.clone();
                let loaded = tokio::task::spawn_blocking(move || {
                    load_storage(m2, &dir, mode, threads, interval, prefill.as_ref())
                })
                .await
                .map_err(|e| SwarmError::Bug(e.to_string()))?
                .map_err(|source| SwarmError::Storage {
                    name: m.info().name().to_string(),
                    dir: add.dir.clone(),
                    source,
                })?;
                (Some(m.info().name().to_string()), Some(loaded))
            }
            TorrentSource::Magnet(mg) => (mg.name.clone(), None),
        };
        let mut tiers: Vec<Vec<String>> = match &add.source {
            TorrentSource::Metainfo(m) => m.announce_tiers().to_vec(),
            TorrentSource::Magnet(m) => m.trackers.iter().map(|t| vec![t.clone()]).collect(),
        };
        tiers.extend(add.trackers.iter().map(|t| vec![t.clone()]));
        let web_seeds = match &add.source {
            TorrentSource::Metainfo(m) => m.web_seeds().to_vec(),
            TorrentSource::Magnet(m) => m.web_seeds.clone(),
        };
        let mut peers = add.peers.clone();
        if let TorrentSource::Magnet(mg) = &add.source {
            peers.extend(mg.peers.iter().filter_map(|p| p.parse::<SocketAddr>().ok()));
        }
        let (tx, rx) = mpsc::channel(TORRENT_CHANNEL);
        let cancel = self.cancel.child_token();
        let tshared = Arc::new(TorrentShared::new(
            infohash,
            tx,
            Arc::clone(&self.shared.net),
            cancel.clone(),
            (add.upload_rate, add.download_rate),
        ));
        let (progress_tx, progress) = watch::channel(TorrentProgress {
            name: name.clone(),
            ..TorrentProgress::default()
        });
        let (events, _) = broadcast::channel(1024);
        let actor = Actor::new(ActorInit {
            shared: Arc::clone(&tshared),
            options: self.shared.options.clone(),
            tasks: self.shared.tasks.clone(),
            conn_limit: Arc::clone(&self.shared.conn_limit),
            write_limit: Arc::clone(&self.shared.write_limit),
            rx,
            dir: add.dir.clone(),
            super_seed: add.super_seed,
            loaded,
            name,
            progress: progress_tx,
            events: events.clone(),
            peers,
            web_seeds,
            origin: add.origin.clone(),
            prefill: add.prefill.clone(),
        });
        {
            let handle = TorrentHandle {
                infohash,
                shared: Arc::clone(&tshared),
                progress: progress.clone(),
                events: events.clone(),
            };
            self.shared
                .torrents
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .running
                .insert(infohash, TorrentEntry { handle, cancel });
        }
        let span = info_span!("torrent", infohash = %infohash);
        let announcer = crate::announcer::run(
            Arc::clone(&tshared),
            tiers,
            progress.clone(),
            events.subscribe(),
        );
        self.shared
            .tasks
            .spawn(actor.run().instrument(span.clone()));
        self.shared.tasks.spawn(announcer.instrument(span));
        Ok(TorrentHandle {
            infohash,
            shared: tshared,
            progress,
            events,
        })
    }

    /// Reserves `infohash` for an add, or says it is a duplicate: of a
    /// torrent in the session or of one being added right now.
    fn reserve(&self, infohash: metainfo::Infohash) -> Result<Reservation<'_>, SwarmError> {
        let mut t = self
            .shared
            .torrents
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if t.running.contains_key(&infohash) || !t.adding.insert(infohash) {
            return Err(SwarmError::Duplicate(infohash));
        }
        Ok(Reservation {
            torrents: &self.shared.torrents,
            infohash,
        })
    }

    /// The torrents in the session.
    pub fn torrents(&self) -> Vec<TorrentHandle> {
        let map = self
            .shared
            .torrents
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.running.values().map(|e| e.handle.clone()).collect()
    }

    /// Stops a torrent (saving its state) and forgets it. Data stays on disk.
    pub async fn remove_torrent(&self, infohash: metainfo::Infohash) {
        let entry = self
            .shared
            .torrents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .running
            .remove(&infohash);
        if let Some(e) = entry {
            let (tx, rx) = oneshot::channel();
            if e.handle
                .shared
                .events
                .send(Event::Cmd(TorrentCmd::Stop(tx)))
                .await
                .is_ok()
            {
                let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
            }
            e.cancel.cancel();
        }
    }

    /// Stops everything cleanly: every torrent saves its state, connections
    /// close, listeners stop; waits (up to 10 s) for the tasks to end.
    pub async fn shutdown(&self) {
        let hashes: Vec<metainfo::Infohash> = self
            .shared
            .torrents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .running
            .keys()
            .copied()
            .collect();
        for h in hashes {
            self.remove_torrent(h).await;
        }
        self.cancel.cancel();
        self.shared.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.shared.tasks.wait())
            .await
            .is_err()
        {
            warn!("some tasks did not stop within 10 s");
        }
    }
}

async fn accept_loop(shared: Arc<SessionShared>, listener: TcpListener, cancel: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, addr) = match accepted {
            Ok(v) => v,
            Err(e) => {
                debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&shared.conn_limit).try_acquire_owned() else {
            debug!(%addr, "connection limit reached; refusing");
            continue;
        };
        let s2 = Arc::clone(&shared);
        shared.tasks.spawn(async move {
            let _permit = permit;
            incoming(s2, stream, addr).await;
        });
    }
}

/// Reads the handshake of an incoming connection, routes it to its torrent.
async fn incoming(shared: Arc<SessionShared>, mut stream: TcpStream, addr: SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.set_nodelay(true);
    let t = shared.options.handshake_timeout;
    let routed = async {
        let mut parser = HandshakeParser::new();
        let mut buf = bytes::BytesMut::with_capacity(256 * 1024);
        // Answer as soon as the infohash is known, then wait for the peer id.
        let torrent = loop {
            parser.decode(&mut buf).ok()?;
            if let Some(ih) = parser.info_hash() {
                let t = shared
                    .torrents
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .running
                    .get(&ih)
                    .map(|e| Arc::clone(&e.handle.shared))?;
                break t;
            }
            if stream.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        };
        let ours = Handshake::new(
            crate::peer::our_reserved(),
            torrent.infohash,
            shared.net.peer_id,
        );
        stream.write_all(&ours.to_bytes()).await.ok()?;
        let hs = loop {
            if let Some(h) = parser.decode(&mut buf).ok()? {
                break h;
            }
            if stream.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        };
        Some((torrent, hs, buf))
    };
    let Ok(Some((torrent, hs, rest))) = tokio::time::timeout(t, routed).await else {
        return;
    };
    crate::peer::run(torrent, stream, addr, hs, rest, false).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::{Digest, Sha1};

    fn congestion_of(s: &tokio::net::TcpStream) -> String {
        let name = socket2::SockRef::from(s).tcp_congestion().unwrap();
        String::from_utf8_lossy(&name)
            .trim_end_matches('\0')
            .to_owned()
    }

    /// Peer connections, dialled and accepted, use the congestion control
    /// asked for; one the kernel lacks leaves the system's default, and the
    /// connections still work.
    #[tokio::test]
    async fn peer_sockets_get_the_congestion_control_asked_for() {
        // Ask for one that is not the system's default, so that a socket
        // left alone cannot pass.
        let probe =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let default = String::from_utf8_lossy(&probe.tcp_congestion().unwrap())
            .trim_end_matches('\0')
            .to_owned();
        let want = if default == "reno" { "cubic" } else { "reno" };
        let asked = Congestion::new(Some(want.into()));
        let listener = bind("127.0.0.1:0".parse().unwrap(), &asked).unwrap();
        let addr = listener.local_addr().unwrap();
        let system = Congestion::new(None);
        let dialled = crate::peer::dial(addr, None, &system).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert_eq!(congestion_of(&accepted), want);
        assert_eq!(congestion_of(&dialled), default);
        let dialled = crate::peer::dial(addr, None, &asked).await.unwrap();
        assert_eq!(congestion_of(&dialled), want);
        let bogus = Congestion::new(Some("no-such-control".into()));
        let dialled = crate::peer::dial(addr, None, &bogus).await.unwrap();
        assert_eq!(congestion_of(&dialled), default);
        assert!(bogus.warned.load(std::sync::atomic::Ordering::Relaxed));
    }

    /// A bug reported by a piece's hash-and-write task (what a panic in it
    /// becomes) stops the torrent with `TorrentError::Bug`, on the watch
    /// and from `wait_complete`; it is not counted as a hash failure.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bug_in_a_piece_task_fails_the_torrent_without_blame() {
        let tmp = tempfile::tempdir().unwrap();
        let bytes = vec![7u8; 40_000];
        std::fs::write(tmp.path().join("f.bin"), &bytes).unwrap();
        let hashes = bytes
            .chunks(16 * 1024)
            .map(|c| Sha1::digest(c).into())
            .collect();
        let info = metainfo::Info::single("f.bin", 16 * 1024, hashes, 40_000);
        let m = Metainfo::from_bytes(&Metainfo::new(info).to_bytes()).unwrap();
        let session = Session::new(SessionOptions {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let h = session
            .add_torrent(AddTorrent::seed(m, tmp.path()))
            .await
            .unwrap();
        let mut rx = h.watch();
        let bug = TorrentError::Bug("the task hashing and writing piece 1 panicked".into());
        h.shared
            .events
            .send(Event::PieceDone {
                piece: 1,
                result: Err(bug.clone()),
                buf: Vec::new(),
            })
            .await
            .unwrap();
        let p = tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|p| matches!(p.state, TorrentState::Failed(_))),
        )
        .await
        .expect("the torrent did not fail")
        .unwrap()
        .clone();
        assert_eq!(p.state, TorrentState::Failed(bug.clone()));
        assert_eq!(p.hash_failures, 0);
        assert_eq!(p.banned, 0);
        assert_eq!(h.wait_complete().await, Err(bug));
        session.shutdown().await;
    }
}
