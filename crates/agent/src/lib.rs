//! anthill's agent: follows one or more feeds, and installs each new
//! release exactly once — verified, atomically, with a hook — then keeps
//! seeding it so that agents share among themselves.
//!
//! Layout: [`follower`] learns of releases (feed polls and the hub's event
//! stream) and hands batches to the core; [`planner`] holds the decisions
//! (which releases to take, the install state machine, what a restart does)
//! as plain functions; [`trust`] decides on signatures, seqs and the index;
//! [`store`] keeps the state in SQLite; [`installer`] changes the directory
//! (staging, releases, `current`, hook); this file is the thin tokio shell
//! that carries the steps out one release at a time, and [`status`] serves
//! `/metrics` and `/status`. The states, their on-disk forms and what a
//! restart does in each are in `STATE.md`.
//!
//! ```no_run
//! # async fn f() -> Result<(), agent::AgentError> {
//! let config = agent::AgentConfig {
//!     feeds: vec!["http://hub:6880/feed.xml".into()],
//!     dir: "/srv/agent".into(),
//!     ..Default::default()
//! };
//! agent::run(config, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod config;
pub mod delta;
mod error;
pub mod follower;
pub mod http;
pub mod installer;
pub mod planner;
pub mod report;
pub mod sse;
pub mod status;
pub mod store;
pub mod trust;

pub use config::{AgentConfig, DOCS as CONFIG_DOCS};
pub use error::AgentError;
pub use status::{ReleaseStatus, Snapshot};

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metainfo::{Infohash, Metainfo};
use release::{PublicKey, ReleaseName};
use swarm::{
    AddTorrent, Prefill, Session, SessionOptions, TorrentError, TorrentHandle, TorrentSource,
    TorrentState,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::error::io;
use crate::follower::{FeedStatus, FollowOptions, Learnt, sibling};
use crate::http::{Client, ExtraRoots};
use crate::installer::Layout;
use crate::planner::{Admission, Event, Resume, State, admit, backoff, on_restart};
use crate::store::{Change, Record, Store};
use crate::trust::{Evidence, Refusal};

/// Largest manifest, signature or index read.
const MAX_SIGNED: usize = 1 << 20;
/// First retry of a failed release after about this long (then doubling).
const RETRY_BASE: Duration = Duration::from_secs(2);

/// Runs an agent until `shutdown` completes (or a task fails).
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let agent = Agent::start(config).await?;
    let failed = agent.failed.clone();
    tokio::select! {
        () = shutdown => {}
        () = failed.cancelled() => {}
    }
    agent.stop().await
}

/// A running agent (tests drive it directly).
pub struct Agent {
    cancel: CancellationToken,
    failed: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
    core: Option<tokio::task::JoinHandle<Result<(), AgentError>>>,
    snapshot: watch::Receiver<Snapshot>,
    status_addr: Option<SocketAddr>,
    session: Session,
    _lock: std::fs::File,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("status", &self.status_addr)
            .finish()
    }
}

/// Shared with the status server.
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) trusted: bool,
    pub(crate) feeds: Vec<Arc<Mutex<FeedStatus>>>,
    pub(crate) snapshot: watch::Receiver<Snapshot>,
    pub(crate) session: Session,
    pub(crate) counters: status::Counters,
    pub(crate) transfers: Arc<report::Transfers>,
}

impl Agent {
    /// Opens (creating) the directory, recovers from any crash, starts the
    /// engine, the followers, the core and the status listener.
    pub async fn start(mut config: AgentConfig) -> Result<Self, AgentError> {
        config.validate().map_err(AgentError::Config)?;
        // The hook is told absolute paths, whatever its working directory.
        config.dir = std::path::absolute(&config.dir).map_err(io("resolve", &config.dir))?;
        let keys = load_keys(&config.trust)?;
        let roots = ExtraRoots::load(&config.ca)?;
        let layout = Layout::new(&config.dir);
        layout.create().map_err(io("create", layout.root()))?;
        let lock = lock_dir(&layout)?;
        let store = Store::open(&layout.database())?;
        if keys.is_empty() {
            warn!(
                "no --trust key given: releases are installed WITHOUT any signature check; \
                 give the hub's public key (its /hub.pub) with --trust"
            );
        } else {
            let ids: Vec<String> = keys.iter().map(|k| k.key_id().to_string()).collect();
            info!(keys = ?ids, "installing only releases signed by these keys");
        }
        let session = start_session(&config).await?;
        if !roots.is_empty() {
            info!(files = ?config.ca, certificates = roots.len(), "trusting these CA certificates for https besides the built-in roots");
        }
        let client = Client::with_roots(config.fetch_timeout(), &roots)?;
        let name = config.name.clone().unwrap_or_else(hostname);

        let (snap_tx, snap_rx) = watch::channel(Snapshot::default());
        let feeds: Vec<Arc<Mutex<FeedStatus>>> = config
            .feeds
            .iter()
            .map(|u| {
                Arc::new(Mutex::new(FeedStatus {
                    url: u.clone(),
                    ..FeedStatus::default()
                }))
            })
            .collect();
        let shared = Arc::new(Shared {
            name,
            dir: config.dir.clone(),
            trusted: !keys.is_empty(),
            feeds: feeds.clone(),
            snapshot: snap_rx.clone(),
            session: session.clone(),
            counters: status::Counters::default(),
            transfers: Arc::default(),
        });
        let origin = origin_ips(&config.feeds).await;

        let cancel = CancellationToken::new();
        let failed = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let status_addr = match config.listen {
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .map_err(|source| AgentError::Listen { addr, source })?;
                let bound = l
                    .local_addr()
                    .map_err(|source| AgentError::Listen { addr, source })?;
                l.set_nonblocking(true)
                    .map_err(|source| AgentError::Listen { addr, source })?;
                let l = tokio::net::TcpListener::from_std(l)
                    .map_err(|source| AgentError::Listen { addr, source })?;
                let (s, c) = (Arc::clone(&shared), cancel.clone());
                tasks.spawn(async move { status::serve(s, l, c).await });
                info!(addr = %bound, "status and metrics listening");
                Some(bound)
            }
            None => None,
        };

