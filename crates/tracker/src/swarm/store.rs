use super::torrent::Selection;
use super::{Peer, Torrent};
use crate::AnnounceError;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracker_proto::http::ResponsePeer;
use tracker_proto::{AnnounceEvent, InfoHash, PeerId, SwarmStats};

const SHARD_BITS: u32 = 7;
const SHARDS: usize = 1 << SHARD_BITS;

type Shard = HashMap<InfoHash, Torrent, RandomState>;

/// Caps that bound the store's memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreLimits {
    pub(crate) max_torrents: usize,
    pub(crate) max_peers_per_torrent: usize,
    pub(crate) max_peers: usize,
}

/// One announce, resolved: the address is the one to store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnnounceParams {
    pub(crate) peer_id: PeerId,
    pub(crate) peer: Peer,
    pub(crate) event: AnnounceEvent,
    pub(crate) selection: Selection,
}

/// The sharded swarm store; see `SWARM.md`.
#[derive(Debug)]
pub(crate) struct SwarmStore {
    shards: Box<[Mutex<Shard>]>,
    salt: u64,
    limits: StoreLimits,
    peers: AtomicUsize,
    torrents: AtomicUsize,
    /// Announces of new peers refused because a peer cap was reached.
    not_stored: AtomicUsize,
}

