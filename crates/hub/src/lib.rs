//! anthill's hub: the origin of a fleet's releases.
//!
//! A file or directory dropped into `DIR/incoming/` becomes a release once
//! it has stopped changing: it is moved into `DIR/releases/NAME`, an aligned
//! torrent is created (the hub's HTTP and UDP trackers, its BEP 19 web seed,
//! `source` set to the hub's key id), it gets the next sequence number, a
//! signed manifest (minisign), a place in the signed index and in the RSS
//! feed, and the hub seeds it (super-seeding). Everything is served by one
//! HTTP listener ([`http`]) and a UDP tracker on the same port.
//!
//! Layout: [`Publisher`] (`publish.rs`) is the synchronous pipeline, with
//! its invariants in `PUBLISH.md`; [`Store`] keeps the state in SQLite;
//! [`PublicFiles`] writes `public/`; this file is the thin tokio shell that
//! runs the pipeline, the seeder, the tracker and the HTTP server.
//!
//! ```no_run
//! # async fn f() -> Result<(), hub::HubError> {
//! let config = hub::HubConfig { dir: "/srv/hub".into(), ..Default::default() };
//! let listeners = hub::Listeners::bind(config.listen)?;
//! hub::run(config, listeners, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod agents;
pub mod api;
mod config;
mod dashboard;
mod error;
pub mod fleet;
mod http;
mod layout;
mod metrics;
mod public;
mod publish;
mod store;
mod urls;

pub use config::{DOCS as CONFIG_DOCS, HubConfig};
pub use error::HubError;
pub use layout::Layout;
pub use public::{FeedBytes, ForeignTorrent, PublicFiles};
pub use publish::{Outcome, PublishOptions, Publisher, copy_tree, remove_tree};
pub use store::{Rejection, ReleaseRecord, ReleaseState, Store, StoreError};
pub use urls::Urls;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use metainfo::Infohash;
use release::SigningKey;
use swarm::{AddTorrent, Session, SessionOptions, TorrentHandle};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::api::HubEvent;
use crate::error::io;

/// The bound sockets of a hub: the HTTP listener and the UDP tracker's
/// socket on the same port. Tests bind port 0.
#[derive(Debug)]
pub struct Listeners {
    /// HTTP.
    pub http: std::net::TcpListener,
    /// UDP tracker.
    pub udp: std::net::UdpSocket,
}

impl Listeners {
    /// Binds TCP `addr`, then UDP on the same address and port.
    pub fn bind(addr: SocketAddr) -> Result<Self, HubError> {
        let err = |source| HubError::Listen {
            protocol: "http",
            addr,
            source,
        };
        // A deep accept backlog: a fleet reconnecting at once (a hub
        // restart) opens thousands of connections in a burst, and an
        // overflowing queue costs each dropped one a 1 s SYN retry.
        let s = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .map_err(err)?;
        s.set_reuse_address(true).map_err(err)?;
        s.bind(&addr.into()).map_err(err)?;
        s.listen(4096).map_err(err)?;
        let http: std::net::TcpListener = s.into();
        let bound = http.local_addr().map_err(|source| HubError::Listen {
            protocol: "http",
            addr,
            source,
        })?;
        let udp = std::net::UdpSocket::bind(bound).map_err(|source| HubError::Listen {
            protocol: "udp",
            addr: bound,
            source,
        })?;
        Ok(Self { http, udp })
    }

    /// The HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.local_addr().ok()
    }
}

/// Runs a hub until `shutdown` completes.
pub async fn run(
    config: HubConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), HubError> {
    let hub = Hub::start(config, listeners).await?;
    let failed = hub.failed.clone();
    tokio::select! {
        () = shutdown => {}
        () = failed.cancelled() => {}
    }
    hub.stop().await
}

/// A running hub (tests drive it directly).
pub struct Hub {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    failed: CancellationToken,
    tasks: tokio::task::JoinSet<Result<(), HubError>>,
    /// Holds the directory's lock while the hub runs.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("url", &self.shared.urls.base())
            .finish()
    }
}

