//! Session configuration.

use std::net::SocketAddr;
use std::time::Duration;

use crate::choker::ChokeMode;
use crate::rate::Rate;

/// Everything a [`crate::Session`] can be configured with; build with
/// `SessionOptions { field: value, ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// TCP addresses to accept peers on (IPv4 and/or IPv6). Port 0 picks a
    /// free port (tests); [`crate::Session::listen_addrs`] tells which. Empty
    /// means outgoing connections only. Default: `0.0.0.0:6881`, `[::]:6881`.
    pub listen: Vec<SocketAddr>,
    /// The first 8 bytes of our peer id (Azureus style); the rest is random.
    /// Default `-AH0100-`.
    pub peer_id_prefix: [u8; 8],
    /// Cap on peer connections over all torrents. Default 500.
    pub max_connections: usize,
    /// Cap on peer connections of one torrent. Default 100.
    pub max_connections_per_torrent: usize,
    /// Global upload limit (bytes/s, 0 = unlimited). Default unlimited.
    pub upload_rate: Rate,
    /// Global download limit (bytes/s, 0 = unlimited). Default unlimited.
    pub download_rate: Rate,
    /// Upload policy: [`ChokeMode::Fleet`] (serve every interested peer, up
    /// to 64 at a time and in turns beyond; the default, right inside a
    /// fleet) or [`ChokeMode::TitForTat`] (public swarms).
    pub choke_mode: ChokeMode,
    /// Time allowed to connect and exchange handshakes. Default 10 s.
    pub handshake_timeout: Duration,
    /// We send a keep-alive after this long without sending anything; a
    /// peer silent for twice as long is dropped. Default 2 min.
    pub keepalive_interval: Duration,
    /// A peer that leaves our requests unanswered this long is snubbed: its
    /// requests go back to the picker. Default 20 s.
    pub request_timeout: Duration,
    /// How often the verified-piece state is saved while it changes (each
    /// save first syncs the files written since the last). Default 2 s.
    pub resume_save_interval: Duration,
    /// Threads hashing existing data at start. Default: available cores.
    pub check_threads: usize,
    /// Pieces hashed and written concurrently while downloading. Default 2
    /// (writes to one file serialize in the kernel anyway).
    pub max_concurrent_writes: usize,
    /// Exchange peers with BEP 11 PEX. Default on.
    pub pex: bool,
    /// How often to send PEX updates. Default 60 s.
    pub pex_interval: Duration,
    /// Largest number of addresses remembered per torrent from PEX and
    /// trackers. Default 500.
    pub max_known_peers: usize,
    /// TCP congestion control of peer connections (Linux `TCP_CONGESTION`),
    /// or `None` for the system's default. Default `cubic`: a swarm sends
    /// many flows through each uplink, and BBR (v1, the default of some
    /// kernels) overshoots shallow queues with many flows: in the fleet
    /// benchmark at 20 Mbit/s, BBR flows had 7-21 % of their segments
    /// retransmitted against 1-2 % for loss-based control. If the kernel
    /// refuses the name (not built in, or not in
    /// `net.ipv4.tcp_allowed_congestion_control` for an unprivileged
    /// process), connections keep the system's default and one warning is
    /// logged.
    pub tcp_congestion: Option<String>,
}

impl SessionOptions {
    /// [`SessionOptions::tcp_congestion`] from how operators spell it
    /// (`--tcp-congestion`, `tcp_congestion` in a config file): a name, or
    /// `system` for the kernel's default.
    pub fn tcp_congestion_named(name: &str) -> Option<String> {
        (name != "system" && !name.is_empty()).then(|| name.to_owned())
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            listen: vec![
                SocketAddr::from(([0, 0, 0, 0], 6881)),
                SocketAddr::from(([0u16; 8], 6881)),
            ],
            peer_id_prefix: *b"-AH0100-",
            max_connections: 500,
            max_connections_per_torrent: 100,
            upload_rate: Rate::UNLIMITED,
            download_rate: Rate::UNLIMITED,
            choke_mode: ChokeMode::default(),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(120),
            request_timeout: Duration::from_secs(20),
            resume_save_interval: Duration::from_secs(2),
            check_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_concurrent_writes: 2,
            pex: true,
            pex_interval: Duration::from_secs(60),
            max_known_peers: 500,
            tcp_congestion: Some("cubic".to_owned()),
        }
    }
}
