//! The narrow context that peer, web-seed and announcer tasks get: the
//! torrent's [`TorrentShared`] and, through it, the session's [`Net`]. They
//! never see the session or the torrent actor, so neither module depends
//! on them (the session and the actor depend on these).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metainfo::Metainfo;
use storage::{FileStorage, Storage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wire::PeerId;

use crate::event::Event;
use crate::rate::RateLimiter;

/// What a session lends its connections: identity, timeouts, addresses and
/// the session-wide rate limits.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) peer_id: PeerId,
    /// Time allowed for a BitTorrent handshake.
    pub(crate) handshake_timeout: Duration,
    /// A keep-alive goes out after this much silence.
    pub(crate) keepalive_interval: Duration,
    /// Session-wide limits (each torrent has its own as well).
    pub(crate) up: RateLimiter,
    pub(crate) down: RateLimiter,
    listen_addrs: Vec<SocketAddr>,
    /// Congestion control for peer sockets (see `SessionOptions::tcp_congestion`).
    pub(crate) congestion: Congestion,
}

/// The TCP congestion control set on peer sockets, with one warning if the
/// kernel refuses it.
#[derive(Debug, Default)]
pub(crate) struct Congestion {
    name: Option<String>,
    pub(crate) warned: std::sync::atomic::AtomicBool,
}

impl Congestion {
    pub(crate) fn new(name: Option<String>) -> Self {
        Self {
            name: name.filter(|n| !n.is_empty()),
            warned: Default::default(),
        }
    }

    /// Sets it on `socket` (a listener passes it on to the connections it
    /// accepts). A refusal leaves the system's default and is logged once.
    pub(crate) fn apply(&self, socket: socket2::SockRef<'_>) {
        let Some(name) = self.name.as_deref() else {
            return;
        };
        if let Err(e) = set_congestion(socket, name) {
            if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    congestion = name,
                    error = %e,
                    "cannot set the TCP congestion control of peer connections; they keep the system's default"
                );
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn set_congestion(socket: socket2::SockRef<'_>, name: &str) -> std::io::Result<()> {
    socket.set_tcp_congestion(name.as_bytes())
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn set_congestion(_socket: socket2::SockRef<'_>, _name: &str) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "this system cannot choose the congestion control of a socket",
    ))
}

impl Net {
    pub(crate) fn new(
        peer_id: PeerId,
        options: &crate::SessionOptions,
        listen_addrs: Vec<SocketAddr>,
        congestion: Congestion,
    ) -> Self {
        Self {
            peer_id,
            handshake_timeout: options.handshake_timeout,
            keepalive_interval: options.keepalive_interval,
            up: RateLimiter::new(options.upload_rate),
            down: RateLimiter::new(options.download_rate),
            listen_addrs,
            congestion,
        }
    }
    pub(crate) fn listen_port(&self) -> Option<u16> {
        self.listen_addrs.first().map(SocketAddr::port)
    }
    /// The address outgoing connections to `dest` leave from: the listen
    /// address of its family when that is a specific one (so that peers see
    /// the address we are known by, as on a host with several), else any.
    pub(crate) fn source_ip(&self, dest: SocketAddr) -> Option<std::net::IpAddr> {
        self.listen_addrs
            .iter()
            .map(SocketAddr::ip)
            .find(|ip| ip.is_ipv4() == dest.is_ipv4() && !ip.is_unspecified())
    }
    /// The addresses the session listens on.
    pub(crate) fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }
}

/// True if `addr` is one of the `listen` addresses (never dial ourselves).
pub(crate) fn is_own_addr(listen: &[SocketAddr], addr: SocketAddr) -> bool {
    listen.iter().any(|l| {
        l.port() == addr.port()
            && (l.ip() == addr.ip() || (l.ip().is_unspecified() && addr.ip().is_loopback()))
    })
}

/// State shared by a torrent's actor and its peer, web-seed and announcer
/// tasks (read-mostly): their whole view of the torrent and the session.
pub(crate) struct TorrentShared {
    pub(crate) infohash: wire::Infohash,
    pub(crate) peer_id: PeerId,
    pub(crate) events: mpsc::Sender<Event>,
    store: OnceLock<Arc<dyn Storage>>,
    /// The torrent's metainfo, once known (from the start, or from peers).
    pub(crate) metainfo: OnceLock<Arc<Metainfo>>,
    piece_count: AtomicU32,
    /// Per-torrent limits.
    pub(crate) up: RateLimiter,
    pub(crate) down: RateLimiter,
    /// What the session lends its connections.
    pub(crate) net: Arc<Net>,
    pub(crate) cancel: CancellationToken,
}

impl std::fmt::Debug for TorrentShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorrentShared")
            .field("infohash", &self.infohash)
            .field("piece_count", &self.piece_count())
            .finish_non_exhaustive()
    }
}

impl TorrentShared {
    pub(crate) fn new(
        infohash: wire::Infohash,
        events: mpsc::Sender<Event>,
        net: Arc<Net>,
        cancel: CancellationToken,
        limits: (crate::Rate, crate::Rate),
    ) -> Self {
        Self {
            infohash,
            peer_id: net.peer_id,
            events,
            store: OnceLock::new(),
            metainfo: OnceLock::new(),
            piece_count: AtomicU32::new(0),
            up: RateLimiter::new(limits.0),
            down: RateLimiter::new(limits.1),
            net,
            cancel,
        }
    }
    /// Publishes the metadata and storage to peer tasks and web seeds.
    pub(crate) fn install(&self, metainfo: Arc<Metainfo>, store: Arc<FileStorage>, pieces: u32) {
        let _ = self.store.set(store as Arc<dyn Storage>);
        let _ = self.metainfo.set(metainfo);
        self.piece_count.store(pieces, Ordering::Relaxed);
    }
    pub(crate) fn store(&self) -> Option<Arc<dyn Storage>> {
        self.store.get().cloned()
    }
    pub(crate) fn piece_count(&self) -> u32 {
        self.piece_count.load(Ordering::Relaxed)
    }
}
