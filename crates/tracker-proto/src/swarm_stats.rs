/// Scrape numbers of one torrent (BEP 48 `complete`/`downloaded`/`incomplete`,
/// BEP 15 seeders/completed/leechers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwarmStats {
    /// Peers with the whole torrent (`complete`).
    pub seeders: u32,
    /// Times a peer reported `event=completed` (`downloaded`).
    pub completed: u32,
    /// Peers still downloading (`incomplete`).
    pub leechers: u32,
}
