use crate::{AnnounceEvent, ByteCount, InfoHash, PeerId, PeerKey, Port};
use std::net::IpAddr;

/// One announce, as parsed from either transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The announcing client.
    pub peer_id: PeerId,
    /// Where the client accepts peer connections.
    pub port: Port,
    /// Bytes uploaded since `started`.
    pub uploaded: ByteCount,
    /// Bytes downloaded since `started`.
    pub downloaded: ByteCount,
    /// Bytes still missing; zero means the client is a seeder.
    pub left: ByteCount,
    /// What happened, if anything.
    pub event: AnnounceEvent,
    /// Peers wanted; `None` lets the tracker choose.
    pub numwant: Option<u32>,
    /// Stable client key, if sent.
    pub key: Option<PeerKey>,
    /// Address the client claims (`ip=` or the BEP 15 IP field). Trackers use
    /// it only when configured to trust it.
    pub ip: Option<IpAddr>,
    /// HTTP only: compact peers (BEP 23) or the dictionary form. UDP is always compact.
    pub compact: bool,
    /// HTTP only: leave `peer id` out of the dictionary form.
    pub no_peer_id: bool,
    /// HTTP only: the `trackerid` echoed back from an earlier response.
    pub tracker_id: Option<Vec<u8>>,
}
