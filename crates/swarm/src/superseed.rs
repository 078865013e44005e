//! Super-seeding (BEP 16) as the origin runs it.
//!
//! The origin hides what it has and reveals pieces to each peer a few at a
//! time, always the pieces it has revealed least (then the rarest among the
//! peers), so that while any piece has not gone out once, no piece goes out
//! twice. A peer is only served pieces revealed to it.
//!
//! Unlike the classic algorithm, which waits until a revealed piece shows up
//! at a *second* peer before revealing the next one, a new piece is revealed
//! as soon as the previous one has been fully uploaded (or the peer announces
//! it): the origin's uplink never idles waiting for gossip, which is what
//! made super-seeding slow to start in measured clients. Agents then trade
//! the pieces among themselves.
//!
//! A revealed piece the peer does not ask for (it is fetching it from another
//! agent, whose uplink may be slow) would hold a slot of the window, and the
//! origin's uplink would idle while the fleet waits on slower peers: where
//! agents upload more slowly than the origin, the bound needs the origin to
//! send all the time. So a piece revealed at least [`RELEASE_AFTER`] ago and
//! not requested is released ([`SuperSeeder::release_unrequested`]): it no
//! longer counts as sent or pending, stays revealed (the peer may still ask
//! for it), and the next least-sent piece is revealed in its place. While
//! the origin's uplink is the bottleneck, peers ask for what is revealed at
//! once and nothing is released.
//!
//! Many peers at once would each get a thin share of the origin's uplink,
//! and a piece would take that much longer to leave it whole: with 32
//! agents at 20 Mbit/s, a 256 KiB piece took seconds, the agents ran out of
//! pieces to trade, and the origin ended up sending pieces twice. So the
//! pieces pending over all peers are capped ([`SuperSeeder::set_max_pending`]),
//! and a freed place goes to the peer that has waited longest (fewest
//! pending, then the oldest reveal): every method returns the reveals as
//! (peer, piece) pairs, for any peer.
//!
//! Pieces that are all padding (BEP 47, [`SuperSeeder::set_pad_only`]) cost a
//! pad-aware peer nothing: they are revealed last, all at once, and count as
//! delivered at once, so they never hold a slot of the reveal window.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::PeerSlot;
use crate::rng::Rng;

/// Pieces revealed to one peer and not yet delivered, by default.
pub const DEFAULT_REVEAL_WINDOW: usize = 4;

/// A revealed piece not requested for this long is released (the HAVE may
/// wait behind piece data in the send queue, so not much shorter).
pub const RELEASE_AFTER: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Pending {
    piece: u32,
    revealed_at: Instant,
    requested: bool,
}

#[derive(Debug, Default)]
struct PeerView {
    /// Pieces the peer has announced.
    has: Vec<bool>,
    /// Revealed to this peer (may be served), by piece.
    revealed: Vec<bool>,
    /// Revealed and not yet delivered (uploaded by us or announced by the peer).
    pending: Vec<Pending>,
    /// When a piece was last revealed to it (never: first in line).
    last_reveal: Option<Instant>,
    /// Nothing is left to reveal to it (it has or was shown every piece);
    /// stays so, since both only grow.
    exhausted: bool,
    /// The origin serves it now (see [`SuperSeeder::set_servable`]).
    servable: bool,
    /// Pieces, not all padding, it neither has nor was shown. While any is
    /// left, its next reveal pends, so a full cap need not look for one.
    real_left: u32,
}

/// The origin's super-seeding scheduler; sans-IO.
#[derive(Debug)]
pub struct SuperSeeder {
    /// Times each piece was promised to a peer (delivered or still pending).
    sent: Vec<u32>,
    /// Peers that announced each piece.
    availability: Vec<u32>,
    /// Pieces that are all padding (revealed last, never pending).
    pad_only: Vec<bool>,
    peers: HashMap<PeerSlot, PeerView>,
    window: usize,
    /// Pending reveals over all peers, at most.
    max_pending: usize,
    release_after: Duration,
    rng: Rng,
}

impl SuperSeeder {
    /// A scheduler for `num_pieces` pieces revealing up to `window` pending pieces per peer.
    pub fn new(num_pieces: u32, window: usize, seed: u64) -> Self {
        Self {
            sent: vec![0; num_pieces as usize],
            availability: vec![0; num_pieces as usize],
            pad_only: vec![false; num_pieces as usize],
            peers: HashMap::new(),
            window: window.max(1),
            max_pending: usize::MAX,
            release_after: RELEASE_AFTER,
            rng: Rng::new(seed),
        }
    }

