//! Who we upload to.
//!
//! Two policies:
//! - [`ChokeMode::Fleet`]: every interested peer is served, up to a cap;
//!   beyond it the slots go round so that each peer gets an equal share of
//!   our upload over time. Inside a fleet all peers cooperate, and
//!   tit-for-tat only slows the aggregate down late in a rollout. A newly
//!   interested peer takes a free slot at once, not at the next timer tick.
//!   Fewer slots (8, so fewer flows through each uplink) were measured in
//!   the fleet benchmark (N = 32, 20 Mbit/s) and did not help: the bulk of
//!   the agents finished at about the same time, the tail was longer.
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

/// Upload slots in fleet mode by default.
pub const FLEET_SLOTS: usize = 64;

/// In fleet mode a slot goes to a waiting peer only after its holder had
/// it this many [`Choker::tick`]s (seconds): long enough for the flow to
/// ramp up and the holder's pipeline to pay off.
pub(crate) const FLEET_TENURE: u64 = 5;

/// Upload policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChokeMode {
    /// Serve every interested peer, `max_unchoked` at a time (in turns).
    Fleet {
        /// Cap on simultaneously unchoked peers ([`FLEET_SLOTS`] by default).
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
        ChokeMode::Fleet {
            max_unchoked: FLEET_SLOTS,
        }
    }
}

#[derive(Debug, Default, Clone)]
struct ChokePeer {
    interested: bool,
    unchoked: bool,
    /// Bytes the peer sent us / we sent it since the last rechoke.
    down: u64,
    up: u64,
    /// Bytes we sent it since it connected (fleet turns).
    served: u64,
    /// The tick it was last choked or unchoked (or connected).
    since: u64,
    /// The tick we last sent it anything, or unchoked it.
    took_at: u64,
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
    /// Calls of [`Choker::tick`].
    ticks: u64,
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
            ticks: 0,
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
        let since = self.ticks;
        self.peers.entry(peer).or_insert(ChokePeer {
            since,
            ..ChokePeer::default()
        });
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
            p.served += uploaded;
            if uploaded > 0 {
                p.took_at = self.ticks;
            }
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

    /// Interested peers we choke, next in turn first: the least served,
    /// then the longest waiting.
    fn waiting(&self) -> Vec<PeerSlot> {
        let mut w: Vec<(u64, u64, PeerSlot)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.interested && !p.unchoked)
            .map(|(s, p)| (p.served, p.since, *s))
            .collect();
        w.sort_unstable();
        w.into_iter().map(|(_, _, s)| s).collect()
    }

    fn set_unchoked(&mut self, peer: PeerSlot, unchoked: bool, out: &mut Vec<ChokeChange>) {
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.unchoked != unchoked {
                p.unchoked = unchoked;
                p.since = self.ticks;
                p.took_at = self.ticks;
                out.push((peer, unchoked));
            }
        }
    }

    fn fill_free_slots(&mut self) -> Vec<ChokeChange> {
        let mut out = Vec::new();
        let free = self.cap().saturating_sub(self.unchoked_count());
        for s in self.waiting().into_iter().take(free) {
            self.set_unchoked(s, true, &mut out);
        }
        out
    }

    /// Once a second. In fleet mode, while interested peers wait: slots of
    /// peers no longer interested are freed, and a slot held for
    /// [`FLEET_TENURE`] ticks goes to the waiting peer next in turn if the
    /// holder took nothing for as long or got more from us than that peer.
    /// So the holders change one after another, every interested peer gets
    /// its share, and a newly connected peer (served nothing yet) is next
    /// everywhere. Nothing in tit-for-tat mode (see [`Choker::rechoke`]).
    pub fn tick(&mut self) -> Vec<ChokeChange> {
        self.ticks += 1;
        let mut out = Vec::new();
        if !matches!(self.mode, ChokeMode::Fleet { .. }) {
            return out;
        }
        let waiting = self.waiting();
        if waiting.is_empty() {
            return out;
        }
        let idle: Vec<PeerSlot> = self
            .peers
            .iter()
            .filter(|(_, p)| p.unchoked && !p.interested)
            .map(|(s, _)| *s)
            .collect();
        for s in idle {
            self.set_unchoked(s, false, &mut out);
        }
        // Holders that took nothing for a tenure first (they hardly want
        // what we have), then the most served.
        let mut holders: Vec<(bool, u64, PeerSlot)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.unchoked && self.ticks - p.since >= FLEET_TENURE)
            .map(|(s, p)| (self.ticks - p.took_at >= FLEET_TENURE, p.served, *s))
            .collect();
        holders.sort_unstable_by(|a, b| b.cmp(a));
        let mut holders = holders.into_iter();
        let mut free = self.cap().saturating_sub(self.unchoked_count());
        // Turns spread over the tenure, not all slots at once.
        let mut swaps = self.cap().div_ceil(FLEET_TENURE as usize);
        for w in waiting {
            if free == 0 {
                let served = self.peers.get(&w).map_or(0, |p| p.served);
                match holders.next() {
                    Some((idle, h, slot)) if (idle || h > served) && swaps > 0 => {
                        swaps -= 1;
                        self.set_unchoked(slot, false, &mut out);
                    }
                    _ => break,
                }
            } else {
                free -= 1;
            }
            self.set_unchoked(w, true, &mut out);
        }
        out
    }

    /// Periodic re-evaluation; `seeding` ranks peers by what we uploaded to them.
    pub fn rechoke(&mut self, seeding: bool) -> Vec<ChokeChange> {
        self.rounds += 1;
        let mut changes = Vec::new();
        match self.mode {
            // Turns are taken in `tick`.
            ChokeMode::Fleet { .. } => {}
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
                        p.since = self.ticks;
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