impl SwarmStore {
    pub(crate) fn new(limits: StoreLimits) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            salt: fastrand::u64(..),
            limits,
            peers: AtomicUsize::new(0),
            torrents: AtomicUsize::new(0),
            not_stored: AtomicUsize::new(0),
        }
    }

    fn shard(&self, ih: &InfoHash) -> std::sync::MutexGuard<'_, Shard> {
        let mut first = [0u8; 8];
        first.copy_from_slice(&ih.0[..8]);
        let mixed = (u64::from_le_bytes(first) ^ self.salt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let idx = usize::try_from(mixed >> (64 - SHARD_BITS)).unwrap_or(0);
        self.shards[idx].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stored peers in total.
    pub(crate) fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }

    /// New peers not stored because a cap was reached, since start.
    pub(crate) fn not_stored_count(&self) -> usize {
        self.not_stored.load(Ordering::Relaxed)
    }

    /// Torrents in total.
    pub(crate) fn torrent_count(&self) -> usize {
        self.torrents.load(Ordering::Relaxed)
    }

    /// Records one announce and appends the selected peers to `out`.
    /// Returns the swarm's numbers after the announce.
    pub(crate) fn announce(
        &self,
        ih: InfoHash,
        a: AnnounceParams,
        out: &mut Vec<ResponsePeer>,
    ) -> Result<SwarmStats, AnnounceError> {
        let mut shard = self.shard(&ih);
        let torrent = match shard.get_mut(&ih) {
            Some(t) => t,
            None => {
                if a.event == AnnounceEvent::Stopped {
                    return Ok(SwarmStats::default());
                }
                if self.torrent_count() >= self.limits.max_torrents {
                    return Err(AnnounceError::TooManyTorrents(ih));
                }
                self.torrents.fetch_add(1, Ordering::Relaxed);
                shard.entry(ih).or_default()
            }
        };
        let may_insert = torrent.len() < self.limits.max_peers_per_torrent
            && self.peer_count() < self.limits.max_peers;
        match torrent.upsert(a.peer_id, a.peer, a.event, may_insert) {
            1 => {
                self.peers.fetch_add(1, Ordering::Relaxed);
            }
            -1 => {
                self.peers.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {
                if !may_insert
                    && a.event != AnnounceEvent::Stopped
                    && !torrent.seeds.contains_key(&a.peer_id)
                    && !torrent.leeches.contains_key(&a.peer_id)
                {
                    self.not_stored.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if a.event != AnnounceEvent::Stopped {
            torrent.select(
                a.peer_id,
                (a.peer.ip, a.peer.port),
                a.peer.is_seed(),
                a.selection,
                out,
            );
        }
        Ok(torrent.stats())
    }

    /// Scrape numbers of one torrent, if tracked.
    pub(crate) fn scrape(&self, ih: &InfoHash) -> Option<SwarmStats> {
        self.shard(ih).get(ih).map(Torrent::stats)
    }

    /// Calls `f` for every torrent, one shard locked at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&InfoHash, &Torrent)) {
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (ih, t) in shard.iter() {
                f(ih, t);
            }
        }
    }

    /// Calls `f` with one torrent, if tracked.
    pub(crate) fn with_torrent<R>(
        &self,
        ih: &InfoHash,
        f: impl FnOnce(&Torrent) -> R,
    ) -> Option<R> {
        self.shard(ih).get(ih).map(f)
    }

    /// Removes peers last seen before `cutoff`, torrents `keep` rejects, and
    /// empty torrents unless `keep_empty` says otherwise. Returns (peers, torrents) removed.
    pub(crate) fn cleanup(
        &self,
        cutoff: u32,
        keep: &dyn Fn(&InfoHash) -> bool,
        keep_empty: &dyn Fn(&InfoHash) -> bool,
    ) -> (usize, usize) {
        let (mut peers, mut torrents) = (0, 0);
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            shard.retain(|ih, t| {
                if !keep(ih) {
                    peers += t.len();
                    torrents += 1;
                    return false;
                }
                peers += t.expire(cutoff);
                if t.is_empty() && !keep_empty(ih) {
                    torrents += 1;
                    return false;
                }
                true
            });
            // Give memory back after a swarm shrinks a lot.
            for t in shard.values_mut() {
                if t.seeds.capacity() > 64 && t.seeds.len() < t.seeds.capacity() / 4 {
                    t.seeds.shrink_to_fit();
                }
                if t.leeches.capacity() > 64 && t.leeches.len() < t.leeches.capacity() / 4 {
                    t.leeches.shrink_to_fit();
                }
            }
        }
        self.peers.fetch_sub(peers, Ordering::Relaxed);
        self.torrents.fetch_sub(torrents, Ordering::Relaxed);
        (peers, torrents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn store(max_torrents: usize, max_peers_per_torrent: usize, max_peers: usize) -> SwarmStore {
        SwarmStore::new(StoreLimits {
            max_torrents,
            max_peers_per_torrent,
            max_peers,
        })
    }

    fn params(id: u8, left: u64, now: u32, event: AnnounceEvent) -> AnnounceParams {
        AnnounceParams {
            peer_id: PeerId([id; 20]),
            peer: Peer {
                uploaded: 0,
                downloaded: 0,
                left,
                last_seen: now,
                key: 0,
                ip: IpAddr::from([10, 0, 0, id]),
                port: 6881,
                flags: 0,
            },
            event,
            selection: Selection {
                numwant: 50,
                want_v6: None,
                neighbourhood: None,
                max_scan: 100,
            },
        }
    }

    #[test]
    fn counts_follow_announces() {
        let s = store(10, 10, 100);
        let mut out = Vec::new();
        for i in 0..5 {
            s.announce(
                InfoHash([i; 20]),
                params(i, 1, 0, AnnounceEvent::Started),
                &mut out,
            )
            .unwrap();
        }
        assert_eq!((s.torrent_count(), s.peer_count()), (5, 5));
        s.announce(
            InfoHash([0; 20]),
            params(0, 1, 0, AnnounceEvent::Stopped),
            &mut out,
        )
        .unwrap();
        assert_eq!(s.peer_count(), 4);
        let (p, t) = s.cleanup(0, &|_| true, &|_| false);
        assert_eq!((p, t), (0, 1));
        assert_eq!(s.torrent_count(), 4);
    }

    #[test]
    fn torrent_cap() {
        let s = store(1, 10, 100);
        let mut out = Vec::new();
        s.announce(
            InfoHash([1; 20]),
            params(1, 1, 0, AnnounceEvent::None),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            s.announce(
                InfoHash([2; 20]),
                params(1, 1, 0, AnnounceEvent::None),
                &mut out
            ),
            Err(AnnounceError::TooManyTorrents(InfoHash([2; 20])))
        );
    }

    #[test]
    fn peer_caps() {
        let s = store(10, 2, 3);
        let mut out = Vec::new();
        for i in 0..5 {
            s.announce(
                InfoHash([1; 20]),
                params(i, 1, 0, AnnounceEvent::None),
                &mut out,
            )
            .unwrap();
        }
        assert_eq!(s.peer_count(), 2);
        assert_eq!(s.not_stored_count(), 3);
        for i in 0..5 {
            s.announce(
                InfoHash([2; 20]),
                params(i, 1, 0, AnnounceEvent::None),
                &mut out,
            )
            .unwrap();
        }
        assert_eq!(s.peer_count(), 3);
    }

    #[test]
    fn expiry_and_keep_rules() {
        let s = store(10, 10, 100);
        let mut out = Vec::new();
        s.announce(
            InfoHash([1; 20]),
            params(1, 0, 5, AnnounceEvent::Completed),
            &mut out,
        )
        .unwrap();
        s.announce(
            InfoHash([2; 20]),
            params(2, 0, 50, AnnounceEvent::None),
            &mut out,
        )
        .unwrap();
        // Torrent 1 expires empty but is kept (closed tracker keeps completed counts).
        let (p, t) = s.cleanup(10, &|_| true, &|ih| ih.0[0] == 1);
        assert_eq!((p, t), (1, 0));
        assert_eq!(s.scrape(&InfoHash([1; 20])).unwrap().completed, 1);
        // Torrent 2 is no longer allowed.
        let (p, t) = s.cleanup(10, &|ih| ih.0[0] == 1, &|_| true);
        assert_eq!((p, t), (1, 1));
        assert!(s.scrape(&InfoHash([2; 20])).is_none());
        assert_eq!(s.peer_count(), 0);
    }
}
