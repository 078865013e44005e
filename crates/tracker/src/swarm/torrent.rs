use super::Peer;
use crate::locality::Neighbourhood;
use indexmap::IndexMap;
use std::collections::hash_map::RandomState;
use std::net::{IpAddr, SocketAddr};
use tracker_proto::http::ResponsePeer;
use tracker_proto::{AnnounceEvent, PeerId, SwarmStats};

/// Peers of one torrent by id. Indexable, so a random run of peers can be
/// picked in O(numwant); keyed with a random SipHash because peer ids are
/// chosen by clients.
pub(crate) type PeerMap = IndexMap<PeerId, Peer, RandomState>;

/// One torrent's swarm.
#[derive(Debug, Default)]
pub(crate) struct Torrent {
    /// Peers with nothing left to download.
    pub(crate) seeds: PeerMap,
    /// Peers still downloading.
    pub(crate) leeches: PeerMap,
    /// `event=completed` announces counted (BEP 48 `downloaded`).
    pub(crate) completed: u32,
}

/// What to select for the requester.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selection {
    /// Peers wanted.
    pub(crate) numwant: usize,
    /// `Some(true)`: only IPv6 peers; `Some(false)`: only IPv4; `None`: both.
    pub(crate) want_v6: Option<bool>,
    /// Peers here come first.
    pub(crate) neighbourhood: Option<Neighbourhood>,
    /// Most peers looked at when `neighbourhood` is set.
    pub(crate) max_scan: usize,
}

impl Torrent {
    pub(crate) fn len(&self) -> usize {
        self.seeds.len() + self.leeches.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn stats(&self) -> SwarmStats {
        SwarmStats {
            seeders: saturating_u32(self.seeds.len()),
            completed: self.completed,
            leechers: saturating_u32(self.leeches.len()),
        }
    }

    /// Applies one announce and returns the change in stored peers
    /// (-1, 0 or +1). `may_insert` is false when a peer cap is reached.
    pub(crate) fn upsert(
        &mut self,
        id: PeerId,
        new: Peer,
        event: AnnounceEvent,
        may_insert: bool,
    ) -> isize {
        let (in_seeds, idx) = match self.seeds.get_index_of(&id) {
            Some(i) => (true, Some(i)),
            None => (false, self.leeches.get_index_of(&id)),
        };
        let Some(idx) = idx else {
            if event == AnnounceEvent::Stopped || !may_insert {
                return 0;
            }
            let mut p = new;
            if event == AnnounceEvent::Completed {
                p.flags |= Peer::COMPLETED;
                self.completed = self.completed.saturating_add(1);
            }
            if p.is_seed() {
                self.seeds.insert(id, p);
            } else {
                self.leeches.insert(id, p);
            }
            return 1;
        };
        let map = if in_seeds {
            &mut self.seeds
        } else {
            &mut self.leeches
        };
        let Some((_, old)) = map.get_index_mut(idx) else {
            return 0;
        };
        // Another address using this id must prove it is the same client.
        if old.ip != new.ip && old.key().is_some() && old.key() != new.key() {
            return 0;
        }
        if event == AnnounceEvent::Stopped {
            map.swap_remove_index(idx);
            return -1;
        }
        let mut flags = (old.flags & Peer::COMPLETED) | (new.flags & Peer::HAS_KEY);
        if event == AnnounceEvent::Completed && flags & Peer::COMPLETED == 0 {
            flags |= Peer::COMPLETED;
            self.completed = self.completed.saturating_add(1);
        }
        let updated = Peer { flags, ..new };
        if updated.is_seed() == in_seeds {
            *old = updated;
        } else {
            map.swap_remove_index(idx);
            if in_seeds {
                self.leeches.insert(id, updated);
            } else {
                self.seeds.insert(id, updated);
            }
        }
        0
    }

    /// Appends up to `sel.numwant` peers for the requester to `out`: never the
    /// requester itself (by id or by address), never a seeder to a seeder,
    /// neighbours first, starting at a random position.
    pub(crate) fn select(
        &self,
        requester: PeerId,
        requester_addr: (IpAddr, u16),
        requester_is_seed: bool,
        sel: Selection,
        out: &mut Vec<ResponsePeer>,
    ) {
        let (a, b) = if requester_is_seed {
            (&self.leeches, None)
        } else {
            (&self.seeds, Some(&self.leeches))
        };
        let total = a.len() + b.map_or(0, IndexMap::len);
        if total == 0 || sel.numwant == 0 {
            return;
        }
        let start = out.len();
        let mut remote = Vec::new();
        let limit = if sel.neighbourhood.is_some() {
            total.min(sel.max_scan)
        } else {
            total
        };
        let mut idx = fastrand::usize(..total);
        for _ in 0..limit {
            let entry = if idx < a.len() {
                a.get_index(idx)
            } else {
                b.and_then(|b| b.get_index(idx - a.len()))
            };
            idx += 1;
            if idx == total {
                idx = 0;
            }
            let Some((id, p)) = entry else { continue };
            if *id == requester || (p.ip == requester_addr.0 && p.port == requester_addr.1) {
                continue;
            }
            if sel.want_v6.is_some_and(|v6| p.ip.is_ipv6() != v6) {
                continue;
            }
            let rp = ResponsePeer {
                peer_id: *id,
                addr: SocketAddr::new(p.ip, p.port),
            };
            match sel.neighbourhood {
                Some(n) if !n.contains(p.ip) => {
                    if remote.len() < sel.numwant {
                        remote.push(rp);
                    }
                    continue;
                }
                _ => out.push(rp),
            }
            if out.len() - start >= sel.numwant {
                return;
            }
        }
        let room = sel.numwant - (out.len() - start);
        out.extend(remote.into_iter().take(room));
    }

    /// Removes peers last seen before `cutoff`; returns how many.
    pub(crate) fn expire(&mut self, cutoff: u32) -> usize {
        let before = self.len();
        self.seeds.retain(|_, p| p.last_seen >= cutoff);
        self.leeches.retain(|_, p| p.last_seen >= cutoff);
        before - self.len()
    }
}

pub(crate) fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locality::Locality;