/// What every task of the hub shares.
pub(crate) struct Shared {
    pub(crate) config: HubConfig,
    pub(crate) layout: Layout,
    pub(crate) urls: Urls,
    pub(crate) key_id: String,
    pub(crate) public_key: String,
    pub(crate) tracker: tracker::Tracker,
    pub(crate) session: Session,
    /// The pipeline; locked only inside blocking tasks.
    pub(crate) publisher: Mutex<Publisher>,
    pub(crate) public: Mutex<PublicFiles>,
    /// What the HTTP side reads: replaced whole after every change.
    pub(crate) view: RwLock<Arc<View>>,
    pub(crate) seeding: Mutex<HashMap<Infohash, TorrentHandle>>,
    pub(crate) events: broadcast::Sender<HubEvent>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) agents: agents::Agents,
    /// Series and last summaries of the rollout; written by the fleet task
    /// only, read by `/api/fleet` and the page.
    pub(crate) fleet: Mutex<fleet::Fleet>,
    /// Bytes the web seed served, per release (since the hub started).
    pub(crate) webseed_bytes: Mutex<HashMap<Infohash, u64>>,
    /// Bytes of `.torrent` files served over HTTP (since the hub started):
    /// with what the seeder sent as BEP 9 metadata, what the fleet's
    /// metadata cost the hub.
    pub(crate) torrent_file_bytes: std::sync::atomic::AtomicU64,
    pub(crate) started: Instant,
}

/// A snapshot of what the hub publishes.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) releases: Vec<Arc<ReleaseRecord>>,
    pub(crate) rejected: Vec<Rejection>,
    pub(crate) rejected_total: u64,
    pub(crate) feed: Arc<FeedBytes>,
    pub(crate) foreign: Arc<Vec<ForeignTorrent>>,
}

impl Hub {
    /// Opens (creating) the hub directory, recovers from any crash, starts
    /// seeding, the tracker, the pipeline and the HTTP server.
    pub async fn start(config: HubConfig, listeners: Listeners) -> Result<Self, HubError> {
        let layout = Layout::new(&config.dir);
        layout.create().map_err(io("create", layout.root()))?;
        let lock = lock_dir(&layout)?;
        let key = load_or_make_key(&layout)?;
        info!(key_id = %key.key_id(), public_key = %key.public_key().to_base64(), "hub signing key");
        let store = Store::open(&layout.database())?;
        let http_addr = listeners
            .http
            .local_addr()
            .map_err(|source| HubError::Listen {
                protocol: "http",
                addr: config.listen,
                source,
            })?;
        let udp_port = listeners
            .udp
            .local_addr()
            .map_or(http_addr.port(), |a| a.port());
        let base = match &config.public_url {
            Some(u) => u.clone(),
            None => default_public_url(http_addr),
        };
        let urls = Urls::new(&base, udp_port)?;

        let tracker = tracker::Tracker::new(tracker_config(&config))?;
        let session = start_session(&config).await?;

        let options = PublishOptions {
            settle: config.settle.get(),
            keep: config.keep,
            pack_below_per_mille: (config.pack_below_fraction.clamp(0.0, 1.0) * 1000.0).round()
                as u32,
            hash_threads: 0,
        };
        let key_id = key.key_id().to_string();
        let public_key = key.public_key().to_base64();
        let publisher = Publisher::new(layout.clone(), store, key, urls.clone(), options);
        let public = PublicFiles {
            settings: public::FeedSettings {
                title: config.title.clone(),
                max_items: config.feed_items,
                ttl_minutes: u32::try_from(config.feed_ttl.get().as_secs().div_ceil(60))
                    .unwrap_or(u32::MAX),
            },
            ..PublicFiles::default()
        };
        let (events, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            config,
            layout,
            urls,
            key_id,
            public_key,
            tracker,
            session,
            publisher: Mutex::new(publisher),
            public: Mutex::new(public),
            view: RwLock::new(Arc::new(View::default())),
            seeding: Mutex::new(HashMap::new()),
            events,
            metrics: metrics::Metrics::default(),
            agents: agents::Agents::default(),
            fleet: Mutex::new(fleet::Fleet::default()),
            webseed_bytes: Mutex::new(HashMap::new()),
            torrent_file_bytes: std::sync::atomic::AtomicU64::new(0),
            started: Instant::now(),
        });

