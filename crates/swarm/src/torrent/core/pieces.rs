//! Pieces: hashing, verified and failed pieces, bans, completion.

use super::*;

impl Core {
    pub(super) fn start_verify(&mut self, piece: u32) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        let Some(buf) = meta.buffers.remove(&piece) else {
            return;
        };
        self.out.push_back(Output::Verify {
            piece,
            buf,
            info: Arc::clone(&meta.info),
            pads: Arc::clone(&meta.pads),
            store: Arc::clone(&meta.store),
        });
    }

    pub(super) fn on_piece_done(&mut self, piece: u32, result: Result<bool, TorrentError>) {
        let Some(meta) = self.meta.as_mut() else {
            return;
        };
        match result {
            Ok(true) => {
                meta.picker.piece_verified(piece);
                if !meta.have.get(PieceIndex(piece)) {
                    meta.content_have += u64::from(meta.pads.content_len(piece));
                }
                let _ = meta.have.set(PieceIndex(piece));
                meta.resume.piece_written(PieceIndex(piece));
                self.resume_dirty = true;
                // Peers that have the piece hear of it too: a super-seeding
                // origin learns from these HAVEs that a piece it revealed
                // arrived from elsewhere (BEP 16). Skipped, a piece it had
                // begun to upload to us and others finished stayed pending
                // there for good, and each one held a place of the few
                // reveals it keeps out.
                let have_msg = Message::Have(PieceIndex(piece));
                for p in self.peers.values_mut() {
                    p.outbox.msgs.push(have_msg.clone());
                }
                let slots: Vec<PeerSlot> = self.peers.keys().copied().collect();
                for s in &slots {
                    self.update_interest(*s);
                }
                self.emit(TorrentEvent::PieceVerified(piece));
                if self.is_complete() {
                    self.on_complete();
                }
            }
            Ok(false) => {
                self.hash_failures += 1;
                let contributors = meta.picker.piece_failed(piece);
                warn!(
                    piece,
                    peers = contributors.len(),
                    "piece failed its hash check"
                );
                let threshold = if contributors.len() <= 1 { 1 } else { 2 };
                for slot in contributors {
                    let Some(p) = self.peers.get(&slot) else {
                        continue;
                    };
                    let s = self.strikes.entry(p.addr).or_default();
                    *s += 1;
                    if *s >= threshold {
                        self.ban(slot);
                    }
                }
            }
            Err(e) => {
                meta.picker.piece_failed(piece);
                self.fail(e);
            }
        }
        self.refill_all();
        self.update_progress();
    }

    pub(super) fn on_complete(&mut self) {
        let content = self.meta.as_ref().map_or(0, |m| m.pads.content_total());
        info!(downloaded = self.downloaded, content, "download complete");
        self.save_resume_background(true);
        self.emit(TorrentEvent::Complete);
        // Seeds have nothing for us and want nothing from us.
        let seeds: Vec<PeerSlot> = self
            .peers
            .iter()
            .filter(|(_, p)| p.is_seed())
            .map(|(s, _)| *s)
            .collect();
        for s in seeds {
            self.remove_peer(s, false);
        }
    }

    pub(super) fn ban(&mut self, slot: PeerSlot) {
        let Some(p) = self.peers.get(&slot) else {
            return;
        };
        let (addr, id) = (p.addr, p.id);
        warn!(peer = %addr, id = %id, "banning peer that sent data failing the hash check");
        self.banned_addrs.insert(addr);
        if let Some(l) = p.listen_addr() {
            self.banned_addrs.insert(l);
            self.known.remove(&l);
        }
        self.banned_ids.insert(id);
        self.known.remove(&addr);
        self.banned_count += 1;
        self.emit(TorrentEvent::PeerBanned(addr));
        self.remove_peer(slot, true);
    }
}