        let (tx, rx) = mpsc::channel::<Learnt>(64);
        let opts = FollowOptions {
            interval: config.poll_interval(),
            max_backoff: config.max_backoff(),
            events: config.events,
        };
        for (url, st) in config.feeds.iter().zip(&feeds) {
            follower::follow(
                url.clone(),
                client.clone(),
                opts.clone(),
                tx.clone(),
                Arc::clone(st),
                cancel.clone(),
                &mut tasks,
            );
        }
        drop(tx);
        if config.report {
            let urls = if config.report_urls.is_empty() {
                let mut u: Vec<String> =
                    config.feeds.iter().map(|f| report::report_url(f)).collect();
                u.dedup();
                u
            } else {
                config.report_urls.clone()
            };
            tasks.spawn(report::run(
                urls,
                shared.name.clone(),
                config.report_interval(),
                client.clone(),
                snap_rx.clone(),
                session.clone(),
                Arc::clone(&shared.transfers),
                cancel.clone(),
            ));
        }

        let core = Core {
            config,
            layout,
            store,
            keys,
            client,
            session: session.clone(),
            seeding: HashMap::new(),
            origin,
            snapshot: snap_tx,
            shared: Arc::clone(&shared),
            delta: HashMap::new(),
            switched_at: HashMap::new(),
            last_failure: None,
            problem: None,
        };
        let (c, f) = (cancel.clone(), failed.clone());
        let core = tokio::spawn(async move {
            let r = core.run(rx, c).await;
            if let Err(e) = &r {
                error!(error = %e, "the agent failed");
                f.cancel();
            }
            r
        });
        info!(peers = ?session.listen_addrs(), "agent running");
        Ok(Self {
            cancel,
            failed,
            tasks,
            core: Some(core),
            snapshot: snap_rx,
            status_addr,
            session,
            _lock: lock,
        })
    }

    /// The state as the core last published it.
    pub fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// Where `/metrics` and `/status` are served.
    pub fn status_addr(&self) -> Option<SocketAddr> {
        self.status_addr
    }

    /// The engine's peer listen addresses.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.session.listen_addrs()
    }

    /// Stops everything (the engine saves its resume states) and waits.
    pub async fn stop(mut self) -> Result<(), AgentError> {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        let r = match self.core.take() {
            Some(h) => h.await.map_err(|e| AgentError::Bug(e.to_string()))?,
            None => Ok(()),
        };
        info!("agent stopped");
        r
    }
}

/// The addresses of the feeds' hosts: bytes from peers there count as
/// bytes from the hub in reports.
async fn origin_ips(feeds: &[String]) -> Vec<std::net::IpAddr> {
    let mut ips = Vec::new();
    for f in feeds {
        let Some(rest) = f.split_once("://").map(|(_, r)| r) else {
            continue;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let with_port = if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:80")
        } else {
            authority.to_string()
        };
        let lookup =
            tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host(with_port));
        if let Ok(Ok(addrs)) = lookup.await {
            for a in addrs {
                if !ips.contains(&a.ip()) {
                    ips.push(a.ip());
                }
            }
        }
    }
    ips
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "agent".into())
}

/// Each `--trust` value: a base64 key, or the path of a key file.
fn load_keys(trust: &[String]) -> Result<Vec<PublicKey>, AgentError> {
    trust
        .iter()
        .map(|t| {
            let text = if Path::new(t).is_file() {
                let b = installer::read_limited(Path::new(t), 64 * 1024).map_err(io("read", t))?;
                String::from_utf8_lossy(&b).into_owned()
            } else {
                t.clone()
            };
            PublicKey::parse(&text).map_err(|source| AgentError::Key {
                key: t.clone(),
                source,
            })
        })
        .collect()
}

fn lock_dir(layout: &Layout) -> Result<std::fs::File, AgentError> {
    let path = layout.lock_file();
    storage::lock_pid_file(&path)
        .map_err(io("lock", &path))?
        .ok_or_else(|| AgentError::Locked {
            dir: layout.root().to_path_buf(),
            lock: path.clone(),
        })
}

async fn start_session(config: &AgentConfig) -> Result<Session, AgentError> {
    let listen = &config.peer_listen;
    let opts = |listen| SessionOptions {
        listen,
        download_rate: swarm::Rate(config.max_download_rate),
        upload_rate: swarm::Rate(config.max_upload_rate),
        tcp_congestion: SessionOptions::tcp_congestion_named(&config.tcp_congestion),
        ..SessionOptions::default()
    };
    match Session::new(opts(listen.to_vec())).await {
        Ok(s) => Ok(s),
        Err(e) => {
            let any: Vec<SocketAddr> = listen.iter().map(|a| SocketAddr::new(a.ip(), 0)).collect();
            warn!(error = %e, "peer port taken; using a free one");
            Ok(Session::new(opts(any)).await?)
        }
    }
}

/// Why a step did not complete.
enum StepError {
    /// Retry later.
    Fail(String),
    /// Refuse for good (the torrent is not the signed one, or unsafe).
    Refuse(String),
    /// The agent itself is broken (database).
    Fatal(AgentError),
}

impl From<AgentError> for StepError {
    fn from(e: AgentError) -> Self {
        StepError::Fatal(e)
    }
}

