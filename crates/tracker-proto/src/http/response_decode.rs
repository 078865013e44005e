//! Reading bencoded HTTP tracker responses: the reverse of
//! [`AnnounceResponse::encode_into`](super::AnnounceResponse::encode_into),
//! [`ScrapeResponse::encode_into`](super::ScrapeResponse::encode_into) and
//! [`failure`](super::failure), for clients and test tools.
//!
//! The body is untrusted: nothing here panics, and what is kept is bounded
//! by the body (a caller caps the body). Values a tracker gets slightly
//! wrong are tolerated where clients tolerate them (a dictionary peer
//! without a usable address is skipped, a count that does not fit is
//! absent); a body of the wrong shape is an error.

use crate::{InfoHash, PeerId, SwarmStats};
use bencode::{Dict, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// What a tracker answered: the response, or the `failure reason` it gave
/// instead (failures are sent with status 200, as clients expect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    /// The tracker answered.
    Ok(T),
    /// The tracker refused; its reason, lossily decoded as UTF-8.
    Failure(String),
}

/// A body that is not a tracker response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// Not bencode.
    #[error("not bencode: {0}")]
    Bencode(bencode::DecodeError),
    /// Bencode of the wrong shape; says what is wrong.
    #[error("{0}")]
    Shape(&'static str),
}

/// One peer of a decoded announce response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedPeer {
    /// Where to connect to it.
    pub addr: SocketAddr,
    /// Its id, when the dictionary form carries one.
    pub peer_id: Option<PeerId>,
}

/// A decoded successful announce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceReply {
    /// `interval` in seconds, clamped into `u32` (negative is 0).
    pub interval: u32,
    /// `min interval` in seconds, clamped the same way.
    pub min_interval: Option<u32>,
    /// `complete` (seeders), if present and a `u32`.
    pub complete: Option<u32>,
    /// `incomplete` (leechers), if present and a `u32`.
    pub incomplete: Option<u32>,
    /// `tracker id`, to echo back as `trackerid`.
    pub tracker_id: Option<Vec<u8>>,
    /// `warning message`, if it is UTF-8.
    pub warning: Option<String>,
    /// IPv4 and IPv6 peers: `peers` (compact or dictionaries), then `peers6`.
    pub peers: Vec<DecodedPeer>,
}

/// Decodes an announce response body.
pub fn decode_announce(body: &[u8]) -> Result<Reply<AnnounceReply>, ResponseError> {
    let v = bencode::decode(body).map_err(ResponseError::Bencode)?;
    let d = v.dict().ok_or(ResponseError::Shape("not a dictionary"))?;
    if let Some(reason) = failure_reason(d) {
        return Ok(Reply::Failure(reason));
    }
    let interval = seconds(d, b"interval").ok_or(ResponseError::Shape("no interval"))?;
    let mut peers = Vec::new();
    match d.get(b"peers") {
        None => {}
        Some(p) => {
            if let Some(raw) = p.bytes() {
                if raw.len() % 6 != 0 {
                    return Err(ResponseError::Shape(
                        "compact peers not a multiple of 6 bytes",
                    ));
                }
                peers.extend(raw.chunks_exact(6).map(|c| DecodedPeer {
                    addr: SocketAddr::V4(SocketAddrV4::new(
                        Ipv4Addr::new(c[0], c[1], c[2], c[3]),
                        u16::from_be_bytes([c[4], c[5]]),
                    )),
                    peer_id: None,
                }));
            } else if let Some(list) = p.list() {
                peers.extend(list.iter().filter_map(dict_peer));
            } else {
                return Err(ResponseError::Shape("peers has the wrong type"));
            }
        }
    }
    if let Some(p6) = d.get(b"peers6").and_then(Value::bytes) {
        if p6.len() % 18 != 0 {
            return Err(ResponseError::Shape("peers6 not a multiple of 18 bytes"));
        }
        peers.extend(p6.chunks_exact(18).map(|c| {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&c[..16]);
            DecodedPeer {
                addr: SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(ip),
                    u16::from_be_bytes([c[16], c[17]]),
                    0,
                    0,
                )),
                peer_id: None,
            }
        }));
    }
    Ok(Reply::Ok(AnnounceReply {
        interval,
        min_interval: seconds(d, b"min interval"),
        complete: count(d, b"complete"),
        incomplete: count(d, b"incomplete"),
        tracker_id: d
            .get(b"tracker id")
            .and_then(Value::bytes)
            .map(<[u8]>::to_vec),
        warning: d
            .get(b"warning message")
            .and_then(Value::str)
            .map(str::to_string),
        peers,
    }))
}