        // Recovery, then public/ and the seeder from the database.
        let s2 = Arc::clone(&shared);
        let recovered = blocking(move || {
            let mut p = s2.publisher.lock().unwrap_or_else(|e| e.into_inner());
            let out = p.recover()?;
            let mut public = s2.public.lock().unwrap_or_else(|e| e.into_inner());
            p.write_public(&mut public)?;
            Ok(out)
        })
        .await?;
        for o in &recovered {
            if let Outcome::Rejected(r) = o {
                shared.metrics.rejected();
                warn!(entry = %r.name, reason = %r.reason, "an interrupted publish was rejected");
            }
        }
        refresh_view(&shared).await?;
        let published: Vec<Arc<ReleaseRecord>> = read_view(&shared).releases.clone();
        for f in read_view(&shared).foreign.iter() {
            shared.tracker.allow_list().allow(f.infohash);
        }
        for r in published.iter().rev() {
            seed(&shared, r).await;
        }
        set_served(&shared, published.iter().map(|r| r.seq).max().unwrap_or(0)).await?;

        let cancel = CancellationToken::new();
        let failed = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        {
            let (t, c) = (shared.tracker.clone(), cancel.clone());
            let udp = listeners.udp;
            tasks.spawn(async move {
                let l = tracker::Listeners {
                    http: None,
                    udp: Some(udp),
                };
                tracker::serve(t, l, c.cancelled_owned())
                    .await
                    .map_err(HubError::from)
            });
        }
        {
            let (s, c) = (Arc::clone(&shared), cancel.clone());
            let http = listeners.http;
            tasks.spawn(async move { http::serve(s, http, c).await });
        }
        {
            let (s, c) = (Arc::clone(&shared), cancel.clone());
            tasks.spawn(async move { pipeline(s, c).await });
        }
        {
            let (s, c) = (Arc::clone(&shared), cancel.clone());
            tasks.spawn(async move { fleet_task(s, c).await });
        }
        info!(url = %shared.urls.base(), http = %http_addr, udp_port, releases = published.len(), "hub running");
        Ok(Self {
            shared,
            cancel,
            failed,
            tasks,
            _lock: lock,
        })
    }

    /// The public base URL.
    pub fn url(&self) -> &str {
        self.shared.urls.base()
    }

    /// The hub's key id.
    pub fn key_id(&self) -> &str {
        &self.shared.key_id
    }

    /// The engine's peer listen addresses.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.shared.session.listen_addrs()
    }

    /// Stops everything and waits for it.
    pub async fn stop(mut self) -> Result<(), HubError> {
        self.cancel.cancel();
        let mut first_err = None;
        while let Some(done) = self.tasks.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    error!(error = %e, "hub task failed");
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(HubError::Bug(e.to_string()));
                }
            }
        }
        self.shared.session.shutdown().await;
        info!("hub stopped");
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Takes the exclusive lock on `hub.lock` (another hub on the same
/// directory would corrupt it) and writes our PID into it.
fn lock_dir(layout: &Layout) -> Result<std::fs::File, HubError> {
    let path = layout.lock_file();
    storage::lock_pid_file(&path)
        .map_err(io("lock", &path))?
        .ok_or_else(|| HubError::Locked {
            dir: layout.root().to_path_buf(),
            lock: path.clone(),
        })
}

/// True if a hub holds the lock of `dir` (for `anthill publish`).
pub fn is_running(dir: &Path) -> bool {
    let path = Layout::new(dir).lock_file();
    let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) else {
        return false;
    };
    let held = rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared).is_err();
    if !held {
        let _ = rustix::fs::flock(&f, rustix::fs::FlockOperation::Unlock);
    }
    held
}

/// Loads `keys/hub.key`, or makes a key pair there on first start.
fn load_or_make_key(layout: &Layout) -> Result<SigningKey, HubError> {
    use std::os::unix::fs::PermissionsExt;
    let path = layout.secret_key();
    let key_err = |source| HubError::Key {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mode = std::fs::metadata(&path)
                .map_err(io("stat", &path))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the secret key is readable by others; setting mode 0600");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io("chmod", &path))?;
            }
            let key = SigningKey::from_file_text(&text).map_err(key_err)?;
            public::write_if_changed(
                &layout.public_key(),
                key.public_key().to_file_text().as_bytes(),
            )?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate().map_err(key_err)?;
            write_secret(&path, key.to_file_text().as_bytes())?;
            public::write_if_changed(
                &layout.public_key(),
                key.public_key().to_file_text().as_bytes(),
            )?;
            info!(path = %path.display(), key_id = %key.key_id(), "made a new signing key");
            Ok(key)
        }
        Err(e) => Err(HubError::Io {
            op: "read",
            path,
            source: e,
        }),
    }
}

/// Writes a secret file with mode 0600 from its creation on, atomically.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), HubError> {
    storage::write_atomic_mode(path, bytes, 0o600).map_err(io("write", path))
}

