//! Peer state: admission, departure, chokes, and what their messages say they have.

use super::*;

impl Core {
    /// The peer left (its task ended, or a web seed stopped).
    pub(super) fn on_gone(&mut self, slot: PeerSlot, reason: &PeerGone) {
        let Some(p) = self.peers.get(&slot) else {
            return;
        };
        debug!(slot = slot.0, %reason, "peer gone");
        // It may have hung up on a request for part of a block:
        // ask it for whole blocks if it comes back.
        if !p.partial_ok && !p.whole_blocks {
            if let Some(meta) = self.meta.as_ref() {
                let partial = p
                    .outstanding
                    .values()
                    .any(|(_, r)| meta.picker.whole_block(*r) != *r);
                if partial {
                    debug!(peer = %p.addr, "peer left with partial-block requests pending; whole blocks from now on");
                    self.whole_block_addrs.insert(p.addr);
                    self.whole_block_addrs.extend(p.listen_addr());
                }
            }
        }
        self.remove_peer(slot, false);
    }

    /// A peer finished its handshake: its slot, or `None` if refused.
    pub(super) fn on_connected(
        &mut self,
        addr: SocketAddr,
        handshake: &Handshake,
        outgoing: bool,
    ) -> Option<PeerSlot> {
        if outgoing {
            self.connecting.remove(&addr);
            if let Some(k) = self.known.get_mut(&addr) {
                k.failures = 0;
                k.next_attempt = self.now + Duration::from_secs(5);
            }
        }
        let id = handshake.peer_id;
        let banned = self.banned_addrs.contains(&addr) || self.banned_ids.contains(&id);
        if banned {
            self.emit(TorrentEvent::BannedPeerRefused(addr));
        }
        let refuse = banned
            || self.paused
            || self.error.is_some()
            || id == self.peer_id
            || self.peers.len() >= self.opts.max_connections_per_torrent;
        if refuse {
            return None;
        }
        // Two connections to the same peer (both sides dialled): keep the one
        // opened by the smaller peer id, as the other side will decide too.
        if let Some((&dup, old)) = self.peers.iter().find(|(_, p)| p.id == id) {
            let initiator = |out: bool| if out { self.peer_id } else { id };
            let keep_new =
                old.outgoing != outgoing && initiator(outgoing) < initiator(old.outgoing);
            if !keep_new {
                return None;
            }
            self.remove_peer(dup, false);
        }
        let slot = PeerSlot(self.next_slot);
        self.next_slot += 1;
        let theirs = handshake.reserved;
        let ours = crate::peer::our_reserved();
        let common = ours.common(theirs);
        let n = self.meta.as_ref().map_or(0, |m| m.have.len());
        let now = self.now;
        let origin = crate::webseed::is_web_seed(&id) || self.origin.contains(&addr.ip());
        let mut p = PeerState {
            addr,
            id,
            origin,
            outgoing,
            fast: common.fast(),
            ext: common.extension_protocol(),
            their_ext: None,
            bitfield: Bitfield::new(n),
            raw_bitfield: None,
            early_haves: Vec::new(),
            has_all: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            outstanding: HashMap::new(),
            cancelled: HashSet::new(),
            whole_blocks: self.whole_block_addrs.contains(&addr),
            partial_ok: false,
            last_answered_sent: None,
            depth: self.depth_floor,
            allowed_fast: HashSet::new(),
            serving: 0,
            uploaded_per_piece: HashMap::new(),
            last_block: now,
            connected_at: now,
            down_tick: 0,
            up_tick: 0,
            down_rate: 0.0,
            up_rate: 0.0,
            min_latency: None,
            ran_dry: false,
            depth_bonus: 0,
            unrequested: 0,
            ss_joined: false,
            pex_sent: HashSet::new(),
            metadata_rejected: false,
            outbox: Outbox::default(),
        };
        if p.ext {
            p.outbox.msgs.push(self.extended_handshake(addr));
        }
        match self.meta.as_ref() {
            Some(m) if m.superseed.is_none() && !m.have.is_clear() => {
                if m.have.is_full() && p.fast {
                    p.outbox.msgs.push(Message::HaveAll);
                } else {
                    p.outbox.msgs.push(m.have.to_message());
                }
            }
            _ => {
                if p.fast {
                    p.outbox.msgs.push(Message::HaveNone);
                }
            }
        }
        self.peers.insert(slot, p);
        self.choker.add_peer(slot);
        self.update_progress();
        Some(slot)
    }