impl From<store::StoreError> for StepError {
    fn from(e: store::StoreError) -> Self {
        StepError::Fatal(e.into())
    }
}

/// The core: owns the store and carries out the pipeline, one release at
/// a time, oldest first.
struct Core {
    config: AgentConfig,
    layout: Layout,
    store: Store,
    keys: Vec<PublicKey>,
    client: Client,
    session: Session,
    seeding: HashMap<Infohash, TorrentHandle>,
    /// The hub's addresses (see `AddTorrent::origin`).
    origin: Vec<std::net::IpAddr>,
    snapshot: watch::Sender<Snapshot>,
    shared: Arc<Shared>,
    /// Bytes reused and downloaded per release, for `/status` (this process only).
    delta: HashMap<Infohash, DeltaCost>,
    /// When this process switched `current` to a release (unix ms).
    switched_at: HashMap<Infohash, u64>,
    /// The last step failure, kept in case it cannot be recorded.
    last_failure: Option<String>,
    /// Why the state cannot be recorded (see [`Snapshot::problem`]).
    problem: Option<String>,
}

/// What one release's download cost (see [`ReleaseStatus::reused_bytes`]).
#[derive(Debug, Clone, Copy, Default)]
struct DeltaCost {
    reused: Option<u64>,
    downloaded: u64,
}

