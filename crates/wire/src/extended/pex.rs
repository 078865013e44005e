use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bencode::{Dict, Value};
use bytes::Bytes;

use crate::ExtensionError;

const WHAT: &str = "ut_pex";

/// Most peers kept per list and address family from one PEX message. BEP 11
/// asks senders for at most 50 added and 50 dropped; entries beyond this cap
/// are ignored rather than rejected, so a chatty peer costs bounded memory.
pub const MAX_PEX_PEERS: usize = 200;

/// Per-peer flags of `added.f` / `added6.f` (BEP 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// The peer prefers encrypted connections.
    pub const PREFERS_ENCRYPTION: u8 = 0x01;
    /// The peer is a seed (or upload-only).
    pub const SEED: u8 = 0x02;
    /// The peer supports uTP.
    pub const UTP: u8 = 0x04;
    /// The peer supports the holepunch extension.
    pub const HOLEPUNCH: u8 = 0x08;
    /// The sender connected to the peer itself, so it is reachable.
    pub const REACHABLE: u8 = 0x10;

    /// Whether every bit of `flag` is set.
    pub const fn has(self, flag: u8) -> bool {
        self.0 & flag == flag
    }
    /// Whether the peer is a seed.
    pub const fn seed(self) -> bool {
        self.has(Self::SEED)
    }
}

/// A peer announced in a PEX message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PexPeer {
    /// Its address.
    pub addr: SocketAddr,
    /// Its flags (0 when the sender gave none).
    pub flags: PexFlags,
}

/// A BEP 11 `ut_pex` message.
///
/// IPv4 and IPv6 peers share one list each; encoding splits them into
/// `added`/`added6` etc., and parsing returns IPv4 entries before IPv6 ones.
///
/// ```
/// use wire::{PexFlags, PexMessage, PexPeer};
/// let m = PexMessage {
///     added: vec![PexPeer { addr: "10.0.0.1:6881".parse().unwrap(), flags: PexFlags(PexFlags::SEED) }],
///     dropped: vec!["[::1]:51413".parse().unwrap()],
/// };
/// assert_eq!(PexMessage::parse(&m.to_bytes()).unwrap(), m);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PexMessage {
    /// Peers the sender connected to since its last message.
    pub added: Vec<PexPeer>,
    /// Peers the sender disconnected from.
    pub dropped: Vec<SocketAddr>,
}

impl PexMessage {
    /// Parses a `ut_pex` payload. Missing lists are empty; a compact list with
    /// a length that is not a multiple of its entry size is an error; missing
    /// or short flag strings give flags 0.
    pub fn parse(payload: &[u8]) -> Result<Self, ExtensionError> {
        let (v, _) = bencode::decode_prefix(payload)
            .map_err(|source| ExtensionError::Bencode { what: WHAT, source })?;
        let d = v.dict().ok_or(ExtensionError::NotADict { what: WHAT })?;
        let mut m = PexMessage::default();
        for (list, flags, entry) in [("added", "added.f", 6), ("added6", "added6.f", 18)] {
            let addrs = compact(d, list, entry)?;
            let flags = d
                .get(flags.as_bytes())
                .and_then(Value::bytes)
                .unwrap_or(&[]);
            m.added.extend(addrs.enumerate().map(|(i, addr)| PexPeer {
                addr,
                flags: PexFlags(flags.get(i).copied().unwrap_or(0)),
            }));
        }
        for (list, entry) in [("dropped", 6), ("dropped6", 18)] {
            m.dropped.extend(compact(d, list, entry)?);
        }
        Ok(m)
    }