/// `http://ADDR:PORT` with an unspecified address replaced by this host's
/// first non-loopback address (or loopback when there is none).
fn default_public_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        host_address(addr.is_ipv6()).unwrap_or(if addr.is_ipv6() {
            IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
        } else {
            IpAddr::from([127, 0, 0, 1])
        })
    } else {
        addr.ip()
    };
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{}", addr.port()),
        IpAddr::V6(v6) => format!("http://[{v6}]:{}", addr.port()),
    }
}

/// The address of this host's first up, non-loopback interface, read from
/// the kernel's interface list (no packet is sent).
fn host_address(v6: bool) -> Option<IpAddr> {
    if v6 {
        let text = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
        return text.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            let hex = f.next()?;
            let scope = f.nth(2)?;
            if scope != "00" || hex.len() != 32 {
                return None; // only global addresses
            }
            let mut b = [0u8; 16];
            hex::decode_to_slice(hex, &mut b).ok()?;
            Some(IpAddr::from(b))
        });
    }
    // /proc/net/fib_trie lists local addresses as "/32 host LOCAL" leaves.
    let text = std::fs::read_to_string("/proc/net/fib_trie").ok()?;
    let mut last: Option<std::net::Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim_start_matches([' ', '|', '-', '+']);
        if let Some(ip) = t.split_whitespace().next().and_then(|w| w.parse().ok()) {
            last = Some(ip);
        } else if line.contains("/32 host LOCAL") {
            if let Some(ip) = last.filter(|ip| !ip.is_loopback()) {
                return Some(IpAddr::V4(ip));
            }
        }
    }
    None
}

fn tracker_config(config: &HubConfig) -> tracker::TrackerConfig {
    let mut t = tracker::TrackerConfig::default();
    t.access.mode = tracker::AccessMode::Closed;
    t.access.allow_list = None;
    t.http.enabled = false;
    t.udp.enabled = true;
    t.udp.workers = 1;
    t.announce.interval = config.announce_interval;
    // A fleet announces from behind few addresses; per-IP limits would throttle it.
    t.rate_limit.enabled = false;
    t
}

async fn start_session(config: &HubConfig) -> Result<Session, HubError> {
    let opts = |listen| SessionOptions {
        listen,
        upload_rate: swarm::Rate(config.max_upload_rate),
        tcp_congestion: SessionOptions::tcp_congestion_named(&config.tcp_congestion),
        ..SessionOptions::default()
    };
    match Session::new(opts(config.peer_listen.clone())).await {
        Ok(s) => Ok(s),
        Err(e) => {
            let any: Vec<SocketAddr> = config
                .peer_listen
                .iter()
                .map(|a| SocketAddr::new(a.ip(), 0))
                .collect();
            warn!(error = %e, "peer port taken; using a free one");
            Session::new(opts(any)).await.map_err(HubError::from)
        }
    }
}

/// Runs `f` on the blocking pool; a panic is a bug, not an I/O error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HubError> + Send + 'static,
) -> Result<T, HubError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HubError::Bug(format!("publish task: {e}")))?
}

pub(crate) fn read_view(shared: &Shared) -> Arc<View> {
    Arc::clone(&shared.view.read().unwrap_or_else(|e| e.into_inner()))
}

/// Rebuilds the HTTP side's snapshot from the database.
async fn refresh_view(shared: &Arc<Shared>) -> Result<(), HubError> {
    let s = Arc::clone(shared);
    let view = blocking(move || {
        let p = s.publisher.lock().unwrap_or_else(|e| e.into_inner());
        let public = s.public.lock().unwrap_or_else(|e| e.into_inner());
        Ok(View {
            releases: p.store().published()?.into_iter().map(Arc::new).collect(),
            rejected: p.store().rejections(100)?,
            rejected_total: p.store().rejection_count()?,
            feed: Arc::clone(&public.feed),
            foreign: Arc::clone(&public.foreign),
        })
    })
    .await?;
    *shared.view.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(view);
    Ok(())
}

