//! Serializable snapshots of the tracker's state: what `GET /stats` returns
//! and what the hub dashboard reads in-process.

use serde::Serialize;
use std::net::IpAddr;

/// The whole tracker at a glance.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TrackerStats {
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Torrents tracked.
    pub torrents: usize,
    /// Peers stored.
    pub peers: usize,
    /// Of which seeders.
    pub seeders: u64,
    /// Of which leechers.
    pub leechers: u64,
    /// Completed events counted, all torrents.
    pub completed: u64,
    /// Request counters.
    pub requests: RequestCounters,
    /// Per torrent, at most the requested number.
    pub torrent_list: Vec<TorrentSummary>,
    /// Whether `torrent_list` was cut short.
    pub truncated: bool,
}

/// Request counters since start.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct RequestCounters {
    /// HTTP announces.
    pub http_announces: u64,
    /// UDP announces.
    pub udp_announces: u64,
    /// HTTP scrapes.
    pub http_scrapes: u64,
    /// UDP scrapes.
    pub udp_scrapes: u64,
    /// UDP connects.
    pub udp_connects: u64,
    /// Requests refused or dropped.
    pub errors: u64,
}

/// One torrent's numbers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TorrentSummary {
    /// Hex infohash.
    pub info_hash: String,
    /// Seeders now.
    pub seeders: u32,
    /// Leechers now.
    pub leechers: u32,
    /// Completed events counted.
    pub completed: u32,
}

/// One torrent with its peers (`GET /stats?info_hash=HEX`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TorrentStats {
    /// Numbers.
    #[serde(flatten)]
    pub summary: TorrentSummary,
    /// Peers, at most the requested number.
    pub peers: Vec<PeerStats>,
}

/// One peer as last reported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeerStats {
    /// Hex peer id.
    pub peer_id: String,
    /// Printable client prefix of the peer id (e.g. `-TR3000-`).
    pub client: String,
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
    /// Bytes uploaded, as reported.
    pub uploaded: u64,
    /// Bytes downloaded, as reported.
    pub downloaded: u64,
    /// Bytes left, as reported.
    pub left: u64,
    /// `left == 0`.
    pub seeder: bool,
    /// Sent `event=completed`.
    pub completed: bool,
    /// Seconds since its last announce.
    pub last_seen_secs_ago: u32,
}
