use super::{ConnectionId, TransactionId, action};
use crate::SwarmStats;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A BEP 15 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Action 0: the connection id to use.
    Connect {
        /// Echoed from the request.
        transaction_id: TransactionId,
        /// Valid for a short while (about two minutes).
        connection_id: ConnectionId,
    },
    /// Action 1.
    Announce(AnnounceResponse),
    /// Action 2.
    Scrape(ScrapeResponse),
    /// Action 3.
    Error(ErrorResponse),
}

/// Peers for an announce. All peers have the address family of the socket
/// the request came in on: 6-byte entries over IPv4, 18-byte over IPv6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// Echoed from the request.
    pub transaction_id: TransactionId,
    /// Seconds until the next regular announce.
    pub interval: u32,
    /// Leechers in the swarm.
    pub leechers: u32,
    /// Seeders in the swarm.
    pub seeders: u32,
    /// The peers; their family must match the socket's (see [`Response::parse`]).
    pub peers: Vec<SocketAddr>,
}

/// Scrape numbers in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// Echoed from the request.
    pub transaction_id: TransactionId,
    /// One entry per requested infohash (zeros for unknown torrents).
    pub stats: Vec<SwarmStats>,
}

/// An error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// Echoed from the request.
    pub transaction_id: TransactionId,
    /// Human-readable reason.
    pub message: String,
}

impl Response {
    /// Appends the datagram to `buf`. Announce peers whose family differs
    /// from the first peer's are skipped, so a response never mixes sizes.
    pub fn write_into(&self, buf: &mut Vec<u8>) {
        match self {
            Self::Connect {
                transaction_id,
                connection_id,
            } => {
                buf.extend_from_slice(&action::CONNECT.to_be_bytes());
                buf.extend_from_slice(&transaction_id.0.to_be_bytes());
                buf.extend_from_slice(&connection_id.0.to_be_bytes());
            }
            Self::Announce(a) => {
                buf.extend_from_slice(&action::ANNOUNCE.to_be_bytes());
                buf.extend_from_slice(&a.transaction_id.0.to_be_bytes());
                buf.extend_from_slice(&a.interval.to_be_bytes());
                buf.extend_from_slice(&a.leechers.to_be_bytes());
                buf.extend_from_slice(&a.seeders.to_be_bytes());
                let v6 = matches!(a.peers.first(), Some(SocketAddr::V6(_)));
                for p in &a.peers {
                    match (p, v6) {
                        (SocketAddr::V4(p), false) => {
                            buf.extend_from_slice(&p.ip().octets());
                            buf.extend_from_slice(&p.port().to_be_bytes());
                        }
                        (SocketAddr::V6(p), true) => {
                            buf.extend_from_slice(&p.ip().octets());
                            buf.extend_from_slice(&p.port().to_be_bytes());
                        }
                        _ => {}
                    }
                }
            }
            Self::Scrape(s) => {
                buf.extend_from_slice(&action::SCRAPE.to_be_bytes());
                buf.extend_from_slice(&s.transaction_id.0.to_be_bytes());
                for st in &s.stats {
                    buf.extend_from_slice(&st.seeders.to_be_bytes());
                    buf.extend_from_slice(&st.completed.to_be_bytes());
                    buf.extend_from_slice(&st.leechers.to_be_bytes());
                }
            }
            Self::Error(e) => {
                buf.extend_from_slice(&action::ERROR.to_be_bytes());
                buf.extend_from_slice(&e.transaction_id.0.to_be_bytes());
                buf.extend_from_slice(e.message.as_bytes());
            }
        }
    }

    /// Parses a response datagram (client side). `ipv6` tells the peer
    /// entry size of announce responses (the socket's family). Returns
    /// `None` for anything malformed.
    pub fn parse(b: &[u8], ipv6: bool) -> Option<Self> {
        let head = b.get(..8)?;
        let act = u32::from_be_bytes(head[..4].try_into().ok()?);
        let transaction_id = TransactionId(u32::from_be_bytes(head[4..8].try_into().ok()?));
        let rest = &b[8..];
        match act {
            action::CONNECT => {
                let id: [u8; 8] = rest.try_into().ok()?;
                Some(Self::Connect {
                    transaction_id,
                    connection_id: ConnectionId(u64::from_be_bytes(id)),
                })
            }
            action::ANNOUNCE => {
                let nums = rest.get(..12)?;
                let n = |i: usize| nums[i..i + 4].try_into().ok().map(u32::from_be_bytes);
                let entry = if ipv6 { 18 } else { 6 };
                let peers_raw = &rest[12..];
                if peers_raw.len() % entry != 0 {
                    return None;
                }
                let peers = peers_raw
                    .chunks_exact(entry)
                    .map(|c| {
                        let port = u16::from_be_bytes([c[entry - 2], c[entry - 1]]);
                        if ipv6 {
                            let mut o = [0u8; 16];
                            o.copy_from_slice(&c[..16]);
                            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(o), port, 0, 0))
                        } else {
                            SocketAddr::V4(SocketAddrV4::new(
                                Ipv4Addr::new(c[0], c[1], c[2], c[3]),
                                port,
                            ))
                        }
                    })
                    .collect();
                Some(Self::Announce(AnnounceResponse {
                    transaction_id,
                    interval: n(0)?,
                    leechers: n(4)?,
                    seeders: n(8)?,
                    peers,
                }))
            }
            action::SCRAPE => {
                if rest.len() % 12 != 0 {
                    return None;
                }
                let mut stats = Vec::with_capacity(rest.len() / 12);
                for c in rest.chunks_exact(12) {
                    let n = |i: usize| c[i..i + 4].try_into().ok().map(u32::from_be_bytes);
                    stats.push(SwarmStats {
                        seeders: n(0)?,
                        completed: n(4)?,
                        leechers: n(8)?,
                    });
                }
                Some(Self::Scrape(ScrapeResponse {
                    transaction_id,
                    stats,
                }))
            }
            action::ERROR => Some(Self::Error(ErrorResponse {
                transaction_id,
                message: String::from_utf8_lossy(rest).into_owned(),
            })),
            _ => None,
        }
    }
}