    fn peer(ip: &str, port: u16, left: u64, now: u32) -> Peer {
        Peer {
            uploaded: 0,
            downloaded: 0,
            left,
            last_seen: now,
            key: 0,
            ip: ip.parse().unwrap(),
            port,
            flags: 0,
        }
    }

    fn id(n: u8) -> PeerId {
        PeerId([n; 20])
    }

    fn sel(numwant: usize) -> Selection {
        Selection {
            numwant,
            want_v6: None,
            neighbourhood: None,
            max_scan: 1000,
        }
    }

    #[test]
    fn insert_update_stop() {
        let mut t = Torrent::default();
        assert_eq!(
            t.upsert(
                id(1),
                peer("10.0.0.1", 1, 5, 0),
                AnnounceEvent::Started,
                true
            ),
            1
        );
        assert_eq!(t.stats().leechers, 1);
        assert_eq!(
            t.upsert(
                id(1),
                peer("10.0.0.1", 1, 0, 1),
                AnnounceEvent::Completed,
                true
            ),
            0
        );
        assert_eq!(
            t.stats(),
            SwarmStats {
                seeders: 1,
                completed: 1,
                leechers: 0
            }
        );
        // A repeated completed event is not counted twice.
        assert_eq!(
            t.upsert(
                id(1),
                peer("10.0.0.1", 1, 0, 2),
                AnnounceEvent::Completed,
                true
            ),
            0
        );
        assert_eq!(t.completed, 1);
        assert_eq!(
            t.upsert(
                id(1),
                peer("10.0.0.1", 1, 0, 3),
                AnnounceEvent::Stopped,
                true
            ),
            -1
        );
        assert!(t.is_empty());
        assert_eq!(t.completed, 1);
    }

    #[test]
    fn stopped_unknown_peer_is_not_stored() {
        let mut t = Torrent::default();
        assert_eq!(
            t.upsert(
                id(1),
                peer("10.0.0.1", 1, 5, 0),
                AnnounceEvent::Stopped,
                true
            ),
            0
        );
        assert!(t.is_empty());
    }

    #[test]
    fn cap_prevents_insert_but_not_update() {
        let mut t = Torrent::default();
        assert_eq!(
            t.upsert(id(1), peer("10.0.0.1", 1, 5, 0), AnnounceEvent::None, false),
            0
        );
        assert!(t.is_empty());
        t.upsert(id(1), peer("10.0.0.1", 1, 5, 0), AnnounceEvent::None, true);
        t.upsert(id(1), peer("10.0.0.1", 1, 3, 1), AnnounceEvent::None, false);
        assert_eq!(t.leeches[&id(1)].left, 3);
    }

