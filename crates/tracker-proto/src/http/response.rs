//! Bencoded HTTP tracker responses.

use crate::{InfoHash, PeerId, SwarmStats};
use bencode::Encoder;
use std::net::{IpAddr, SocketAddr};

/// One peer in an announce response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePeer {
    /// The peer's id (only the dictionary form sends it).
    pub peer_id: PeerId,
    /// Where to connect to it.
    pub addr: SocketAddr,
}

/// How the peer list is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerForm {
    /// BEP 23: IPv4 peers as 6-byte strings in `peers`, IPv6 peers as
    /// 18-byte strings in `peers6` (BEP 7).
    Compact,
    /// BEP 3: a list of `{ip, peer id, port}` dictionaries.
    Dict {
        /// Leave out `peer id`.
        no_peer_id: bool,
    },
}

/// A successful announce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse<'a> {
    /// Seconds the client should wait before its next regular announce.
    pub interval: u32,
    /// Seconds the client must wait at least.
    pub min_interval: Option<u32>,
    /// Seeders in the swarm.
    pub complete: u32,
    /// Leechers in the swarm.
    pub incomplete: u32,
    /// Opaque id the client echoes back as `trackerid`.
    pub tracker_id: Option<&'a [u8]>,
    /// Shown to the user; the announce still succeeded.
    pub warning: Option<&'a str>,
    /// The peers, in the order they should be tried.
    pub peers: &'a [ResponsePeer],
    /// How to write them.
    pub form: PeerForm,
}

impl AnnounceResponse<'_> {
    /// Appends the bencoded response to `buf`.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        let mut e = Encoder::with_buffer(std::mem::take(buf));
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        if self.form == PeerForm::Compact {
            for p in self.peers {
                match p.addr {
                    SocketAddr::V4(a) => {
                        v4.extend_from_slice(&a.ip().octets());
                        v4.extend_from_slice(&a.port().to_be_bytes());
                    }
                    SocketAddr::V6(a) => {
                        v6.extend_from_slice(&a.ip().octets());
                        v6.extend_from_slice(&a.port().to_be_bytes());
                    }
                }
            }
        }
        e.dict(|d| {
            d.key("complete").int(i64::from(self.complete));
            d.key("incomplete").int(i64::from(self.incomplete));
            d.key("interval").int(i64::from(self.interval));
            if let Some(m) = self.min_interval {
                d.key("min interval").int(i64::from(m));
            }
            match self.form {
                PeerForm::Compact => {
                    d.key("peers").bytes(&v4);
                    if !v6.is_empty() {
                        d.key("peers6").bytes(&v6);
                    }
                }
                PeerForm::Dict { no_peer_id } => {
                    d.key("peers").list(|l| {
                        for p in self.peers {
                            l.dict(|pd| {
                                pd.key("ip").str(&canonical_ip(p.addr.ip()).to_string());
                                if !no_peer_id {
                                    pd.key("peer id").bytes(p.peer_id.as_bytes());
                                }
                                pd.key("port").int(i64::from(p.addr.port()));
                            });
                        }
                    });
                }
            }
            if let Some(t) = self.tracker_id {
                d.key("tracker id").bytes(t);
            }
            if let Some(w) = self.warning {
                d.key("warning message").str(w);
            }
        });
        *buf = e.finish();
    }
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// A scrape response (BEP 48): one entry per requested, known torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeResponse<'a> {
    /// The torrents; order does not matter, duplicates are written once.
    pub files: &'a [(InfoHash, SwarmStats)],
}

impl ScrapeResponse<'_> {
    /// Appends the bencoded response to `buf`.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        let mut files: Vec<&(InfoHash, SwarmStats)> = self.files.iter().collect();
        files.sort_by_key(|f| f.0);
        files.dedup_by(|a, b| a.0 == b.0);
        let mut e = Encoder::with_buffer(std::mem::take(buf));
        e.dict(|d| {
            d.key("files").dict(|fd| {
                for (ih, s) in files {
                    fd.key(ih.as_bytes()).dict(|sd| {
                        sd.key("complete").int(i64::from(s.seeders));
                        sd.key("downloaded").int(i64::from(s.completed));
                        sd.key("incomplete").int(i64::from(s.leechers));
                    });
                }
            });
        });
        *buf = e.finish();
    }
}