impl Core {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Learnt>,
        cancel: CancellationToken,
    ) -> Result<(), AgentError> {
        let mut attempt = 0;
        let r = loop {
            match self.main(&mut rx, &cancel).await {
                Err(AgentError::Store(e)) if e.is_transient() => {
                    // Nothing was committed; every step is repeatable, so
                    // this is a restart without leaving the process.
                    attempt += 1;
                    let wait = backoff(RETRY_BASE, attempt, self.config.max_backoff());
                    error!(error = %e, retry_in = ?wait, "cannot record the agent's state (is the disk full?); retrying");
                    self.shared.counters.inc_store_errors();
                    let mut problem =
                        format!("cannot record the agent's state: {e}; retrying in {wait:?}");
                    if let Some(f) = &self.last_failure {
                        problem.push_str("; last failure: ");
                        problem.push_str(f);
                    }
                    self.problem = Some(problem);
                    let _ = self.publish();
                    for h in self.session.torrents() {
                        if !self.seeding.contains_key(&h.infohash()) {
                            self.session.remove_torrent(h.infohash()).await;
                        }
                    }
                    tokio::select! {
                        () = cancel.cancelled() => break Ok(()),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                r => break r,
            }
        };
        for ih in self.seeding.keys().copied().collect::<Vec<_>>() {
            self.session.remove_torrent(ih).await;
        }
        self.session.shutdown().await;
        r
    }

    async fn main(
        &mut self,
        rx: &mut mpsc::Receiver<Learnt>,
        cancel: &CancellationToken,
    ) -> Result<(), AgentError> {
        self.recover().await?;
        self.publish()?;
        let mut rx_open = true;
        loop {
            while let Ok(l) = rx.try_recv() {
                self.learn(l)?;
            }
            let now = release::unix_now();
            if let Some(rec) = self.store.next_work(now)? {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Ok(()),
                    r = self.step(rec) => r?,
                }
                // The step and its outcome were recorded.
                self.problem = None;
                self.last_failure = None;
                self.publish()?;
                continue;
            }
            let wait = self
                .store
                .next_retry()?
                .map_or(Duration::from_secs(3600), |t| {
                    Duration::from_secs(u64::try_from(t - now).unwrap_or(0).max(1))
                });
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                l = rx.recv(), if rx_open => match l {
                    Some(l) => self.learn(l)?,
                    None => rx_open = false,
                },
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Publishes the state for `/status`, `/metrics` and tests.
    fn publish(&self) -> Result<(), AgentError> {
        let records = self.store.all()?;
        let mut snap = Snapshot {
            current: self.layout.read_current(),
            releases: records.iter().map(ReleaseStatus::from).collect(),
            problem: self.problem.clone(),
        };
        for (r, rec) in snap.releases.iter_mut().zip(&records) {
            if let Some(t) = self.delta.get(&rec.infohash) {
                r.reused_bytes = t.reused;
                r.downloaded_bytes = Some(t.downloaded);
            }
            r.switched_at_ms = self.switched_at.get(&rec.infohash).copied();
        }
        self.snapshot.send_replace(snap);
        Ok(())
    }

    /// A restart: seeds what is on disk, finishes interrupted hooks'
    /// bookkeeping, and deletes staging leftovers.
    async fn recover(&mut self) -> Result<(), AgentError> {
        let now = release::unix_now();
        let mut keep = HashSet::new();
        for rec in self.store.all()? {
            match on_restart(rec.state) {
                Resume::HookInterrupted => {
                    warn!(release = %rec.name, "the agent stopped while the hook ran; it is not run again");
                    let hook = (
                        "interrupted: the agent stopped while the hook ran; not run again"
                            .to_string(),
                        String::new(),
                    );
                    self.store.apply(
                        &rec.infohash,
                        Event::HookDone,
                        Change {
                            hook: Some(hook),
                            ..Change::default()
                        },
                        now,
                    )?;
                    self.seed(&rec).await;
                }
                Resume::Seed | Resume::Switch | Resume::RunHook => self.seed(&rec).await,
                Resume::Check | Resume::Download | Resume::Move | Resume::RetryLater => {
                    keep.insert(rec.infohash);
                }
                Resume::Nothing => {}
            }
        }
        self.layout
            .clean(&keep)
            .map_err(io("clean", self.layout.root()))?;
        Ok(())
    }

    /// Records a learnt batch: new releases are taken or skipped.
    fn learn(&mut self, l: Learnt) -> Result<(), AgentError> {
        let first = self.store.first_start()?;
        if first && !l.full {
            return Ok(()); // the first choice is made on a whole feed
        }
        let known = self.store.known()?;
        let decided = admit(first, self.config.backfill, &known, &l.candidates);
        if decided.is_empty() && !first {
            return Ok(());
        }
        let batch: Vec<_> = decided
            .into_iter()
            .map(|(c, a)| {
                let skip = match a {
                    Admission::Take => {
                        info!(release = %c.name, infohash = %c.infohash, seq = ?c.seq, feed = %l.feed, "new release");
                        None
                    }
                    Admission::Skip(reason) => {
                        info!(release = %c.name, infohash = %c.infohash, reason = %reason, "skipping a release");
                        Some(reason)
                    }
                };
                (c, skip)
            })
            .collect();
        self.store.learn(&batch, release::unix_now())?;
        self.publish()
    }

    /// One step of one release's pipeline.
    async fn step(&mut self, rec: Record) -> Result<(), AgentError> {
        let ih = rec.infohash;
        let r = match rec.state {
            State::Seen => self.check(&rec).await,
            State::Downloading => self.download(&rec).await,
            State::Verified => self.install(&rec).await,
            State::Installed => self.switch(&rec),
            State::Activating => self.hook(&rec).await,
            State::HookRunning => {
                // Only reached if a restart's recovery did not record it.
                let hook = ("interrupted; not run again".to_string(), String::new());
                self.apply(
                    &ih,
                    Event::HookDone,
                    Change {
                        hook: Some(hook),
                        ..Change::default()
                    },
                )?;
                Ok(())
            }
            State::Failed => {
                let admitted = rec.key_id.is_some();
                info!(release = %rec.name, attempt = rec.attempts + 1, "retrying");
                self.apply(&ih, Event::RetryDue { admitted }, Change::default())?;
                Ok(())
            }
            _ => Ok(()),
        };
        match r {
            Ok(()) => Ok(()),
            Err(StepError::Fatal(e)) => Err(e),
            Err(StepError::Refuse(reason)) => {
                warn!(release = %rec.name, infohash = %ih, reason = %reason, "release refused; it will not be installed");
                self.shared.counters.inc_refused();
                self.session.remove_torrent(ih).await;
                self.apply(
                    &ih,
                    Event::Refused,
                    Change {
                        reason: Some(reason),
                        ..Change::default()
                    },
                )?;
                let _ = self.layout.delete(&self.layout.staging(&ih));
                Ok(())
            }
            Err(StepError::Fail(reason)) => {
                self.last_failure = Some(format!("{}: {reason}", rec.name));
                let attempt = rec.attempts + 1;
                let wait = backoff(RETRY_BASE, attempt, self.config.max_backoff());
                warn!(release = %rec.name, infohash = %ih, reason = %reason, retry_in = ?wait, "release step failed");
                self.session.remove_torrent(ih).await;
                let retry_at = release::unix_now()
                    + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX / 2).max(1);
                self.apply(
                    &ih,
                    Event::Failed,
                    Change {
                        reason: Some(reason),
                        retry_at: Some(retry_at),
                        ..Change::default()
                    },
                )?;
                Ok(())
            }
        }
    }

    fn apply(&mut self, ih: &Infohash, ev: Event, change: Change) -> Result<Record, AgentError> {
        Ok(self.store.apply(ih, ev, change, release::unix_now())?)
    }

    /// Seen: trust (if configured) and disk space, then downloading.
    async fn check(&mut self, rec: &Record) -> Result<(), StepError> {
        let mut change = Change::default();
        if !self.keys.is_empty() {
            let (Some(m_url), Some(s_url)) = (&rec.manifest_url, &rec.signature_url) else {
                return Err(StepError::Refuse(Refusal::Unsigned.to_string()));
            };
            let fetch = |u: String| {
                let c = self.client.clone();
                async move {
                    c.get_body(&u, MAX_SIGNED)
                        .await
                        .map_err(|e| StepError::Fail(e.to_string()))
                }
            };
            let manifest = fetch(m_url.clone()).await?;
            let signature = fetch(s_url.clone()).await?;
            let index = fetch(sibling(&rec.feed, "index.json")).await?;
            let index_sig = fetch(sibling(&rec.feed, "index.json.minisig")).await?;
            let ev = Evidence {
                manifest: &manifest,
                signature: &String::from_utf8_lossy(&signature),
                index: &index,
                index_signature: &String::from_utf8_lossy(&index_sig),
                feed_infohash: rec.infohash,
                now: release::unix_now(),
            };
            match trust::check(&self.keys, ev, &self.store.history()?) {
                Ok(a) => {
                    info!(release = %a.manifest.name, seq = a.manifest.seq, key = %a.key, "signature valid");
                    change.name = Some(a.manifest.name.to_string());
                    change.total_size = Some(a.manifest.total_size);
                    change.signed = Some((a.manifest.seq, a.key.to_string(), a.index_issued_at));
                }
                Err(r) => return Err(StepError::Refuse(r.to_string())),
            }
        }
        let size = change.total_size.unwrap_or(rec.total_size);
        self.check_space(size)?;
        self.apply(&rec.infohash, Event::Admitted, change)?;
        Ok(())
    }

    fn check_space(&self, size: u64) -> Result<(), StepError> {
        let free = installer::free_space(self.layout.root())
            .map_err(|e| StepError::Fail(format!("cannot stat the disk: {e}")))?;
        if size > free {
            return Err(StepError::Fail(format!(
                "not enough disk space: the release needs {size} bytes, {free} are free"
            )));
        }
        Ok(())
    }

    /// Downloading: metadata (peers first, then the `.torrent`), then the
    /// data into staging; complete means every piece verified.
    async fn download(&mut self, rec: &Record) -> Result<(), StepError> {
        let ih = rec.infohash;
        let staging = self.layout.staging(&ih);
        std::fs::create_dir_all(&staging)
            .map_err(|e| StepError::Fail(format!("cannot create {}: {e}", staging.display())))?;
        let magnet: Option<metainfo::Magnet> = rec
            .magnet
            .parse()
            .ok()
            .filter(|m: &metainfo::Magnet| m.infohash == ih);
        let trackers: Vec<String> = magnet
            .as_ref()
            .map(|m| m.trackers.clone())
            .unwrap_or_default();
        let saved = self.layout.torrent(&ih);
        let (prefill, reused) = self.prefill(rec)?;
        let handle = if let Ok(bytes) =
            installer::read_limited(&saved, metainfo::MAX_TORRENT_FILE_SIZE as u64)
        {
            let m = Metainfo::from_bytes(&bytes)
                .map_err(|e| StepError::Fail(format!("saved torrent: {e}")))?;
            self.add_download(
                TorrentSource::Metainfo(Box::new(m)),
                &staging,
                &trackers,
                prefill.clone(),
            )
            .await?
        } else {
            let from_peers = match &magnet {
                Some(m) if self.config.metadata_timeout() > Duration::ZERO => {
                    let h = self
                        .add_download(
                            TorrentSource::Magnet(Box::new(m.clone())),
                            &staging,
                            &[],
                            prefill.clone(),
                        )
                        .await?;
                    if wait_metadata(&h, self.config.metadata_timeout()).await {
                        info!(release = %rec.name, "metadata from peers");
                        Some(h)
                    } else {
                        info!(release = %rec.name, "no metadata from peers in time; fetching the .torrent");
                        self.session.remove_torrent(ih).await;
                        None
                    }
                }
                _ => None,
            };
            match from_peers {
                Some(h) => h,
                None => {
                    if rec.torrent_url.is_empty() {
                        return Err(StepError::Fail(
                            "no metadata from peers and no .torrent URL".into(),
                        ));
                    }
                    let bytes = self
                        .client
                        .get_body(&rec.torrent_url, metainfo::MAX_TORRENT_FILE_SIZE)
                        .await
                        .map_err(|e| StepError::Fail(e.to_string()))?;
                    let m = Metainfo::from_bytes(&bytes)
                        .map_err(|e| torrent_refused(&rec.torrent_url, &bytes, ih, &e))?;
                    if m.infohash() != ih {
                        return Err(StepError::Refuse(format!(
                            "the .torrent at {} has infohash {}, not {ih}",
                            rec.torrent_url,
                            m.infohash()
                        )));
                    }
                    self.add_download(
                        TorrentSource::Metainfo(Box::new(m)),
                        &staging,
                        &trackers,
                        prefill,
                    )
                    .await?
                }
            }
        };
        let m = handle
            .metainfo()
            .ok_or_else(|| StepError::Fail("the engine has no metadata".into()))?;
        let tname = m.info().name().to_string();
        let unusable = unusable_by_engine(
            m.trackers().chain(trackers.iter().map(String::as_str)),
            m.web_seeds(),
        );
        if !unusable.is_empty() {
            warn!(release = %tname, urls = ?unusable, "the engine speaks only http:// and udp:// to trackers and http:// to web seeds: these URLs of the torrent are not used (peers must come from its other trackers)");
        }
        if ReleaseName::new(&tname).is_err() {
            return Err(StepError::Refuse(format!(
                "the torrent's name {tname:?} is not a safe release name"
            )));
        }
        if rec.key_id.is_some() && tname != rec.name {
            return Err(StepError::Refuse(
                Refusal::NameMismatch {
                    manifest: rec.name.clone(),
                    torrent: tname,
                }
                .to_string(),
            ));
        }
        if rec.key_id.is_none() && rec.total_size == 0 {
            let p = handle.progress();
            self.check_space(p.bytes_total.saturating_sub(p.bytes_have))?;
        }
        if !saved.exists() {
            let bytes = m.to_bytes();
            storage::write_atomic(&saved, &bytes)
                .map_err(|e| StepError::Fail(format!("cannot save {}: {e}", saved.display())))?;
        }
        let done = wait_download(&handle, self.config.stall_timeout()).await;
        self.session.remove_torrent(ih).await;
        let p = handle.progress();
        self.shared.transfers.record(
            ih,
            report::Transfer {
                from_peers: p.downloaded.saturating_sub(p.downloaded_origin),
                from_hub: p.downloaded_origin,
            },
        );
        let t = self.delta.entry(ih).or_default();
        t.downloaded += handle.progress().downloaded;
        if let Some(r) = reused.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.reused = Some(r.bytes_reused);
        }
        if let Err(e) = done {
            return Err(StepError::Fail(format!("download failed: {e}")));
        }
        let p = handle.progress();
        let t = self.delta.get(&ih).copied().unwrap_or_default();
        info!(release = %tname, bytes = p.bytes_total, pieces = p.pieces_total, downloaded = t.downloaded, reused = t.reused.unwrap_or(0), "downloaded; every piece verified");
        self.apply(
            &ih,
            Event::Complete,
            Change {
                name: Some(tname),
                ..Change::default()
            },
        )?;
        Ok(())
    }

    /// The delta reuse for `rec` (issue 9, `delta.rs`): a prefill that
    /// copies into staging the pieces found in the releases on disk, and
    /// where it leaves its numbers. `None` when there is no earlier release.
    #[allow(clippy::type_complexity)]
    fn prefill(
        &self,
        rec: &Record,
    ) -> Result<(Option<Prefill>, Arc<Mutex<Option<delta::Reuse>>>), StepError> {
        let out = Arc::new(Mutex::new(None));
        let current = self.layout.read_current();
        let mut earlier: Vec<&Record> = Vec::new();
        let all = self.store.all()?;
        // `current` first (most likely to match), then the newest first.
        for r in all.iter().rev() {
            if r.infohash != rec.infohash && r.state.on_disk() {
                if current.as_deref() == Some(r.name.as_str()) {
                    earlier.insert(0, r);
                } else {
                    earlier.push(r);
                }
            }
        }
        if earlier.is_empty() {
            return Ok((None, out));
        }
        let sources: Vec<(String, std::path::PathBuf)> = earlier
            .iter()
            .map(|r| (r.name.clone(), self.layout.torrent(&r.infohash)))
            .collect();
        let releases = self.layout.releases();
        let o = Arc::clone(&out);
        let prefill = Prefill::new(move |m, dir| {
            let ih = m.infohash();
            let name = m.info().name().to_string();
            if swarm::resume_path(dir, &ih).exists() {
                // The engine started on this staging before: the pieces
                // reused then are in its resume state (or get rehashed).
                info!(release = %name, "resuming a download; earlier releases were reused before");
                return storage::PieceSet::new(m.info().num_pieces());
            }
            let list: Vec<delta::Earlier> = sources
                .iter()
                .filter_map(|(n, t)| match delta::Earlier::load(&releases, t) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        warn!(release = %n, error = %e, "cannot reuse from an earlier release");
                        None
                    }
                })
                .collect();
            let (set, r) = delta::reuse(&list, m, dir);
            info!(
                release = %name,
                from = list.len(),
                pieces_reused = r.pieces_reused,
                pieces = r.pieces_total,
                same_path = r.by_path,
                by_hash = r.by_hash,
                bytes_reused = r.bytes_reused,
                bytes_copied_in_kernel = r.bytes_copied_in_kernel,
                bytes_left = r.bytes_left,
                ms = r.elapsed.as_millis(),
                "reused pieces of earlier releases; the engine verifies them, then downloads the rest"
            );
            *o.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            set
        });
        Ok((Some(prefill), out))
    }

    async fn add_download(
        &self,
        source: TorrentSource,
        dir: &Path,
        trackers: &[String],
        prefill: Option<Prefill>,
    ) -> Result<TorrentHandle, StepError> {
        let mut add = AddTorrent::download(source, dir);
        add.trackers = trackers.to_vec();
        add.origin.clone_from(&self.origin);
        add.prefill = prefill;
        self.session
            .add_torrent(add)
            .await
            .map_err(|e| StepError::Fail(format!("cannot start the download: {e}")))
    }

    /// Verified: into `releases/`, then seeded.
    async fn install(&mut self, rec: &Record) -> Result<(), StepError> {
        crash_point("before-move");
        self.layout
            .move_into_releases(&rec.infohash, &rec.name)
            .map_err(|e| StepError::Fail(format!("cannot install: {e}")))?;
        crash_point("after-move");
        let rec = self.apply(&rec.infohash, Event::Moved, Change::default())?;
        info!(release = %rec.name, path = %self.layout.release(&rec.name).display(), "installed");
        self.seed(&rec).await;
        Ok(())
    }

    /// Installed: `current` switched to it.
    fn switch(&mut self, rec: &Record) -> Result<(), StepError> {
        let previous = self
            .store
            .current()?
            .filter(|c| c.infohash != rec.infohash)
            .map(|c| c.name);
        crash_point("before-switch");
        self.layout
            .switch_current(&rec.name)
            .map_err(|e| StepError::Fail(format!("cannot switch current: {e}")))?;
        crash_point("after-switch");
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.switched_at.insert(rec.infohash, ms);
        self.apply(
            &rec.infohash,
            Event::Switched,
            Change {
                previous: previous.clone(),
                ..Change::default()
            },
        )?;
        self.shared.counters.inc_installed();
        info!(release = %rec.name, previous = ?previous, "current switched");
        Ok(())
    }

    /// Activating: the hook, started at most once, then old releases pruned.
    async fn hook(&mut self, rec: &Record) -> Result<(), StepError> {
        let ih = rec.infohash;
        let outcome = match self.config.hook.clone() {
            None => None,
            Some(cmd) => {
                self.apply(&ih, Event::HookStarted, Change::default())?;
                let path = self.layout.release(&rec.name);
                let env = [
                    ("ANTHILL_RELEASE", rec.name.clone()),
                    ("ANTHILL_RELEASE_PATH", path.display().to_string()),
                    ("ANTHILL_INFOHASH", ih.to_hex()),
                    (
                        "ANTHILL_PREVIOUS_RELEASE",
                        rec.previous.clone().unwrap_or_default(),
                    ),
                ];
                let o =
                    installer::run_hook(&cmd, &env, self.layout.root(), self.config.hook_timeout())
                        .await;
                if o.success {
                    info!(release = %rec.name, status = %o.status, "hook done");
                } else {
                    self.shared.counters.inc_hook_failed();
                    warn!(release = %rec.name, status = %o.status, output = %o.output, "hook failed");
                }
                Some((o.status, o.output))
            }
        };
        self.apply(
            &ih,
            Event::HookDone,
            Change {
                hook: outcome,
                ..Change::default()
            },
        )?;
        self.prune().await?;
        Ok(())
    }

    /// Deletes installed releases past `keep` (never current or previous).
    async fn prune(&mut self) -> Result<(), StepError> {
        let all = self.store.all()?;
        let current = all.iter().rev().find(|r| matches!(r.state, State::Active));
        let (cur, prev) = (
            current.map(|r| r.name.clone()),
            current.and_then(|r| r.previous.clone()),
        );
        let installed: Vec<(Infohash, String)> = all
            .iter()
            .filter(|r| r.state.on_disk())
            .map(|r| (r.infohash, r.name.clone()))
            .collect();
        let gone: Vec<(Infohash, String)> = planner::prune(
            &installed,
            self.config.keep,
            cur.as_deref(),
            prev.as_deref(),
        )
        .into_iter()
        .cloned()
        .collect();
        for (ih, name) in gone {
            if self.seeding.remove(&ih).is_some() {
                self.session.remove_torrent(ih).await;
            }
            let path = self.layout.release(&name);
            if let Err(e) = self.layout.delete(&path) {
                warn!(release = %name, error = %e, "cannot delete an old release");
                continue;
            }
            let _ = self
                .layout
                .delete(&swarm::resume_path(&self.layout.releases(), &ih));
            let _ = self.layout.delete(&self.layout.torrent(&ih));
            self.apply(&ih, Event::Pruned, Change::default())?;
            info!(release = %name, "deleted an old release");
        }
        Ok(())
    }

    /// Seeds an installed release from `releases/`.
    async fn seed(&mut self, rec: &Record) {
        if self.seeding.contains_key(&rec.infohash) {
            return;
        }
        let path = self.layout.torrent(&rec.infohash);
        let m = match installer::read_limited(&path, metainfo::MAX_TORRENT_FILE_SIZE as u64)
            .map_err(|e| e.to_string())
            .and_then(|b| Metainfo::from_bytes(&b).map_err(|e| e.to_string()))
        {
            Ok(m) => m,
            Err(e) => {
                warn!(release = %rec.name, error = %e, "cannot seed: no usable saved torrent");
                return;
            }
        };
        let mut add = AddTorrent::seed(m, self.layout.releases());
        add.super_seed = false;
        if let Ok(mg) = rec.magnet.parse::<metainfo::Magnet>() {
            add.trackers = mg.trackers;
        }
        match self.session.add_torrent(add).await {
            Ok(h) => {
                let p = h.progress();
                if p.pieces_have != p.pieces_total {
                    error!(release = %rec.name, missing = p.pieces_total - p.pieces_have, "an installed release was modified on disk; seeding what is intact");
                }
                self.seeding.insert(rec.infohash, h);
            }
            Err(swarm::SwarmError::Duplicate(_)) => {}
            Err(e) => warn!(release = %rec.name, error = %e, "cannot seed"),
        }
    }
}

