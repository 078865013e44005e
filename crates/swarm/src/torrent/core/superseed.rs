//! Super-seeding: reveals to each peer, and their release when nobody asks.

use super::*;

impl Core {
    /// When a super-seeding origin sends below the best rate it has seen (its
    /// uplink is not the bottleneck), reveals other pieces in place of those peers were
    /// shown and do not ask for. While the uplink is busy nothing is
    /// released: every piece it sends is one the peer asked for, and
    /// releasing would only make the origin send pieces twice.
    pub(super) fn superseed_release_scan(&mut self, now: Instant) {
        if self.meta.as_ref().is_none_or(|m| m.superseed.is_none()) {
            return;
        }
        self.last_release_scan = now;
        // Busy: sending at (nearly) the best rate seen. Application queues
        // say little here, the kernel's socket buffers hold the backlog.
        if self.up_rate >= RELEASE_BUSY * self.peak_up_rate {
            return;
        }
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in slots {
            self.superseed_release(s, now);
        }
    }

    /// Reveals other pieces in place of those a peer was shown and does not
    /// ask for, if it waits on nothing from us (see `superseed`).
    pub(super) fn superseed_release(&mut self, slot: PeerSlot, now: Instant) {
        let Some(ss) = self.meta.as_mut().and_then(|m| m.superseed.as_mut()) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        if !p.ss_joined || p.am_choking || !p.peer_interested || p.serving > 0 {
            return;
        }
        self.reveals.extend(ss.release_unrequested(slot, now));
    }

    /// Introduces a peer to the super-seeder once its pieces are known (its
    /// first messages arrived) or after a grace period (`force`).
    pub(super) fn superseed_join(&mut self, slot: PeerSlot, force: bool) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        let Some(ss) = meta.superseed.as_mut() else {
            return;
        };
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        if p.ss_joined
            || (force && self.now.duration_since(p.connected_at) < Duration::from_secs(1))
        {
            return;
        }
        p.ss_joined = true;
        let bf = &p.bitfield;
        self.reveals
            .extend(ss.peer_joined(slot, self.now, |i| bf.get(PieceIndex(i))));
        self.superseed_servable(slot);
    }

    /// Tells the super-seeder whether the peer is served now: not while we
    /// choke it though it is interested (see `SuperSeeder::set_servable`).
    pub(super) fn superseed_servable(&mut self, slot: PeerSlot) {
        let Some(ss) = self.meta.as_mut().and_then(|m| m.superseed.as_mut()) else {
            return;
        };
        let Some(p) = self.peers.get(&slot) else {
            return;
        };
        if p.ss_joined {
            let servable = !(p.am_choking && p.peer_interested);
            self.reveals
                .extend(ss.set_servable(slot, servable, self.now));
        }
    }
}
