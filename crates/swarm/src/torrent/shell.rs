//! The torrent's tokio shell: it turns events from peer tasks, timers and
//! handles into [`Input`]s for the [`Core`], and performs the core's
//! [`Output`]s — writes to peer tasks, dials, hashing and writing, resume
//! saves, opening the data, web seeds — feeding their results back as
//! inputs. It decides nothing itself.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;
use tracing::error;
use wire::PieceIndex;

use super::core::{Core, CoreInit, Input, Output, PeerGone};
use super::{Loaded, TorrentEvent, TorrentProgress, TorrentShared, load_storage, piece_result};
use crate::event::{Connected, Event, PeerCmd, PeerError, TorrentCmd};
use crate::options::SessionOptions;
use crate::prefill::Prefill;
use crate::{PeerSlot, TorrentError};
use storage::{OpenMode, Storage, verify_piece_padded};

/// How the actor is set up by [`crate::Session::add_torrent`].
pub(crate) struct ActorInit {
    pub(crate) shared: Arc<TorrentShared>,
    /// The session's options.
    pub(crate) options: SessionOptions,
    /// The session's tasks (dials, hashing, saves, web seeds run there).
    pub(crate) tasks: TaskTracker,
    /// One permit per open peer connection (the session's cap).
    pub(crate) conn_limit: Arc<Semaphore>,
    /// Pieces being hashed and written at once (the session's cap).
    pub(crate) write_limit: Arc<Semaphore>,
    pub(crate) rx: mpsc::Receiver<Event>,
    pub(crate) dir: PathBuf,
    pub(crate) super_seed: bool,
    pub(crate) loaded: Option<Loaded>,
    pub(crate) name: Option<String>,
    /// The actor is the only sender; the channel closes when it ends.
    pub(crate) progress: watch::Sender<TorrentProgress>,
    pub(crate) events: broadcast::Sender<TorrentEvent>,
    pub(crate) peers: Vec<std::net::SocketAddr>,
    /// BEP 19 web seed URLs.
    pub(crate) web_seeds: Vec<String>,
    /// Origin addresses (see `AddTorrent::origin`).
    pub(crate) origin: Vec<std::net::IpAddr>,
    /// Run before the storage is opened when the metadata arrives.
    pub(crate) prefill: Option<Prefill>,
}

/// One task per torrent: the core and what it needs to act.
pub(crate) struct Actor {
    core: Core,
    shared: Arc<TorrentShared>,
    check_threads: usize,
    resume_save_interval: Duration,
    tasks: TaskTracker,
    conn_limit: Arc<Semaphore>,
    write_limit: Arc<Semaphore>,
    rx: mpsc::Receiver<Event>,
    dir: PathBuf,
    /// The caller's prefill, run once the metadata arrives (magnet links).
    prefill: Option<Prefill>,
    /// Command channels of the admitted peers.
    peers: HashMap<PeerSlot, mpsc::Sender<PeerCmd>>,
    /// Connections waiting for the core's [`Output::Admit`].
    pending: HashMap<u64, (mpsc::Sender<PeerCmd>, oneshot::Sender<Option<PeerSlot>>)>,
    next_conn: u64,
    /// Peers whose command queue was full or closed.
    dead: Vec<PeerSlot>,
    progress: watch::Sender<TorrentProgress>,
    events: broadcast::Sender<TorrentEvent>,
}

fn seed_from_time() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return u64::from(std::process::id()) ^ 0x5eed;
    }
    u64::from_le_bytes(b)
}