/// Why a fetched `.torrent` that does not parse is refused (or retried):
/// one whose `info` hashes to the release's infohash can never become
/// valid (an unsafe path stays unsafe), one of another torrent is not the
/// release; bytes that are no torrent at all may be a passing server error.
fn torrent_refused(
    url: &str,
    bytes: &[u8],
    ih: Infohash,
    e: &metainfo::MetainfoError,
) -> StepError {
    match Metainfo::infohash_of_file(bytes) {
        Ok(other) if other == ih => {
            StepError::Refuse(format!("the .torrent at {url} is refused: {e}"))
        }
        Ok(other) => StepError::Refuse(format!(
            "the .torrent at {url} has infohash {other}, not {ih} (and is refused: {e})"
        )),
        Err(_) => StepError::Fail(format!("{url} is not a valid torrent: {e}")),
    }
}

/// The tracker and web-seed URLs the engine cannot use: its own HTTP client
/// speaks only plain `http://` (trackers also `udp://`); an `https://` hub's
/// announce URL and web seed are such URLs.
fn unusable_by_engine<'a>(
    trackers: impl Iterator<Item = &'a str>,
    web_seeds: &'a [String],
) -> Vec<&'a str> {
    let mut out: Vec<&str> = trackers
        .filter(|t| !(t.starts_with("http://") || t.starts_with("udp://")))
        .collect();
    out.extend(
        web_seeds
            .iter()
            .map(String::as_str)
            .filter(|w| !w.starts_with("http://")),
    );
    out.dedup();
    out
}