/// Decodes a scrape response body: the torrents it lists, in the order of
/// the body (sorted by infohash, as bencode requires). Keys that are not 20
/// bytes and entries that are not dictionaries are skipped; a count that is
/// missing or does not fit a `u32` reads as 0.
pub fn decode_scrape(body: &[u8]) -> Result<Reply<Vec<(InfoHash, SwarmStats)>>, ResponseError> {
    let v = bencode::decode(body).map_err(ResponseError::Bencode)?;
    let d = v.dict().ok_or(ResponseError::Shape("not a dictionary"))?;
    if let Some(reason) = failure_reason(d) {
        return Ok(Reply::Failure(reason));
    }
    let files = d
        .get(b"files")
        .and_then(Value::dict)
        .ok_or(ResponseError::Shape("no files dictionary"))?;
    Ok(Reply::Ok(
        files
            .iter()
            .filter_map(|(k, e)| {
                let ih = InfoHash::from_bytes(k)?;
                let e = e.dict()?;
                let n = |key: &[u8]| count(e, key).unwrap_or(0);
                Some((
                    ih,
                    SwarmStats {
                        seeders: n(b"complete"),
                        completed: n(b"downloaded"),
                        leechers: n(b"incomplete"),
                    },
                ))
            })
            .collect(),
    ))
}

fn failure_reason(d: &Dict<'_>) -> Option<String> {
    let reason = d.get(b"failure reason")?;
    Some(String::from_utf8_lossy(reason.bytes().unwrap_or(b"(not a string)")).into_owned())
}

fn seconds(d: &Dict<'_>, key: &[u8]) -> Option<u32> {
    let i = d.get(key)?.int()?;
    Some(u32::try_from(i.max(0)).unwrap_or(u32::MAX))
}

fn count(d: &Dict<'_>, key: &[u8]) -> Option<u32> {
    u32::try_from(d.get(key)?.int()?).ok()
}