    /// Releases unrequested reveals after `d` instead of [`RELEASE_AFTER`].
    pub fn with_release_after(mut self, d: Duration) -> Self {
        self.release_after = d;
        self
    }

    /// Caps the pieces pending over all peers (at least 1; default none).
    /// Returns the reveals a higher cap makes room for, and to whom.
    pub fn set_max_pending(&mut self, k: usize, now: Instant) -> Vec<(PeerSlot, u32)> {
        let grew = k.max(1) > self.max_pending;
        self.max_pending = k.max(1);
        if grew {
            self.fill_waiting(now)
        } else {
            Vec::new()
        }
    }

    /// Pieces revealed and not yet delivered, over all peers.
    pub fn pending(&self) -> usize {
        self.peers.values().map(|v| v.pending.len()).sum()
    }

    /// Marks piece `p` as all padding; call before peers join.
    pub fn set_pad_only(&mut self, p: u32) {
        if let Some(f) = self.pad_only.get_mut(p as usize) {
            *f = true;
        }
    }

    /// Times piece `p` has been handed out so far.
    pub fn times_sent(&self, p: u32) -> u32 {
        self.sent.get(p as usize).copied().unwrap_or(0)
    }

    /// A peer connected and its bitfield is known. Returns the pieces to
    /// announce with HAVE, and to whom.
    pub fn peer_joined(
        &mut self,
        peer: PeerSlot,
        now: Instant,
        has: impl Fn(u32) -> bool,
    ) -> Vec<(PeerSlot, u32)> {
        let n = self.sent.len();
        let has: Vec<bool> = (0..n as u32).map(&has).collect();
        let real_left = has
            .iter()
            .zip(&self.pad_only)
            .filter(|&(h, pad)| !h && !pad)
            .count() as u32;
        let view = PeerView {
            has,
            revealed: vec![false; n],
            pending: Vec::new(),
            last_reveal: None,
            exhausted: false,
            servable: true,
            real_left,
        };
        for (i, h) in view.has.iter().enumerate() {
            if *h {
                self.availability[i] += 1;
            }
        }
        self.peers.insert(peer, view);
        self.fill_waiting(now)
    }

    /// The peer announced piece `p`. Returns the pieces to reveal next, and to whom.
    pub fn peer_has(&mut self, peer: PeerSlot, p: u32, now: Instant) -> Vec<(PeerSlot, u32)> {
        let Some(view) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        if let Some(h) = view.has.get_mut(p as usize) {
            if !*h {
                *h = true;
                self.availability[p as usize] += 1;
                if !view.revealed[p as usize] && !self.pad_only[p as usize] {
                    view.real_left -= 1;
                }
            }
            let before = view.pending.len();
            view.pending.retain(|q| q.piece != p);
            if view.pending.len() < before {
                return self.fill_waiting(now);
            }
        }
        Vec::new()
    }

    /// We finished uploading every block of `p` to the peer. Returns the
    /// pieces to reveal next, and to whom.
    pub fn piece_uploaded(&mut self, peer: PeerSlot, p: u32, now: Instant) -> Vec<(PeerSlot, u32)> {
        let Some(view) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        view.pending.retain(|q| q.piece != p);
        self.fill_waiting(now)
    }

    /// The peer asked for a block of piece `p` (which it may be served).
    pub fn requested(&mut self, peer: PeerSlot, p: u32) {
        if let Some(view) = self.peers.get_mut(&peer) {
            for q in view.pending.iter_mut().filter(|q| q.piece == p) {
                q.requested = true;
            }
        }
    }

    /// Releases the pieces revealed to `peer` at least [`RELEASE_AFTER`]
    /// before `now` that it has not asked for (see the module docs), and
    /// returns the pieces to reveal in their place. Call for a peer that is
    /// unchoked, interested and has nothing left to be served.
    pub fn release_unrequested(&mut self, peer: PeerSlot, now: Instant) -> Vec<(PeerSlot, u32)> {
        let Some(view) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        let before = view.pending.len();
        let (sent, after) = (&mut self.sent, self.release_after);
        view.pending.retain(|q| {
            let stale = !q.requested && now.saturating_duration_since(q.revealed_at) >= after;
            if stale {
                sent[q.piece as usize] = sent[q.piece as usize].saturating_sub(1);
            }
            !stale
        });
        if view.pending.len() < before {
            self.fill_waiting(now)
        } else {
            Vec::new()
        }
    }

