//! Candidates: addresses to dial, with backoff, and the dialling itself.

use super::*;

impl Core {
    pub(super) fn add_candidates(&mut self, addrs: &[SocketAddr], explicit: bool) {
        let now = self.now;
        for &a in addrs {
            if self.banned_addrs.contains(&a) {
                self.emit(TorrentEvent::BannedPeerRefused(a));
                continue;
            }
            if a.port() == 0 {
                continue;
            }
            if !explicit && self.known.len() >= self.opts.max_known_peers {
                break;
            }
            self.known
                .entry(a)
                .and_modify(|c| {
                    c.explicit |= explicit;
                    if explicit {
                        c.next_attempt = c.next_attempt.min(now);
                    }
                })
                .or_insert(Candidate {
                    next_attempt: now,
                    failures: 0,
                    explicit,
                });
        }
    }

    pub(super) fn maybe_connect(&mut self) {
        if self.paused || self.error.is_some() || self.stopped {
            return;
        }
        let cap = self.opts.max_connections_per_torrent;
        let now = self.now;
        let connected: HashSet<SocketAddr> = self
            .peers
            .values()
            .flat_map(|p| [Some(p.addr), p.listen_addr()])
            .flatten()
            .collect();
        let due: Vec<SocketAddr> = self
            .known
            .iter()
            .filter(|(a, c)| {
                c.next_attempt <= now && !connected.contains(a) && !self.connecting.contains(a)
            })
            .map(|(a, _)| *a)
            .collect();
        for addr in due {
            if self.peers.len() + self.connecting.len() >= cap {
                break;
            }
            if crate::context::is_own_addr(&self.listen, addr) {
                self.known.remove(&addr);
                continue;
            }
            self.connecting.insert(addr);
            if let Some(c) = self.known.get_mut(&addr) {
                // Until the attempt reports back, don't try again.
                c.next_attempt = now + Duration::from_secs(3600);
            }
            self.out.push_back(Output::Dial(addr));
        }
    }
}