/// Starts seeding a published release and lets the tracker serve it.
async fn seed(shared: &Arc<Shared>, r: &ReleaseRecord) {
    shared.tracker.allow_list().allow(r.infohash);
    let m = match metainfo::Metainfo::from_bytes(&r.torrent) {
        Ok(m) => m,
        Err(e) => {
            error!(release = %r.name, error = %e, "the stored torrent does not parse; not seeding it");
            return;
        }
    };
    let mut add = AddTorrent::seed(m, shared.layout.releases());
    add.super_seed = shared.config.super_seed;
    match shared.session.add_torrent(add).await {
        Ok(h) => {
            let p = h.progress();
            if p.pieces_have != p.pieces_total {
                error!(release = %r.name, missing = p.pieces_total - p.pieces_have, "published data was modified on disk; seeding what is intact");
            }
            shared
                .seeding
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(r.infohash, h);
        }
        Err(swarm::SwarmError::Duplicate(_)) => {}
        Err(e) => error!(release = %r.name, error = %e, "cannot seed"),
    }
}

/// Records that the releases up to `seq` are in the view and seeded.
async fn set_served(shared: &Arc<Shared>, seq: u64) -> Result<(), HubError> {
    let s = Arc::clone(shared);
    blocking(move || {
        let p = s.publisher.lock().unwrap_or_else(|e| e.into_inner());
        p.store().set_served_seq(seq)?;
        Ok(())
    })
    .await
}

