//! Who we upload to.
//!
//! Two policies:
//! - [`ChokeMode::Fleet`]: every interested peer is served, up to a cap.
//!   Inside a fleet all peers cooperate, and tit-for-tat only slows the
//!   aggregate down late in a rollout. A newly interested peer is unchoked at
//!   once, not at the next timer tick.
//! - [`ChokeMode::TitForTat`]: the standard public-internet policy: the
//!   `slots` peers that gave us the most (or, when we seed, took the most)
//!   in the last round, plus one optimistic unchoke rotated every third
//!   round. Free slots are still filled immediately when a peer becomes
//!   interested.
//!
//! Sans-IO: the engine reports interest and byte counts, calls
//! [`Choker::rechoke`] every [`RECHOKE_INTERVAL`] and applies the returned
//! changes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::PeerSlot;
use crate::rng::Rng;

/// How often the engine should call [`Choker::rechoke`].
pub const RECHOKE_INTERVAL: Duration = Duration::from_secs(10);

/// Upload policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChokeMode {
    /// Serve every interested peer, up to `max_unchoked`.
    Fleet {
        /// Cap on simultaneously unchoked peers.
        max_unchoked: usize,
    },
    /// Reciprocate: `slots` best peers plus one optimistic unchoke.
    TitForTat {
        /// Regular unchoke slots (4 is customary).
        slots: usize,
    },
}

impl Default for ChokeMode {
    fn default() -> Self {
        ChokeMode::Fleet { max_unchoked: 64 }
    }
}

#[derive(Debug, Default, Clone)]
struct ChokePeer {
    interested: bool,
    unchoked: bool,
    /// Bytes the peer sent us / we sent it since the last rechoke.
    down: u64,
    up: u64,
}

/// A change the engine must send: `true` = unchoke, `false` = choke.
pub type ChokeChange = (PeerSlot, bool);

/// The choker; see the module docs.
#[derive(Debug)]
pub struct Choker {
    mode: ChokeMode,
    peers: BTreeMap<PeerSlot, ChokePeer>,
    optimistic: Option<PeerSlot>,
    rounds: u64,
    rng: Rng,
}

impl Choker {
    /// A choker with the given policy.
    pub fn new(mode: ChokeMode, seed: u64) -> Self {
        Self {
            mode,
            peers: BTreeMap::new(),
            optimistic: None,
            rounds: 0,
            rng: Rng::new(seed),
        }
    }

    fn cap(&self) -> usize {
        match self.mode {
            ChokeMode::Fleet { max_unchoked } => max_unchoked,
            ChokeMode::TitForTat { slots } => slots + 1,
        }
    }

    fn unchoked_count(&self) -> usize {
        self.peers.values().filter(|p| p.unchoked).count()
    }

    /// Is this peer unchoked by us?
    pub fn is_unchoked(&self, peer: PeerSlot) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.unchoked)
    }

    /// The peers it knows.
    #[cfg(test)]
    pub(crate) fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// A peer connected (choked, not interested).
    pub fn add_peer(&mut self, peer: PeerSlot) {
        self.peers.entry(peer).or_default();
    }

    /// A peer disconnected. Returns unchokes that fill its slot.
    pub fn remove_peer(&mut self, peer: PeerSlot) -> Vec<ChokeChange> {
        self.peers.remove(&peer);
        if self.optimistic == Some(peer) {
            self.optimistic = None;
        }
        self.fill_free_slots()
    }

    /// Record transfer since the last rechoke.
    pub fn record(&mut self, peer: PeerSlot, downloaded: u64, uploaded: u64) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.down += downloaded;
            p.up += uploaded;
        }
    }

    /// The peer's interest changed. Returns the changes to apply now.
    pub fn set_interested(&mut self, peer: PeerSlot, interested: bool) -> Vec<ChokeChange> {
        let Some(p) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        p.interested = interested;
        if !interested && p.unchoked && matches!(self.mode, ChokeMode::TitForTat { .. }) {
            // Keep fleet unchokes sticky (the peer may become interested again at
            // once); under tit-for-tat give the slot to someone who wants it.
            p.unchoked = false;
            let mut out = vec![(peer, false)];
            out.extend(self.fill_free_slots());
            return out;
        }
        self.fill_free_slots()
    }

    fn fill_free_slots(&mut self) -> Vec<ChokeChange> {
        let mut out = Vec::new();
        let mut free = self.cap().saturating_sub(self.unchoked_count());
        for (slot, p) in self.peers.iter_mut() {
            if free == 0 {
                break;
            }
            if p.interested && !p.unchoked {
                p.unchoked = true;
                free -= 1;
                out.push((*slot, true));
            }
        }
        out
    }

    /// Periodic re-evaluation; `seeding` ranks peers by what we uploaded to them.
    pub fn rechoke(&mut self, seeding: bool) -> Vec<ChokeChange> {
        self.rounds += 1;
        let mut changes = Vec::new();
        match self.mode {
            ChokeMode::Fleet { .. } => {
                // Uninterested peers free their slot for waiting interested ones.
                let waiting = self.peers.values().any(|p| p.interested && !p.unchoked);
                if waiting {
                    for (slot, p) in self.peers.iter_mut() {
                        if p.unchoked && !p.interested {
                            p.unchoked = false;
                            changes.push((*slot, false));
                        }
                    }
                }
                changes.extend(self.fill_free_slots());
            }
            ChokeMode::TitForTat { slots } => {
                let mut ranked: Vec<(u64, PeerSlot)> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| p.interested)
                    .map(|(s, p)| (if seeding { p.up } else { p.down }, *s))
                    .collect();
                ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut keep: Vec<PeerSlot> = ranked.iter().take(slots).map(|r| r.1).collect();
                let rest: Vec<PeerSlot> = ranked.iter().skip(slots).map(|r| r.1).collect();
                if self.rounds % 3 == 1 || self.optimistic.is_none_or(|o| !rest.contains(&o)) {
                    self.optimistic = if rest.is_empty() {
                        None
                    } else {
                        Some(rest[self.rng.below(rest.len() as u64) as usize])
                    };
                }
                keep.extend(self.optimistic);
                for (slot, p) in self.peers.iter_mut() {
                    let want = keep.contains(slot);
                    if want != p.unchoked {
                        p.unchoked = want;
                        changes.push((*slot, want));
                    }
                }
            }
        }
        for p in self.peers.values_mut() {
            p.down = 0;
            p.up = 0;
        }
        changes
    }
}
