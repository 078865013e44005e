//! Metadata: BEP 10 handshakes and BEP 9 metadata exchange, up to opening the data.

use super::*;

impl Core {
    pub(super) fn on_extended(&mut self, slot: PeerSlot, e: ExtendedMessage) {
        if e.id == ExtendedId::HANDSHAKE {
            let Ok(h) = ExtendedHandshake::parse(&e.payload) else {
                return;
            };
            let size = h.metadata_size;
            let has_md = h.extension_id(UT_METADATA).is_some();
            if let Some(p) = self.peers.get_mut(&slot) {
                p.their_ext = Some(h);
                // A later handshake (BEP 10) may announce metadata it now has.
                p.metadata_rejected = false;
            }
            if self.wants_metadata() && has_md {
                if self.metadata.is_none() {
                    if let Some(size) = size {
                        match MetadataAssembler::new(self.infohash, size) {
                            Ok(a) => self.metadata = Some(a),
                            Err(e) => debug!(error = %e, "peer announced unusable metadata size"),
                        }
                    }
                }
                self.request_metadata();
            }
            return;
        }
        if e.id == OUR_UT_METADATA {
            let Ok(m) = MetadataMessage::parse(&e.payload) else {
                return;
            };
            self.on_metadata(slot, m);
        } else if e.id == OUR_UT_PEX && self.opts.pex {
            let Ok(m) = PexMessage::parse(&e.payload) else {
                return;
            };
            let addrs: Vec<SocketAddr> = m.added.iter().map(|p| p.addr).collect();
            self.add_candidates(&addrs, false);
            self.maybe_connect();
        }
    }

    /// Our BEP 10 handshake for the peer at `addr`; `metadata_size` only
    /// once we have the metadata (BEP 9), so peers ask only who has it.
    pub(super) fn extended_handshake(&self, addr: SocketAddr) -> Message {
        let mut h = ExtendedHandshake::default();
        h.extensions.insert(UT_METADATA.into(), OUR_UT_METADATA);
        if self.opts.pex {
            h.extensions.insert(UT_PEX.into(), OUR_UT_PEX);
        }
        h.client = Some(concat!("anthill ", env!("CARGO_PKG_VERSION")).into());
        h.listen_port = self.listen.first().map(SocketAddr::port);
        h.request_queue = Some(MAX_SERVING as u32);
        h.metadata_size = self
            .meta
            .as_ref()
            .map(|m| m.metainfo.raw_info().len() as u64);
        h.your_ip = Some(addr.ip());
        Message::Extended(ExtendedMessage::new(ExtendedId::HANDSHAKE, h.to_bytes()))
    }

    pub(super) fn request_metadata(&mut self) {
        if self.metadata.is_none() {
            let sizes: Vec<u64> = self
                .peers
                .values()
                .filter_map(|p| p.their_ext.as_ref()?.metadata_size)
                .collect();
            if !sizes.is_empty() {
                let size = sizes[self.ticks as usize % sizes.len()];
                self.metadata = MetadataAssembler::new(self.infohash, size).ok();
            }
        }
        let Some(asm) = self.metadata.as_ref() else {
            return;
        };
        let now = self.now;
        let missing: Vec<MetadataPiece> = asm.missing().collect();
        // Ask peers that announced the metadata (BEP 9 `metadata_size`) and
        // did not reject a request; other agents of a flash crowd speak
        // ut_metadata too but have nothing yet, and asking them round-robin
        // left pieces waiting on rejects. Peers other than the origin
        // first, so that the fleet, not the hub, serves most metadata.
        // Clients that do not announce a size are asked only when nobody
        // announced one.
        let rank = |p: &PeerState| -> Option<u8> {
            let ext = p.their_ext.as_ref()?;
            ext.extension_id(UT_METADATA)?;
            match (
                ext.metadata_size.is_some() && !p.metadata_rejected,
                p.origin,
            ) {
                (true, false) => Some(0),
                (true, true) => Some(1),
                (false, _) if !p.metadata_rejected => Some(2),
                _ => None,
            }
        };
        let best = self.peers.values().filter_map(rank).min();
        let Some(best) = best else {
            return;
        };
        let capable: Vec<(PeerSlot, ExtendedId)> = self
            .peers
            .iter()
            .filter(|(_, p)| rank(p) == Some(best))
            .filter_map(|(s, p)| {
                let id = p.their_ext.as_ref()?.extension_id(UT_METADATA)?;
                Some((*s, id))
            })
            .collect();
        if capable.is_empty() {
            return;
        }
        for (k, piece) in missing.into_iter().enumerate() {
            if let Some((_, at)) = self.metadata_inflight.get(&piece.0) {
                if now.duration_since(*at) < Duration::from_secs(10) {
                    continue;
                }
            }
            let (slot, id) = capable[(k + self.ticks as usize) % capable.len()];
            if let Some(p) = self.peers.get_mut(&slot) {
                p.outbox.msgs.push(Message::Extended(ExtendedMessage::new(
                    id,
                    MetadataMessage::Request(piece).to_bytes(),
                )));
                self.metadata_inflight.insert(piece.0, (slot, now));
            }
        }
    }