    /// Whether the origin serves the peer now: not while it is choked though
    /// it wants pieces (more peers than unchoke slots). A peer that is not
    /// servable holds no place under the cap: its pending pieces are offered
    /// to others (they stay revealed to it), and it gets no reveals until it
    /// is servable again. Returns the reveals this makes room for.
    pub fn set_servable(
        &mut self,
        peer: PeerSlot,
        servable: bool,
        now: Instant,
    ) -> Vec<(PeerSlot, u32)> {
        let Some(view) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        if view.servable == servable {
            return Vec::new();
        }
        view.servable = servable;
        if !servable {
            for q in view.pending.drain(..) {
                self.sent[q.piece as usize] = self.sent[q.piece as usize].saturating_sub(1);
            }
        }
        self.fill_waiting(now)
    }

    /// May the origin serve piece `p` to this peer?
    pub fn may_serve(&self, peer: PeerSlot, p: u32) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|v| v.revealed.get(p as usize) == Some(&true))
    }

    /// The peer went away: what it had no longer counts, and pieces promised
    /// to it but not delivered are offered to others again. Returns the
    /// pieces to reveal in their place, and to whom.
    pub fn peer_left(&mut self, peer: PeerSlot, now: Instant) -> Vec<(PeerSlot, u32)> {
        if let Some(view) = self.peers.remove(&peer) {
            for q in view.pending {
                self.sent[q.piece as usize] = self.sent[q.piece as usize].saturating_sub(1);
            }
            for (i, h) in view.has.iter().enumerate() {
                if *h {
                    self.availability[i] = self.availability[i].saturating_sub(1);
                }
            }
            return self.fill_waiting(now);
        }
        Vec::new()
    }

    /// Reveals to the peers with room in their window while the pending
    /// total is under the cap, one piece per peer a round, those with the
    /// fewest pending and the oldest reveal first. Pad-only pieces never
    /// pend, so the cap does not hold them back.
    fn fill_waiting(&mut self, now: Instant) -> Vec<(PeerSlot, u32)> {
        let mut out = Vec::new();
        let mut total = self.pending();
        loop {
            let window = self.window;
            let mut order: Vec<(usize, Option<Instant>, PeerSlot)> = self
                .peers
                .iter()
                .filter(|(_, v)| v.servable && !v.exhausted && v.pending.len() < window)
                .map(|(s, v)| (v.pending.len(), v.last_reveal, *s))
                .collect();
            order.sort_unstable();
            let mut progressed = false;
            for (_, _, slot) in order {
                let Some(mut view) = self.peers.remove(&slot) else {
                    continue;
                };
                let r = self.reveal_one(&mut view, now, total < self.max_pending);
                self.peers.insert(slot, view);
                if let Some((p, pends)) = r {
                    out.push((slot, p));
                    total += usize::from(pends);
                    progressed = true;
                }
            }
            if !progressed {
                return out;
            }
        }
    }

    /// Reveals the next piece to `view`, if it is pad-only or `may_pend`.
    /// Returns it and whether it is pending now.
    fn reveal_one(
        &mut self,
        view: &mut PeerView,
        now: Instant,
        may_pend: bool,
    ) -> Option<(u32, bool)> {
        if !may_pend && view.real_left > 0 {
            // Its next piece would pend (pad-only pieces come last).
            return None;
        }
        let Some(p) = self.choose(view) else {
            view.exhausted = true;
            return None;
        };
        let pad = self.pad_only[p as usize];
        if !pad && !may_pend {
            return None;
        }
        self.sent[p as usize] += 1;
        view.revealed[p as usize] = true;
        if !pad {
            view.real_left -= 1;
            view.pending.push(Pending {
                piece: p,
                revealed_at: now,
                requested: false,
            });
            view.last_reveal = Some(now);
        }
        Some((p, !pad))
    }

    /// Least-sent piece the peer lacks and was not yet revealed to it; then
    /// rarest; random ties. Pad-only pieces come after all others.
    fn choose(&mut self, view: &PeerView) -> Option<u32> {
        let n = self.sent.len();
        if n == 0 {
            return None;
        }
        let (sent, availability, pad) = (&self.sent, &self.availability, &self.pad_only);
        self.rng
            .random_min_by_key(n, |i| {
                (!view.has[i] && !view.revealed[i]).then(|| (pad[i], sent[i], availability[i]))
            })
            .map(|i| i as u32)
    }
}