/// Appends a failure response (`{"failure reason": reason}`) to `buf`.
pub fn failure(reason: &str, buf: &mut Vec<u8>) {
    let mut e = Encoder::with_buffer(std::mem::take(buf));
    e.dict(|d| {
        d.key("failure reason").str(reason);
    });
    *buf = e.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(addr: &str, id: u8) -> ResponsePeer {
        ResponsePeer {
            peer_id: PeerId([id; 20]),
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn compact_with_v6() {
        let peers = [peer("1.2.3.4:258", 1), peer("[::1]:1", 2)];
        let r = AnnounceResponse {
            interval: 60,
            min_interval: Some(30),
            complete: 1,
            incomplete: 2,
            tracker_id: Some(b"ah"),
            warning: None,
            peers: &peers,
            form: PeerForm::Compact,
        };
        let mut buf = Vec::new();
        r.encode_into(&mut buf);
        let v = bencode::decode(&buf).unwrap();
        let d = v.dict().unwrap();
        assert_eq!(d.get(b"interval").unwrap().int(), Some(60));
        assert_eq!(d.get(b"min interval").unwrap().int(), Some(30));
        assert_eq!(d.get(b"complete").unwrap().int(), Some(1));
        assert_eq!(d.get(b"incomplete").unwrap().int(), Some(2));
        assert_eq!(
            d.get(b"peers").unwrap().bytes(),
            Some(&[1, 2, 3, 4, 1, 2][..])
        );
        let p6 = d.get(b"peers6").unwrap().bytes().unwrap();
        assert_eq!(p6.len(), 18);
        assert_eq!(&p6[16..], &[0, 1]);
        assert_eq!(d.get(b"tracker id").unwrap().bytes(), Some(&b"ah"[..]));
    }

    #[test]
    fn dict_form() {
        let peers = [peer("1.2.3.4:6881", 7)];
        for no_peer_id in [false, true] {
            let r = AnnounceResponse {
                interval: 1,
                min_interval: None,
                complete: 0,
                incomplete: 1,
                tracker_id: None,
                warning: Some("careful"),
                peers: &peers,
                form: PeerForm::Dict { no_peer_id },
            };
            let mut buf = Vec::new();
            r.encode_into(&mut buf);
            let v = bencode::decode(&buf).unwrap();
            let d = v.dict().unwrap();
            let list = d.get(b"peers").unwrap().list().unwrap();
            let p = list[0].dict().unwrap();
            assert_eq!(p.get(b"ip").unwrap().str(), Some("1.2.3.4"));
            assert_eq!(p.get(b"port").unwrap().int(), Some(6881));
            assert_eq!(p.get(b"peer id").is_none(), no_peer_id);
            assert_eq!(d.get(b"warning message").unwrap().str(), Some("careful"));
        }
    }

    #[test]
    fn scrape_sorted_and_deduplicated() {
        let s = SwarmStats {
            seeders: 1,
            completed: 2,
            leechers: 3,
        };
        let files = [
            (InfoHash([9; 20]), s),
            (InfoHash([1; 20]), s),
            (InfoHash([9; 20]), s),
        ];
        let mut buf = Vec::new();
        ScrapeResponse { files: &files }.encode_into(&mut buf);
        let v = bencode::decode(&buf).unwrap();
        let f = v.dict().unwrap().get(b"files").unwrap().dict().unwrap();
        assert_eq!(f.len(), 2);
        let e = f.get(&[9; 20]).unwrap().dict().unwrap();
        assert_eq!(e.get(b"complete").unwrap().int(), Some(1));
        assert_eq!(e.get(b"downloaded").unwrap().int(), Some(2));
        assert_eq!(e.get(b"incomplete").unwrap().int(), Some(3));
    }

    #[test]
    fn failure_body() {
        let mut buf = Vec::new();
        failure("unknown torrent", &mut buf);
        assert_eq!(buf, b"d14:failure reason15:unknown torrente");
    }
}
