//! Requests: our pipeline to each peer, blocks in, and blocks we serve.

use super::*;

impl Core {
    pub(super) fn refill_all(&mut self) {
        let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
        for s in slots {
            self.fill_requests(s);
        }
    }

    /// Tops up the peer's request pipeline from the picker.
    pub(super) fn fill_requests(&mut self, slot: PeerSlot) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        if meta.picker.is_complete() {
            return;
        }
        let Some(p) = self.peers.get(&slot) else {
            return;
        };
        if !p.am_interested || (p.peer_choking && p.allowed_fast.is_empty()) {
            return;
        }
        let want = p.depth.saturating_sub(p.outstanding.len());
        // Ask in batches: one picker call and one write per few blocks (a
        // quarter of a short pipeline).
        let batch = (p.depth / 4).clamp(1, 4);
        if want == 0 || (want < batch && !p.outstanding.is_empty()) {
            return;
        }
        let choked = p.peer_choking;
        let bf = &p.bitfield;
        let af = &p.allowed_fast;
        let has = |i| bf.get(PieceIndex(i)) && (!choked || af.contains(&i));
        let mut reqs = meta.picker.next_requests(slot, has, want);
        if reqs.is_empty() && p.outstanding.is_empty() {
            let peers = &self.peers;
            let mine = p.down_rate;
            let slower = |o| peers.get(&o).is_none_or(|q| 2.0 * q.down_rate < mine);
            reqs = meta.picker.take_over_requests(slot, has, slower, want);
        }
        // It answered all we asked this tick, and there is more to ask.
        let ran_dry = !reqs.is_empty() && p.outstanding.is_empty() && p.down_tick > 0;
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        p.ran_dry |= ran_dry;
        let now = self.now;
        for r in reqs {
            let r = if p.whole_blocks {
                meta.picker.whole_block(r)
            } else {
                r
            };
            let key = block_key(&r);
            p.outstanding.insert(key, (now, r));
            p.cancelled.remove(&key);
            p.outbox.msgs.push(Message::Request(r));
        }
    }

    pub(super) fn on_request(&mut self, slot: PeerSlot, r: wire::BlockRequest) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let ok = match self.meta.as_ref() {
            None => false,
            Some(meta) => {
                let i = r.piece.0;
                let size = meta.info.piece_size(i as usize);
                i < meta.have.len()
                    && meta.have.get(r.piece)
                    && r.length.0 > 0
                    && r.length.0 <= 128 * 1024
                    && u64::from(r.offset.0) + u64::from(r.length.0) <= size
                    && !p.am_choking
                    && p.serving < MAX_SERVING
                    && meta
                        .superseed
                        .as_ref()
                        .is_none_or(|ss| ss.may_serve(slot, i))
            }
        };
        if ok {
            if let Some(ss) = self.meta.as_mut().and_then(|m| m.superseed.as_mut()) {
                ss.requested(slot, r.piece.0);
            }
            p.serving += 1;
            p.outbox.serve.push(r);
        } else if p.fast {
            p.outbox.msgs.push(Message::RejectRequest(r));
        }
    }

    pub(super) fn on_uploaded(&mut self, slot: PeerSlot, reqs: &[wire::BlockRequest]) {
        let bytes: u64 = reqs.iter().map(|r| u64::from(r.length.0)).sum();
        self.uploaded += bytes;
        self.tick_up += bytes;
        self.choker.record(slot, 0, bytes);
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        p.serving = p.serving.saturating_sub(reqs.len());
        p.up_tick += bytes;
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        for r in reqs {
            // Real bytes only: pad-aware peers never ask for the pad bytes.
            let i = r.piece.0;
            let real = meta
                .pads
                .content_in(i, r.offset.0, r.offset.0.saturating_add(r.length.0));
            let c = p.uploaded_per_piece.entry(i).or_default();
            *c += u64::from(real);
            if *c >= u64::from(meta.pads.content_len(i)) {
                p.uploaded_per_piece.remove(&i);
                if let Some(ss) = meta.superseed.as_mut() {
                    self.reveals.extend(ss.piece_uploaded(slot, i, self.now));
                }
            }
        }
        // Between ticks too, so the origin's uplink idles for at most a
        // scan period plus the release age when agents fetch elsewhere.
        if meta.superseed.is_some() {
            let now = self.now;
            if now.duration_since(self.last_release_scan) >= RELEASE_SCAN {
                self.superseed_release_scan(now);
            }
        }
    }

    pub(super) fn on_block(&mut self, slot: PeerSlot, piece: wire::Piece) {
        let Some(p) = self.peers.get_mut(&slot) else {
            return;
        };
        let got = piece.block();
        let key = block_key(&got);
        let len = piece.data.len() as u64;
        self.downloaded += len;
        if p.origin {
            self.downloaded_origin += len;
        }
        self.tick_down += len;
        p.down_tick += len;
        let now = self.now;
        let asked = match p.outstanding.get(&key) {
            Some(&(sent, wire)) if wire == got => p.outstanding.remove(&key).map(|_| sent),
            _ => None,
        };
        match asked {
            Some(sent) => {
                let lat = now.duration_since(sent);
                p.min_latency = Some(p.min_latency.map_or(lat, |m| m.min(lat)));
                p.last_block = now;
                if p.last_answered_sent.is_none_or(|t| t < sent) {
                    p.last_answered_sent = Some(sent);
                }
                if let Some(m) = self.meta.as_ref() {
                    if m.picker.whole_block(got) != got {
                        p.partial_ok = true;
                    }
                }
            }
            None => {
                if !p.cancelled.remove(&key) {
                    p.unrequested += 1;
                    if p.unrequested > MAX_UNREQUESTED {
                        debug!(peer = %p.addr, "too many unrequested blocks; disconnecting");
                        self.remove_peer(slot, false);
                    }
                }
                return;
            }
        }
        self.choker.record(slot, len, 0);
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        // What the picker asked for: the block's real bytes. A whole-block
        // answer carries pad bytes around them, which are dropped: the
        // buffer's pad ranges are never read (they hash as zeros and are
        // never written).
        let Some(req) = meta.picker.block_request(key.0, key.1) else {
            return;
        };
        match meta.picker.block_received(slot, req) {
            BlockOutcome::Accepted {
                piece_complete,
                cancel,
            } => {
                let size = meta.info.piece_size(req.piece.as_usize()) as usize;
                let spare = &mut meta.spare;
                let buf = meta.buffers.entry(req.piece.0).or_insert_with(|| {
                    // A reused buffer holds an old piece where this one's
                    // blocks have not arrived yet (or never will: padding).
                    let mut b = spare.pop().unwrap_or_default();
                    b.resize(size, 0);
                    b
                });
                let off = req.offset.0 as usize;
                let from = (req.offset.0 - got.offset.0) as usize;
                buf[off..off + req.length.as_usize()]
                    .copy_from_slice(&piece.data[from..from + req.length.as_usize()]);
                for (q, _) in cancel {
                    if let Some(qp) = self.peers.get_mut(&q) {
                        if let Some((_, wire)) = qp.outstanding.remove(&key) {
                            qp.cancelled.insert(key);
                            qp.outbox.msgs.push(Message::Cancel(wire));
                        }
                    }
                }
                if piece_complete {
                    self.start_verify(req.piece.0);
                }
            }
            BlockOutcome::Duplicate => {}
            BlockOutcome::Unexpected => {
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.unrequested += 1;
                }
            }
        }
    }
}
