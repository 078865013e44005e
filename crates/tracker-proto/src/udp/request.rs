use super::{ConnectionId, MAX_SCRAPE_INFO_HASHES, PROTOCOL_ID, ParseError, TransactionId, action};
use crate::{
    AnnounceEvent, AnnounceRequest as Announce, ByteCount, InfoHash, PeerId, PeerKey, Port,
};
use std::net::{IpAddr, Ipv4Addr};

/// A BEP 15 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Action 0.
    Connect(ConnectRequest),
    /// Action 1.
    Announce(AnnounceRequest),
    /// Action 2.
    Scrape(ScrapeRequest),
}

/// Asks for a connection id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Echoed in the response.
    pub transaction_id: TransactionId,
}

/// An announce over UDP: the shared [`Announce`] plus the BEP 15 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// From an earlier connect response.
    pub connection_id: ConnectionId,
    /// Echoed in the response.
    pub transaction_id: TransactionId,
    /// The announce itself (always compact; `key` always present).
    pub announce: Announce,
}

/// A scrape of up to [`MAX_SCRAPE_INFO_HASHES`] torrents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeRequest {
    /// From an earlier connect response.
    pub connection_id: ConnectionId,
    /// Echoed in the response.
    pub transaction_id: TransactionId,
    /// The torrents, at least one.
    pub info_hashes: Vec<InfoHash>,
}

/// Length of an announce request without BEP 41 options.
const ANNOUNCE_LEN: usize = 98;

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn array20(b: &[u8], at: usize) -> [u8; 20] {
    let mut a = [0u8; 20];
    a.copy_from_slice(&b[at..at + 20]);
    a
}

impl Request {
    /// Parses one datagram. Bytes after a complete announce (BEP 41 options)
    /// are ignored.
    pub fn parse(b: &[u8]) -> Result<Self, ParseError> {
        if b.len() < 16 {
            return Err(ParseError::TooShort { len: b.len() });
        }
        let connection_id = ConnectionId(u64_at(b, 0));
        let act = u32_at(b, 8);
        let transaction_id = TransactionId(u32_at(b, 12));
        let sendable = |message| ParseError::Sendable {
            connection_id,
            transaction_id,
            message,
        };
        match act {
            action::CONNECT => {
                if connection_id.0 != PROTOCOL_ID {
                    return Err(ParseError::BadProtocolId);
                }
                Ok(Self::Connect(ConnectRequest { transaction_id }))
            }
            action::ANNOUNCE => {
                if b.len() < ANNOUNCE_LEN {
                    return Err(sendable("announce packet too short"));
                }
                let event = AnnounceEvent::from_udp(u32_at(b, 80))
                    .ok_or_else(|| sendable("invalid event"))?;
                let ip = match u32_at(b, 84) {
                    0 => None,
                    v => Some(IpAddr::V4(Ipv4Addr::from(v))),
                };
                let numwant = u32::try_from(i32::from_be_bytes(u32_at(b, 92).to_be_bytes())).ok();
                let port = Port::new(u16::from_be_bytes([b[96], b[97]]))
                    .ok_or_else(|| sendable("invalid port"))?;
                Ok(Self::Announce(AnnounceRequest {
                    connection_id,
                    transaction_id,
                    announce: Announce {
                        info_hash: InfoHash(array20(b, 16)),
                        peer_id: PeerId(array20(b, 36)),
                        downloaded: ByteCount(u64_at(b, 56)),
                        left: ByteCount(u64_at(b, 64)),
                        uploaded: ByteCount(u64_at(b, 72)),
                        event,
                        ip,
                        key: Some(PeerKey(u32_at(b, 88))),
                        numwant,
                        port,
                        compact: true,
                        no_peer_id: true,
                        tracker_id: None,
                    },
                }))
            }
            action::SCRAPE => {
                let body = &b[16..];
                if body.is_empty() || body.len() % 20 != 0 {
                    return Err(sendable("scrape needs whole 20-byte info hashes"));
                }
                if body.len() / 20 > MAX_SCRAPE_INFO_HASHES {
                    return Err(sendable("too many info hashes in scrape"));
                }
                let info_hashes = body
                    .chunks_exact(20)
                    .map(|c| InfoHash(array20(c, 0)))
                    .collect();
                Ok(Self::Scrape(ScrapeRequest {
                    connection_id,
                    transaction_id,
                    info_hashes,
                }))
            }
            action => Err(ParseError::UnknownAction { action }),
        }
    }

    /// Appends the datagram to `buf` (client side).
    pub fn write_into(&self, buf: &mut Vec<u8>) {
        match self {
            Self::Connect(c) => {
                buf.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                buf.extend_from_slice(&action::CONNECT.to_be_bytes());
                buf.extend_from_slice(&c.transaction_id.0.to_be_bytes());
            }
            Self::Announce(a) => {
                let r = &a.announce;
                buf.extend_from_slice(&a.connection_id.0.to_be_bytes());
                buf.extend_from_slice(&action::ANNOUNCE.to_be_bytes());
                buf.extend_from_slice(&a.transaction_id.0.to_be_bytes());
                buf.extend_from_slice(r.info_hash.as_bytes());
                buf.extend_from_slice(r.peer_id.as_bytes());
                buf.extend_from_slice(&r.downloaded.0.to_be_bytes());
                buf.extend_from_slice(&r.left.0.to_be_bytes());
                buf.extend_from_slice(&r.uploaded.0.to_be_bytes());
                buf.extend_from_slice(&r.event.to_udp().to_be_bytes());
                let ip = match r.ip {
                    Some(IpAddr::V4(v4)) => u32::from(v4),
                    _ => 0,
                };
                buf.extend_from_slice(&ip.to_be_bytes());
                buf.extend_from_slice(&r.key.map_or(0, |k| k.0).to_be_bytes());
                let numwant = r.numwant.and_then(|n| i32::try_from(n).ok()).unwrap_or(-1);
                buf.extend_from_slice(&numwant.to_be_bytes());
                buf.extend_from_slice(&r.port.get().to_be_bytes());
            }
            Self::Scrape(s) => {
                buf.extend_from_slice(&s.connection_id.0.to_be_bytes());
                buf.extend_from_slice(&action::SCRAPE.to_be_bytes());
                buf.extend_from_slice(&s.transaction_id.0.to_be_bytes());
                for ih in &s.info_hashes {
                    buf.extend_from_slice(ih.as_bytes());
                }
            }
        }
    }
}