/// `ANTHILL_AGENT_CRASH_AT=POINT` makes the agent SIGKILL itself when it
/// reaches `POINT` of the install pipeline, so that tests can kill it at an
/// exact instant rather than racing a signal against it (STATE.md lists the
/// points). Unset, this is one comparison against a cached `None`.
fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("ANTHILL_AGENT_CRASH_AT").ok());
    if at.as_deref() == Some(point) {
        error!(
            point,
            "ANTHILL_AGENT_CRASH_AT: killing the agent with SIGKILL"
        );
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        // The signal is not delivered synchronously on every kernel path.
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Waits until every piece is verified; an error if the engine stops the
/// torrent, or if no piece was verified for `stall` (the release is then
/// retried later, and newer releases are not held up behind it). Wakes on
/// the engine's progress updates, not on a timer.
async fn wait_download(h: &TorrentHandle, stall: Duration) -> Result<(), TorrentError> {
    let mut rx = h.watch();
    let mut last = (rx.borrow().pieces_have, tokio::time::Instant::now());
    loop {
        let pieces_have = {
            let p = rx.borrow_and_update();
            if let Some(r) = outcome(&p) {
                return r;
            }
            p.pieces_have
        };
        if pieces_have != last.0 {
            last = (pieces_have, tokio::time::Instant::now());
        }
        match tokio::time::timeout_at(last.1 + stall, rx.changed()).await {
            Ok(Ok(())) => {}
            // The torrent's actor ended: its last word, or it was removed.
            Ok(Err(_)) => return outcome(&rx.borrow()).unwrap_or(Err(TorrentError::Removed)),
            Err(_) => {
                let p = rx.borrow_and_update();
                if let Some(r) = outcome(&p) {
                    return r;
                }
                if p.pieces_have == last.0 {
                    return Err(TorrentError::Stalled {
                        after: stall,
                        pieces_have: p.pieces_have,
                        pieces_total: p.pieces_total,
                        peers: p.peers,
                    });
                }
                last = (p.pieces_have, tokio::time::Instant::now());
            }
        }
    }
}

/// The end of a download: `Some` once it completed or the engine stopped it.
fn outcome(p: &swarm::TorrentProgress) -> Option<Result<(), TorrentError>> {
    match &p.state {
        TorrentState::Seeding => Some(Ok(())),
        TorrentState::Failed(e) => Some(Err(e.clone())),
        TorrentState::Stopped => Some(Err(TorrentError::Stopped)),
        _ => None,
    }
}

/// Waits up to `timeout` for a magnet torrent's metadata (and, once it
/// arrived, for the engine to open the data: the delta reuse runs then,
/// with no deadline). Wakes on the engine's progress updates.
async fn wait_metadata(h: &TorrentHandle, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut rx = h.watch();
    loop {
        if h.metainfo().is_some() {
            return true;
        }
        let state = rx.borrow_and_update().state.clone();
        let changed = match state {
            TorrentState::Failed(_) | TorrentState::Stopped => return false,
            TorrentState::Checking => rx.changed().await,
            _ if tokio::time::Instant::now() >= deadline => return false,
            _ => match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(r) => r,
                // Deadline: look once more (the check may have begun).
                Err(_) => Ok(()),
            },
        };
        if changed.is_err() {
            return h.metainfo().is_some();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A torrent nobody has: downloading it never verifies a piece.
    fn lonely() -> Metainfo {
        let info = metainfo::Info::single("f.bin", 16 * 1024, vec![[0; 20]; 3], 40_000);
        Metainfo::from_bytes(&Metainfo::new(info).to_bytes()).unwrap()
    }

    async fn session() -> Session {
        Session::new(SessionOptions {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            ..SessionOptions::default()
        })
        .await
        .unwrap()
    }

    async fn lone_download(session: &Session, dir: &Path) -> TorrentHandle {
        let add = AddTorrent::download(TorrentSource::Metainfo(Box::new(lonely())), dir);
        session.add_torrent(add).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_download_without_peers_stalls_after_the_stall_timeout() {
        let tmp = tempfile::tempdir().unwrap();
        let session = session().await;
        let h = lone_download(&session, tmp.path()).await;
        let start = std::time::Instant::now();
        let stall = Duration::from_millis(1500);
        let e = wait_download(&h, stall).await.unwrap_err();
        let took = start.elapsed();
        assert!(
            matches!(
                e,
                TorrentError::Stalled {
                    pieces_have: 0,
                    pieces_total: 3,
                    peers: 0,
                    ..
                }
            ),
            "{e:?}"
        );
        // Not before the stall timeout (how long after is load, not logic).
        assert!(took >= stall, "stalled after {took:?}");
        assert_eq!(
            e.to_string(),
            "no piece verified for 1.5s (0 of 3 pieces, 0 peers)"
        );
        session.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_download_ends_the_wait_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let session = session().await;
        let h = lone_download(&session, tmp.path()).await;
        let (s2, ih) = (session.clone(), h.infohash());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            s2.remove_torrent(ih).await;
        });
        let e = tokio::time::timeout(
            Duration::from_secs(5),
            wait_download(&h, Duration::from_secs(60)),
        )
        .await
        .expect("the wait did not end with the torrent")
        .unwrap_err();
        assert_eq!(e, TorrentError::Stopped);
        session.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_metadata_wait_gives_up_at_its_timeout() {
        let tmp = tempfile::tempdir().unwrap();
        let session = session().await;
        let magnet = metainfo::Magnet {
            infohash: lonely().infohash(),
            ..Default::default()
        };
        let h = session
            .add_torrent(AddTorrent::download(
                TorrentSource::Magnet(Box::new(magnet)),
                tmp.path(),
            ))
            .await
            .unwrap();
        let start = std::time::Instant::now();
        assert!(!wait_metadata(&h, Duration::from_millis(500)).await);
        let took = start.elapsed();
        // Not before its timeout (how long after is load, not logic).
        assert!(took >= Duration::from_millis(500), "{took:?}");
        session.shutdown().await;
    }

    #[test]
    fn https_trackers_and_web_seeds_are_named_as_unusable_by_the_engine() {
        let seeds = vec![
            "https://hub/webseed/".to_string(),
            "http://hub:6880/webseed/".to_string(),
        ];
        let trackers = [
            "https://hub/announce",
            "udp://hub:6969/announce",
            "http://hub:6880/announce",
            "wss://t/",
        ];
        assert_eq!(
            unusable_by_engine(trackers.into_iter(), &seeds),
            vec!["https://hub/announce", "wss://t/", "https://hub/webseed/"]
        );
        assert!(unusable_by_engine(["http://h/a"].into_iter(), &[]).is_empty());
    }

    #[test]
    fn an_unparsable_torrent_is_refused_only_if_it_names_a_torrent() {
        let bad =
            b"d4:infod6:lengthi1e4:name2:..12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
        let e = Metainfo::from_bytes(bad).unwrap_err();
        let ih = Metainfo::infohash_of_file(bad).unwrap();
        match torrent_refused("u", bad, ih, &e) {
            StepError::Refuse(r) => assert!(r.contains("refused") && r.contains(".."), "{r}"),
            _ => panic!("not refused"),
        }
        match torrent_refused("u", bad, Infohash([1; 20]), &e) {
            StepError::Refuse(r) => assert!(r.contains("has infohash"), "{r}"),
            _ => panic!("not refused"),
        }
        let e = Metainfo::from_bytes(b"<html>").unwrap_err();
        assert!(matches!(
            torrent_refused("u", b"<html>", ih, &e),
            StepError::Fail(_)
        ));
    }
}
