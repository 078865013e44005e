use std::net::IpAddr;

/// One stored peer. Kept small (56 bytes) so a million fit in well under
/// 200 MB with their map overhead; the peer id is the map key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    /// Bytes uploaded, as last reported.
    pub(crate) uploaded: u64,
    /// Bytes downloaded, as last reported.
    pub(crate) downloaded: u64,
    /// Bytes left, as last reported; 0 means seeder.
    pub(crate) left: u64,
    /// Tracker-clock second of the last announce.
    pub(crate) last_seen: u32,
    /// The client's `key`, valid if `flags & HAS_KEY`.
    pub(crate) key: u32,
    /// Address (canonical: IPv4-mapped IPv6 is stored as IPv4).
    pub(crate) ip: IpAddr,
    /// Listening port.
    pub(crate) port: u16,
    /// `HAS_KEY`, `COMPLETED`.
    pub(crate) flags: u8,
}

impl Peer {
    /// The peer sent a `key`.
    pub(crate) const HAS_KEY: u8 = 1;
    /// The peer's `completed` event was counted.
    pub(crate) const COMPLETED: u8 = 2;

    pub(crate) fn is_seed(&self) -> bool {
        self.left == 0
    }

    pub(crate) fn key(&self) -> Option<u32> {
        (self.flags & Self::HAS_KEY != 0).then_some(self.key)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn peer_is_compact() {
        assert!(std::mem::size_of::<super::Peer>() <= 56);
    }
}