fn dict_peer(v: &Value<'_>) -> Option<DecodedPeer> {
    let d = v.dict()?;
    let ip: IpAddr = d.get(b"ip")?.str()?.parse().ok()?;
    let port = u16::try_from(d.get(b"port")?.int()?).ok()?;
    Some(DecodedPeer {
        addr: SocketAddr::new(ip, port),
        peer_id: d
            .get(b"peer id")
            .and_then(Value::bytes)
            .and_then(|b| <[u8; 20]>::try_from(b).ok())
            .map(PeerId),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{AnnounceResponse, PeerForm, ResponsePeer, ScrapeResponse, failure};

    fn peer(addr: &str, id: u8) -> ResponsePeer {
        ResponsePeer {
            peer_id: PeerId([id; 20]),
            addr: addr.parse().unwrap(),
        }
    }

    fn ok<T: std::fmt::Debug>(r: Result<Reply<T>, ResponseError>) -> T {
        match r {
            Ok(Reply::Ok(t)) => t,
            other => panic!("not a response: {other:?}"),
        }
    }

    fn sample(peers: &[ResponsePeer], form: PeerForm) -> Vec<u8> {
        let mut buf = Vec::new();
        AnnounceResponse {
            interval: 1800,
            min_interval: Some(60),
            complete: 3,
            incomplete: 4,
            tracker_id: Some(b"t\xffid"),
            warning: Some("slow down"),
            peers,
            form,
        }
        .encode_into(&mut buf);
        buf
    }

    #[test]
    fn compact_round_trip_keeps_v4_and_v6_in_order() {
        let peers = [
            peer("1.2.3.4:258", 1),
            peer("[2001:db8::1]:6881", 2),
            peer("10.0.0.5:6881", 3),
        ];
        let r = ok(decode_announce(&sample(&peers, PeerForm::Compact)));
        assert_eq!(r.interval, 1800);
        assert_eq!(r.min_interval, Some(60));
        assert_eq!((r.complete, r.incomplete), (Some(3), Some(4)));
        assert_eq!(r.tracker_id.as_deref(), Some(&b"t\xffid"[..]));
        assert_eq!(r.warning.as_deref(), Some("slow down"));
        let addrs: Vec<SocketAddr> = r.peers.iter().map(|p| p.addr).collect();
        // peers (v4) first, then peers6
        assert_eq!(addrs, [peers[0].addr, peers[2].addr, peers[1].addr]);
        assert!(r.peers.iter().all(|p| p.peer_id.is_none()));
    }

    #[test]
    fn dictionary_round_trip_with_and_without_peer_ids() {
        let peers = [peer("1.2.3.4:6881", 7), peer("[::1]:1", 8)];
        for no_peer_id in [false, true] {
            let r = ok(decode_announce(&sample(
                &peers,
                PeerForm::Dict { no_peer_id },
            )));
            let want: Vec<DecodedPeer> = peers
                .iter()
                .map(|p| DecodedPeer {
                    addr: p.addr,
                    peer_id: (!no_peer_id).then_some(p.peer_id),
                })
                .collect();
            assert_eq!(r.peers, want);
            assert_eq!(r.interval, 1800);
        }
    }

    #[test]
    fn failure_round_trip() {
        let mut buf = Vec::new();
        failure("unregistered torrent", &mut buf);
        assert_eq!(
            decode_announce(&buf),
            Ok(Reply::Failure("unregistered torrent".into()))
        );
        assert_eq!(
            decode_scrape(&buf),
            Ok(Reply::Failure("unregistered torrent".into()))
        );
        assert_eq!(
            decode_announce(b"d14:failure reasoni3ee"),
            Ok(Reply::Failure("(not a string)".into()))
        );
    }

    #[test]
    fn scrape_round_trip() {
        let s = |seeders, completed, leechers| SwarmStats {
            seeders,
            completed,
            leechers,
        };
        let files = [
            (InfoHash([9; 20]), s(1, 2, 3)),
            (InfoHash([1; 20]), s(0, u32::MAX, 5)),
        ];
        let mut buf = Vec::new();
        ScrapeResponse { files: &files }.encode_into(&mut buf);
        assert_eq!(ok(decode_scrape(&buf)), [files[1], files[0]]);
        assert_eq!(ok(decode_scrape(b"d5:filesdee")), []);
    }

    #[test]
    fn scrape_skips_what_is_not_a_torrent_entry() {
        let mut body = b"d5:filesd20:".to_vec();
        body.extend_from_slice(&[7; 20]);
        body.extend_from_slice(b"d8:completei-1e10:incompletei2ee3:abcd8:completei1ee3:defi1eee");
        let files = ok(decode_scrape(&body));
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, InfoHash([7; 20]));
        assert_eq!(files[0].1.seeders, 0, "a negative count reads as 0");
        assert_eq!(files[0].1.leechers, 2);
    }

    #[test]
    fn tolerated_oddities() {
        // Negative and huge intervals clamp; counts that do not fit are absent;
        // dictionary peers without a usable ip or port are skipped.
        let body = b"d8:completei-1e10:incompletei99999999999e8:intervali-5e\
                     12:min intervali99999999999e5:peersl\
                     d2:ip7:1.2.3.44:porti80eed2:ip3:bad4:porti1eed2:ip7:1.2.3.44:porti70000eeee";
        let r = ok(decode_announce(body));
        assert_eq!(r.interval, 0);
        assert_eq!(r.min_interval, Some(u32::MAX));
        assert_eq!((r.complete, r.incomplete), (None, None));
        assert_eq!(r.peers.len(), 1);
        assert_eq!(r.peers[0].addr, "1.2.3.4:80".parse().unwrap());
        // No peers at all is an answer too.
        assert!(ok(decode_announce(b"d8:intervali60ee")).peers.is_empty());
    }

    #[test]
    fn malformed_bodies() {
        for (body, what) in [
            (&b"<html>"[..], None),
            (b"le", Some("not a dictionary")),
            (b"d5:peers0:e", Some("no interval")),
            (
                b"d8:intervali1e5:peers5:abcdee",
                Some("compact peers not a multiple of 6 bytes"),
            ),
            (
                b"d8:intervali1e5:peersi1ee",
                Some("peers has the wrong type"),
            ),
            (
                b"d8:intervali1e6:peers63:abce",
                Some("peers6 not a multiple of 18 bytes"),
            ),
        ] {
            match (decode_announce(body), what) {
                (Err(ResponseError::Bencode(_)), None) => {}
                (Err(ResponseError::Shape(w)), Some(want)) => assert_eq!(w, want),
                (other, _) => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        assert_eq!(
            decode_scrape(b"d1:xi1ee"),
            Err(ResponseError::Shape("no files dictionary"))
        );
    }
}
