//! Peer exchange (BEP 11).

use super::*;

impl Core {
    pub(super) fn send_pex(&mut self) {
        let current: HashSet<SocketAddr> = self
            .peers
            .values()
            .filter_map(PeerState::listen_addr)
            .collect();
        let seeds: HashSet<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.is_seed())
            .filter_map(PeerState::listen_addr)
            .collect();
        for p in self.peers.values_mut() {
            let Some(id) = p.their_ext.as_ref().and_then(|h| h.extension_id(UT_PEX)) else {
                continue;
            };
            let own = p.listen_addr();
            let added: Vec<PexPeer> = current
                .iter()
                .filter(|a| !p.pex_sent.contains(a) && Some(**a) != own)
                .take(wire::MAX_PEX_PEERS)
                .map(|a| PexPeer {
                    addr: *a,
                    flags: PexFlags(if seeds.contains(a) { PexFlags::SEED } else { 0 }),
                })
                .collect();
            let dropped: Vec<SocketAddr> = p
                .pex_sent
                .iter()
                .filter(|a| !current.contains(a))
                .take(wire::MAX_PEX_PEERS)
                .copied()
                .collect();
            if added.is_empty() && dropped.is_empty() {
                continue;
            }
            for a in &added {
                p.pex_sent.insert(a.addr);
            }
            for a in &dropped {
                p.pex_sent.remove(a);
            }
            let msg = PexMessage { added, dropped };
            p.outbox
                .msgs
                .push(Message::Extended(ExtendedMessage::new(id, msg.to_bytes())));
        }
    }
}