    /// Encodes the payload. Every key is written, empty lists as empty strings.
    pub fn to_bytes(&self) -> Bytes {
        let mut added4 = Vec::new();
        let mut flags4 = Vec::new();
        let mut added6 = Vec::new();
        let mut flags6 = Vec::new();
        for p in &self.added {
            match p.addr {
                SocketAddr::V4(a) => {
                    put_v4(&mut added4, a);
                    flags4.push(p.flags.0);
                }
                SocketAddr::V6(a) => {
                    put_v6(&mut added6, a);
                    flags6.push(p.flags.0);
                }
            }
        }
        let mut dropped4 = Vec::new();
        let mut dropped6 = Vec::new();
        for a in &self.dropped {
            match a {
                SocketAddr::V4(a) => put_v4(&mut dropped4, *a),
                SocketAddr::V6(a) => put_v6(&mut dropped6, *a),
            }
        }
        let mut e = bencode::Encoder::new();
        e.dict(|d| {
            d.key("added").bytes(&added4);
            d.key("added.f").bytes(&flags4);
            d.key("added6").bytes(&added6);
            d.key("added6.f").bytes(&flags6);
            d.key("dropped").bytes(&dropped4);
            d.key("dropped6").bytes(&dropped6);
        });
        Bytes::from(e.finish())
    }
}

fn put_v4(out: &mut Vec<u8>, a: SocketAddrV4) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn put_v6(out: &mut Vec<u8>, a: SocketAddrV6) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

/// The compact peers under `key` (entry size 6 or 18), capped at [`MAX_PEX_PEERS`].
fn compact<'a>(
    d: &Dict<'a>,
    key: &'static str,
    entry: usize,
) -> Result<impl Iterator<Item = SocketAddr> + 'a, ExtensionError> {
    let raw: &'a [u8] = d.get(key.as_bytes()).and_then(Value::bytes).unwrap_or(&[]);
    if raw.len() % entry != 0 {
        return Err(ExtensionError::CompactLength {
            field: key,
            len: raw.len(),
            entry,
        });
    }
    Ok(raw.chunks_exact(entry).take(MAX_PEX_PEERS).map(|c| {
        let (ip, port) = c.split_at(c.len() - 2);
        let port = u16::from_be_bytes([port[0], port[1]]);
        match <[u8; 4]>::try_from(ip) {
            Ok(v4) => SocketAddr::from((Ipv4Addr::from(v4), port)),
            Err(_) => {
                let mut v6 = [0u8; 16];
                v6.copy_from_slice(ip);
                SocketAddr::from((Ipv6Addr::from(v6), port))
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compact_lists_and_flags() {
        let payload = b"d5:added12:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x507:added.f1:\x02\
7:dropped6:\x7f\x00\x00\x01\x00\x01e";
        let m = PexMessage::parse(payload).unwrap();
        assert_eq!(
            m.added,
            vec![
                PexPeer {
                    addr: "10.0.0.1:6881".parse().unwrap(),
                    flags: PexFlags(PexFlags::SEED)
                },
                PexPeer {
                    addr: "10.0.0.2:80".parse().unwrap(),
                    flags: PexFlags(0)
                },
            ]
        );
        assert!(m.added[0].flags.seed());
        assert_eq!(
            m.dropped,
            vec!["127.0.0.1:1".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn rejects_ragged_compact_list() {
        assert_eq!(
            PexMessage::parse(b"d6:added65:abcdee"),
            Err(ExtensionError::CompactLength {
                field: "added6",
                len: 5,
                entry: 18
            })
        );
        assert_eq!(
            PexMessage::parse(b"d7:dropped7:abcdefge"),
            Err(ExtensionError::CompactLength {
                field: "dropped",
                len: 7,
                entry: 6
            })
        );
    }

    #[test]
    fn caps_peer_count() {
        let mut e = bencode::Encoder::new();
        e.dict(|d| {
            d.key("added").bytes(&vec![1u8; 6 * (MAX_PEX_PEERS + 10)]);
        });
        let m = PexMessage::parse(&e.finish()).unwrap();
        assert_eq!(m.added.len(), MAX_PEX_PEERS);
    }

    #[test]
    fn rejects_non_dict() {
        assert_eq!(
            PexMessage::parse(b"le"),
            Err(ExtensionError::NotADict { what: "ut_pex" })
        );
    }

    #[test]
    fn empty_dict_is_empty_message() {
        assert_eq!(PexMessage::parse(b"de").unwrap(), PexMessage::default());
    }
}