    #[test]
    fn keyed_peer_cannot_be_hijacked_from_another_address() {
        let mut t = Torrent::default();
        let mut p = peer("10.0.0.1", 1, 5, 0);
        p.key = 42;
        p.flags = Peer::HAS_KEY;
        t.upsert(id(1), p, AnnounceEvent::None, true);
        let mut evil = peer("10.6.6.6", 1, 5, 1);
        evil.key = 7;
        evil.flags = Peer::HAS_KEY;
        assert_eq!(t.upsert(id(1), evil, AnnounceEvent::Stopped, true), 0);
        assert_eq!(t.leeches[&id(1)].ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        // The same key from a new address moves the peer.
        let mut moved = peer("10.0.0.2", 1, 5, 2);
        moved.key = 42;
        moved.flags = Peer::HAS_KEY;
        t.upsert(id(1), moved, AnnounceEvent::None, true);
        assert_eq!(t.leeches[&id(1)].ip, "10.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn never_self_never_seed_to_seed() {
        let mut t = Torrent::default();
        for i in 0..10u8 {
            let left = if i % 2 == 0 { 0 } else { 7 };
            t.upsert(
                id(i),
                peer(&format!("10.0.0.{i}"), 1, left, 0),
                AnnounceEvent::None,
                true,
            );
        }
        for _ in 0..50 {
            let mut out = Vec::new();
            t.select(
                id(0),
                ("10.0.0.0".parse().unwrap(), 1),
                true,
                sel(50),
                &mut out,
            );
            assert_eq!(out.len(), 5);
            assert!(out.iter().all(|p| t.leeches.contains_key(&p.peer_id)));
            let mut out = Vec::new();
            t.select(
                id(1),
                ("10.0.0.1".parse().unwrap(), 1),
                false,
                sel(50),
                &mut out,
            );
            assert_eq!(out.len(), 9);
            assert!(out.iter().all(|p| p.peer_id != id(1)));
        }
    }

    #[test]
    fn same_address_is_not_returned() {
        let mut t = Torrent::default();
        t.upsert(id(1), peer("10.0.0.1", 1, 5, 0), AnnounceEvent::None, true);
        let mut out = Vec::new();
        t.select(
            id(2),
            ("10.0.0.1".parse().unwrap(), 1),
            false,
            sel(50),
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn numwant_and_randomness() {
        let mut t = Torrent::default();
        for i in 0..100u8 {
            t.upsert(
                id(i),
                peer(&format!("10.0.1.{i}"), 1, 5, 0),
                AnnounceEvent::None,
                true,
            );
        }
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..50 {
            let mut out = Vec::new();
            t.select(
                id(200),
                ("10.9.9.9".parse().unwrap(), 1),
                false,
                sel(10),
                &mut out,
            );
            assert_eq!(out.len(), 10);
            firsts.insert(out[0].peer_id);
        }
        assert!(firsts.len() > 5, "selection should start at random places");
    }

    #[test]
    fn family_filter() {
        let mut t = Torrent::default();
        t.upsert(id(1), peer("10.0.0.1", 1, 5, 0), AnnounceEvent::None, true);
        t.upsert(id(2), peer("fd00::1", 1, 5, 0), AnnounceEvent::None, true);
        let mut out = Vec::new();
        let s = Selection {
            want_v6: Some(true),
            ..sel(10)
        };
        t.select(id(3), ("fd00::9".parse().unwrap(), 1), false, s, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].addr.is_ipv6());
    }

    #[test]
    fn neighbours_first() {
        let mut t = Torrent::default();
        for i in 0..50u8 {
            t.upsert(
                id(i),
                peer(&format!("10.0.{}.{i}", i % 5), 1, 5, 0),
                AnnounceEvent::None,
                true,
            );
        }
        let loc = Locality::new(&crate::config::SwarmConfig {
            prefer_subnet_v4: Some(24),
            ..Default::default()
        })
        .unwrap();
        let me: IpAddr = "10.0.3.250".parse().unwrap();
        let s = Selection {
            neighbourhood: loc.neighbourhood(me),
            ..sel(20)
        };
        for _ in 0..20 {
            let mut out = Vec::new();
            t.select(id(250), (me, 1), false, s, &mut out);
            assert_eq!(out.len(), 20);
            // 10 peers live in 10.0.3.0/24 and all of them come first.
            for p in &out[..10] {
                assert!(
                    matches!(p.addr.ip(), IpAddr::V4(v) if v.octets()[2] == 3),
                    "{out:?}"
                );
            }
            for p in &out[10..] {
                assert!(matches!(p.addr.ip(), IpAddr::V4(v) if v.octets()[2] != 3));
            }
        }
    }

    #[test]
    fn expiry() {
        let mut t = Torrent::default();
        t.upsert(id(1), peer("10.0.0.1", 1, 5, 10), AnnounceEvent::None, true);
        t.upsert(id(2), peer("10.0.0.2", 1, 0, 20), AnnounceEvent::None, true);
        assert_eq!(t.expire(15), 1);
        assert_eq!(t.stats().seeders, 1);
        assert_eq!(t.stats().leechers, 0);
    }
}