    /// Disconnects a peer and returns its work to the picker.
    pub(super) fn remove_peer(&mut self, slot: PeerSlot, banned: bool) {
        let Some(p) = self.peers.remove(&slot) else {
            return;
        };
        self.out.push_back(Output::Disconnect(slot));
        if let Some(meta) = self.meta.as_mut() {
            let bf = &p.bitfield;
            meta.picker.peer_gone(slot, |i| bf.get(PieceIndex(i)));
            if let Some(ss) = meta.superseed.as_mut() {
                self.reveals.extend(ss.peer_left(slot, self.now));
            }
        }
        let changes = self.choker.remove_peer(slot);
        self.apply_choke(changes);
        self.metadata_inflight.retain(|_, (s, _)| *s != slot);
        if p.outgoing && !banned {
            let complete = self.is_complete();
            if complete && p.is_seed() {
                self.known.remove(&p.addr);
            } else if let Some(k) = self.known.get_mut(&p.addr) {
                k.next_attempt = self.now + Duration::from_secs(5);
            }
        }
        drop(p);
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in slots {
            self.fill_requests(s);
        }
        self.update_progress();
    }

    pub(super) fn apply_choke(&mut self, changes: Vec<ChokeChange>) {
        let slots: Vec<PeerSlot> = changes.iter().map(|c| c.0).collect();
        for (slot, unchoke) in changes {
            if let Some(p) = self.peers.get_mut(&slot) {
                p.am_choking = !unchoke;
                p.outbox.msgs.push(if unchoke {
                    Message::Unchoke
                } else {
                    Message::Choke
                });
                if !unchoke {
                    // Requests queued but not yet handed to the writer are void.
                    let dropped = std::mem::take(&mut p.outbox.serve);
                    p.serving = p.serving.saturating_sub(dropped.len());
                    if p.fast {
                        p.outbox
                            .msgs
                            .extend(dropped.into_iter().map(Message::RejectRequest));
                    }
                }
            }
        }
        for slot in slots {
            self.superseed_servable(slot);
        }
    }

    pub(super) fn on_messages(&mut self, slot: PeerSlot, msgs: Vec<Message>) {
        for m in msgs {
            if !self.peers.contains_key(&slot) {
                return;
            }
            self.on_message(slot, m);
        }
        self.superseed_join(slot, false);
        self.fill_requests(slot);
    }

