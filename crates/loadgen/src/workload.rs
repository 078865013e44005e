use tracker_proto::http::percent_encode;
use tracker_proto::{AnnounceEvent, AnnounceRequest, ByteCount, InfoHash, PeerId, PeerKey, Port};

/// One simulated agent.
#[derive(Debug, Clone)]
pub struct SimPeer {
    /// Its id (`-AH0001-` and 12 digits).
    pub peer_id: PeerId,
    /// Its listening port.
    pub port: Port,
    /// Index of its torrent in [`Workload::torrents`].
    pub torrent: usize,
    /// Whether it seeds.
    pub seeder: bool,
    /// Percent-encoded peer id, for HTTP.
    pub peer_id_url: String,
}

/// A fleet: `torrents` releases and `peers` agents, each agent in one swarm.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The torrents' infohashes.
    pub torrents: Vec<InfoHash>,
    /// Percent-encoded infohashes, for HTTP.
    pub torrents_url: Vec<String>,
    /// The agents.
    pub peers: Vec<SimPeer>,
}

impl Workload {
    /// A deterministic workload; `seed` varies the infohashes. One agent in
    /// ten seeds.
    pub fn new(torrents: usize, peers: usize, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let torrents: Vec<InfoHash> = (0..torrents.max(1))
            .map(|_| {
                let mut b = [0u8; 20];
                rng.fill(&mut b);
                InfoHash(b)
            })
            .collect();
        let torrents_url = torrents
            .iter()
            .map(|t| {
                let mut s = String::new();
                percent_encode(t.as_bytes(), &mut s);
                s
            })
            .collect();
        let n_torrents = torrents.len();
        let peers = (0..peers)
            .map(|i| {
                let mut id = [0u8; 20];
                id[..8].copy_from_slice(b"-AH0001-");
                id[8..].copy_from_slice(format!("{:012}", i % 1_000_000_000_000).as_bytes());
                let mut url = String::new();
                percent_encode(&id, &mut url);
                SimPeer {
                    peer_id: PeerId(id),
                    // Distinct ports within a swarm: trackers such as opentracker
                    // key peers by address and port, and all load comes from one address.
                    port: Port::new(
                        u16::try_from(1024 + (i / n_torrents) % 60_000).unwrap_or(1024),
                    )
                    .unwrap_or(Port::new(1024).unwrap_or_else(|| unreachable!())),
                    torrent: i % n_torrents,
                    seeder: i % 10 == 0,
                    peer_id_url: url,
                }
            })
            .collect();
        Self {
            torrents,
            torrents_url,
            peers,
        }
    }

    /// The announce of peer `i`.
    pub fn announce(
        &self,
        i: usize,
        event: AnnounceEvent,
        numwant: Option<u32>,
    ) -> AnnounceRequest {
        let p = &self.peers[i % self.peers.len()];
        AnnounceRequest {
            info_hash: self.torrents[p.torrent],
            peer_id: p.peer_id,
            port: p.port,
            uploaded: ByteCount(0),
            downloaded: ByteCount(0),
            left: ByteCount(if p.seeder { 0 } else { 1 << 20 }),
            event,
            numwant,
            key: Some(PeerKey(u32::try_from(i % (1 << 31)).unwrap_or(0))),
            ip: None,
            compact: true,
            no_peer_id: true,
            tracker_id: None,
        }
    }

    /// The HTTP path and query of peer `i`'s announce.
    pub fn announce_path(&self, i: usize, numwant: u32) -> String {
        let p = &self.peers[i % self.peers.len()];
        format!(
            "/announce?info_hash={}&peer_id={}&port={}&uploaded=0&downloaded=0&left={}&compact=1&numwant={numwant}",
            self.torrents_url[p.torrent],
            p.peer_id_url,
            p.port.get(),
            if p.seeder { 0 } else { 1 << 20 },
        )
    }

    /// The whitelist file text for `opentracker -w`: one hex infohash per line.
    pub fn whitelist(&self) -> String {
        self.torrents.iter().map(|t| format!("{t}\n")).collect()
    }
}