impl Actor {
    /// Sets the core up; the metadata and storage of `init.loaded` are
    /// published to [`TorrentShared`] before this returns.
    pub(crate) fn new(init: ActorInit) -> Self {
        let check_threads = init.options.check_threads;
        let resume_save_interval = init.options.resume_save_interval;
        let core = Core::new(CoreInit {
            infohash: init.shared.infohash,
            peer_id: init.shared.peer_id,
            options: init.options,
            listen: init.shared.net.listen_addrs().to_vec(),
            super_seed: init.super_seed,
            loaded: init.loaded,
            name: init.name,
            peers: init.peers,
            web_seeds: init.web_seeds,
            origin: init.origin,
            seed: seed_from_time(),
            now: Instant::now(),
        });
        let mut a = Self {
            core,
            shared: init.shared,
            check_threads,
            resume_save_interval,
            tasks: init.tasks,
            conn_limit: init.conn_limit,
            write_limit: init.write_limit,
            rx: init.rx,
            dir: init.dir,
            prefill: init.prefill,
            peers: HashMap::new(),
            pending: HashMap::new(),
            next_conn: 0,
            dead: Vec::new(),
            progress: init.progress,
            events: init.events,
        };
        a.flush();
        a
    }

    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = self.shared.cancel.cancelled() => break,
                ev = self.rx.recv() => {
                    let Some(ev) = ev else { break };
                    if let Event::Cmd(TorrentCmd::Stop(done)) = ev {
                        self.stop().await;
                        let _ = done.send(());
                        return;
                    }
                    self.on_event(ev);
                    // Drain what is already queued before flushing, to batch output.
                    let mut n = 0;
                    while n < 64 {
                        match self.rx.try_recv() {
                            Ok(Event::Cmd(TorrentCmd::Stop(done))) => {
                                self.stop().await;
                                let _ = done.send(());
                                return;
                            }
                            Ok(ev) => self.on_event(ev),
                            Err(_) => break,
                        }
                        n += 1;
                    }
                    self.flush();
                }
                _ = tick.tick() => {
                    self.input(Input::Tick);
                    self.flush();
                }
            }
        }
        self.stop().await;
    }

    /// Saves the resume state if a piece was verified since the last save
    /// (data synced first, by the storage crate; stopping a seed of
    /// unchanged data syncs nothing, so a SIGTERM stops it at once), then
    /// drops every peer.
    async fn stop(&mut self) {
        if let Some(resume) = self.core.resume_writer() {
            let res = tokio::task::spawn_blocking(move || resume.save_pending()).await;
            match res {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => self.input(Input::ResumeSaved {
                    result: Err(e),
                    background: false,
                }),
                Err(e) if e.is_panic() => {
                    error!(error = %e, "the resume save panicked; this is a bug");
                }
                Err(_) => {}
            }
        }
        self.input(Input::Stop);
        self.flush();
        self.peers.clear();
        self.pending.clear();
    }

    fn on_event(&mut self, ev: Event) {
        let input = match ev {
            Event::Connected(c) => {
                let Connected {
                    addr,
                    handshake,
                    outgoing,
                    cmd,
                    reply,
                } = *c;
                let conn = self.next_conn;
                self.next_conn += 1;
                self.pending.insert(conn, (cmd, reply));
                Input::Connected {
                    conn,
                    addr,
                    handshake,
                    outgoing,
                }
            }
            Event::Messages(slot, msgs) => Input::Messages(slot, msgs),
            Event::Uploaded(slot, reqs) => Input::Uploaded(slot, reqs),
            Event::Gone(slot, reason) => Input::Gone(slot, reason),
            Event::ConnectFailed(addr, reason) => Input::ConnectFailed(addr, reason),
            Event::PieceDone { piece, result, buf } => Input::PieceDone { piece, result, buf },
            Event::Opened(loaded) => Input::Opened(loaded),
            Event::ResumeSaved { result, background } => Input::ResumeSaved { result, background },
            Event::WebSeedGaveUp(e) => Input::WebSeedGaveUp(e),
            Event::Cmd(TorrentCmd::AddPeers(addrs)) => Input::AddPeers(addrs),
            Event::Cmd(TorrentCmd::Pause(p)) => Input::Pause(p),
            // `run` handles it; never reaches here.
            Event::Cmd(TorrentCmd::Stop(done)) => {
                let _ = done.send(());
                return;
            }
        };
        self.input(input);
    }

    fn input(&mut self, input: Input) {
        self.core.handle(Instant::now(), input);
        self.perform();
    }

    /// Sends the peers' batched output, drops those that cannot take it,
    /// then publishes the progress if it changed (once per batch).
    fn flush(&mut self) {
        loop {
            self.core.flush();
            self.perform();
            if self.dead.is_empty() {
                break;
            }
            for slot in std::mem::take(&mut self.dead) {
                self.core
                    .handle(Instant::now(), Input::Gone(slot, PeerGone::QueueFull));
            }
        }
        if let Some(next) = self.core.take_progress() {
            self.progress.send_if_modified(|cur| {
                if *cur == next {
                    return false;
                }
                *cur = next;
                true
            });
        }
    }

    /// Performs the core's queued outputs, in order.
    fn perform(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Admit { conn, slot } => self.admit(conn, slot),
                Output::Send(slot, msgs) => self.send_peer(slot, PeerCmd::Send(msgs)),
                Output::Serve(slot, reqs) => self.send_peer(slot, PeerCmd::Serve(reqs)),
                Output::Disconnect(slot) => {
                    // Its task ends when its command channel closes.
                    self.peers.remove(&slot);
                }
                Output::Dial(addr) => self.dial(addr),
                Output::Verify {
                    piece,
                    buf,
                    info,
                    pads,
                    store,
                } => {
                    let events = self.shared.events.clone();
                    let sem = Arc::clone(&self.write_limit);
                    self.tasks.spawn(async move {
                        let Ok(_permit) = sem.acquire_owned().await else {
                            return;
                        };
                        let done = tokio::task::spawn_blocking(move || {
                            let p = PieceIndex(piece);
                            let result = if verify_piece_padded(&info, p, &buf, pads.pads(piece)) {
                                store.write_piece(p, &buf).map(|()| true)
                            } else {
                                Ok(false)
                            };
                            (result, buf)
                        })
                        .await;
                        let Some((result, buf)) = piece_result(piece, done) else {
                            return;
                        };
                        let _ = events.send(Event::PieceDone { piece, result, buf }).await;
                    });
                }
                Output::SaveResume { resume, now } => {
                    let events = self.shared.events.clone();
                    self.tasks.spawn(async move {
                        let done = tokio::task::spawn_blocking(move || {
                            if now {
                                resume.save_now()
                            } else {
                                resume.maybe_save().map(|_| ())
                            }
                        })
                        .await;
                        let result = match done {
                            Ok(r) => r,
                            Err(e) => {
                                if e.is_panic() {
                                    error!(error = %e, "the resume save panicked; this is a bug");
                                }
                                Ok(())
                            }
                        };
                        let ev = Event::ResumeSaved {
                            result,
                            background: true,
                        };
                        let _ = events.send(ev).await;
                    });
                }
                Output::Open(metainfo) => self.open(metainfo),
                Output::Installed {
                    metainfo,
                    store,
                    pieces,
                } => self.shared.install(metainfo, store, pieces),
                Output::StartWebSeed { url, n, info } => {
                    self.tasks
                        .spawn(crate::webseed::run(Arc::clone(&self.shared), url, info, n));
                }
                Output::Event(e) => {
                    let _ = self.events.send(e);
                }
            }
        }
    }

    fn admit(&mut self, conn: u64, slot: Option<PeerSlot>) {
        let Some((cmd, reply)) = self.pending.remove(&conn) else {
            return;
        };
        let Some(slot) = slot else {
            let _ = reply.send(None);
            return;
        };
        if reply.send(Some(slot)).is_ok() {
            self.peers.insert(slot, cmd);
        } else {
            let gone = PeerGone::Error(PeerError::Closed);
            self.core.handle(Instant::now(), Input::Gone(slot, gone));
        }
    }

    fn send_peer(&mut self, slot: PeerSlot, cmd: PeerCmd) {
        let Some(tx) = self.peers.get(&slot) else {
            return;
        };
        if tx.try_send(cmd).is_err() {
            self.dead.push(slot);
        }
    }

    fn dial(&mut self, addr: std::net::SocketAddr) {
        if self.shared.cancel.is_cancelled() {
            return;
        }
        let Ok(permit) = Arc::clone(&self.conn_limit).try_acquire_owned() else {
            self.core.handle(Instant::now(), Input::DialDeferred(addr));
            return;
        };
        let shared = Arc::clone(&self.shared);
        self.tasks.spawn(async move {
            let _permit = permit;
            crate::peer::connect_and_run(shared, addr).await;
        });
    }

    /// Opens (prefills, checks) the data for metadata from peers on the
    /// blocking pool; the torrent goes on meanwhile.
    fn open(&mut self, metainfo: Arc<metainfo::Metainfo>) {
        let dir = self.dir.clone();
        let threads = self.check_threads;
        let interval = self.resume_save_interval;
        let prefill = self.prefill.clone();
        let events = self.shared.events.clone();
        self.tasks.spawn(async move {
            let d2 = dir.clone();
            let loaded = tokio::task::spawn_blocking(move || {
                load_storage(
                    metainfo,
                    &d2,
                    OpenMode::Download,
                    threads,
                    interval,
                    prefill.as_ref(),
                )
            })
            .await;
            let result = match loaded {
                Ok(Ok(l)) => Ok(l),
                Ok(Err(e)) => Err(TorrentError::Open {
                    dir,
                    source: Arc::new(e),
                }),
                Err(e) if e.is_panic() => Err(TorrentError::Bug(format!(
                    "the task opening the data panicked: {e}"
                ))),
                // The runtime is shutting down.
                Err(_) => return,
            };
            let _ = events.send(Event::Opened(Box::new(result))).await;
        });
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<Actor>();
}