/// Watches `incoming/` and `torrents/` and runs the pipeline: each round
/// scans, publishes what settled, retires what is past `keep`, rewrites
/// `public/`, then updates the seeder, the tracker and the event stream.
async fn pipeline(shared: Arc<Shared>, cancel: CancellationToken) -> Result<(), HubError> {
    let (wake_tx, mut wake) = mpsc::channel::<()>(1);
    let _watcher = watch(&shared.layout, wake_tx);
    let settle = shared.config.settle.get();
    let every = shared
        .config
        .rescan_interval
        .get()
        .min(settle / 2)
        .max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_rescan = Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            _ = tick.tick() => {}
            Some(()) = wake.recv() => {}
        }
        let full = last_rescan.elapsed() >= shared.config.rescan_interval.get();
        if full {
            last_rescan = Instant::now();
        }
        if let Err(e) = round(&shared, full).await {
            error!(error = %e, "publish round failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn round(shared: &Arc<Shared>, full: bool) -> Result<(), HubError> {
    let s = Arc::clone(shared);
    let (outcomes, retired, foreign_changed) = blocking(move || {
        let mut p = s.publisher.lock().unwrap_or_else(|e| e.into_inner());
        let ready = p.scan(Instant::now())?;
        let mut outcomes = Vec::new();
        for entry in &ready {
            outcomes.push(p.process(entry));
        }
        let retired = if outcomes.iter().any(|o| matches!(o, Outcome::Published(..))) {
            p.retire_old()?
        } else {
            Vec::new()
        };
        let mut public = s.public.lock().unwrap_or_else(|e| e.into_inner());
        let before = Arc::clone(&public.foreign);
        if !outcomes.is_empty() || !retired.is_empty() || full {
            p.write_public(&mut public)?;
        }
        let foreign_changed = before != public.foreign;
        Ok((outcomes, retired, foreign_changed))
    })
    .await?;
    if outcomes.is_empty() && retired.is_empty() && !foreign_changed {
        return Ok(());
    }
    refresh_view(shared).await?;
    if foreign_changed {
        for f in read_view(shared).foreign.iter() {
            shared.tracker.allow_list().allow(f.infohash);
        }
        let _ = shared.events.send(HubEvent::FeedChanged);
    }
    let mut served = None;
    for o in outcomes {
        match o {
            Outcome::Published(record, _) => {
                seed(shared, &record).await;
                served = served.max(Some(record.seq));
                shared.metrics.published();
                let view = api::ReleaseView::new(&record, &shared.urls, None);
                let _ = shared.events.send(HubEvent::Published(view));
            }
            Outcome::Rejected(r) => {
                shared.metrics.rejected();
                let _ = shared.events.send(HubEvent::Rejected(r));
            }
        }
    }
    if let Some(seq) = served {
        // `anthill publish` waits for this: the release is in the feed, the
        // API and the event stream, and seeded.
        set_served(shared, seq).await?;
    }
    for r in retired {
        let handle = shared
            .seeding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&r.infohash);
        if handle.is_some() {
            shared.session.remove_torrent(r.infohash).await;
        }
        shared.tracker.allow_list().disallow(&r.infohash);
        let _ = shared.events.send(HubEvent::Retired {
            seq: r.seq,
            name: r.name.to_string(),
            infohash: r.infohash,
        });
        let s = Arc::clone(shared);
        blocking(move || {
            s.publisher
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .delete_data(&r.name);
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Bytes the hub sent of a release: its seeder's upload plus what the web
/// seed served (both since the hub started).
pub(crate) fn origin_bytes(shared: &Shared, ih: &Infohash) -> u64 {
    let seeded = shared
        .seeding
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(ih)
        .map_or(0, |h| h.progress().uploaded);
    let webseed = shared
        .webseed_bytes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(ih)
        .copied()
        .unwrap_or(0);
    seeded.saturating_add(webseed)
}

/// The published releases as the fleet summaries take them, newest first.
pub(crate) fn fleet_releases(shared: &Shared, view: &View) -> Vec<fleet::Release> {
    view.releases
        .iter()
        .map(|r| fleet::Release {
            infohash: r.infohash.to_hex(),
            published_at: r.published_at,
            origin_bytes: origin_bytes(shared, &r.infohash),
        })
        .collect()
}

/// Once a second at most, if an agent reported (or every 5 s, to notice
/// agents going stale): summarises the fleet, samples the series and sends
/// one `agents` event with the summaries that changed and the rows of the
/// agents that reported (at most [`fleet::MAX_EVENT_ROWS`]).
async fn fleet_task(shared: Arc<Shared>, cancel: CancellationToken) -> Result<(), HubError> {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quiet = 0u32;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let changed = shared.agents.take_changed();
        quiet += 1;
        if changed.is_empty() && quiet < 5 {
            continue;
        }
        quiet = 0;
        let s = Arc::clone(&shared);
        blocking(move || {
            fleet_round(&s, &changed);
            Ok(())
        })
        .await?;
    }
}

fn fleet_round(shared: &Shared, changed: &std::collections::HashSet<String>) {
    let view = read_view(shared);
    let releases = fleet_releases(shared, &view);
    let stale_after = shared.config.agent_stale_after.get();
    let summaries = shared.agents.summaries(stale_after, &releases);
    let touched = shared.agents.releases_of(changed);
    let now = release::unix_now();
    let ticked = shared.fleet.lock().unwrap_or_else(|e| e.into_inner()).tick(
        now,
        &releases,
        summaries,
        &touched,
        !changed.is_empty(),
    );
    let Some((tick, releases_changed)) = ticked else {
        return;
    };
    let newest = releases.first().map(|r| r.infohash.clone());
    let rows = if changed.is_empty() {
        Vec::new()
    } else {
        let mut names: Vec<&String> = changed.iter().collect();
        names.sort();
        let names = names
            .into_iter()
            .take(fleet::MAX_EVENT_ROWS)
            .cloned()
            .collect();
        shared
            .agents
            .rows(stale_after, newest.as_deref().unwrap_or(""), &names)
    };
    let _ = shared
        .events
        .send(HubEvent::Agents(Box::new(api::AgentsTick {
            tick,
            at: now,
            agents: shared.agents.len(),
            release: newest,
            releases: releases_changed,
            changed: rows,
            changed_total: changed.len(),
        })));
}

/// File-system events on `incoming/` (recursive) and `torrents/` wake the
/// pipeline; the periodic rescan covers file systems where inotify is silent.
fn watch(layout: &Layout, wake: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Opening and reading (our own scans do) is no change: waking on it
        // would make every scan wake the next one.
        if let Ok(ev) = &res
            && matches!(
                ev.kind,
                notify::EventKind::Access(_) | notify::EventKind::Other
            )
        {
            return;
        }
        let _ = wake.try_send(());
    }) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "no file-system events; relying on the periodic rescan");
            return None;
        }
    };
    for (dir, mode) in [
        (layout.incoming(), notify::RecursiveMode::Recursive),
        (layout.torrents(), notify::RecursiveMode::NonRecursive),
    ] {
        if let Err(e) = w.watch(&dir, mode) {
            warn!(dir = %dir.display(), error = %e, "cannot watch; relying on the periodic rescan");
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_public_url_never_names_an_unspecified_address() {
        let u = default_public_url("0.0.0.0:6880".parse().unwrap());
        assert!(!u.contains("0.0.0.0") && u.ends_with(":6880"), "{u}");
        assert!(Urls::new(&u, 6880).is_ok());
        let u6 = default_public_url("[::]:6880".parse().unwrap());
        assert!(!u6.contains("[::]") && u6.ends_with(":6880"), "{u6}");
        assert_eq!(
            default_public_url("10.1.2.3:80".parse().unwrap()),
            "http://10.1.2.3:80"
        );
    }
}