    pub(super) fn on_message(&mut self, slot: PeerSlot, m: Message) {
        match m {
            Message::KeepAlive | Message::Port(_) | Message::SuggestPiece(_) => {}
            Message::Unknown { .. } => {}
            Message::Choke => {
                let Some(p) = self.peers.get_mut(&slot) else {
                    return;
                };
                p.peer_choking = true;
                if !p.fast {
                    let keys: Vec<(u32, u32)> = p.outstanding.drain().map(|(k, _)| k).collect();
                    p.cancelled.extend(keys);
                    if let Some(meta) = self.meta.as_mut() {
                        meta.picker.peer_released(slot);
                    }
                } else if let Some(meta) = self.meta.as_mut() {
                    meta.picker.peer_choked(slot);
                }
                self.refill_all();
            }
            Message::Unchoke => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.peer_choking = false;
                }
            }
            Message::Interested | Message::NotInterested => {
                let interested = matches!(m, Message::Interested);
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.peer_interested = interested;
                }
                let changes = self.choker.set_interested(slot, interested);
                self.apply_choke(changes);
                self.superseed_servable(slot);
            }
            Message::Have(i) => self.on_have(slot, i.0),
            Message::Bitfield(raw) => self.on_bitfield(slot, Some(raw)),
            Message::HaveAll => self.on_bitfield(slot, None),
            Message::HaveNone => {}
            Message::Request(r) => self.on_request(slot, r),
            Message::Piece(piece) => self.on_block(slot, piece),
            Message::Cancel(r) => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    let before = p.outbox.serve.len();
                    p.outbox.serve.retain(|q| *q != r);
                    p.serving -= before - p.outbox.serve.len();
                }
            }
            Message::RejectRequest(r) => {
                let Some(p) = self.peers.get_mut(&slot) else {
                    return;
                };
                let key = block_key(&r);
                if p.outstanding.get(&key).is_some_and(|(_, w)| *w == r) {
                    p.outstanding.remove(&key);
                    if let Some(meta) = self.meta.as_mut() {
                        // Rejecting part of a block while unchoking us: the
                        // peer may serve only whole blocks (pad bytes and all).
                        if meta.picker.whole_block(r) != r
                            && !p.peer_choking
                            && !p.partial_ok
                            && !p.whole_blocks
                        {
                            debug!(peer = %p.addr, "peer rejected part of a block; whole blocks from now on");
                            p.whole_blocks = true;
                        }
                        meta.picker.request_dropped(slot, r);
                    }
                    // Someone else may take it.
                    self.refill_all();
                }
            }
            Message::AllowedFast(i) => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    if p.allowed_fast.len() < 64 {
                        p.allowed_fast.insert(i.0);
                    }
                }
            }
            Message::Extended(e) => self.on_extended(slot, e),
        }
    }

    pub(super) fn on_have(&mut self, slot: PeerSlot, i: u32) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let Some(meta) = self.meta.as_mut() else {
            if p.early_haves.len() < MAX_EARLY_HAVES {
                p.early_haves.push(i);
            }
            return;
        };
        if i >= meta.have.len() || p.bitfield.get(PieceIndex(i)) {
            return;
        }
        let _ = p.bitfield.set(PieceIndex(i));
        meta.picker.peer_has(i);
        if let Some(ss) = meta.superseed.as_mut() {
            if p.ss_joined {
                self.reveals.extend(ss.peer_has(slot, i, self.now));
            }
        }
        if !p.am_interested && !meta.have.get(PieceIndex(i)) {
            self.update_interest(slot);
        }
    }

    pub(super) fn on_bitfield(&mut self, slot: PeerSlot, raw: Option<Bytes>) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let Some(meta) = self.meta.as_mut() else {
            match raw {
                Some(r) => p.raw_bitfield = Some(r),
                None => p.has_all = true,
            }
            return;
        };
        let n = meta.have.len();
        let bf = match raw {
            None => {
                p.has_all = true;
                Bitfield::full(n)
            }
            Some(r) => match Bitfield::from_payload(&r, n) {
                Ok(b) => b,
                Err(e) => {
                    debug!(peer = %p.addr, error = %e, "bad bitfield; disconnecting");
                    self.remove_peer(slot, false);
                    return;
                }
            },
        };
        if bf.is_full() && meta.picker.is_complete() {
            // Two seeds have nothing to trade (and will not redial: `is_seed`).
            p.bitfield = bf;
            p.has_all = true;
            self.remove_peer(slot, false);
            return;
        }
        let new: Vec<PieceIndex> = bf.iter_and_not(&p.bitfield).collect();
        for &i in &new {
            let _ = p.bitfield.set(i);
        }
        if new.len() as u32 == n {
            meta.picker.peer_has_all_of(|_| true);
        } else {
            for &i in &new {
                meta.picker.peer_has(i.0);
            }
        }
        if p.ss_joined {
            if let Some(ss) = meta.superseed.as_mut() {
                for &i in &new {
                    self.reveals.extend(ss.peer_has(slot, i.0, self.now));
                }
            }
        }
        self.update_interest(slot);
    }

    pub(super) fn update_interest(&mut self, slot: PeerSlot) {
        let Some(meta) = self.meta.as_ref() else {
            return;
        };
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let want = p.bitfield.any_and_not(&meta.have);
        if want != p.am_interested {
            p.am_interested = want;
            p.outbox.msgs.push(if want {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
    }

    /// Builds a peer's bitfield from what it sent before we knew the piece count.
    pub(super) fn adopt_peer_pieces(&mut self, slot: PeerSlot) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        let n = meta.have.len();
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let mut bf = Bitfield::new(n);
        if p.has_all {
            bf = Bitfield::full(n);
        } else if let Some(raw) = p.raw_bitfield.take() {
            match Bitfield::from_payload(&raw, n) {
                Ok(b) => bf = b,
                Err(e) => {
                    debug!(peer = %p.addr, error = %e, "bad bitfield");
                }
            }
        }
        for h in p.early_haves.drain(..) {
            let _ = bf.set(PieceIndex(h));
        }
        meta.picker.peer_has_all_of(|i| bf.get(PieceIndex(i)));
        p.bitfield = bf;
        self.update_interest(slot);
    }

    pub(super) fn announce_our_pieces(&mut self, slot: PeerSlot) {
        let Some(meta) = self.meta.as_ref() else {
            return;
        };
        if meta.superseed.is_some() {
            return;
        }
        let msgs: Vec<Message> = meta.have.iter_ones().map(Message::Have).collect();
        if let Some(p) = self.peers.get_mut(&slot) {
            p.outbox.msgs.extend(msgs);
        }
    }
}