    pub(super) fn on_metadata(&mut self, slot: PeerSlot, m: MetadataMessage) {
        match m {
            MetadataMessage::Request(piece) => {
                let Some(p) = self.peers.get_mut(&slot) else {
                    return;
                };
                let Some(id) = p
                    .their_ext
                    .as_ref()
                    .and_then(|h| h.extension_id(UT_METADATA))
                else {
                    return;
                };
                let reply = match self.meta.as_ref() {
                    Some(meta) => {
                        let raw = meta.metainfo.raw_info();
                        let start = piece.0 as usize * wire::METADATA_PIECE_LEN;
                        if start < raw.len() {
                            let end = (start + wire::METADATA_PIECE_LEN).min(raw.len());
                            self.metadata_uploaded += (end - start) as u64;
                            MetadataMessage::Data {
                                piece,
                                total_size: raw.len() as u64,
                                data: Bytes::copy_from_slice(&raw[start..end]),
                            }
                        } else {
                            MetadataMessage::Reject(piece)
                        }
                    }
                    None => MetadataMessage::Reject(piece),
                };
                p.outbox.msgs.push(Message::Extended(ExtendedMessage::new(
                    id,
                    reply.to_bytes(),
                )));
            }
            MetadataMessage::Reject(piece) => {
                self.metadata_inflight.remove(&piece.0);
                if let Some(p) = self.peers.get_mut(&slot) {
                    p.metadata_rejected = true;
                }
                if self.wants_metadata() {
                    self.request_metadata();
                }
            }
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => {
                self.metadata_inflight.remove(&piece.0);
                if !self.wants_metadata() {
                    return;
                }
                let Some(asm) = self.metadata.as_mut() else {
                    return;
                };
                match asm.insert(piece, total_size, data) {
                    Ok(true) => match asm.finish() {
                        Ok(raw) => self.on_metadata_complete(&raw),
                        Err(e) => {
                            // Possibly a peer lying about the size: start over,
                            // taking the size from another peer next time.
                            warn!(error = %e, "received metadata does not match the infohash");
                            self.metadata = None;
                            self.metadata_inflight.clear();
                            self.request_metadata();
                        }
                    },
                    Ok(false) => {}
                    Err(e) => debug!(error = %e, "bad metadata piece"),
                }
            }
        }
    }

    /// The info dictionary arrived and matches the infohash: the shell
    /// opens (prefills, checks) the data in the background, and the torrent
    /// keeps serving its peers meanwhile (`Checking`).
    pub(super) fn on_metadata_complete(&mut self, raw: &[u8]) {
        let metainfo = match Metainfo::from_info_bytes(raw) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                self.fail(TorrentError::InvalidMetadata {
                    source: Arc::new(e),
                });
                return;
            }
        };
        info!(name = metainfo.info().name(), "metadata received");
        self.metadata = None;
        self.metadata_inflight.clear();
        self.opening = true;
        self.out.push_back(Output::Open(metainfo));
        self.update_progress();
    }

    pub(super) fn on_opened(&mut self, loaded: Result<Loaded, TorrentError>) {
        if !self.opening {
            return;
        }
        self.opening = false;
        let l = match loaded {
            Ok(l) => l,
            Err(e) => {
                self.fail(e);
                return;
            }
        };
        if self.stopped || self.error.is_some() {
            return;
        }
        self.install_meta(l);
        // A second BEP 10 handshake with `metadata_size`: peers still
        // without the metadata may now ask us instead of the origin.
        // Every peer that got our first one, whether or not its own
        // handshake has reached us yet: one still in flight would
        // otherwise never learn that we have the metadata.
        let slots: Vec<(PeerSlot, SocketAddr)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.ext)
            .map(|(s, p)| (*s, p.addr))
            .collect();
        for (slot, addr) in slots {
            let m = self.extended_handshake(addr);
            if let Some(p) = self.peers.get_mut(&slot) {
                p.outbox.msgs.push(m);
            }
        }
        self.emit(TorrentEvent::MetadataReceived);
        if self.is_complete() {
            self.on_complete();
        }
        self.refill_all();
        self.update_progress();
    }
}
