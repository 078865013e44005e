use crate::allow_list::AllowList;
use crate::config::{AccessMode, TrackerConfig};
use crate::connection_id::ConnectionIdValidator;
use crate::locality::Locality;
use crate::metrics::{ErrorKind, Metrics, Protocol};
use crate::rate_limiter::{RateDecision, RateLimiter};
use crate::stats::{PeerStats, TorrentStats, TorrentSummary, TrackerStats};
use crate::swarm::{AnnounceParams, Peer, StoreLimits, SwarmStore};
use crate::{AnnounceError, TrackerError};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tracker_proto::http::ResponsePeer;
use tracker_proto::udp::ConnectionId;
use tracker_proto::{AnnounceRequest, InfoHash, SwarmStats};

/// The tracker's state and logic, independent of transports. Cheap to clone
/// (an `Arc`); the HTTP and UDP servers and an embedding hub share one.
#[derive(Debug, Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: TrackerConfig,
    store: SwarmStore,
    allow: AllowList,
    closed: bool,
    conn_ids: ConnectionIdValidator,
    limiter: RateLimiter,
    locality: Option<Locality>,
    metrics: Metrics,
    start: Instant,
    interval: u32,
    min_interval: u32,
    expire_after: u32,
}

/// The numbers to answer a successful announce with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnnounceReply {
    pub(crate) stats: SwarmStats,
    pub(crate) interval: u32,
    pub(crate) min_interval: u32,
}

fn secs_u32(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl Tracker {
    /// Builds a tracker from `config` (reads the allow list, if any).
    pub fn new(config: TrackerConfig) -> Result<Self, TrackerError> {
        config.validate()?;
        let closed = config.access.mode == AccessMode::Closed;
        let allow = AllowList::new(config.access.allow_list.clone())?;
        let interval = secs_u32(config.announce.interval.get()).max(1);
        let expire_after = interval.saturating_mul(config.announce.expire_after_intervals.max(1));
        Ok(Self {
            inner: Arc::new(Inner {
                store: SwarmStore::new(StoreLimits {
                    max_torrents: config.swarm.max_torrents,
                    max_peers_per_torrent: config.swarm.max_peers_per_torrent,
                    max_peers: config.swarm.max_peers,
                }),
                allow,
                closed,
                conn_ids: ConnectionIdValidator::new(),
                limiter: RateLimiter::new(&config.rate_limit),
                locality: Locality::new(&config.swarm),
                metrics: Metrics::default(),
                start: Instant::now(),
                interval,
                min_interval: secs_u32(config.announce.min_interval.get()),
                expire_after,
                config,
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &TrackerConfig {
        &self.inner.config
    }

    /// The allow list: the in-process API for a closed tracker (the hub
    /// allows each release's infohash here before publishing it).
    pub fn allow_list(&self) -> &AllowList {
        &self.inner.allow
    }

    /// Whether `ih` may be tracked.
    pub fn is_allowed(&self, ih: &InfoHash) -> bool {
        !self.inner.closed || self.inner.allow.contains(ih)
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn now_secs(&self) -> u32 {
        secs_u32(self.inner.start.elapsed())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Takes a rate-limit token for `ip`; false means refuse.
    pub(crate) fn check_rate(&self, ip: IpAddr, p: Protocol) -> bool {
        match self.inner.limiter.check(ip, self.now_ms()) {
            RateDecision::Allow => true,
            RateDecision::AllowUntracked => {
                self.inner
                    .metrics
                    .rate_limit_untracked
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            RateDecision::Deny => {
                self.inner.metrics.error(p, ErrorKind::RateLimited);
                false
            }
        }
    }

    pub(crate) fn connection_id(&self, ip: IpAddr) -> ConnectionId {
        self.inner.metrics.connect();
        self.inner.conn_ids.make(ip, self.now_secs())
    }

    pub(crate) fn check_connection_id(&self, id: ConnectionId, ip: IpAddr) -> bool {
        let ok = self.inner.conn_ids.check(id, ip, self.now_secs());
        if !ok {
            self.inner
                .metrics
                .error(Protocol::Udp, ErrorKind::BadConnectionId);
        }
        ok
    }

    /// Handles one announce from `source` (the packet's address). Appends up
    /// to `max_peers` selected peers to `out`; `want_v6` restricts their family.
    pub(crate) fn announce(
        &self,
        req: &AnnounceRequest,
        source: IpAddr,
        want_v6: Option<bool>,
        max_peers: usize,
        protocol: Protocol,
        out: &mut Vec<ResponsePeer>,
    ) -> Result<AnnounceReply, AnnounceError> {
        let inner = &*self.inner;
        inner.metrics.announce(protocol);
        if !self.is_allowed(&req.info_hash) {
            inner.metrics.error(protocol, ErrorKind::NotAllowed);
            return Err(AnnounceError::NotAllowed(req.info_hash));
        }
        let ip = match req.ip {
            Some(claimed) if inner.config.access.trust_ip_param => claimed,
            _ => source,
        }
        .to_canonical();
        let a = &inner.config.announce;
        let numwant = req.numwant.unwrap_or(a.default_numwant).min(a.max_numwant);
        let numwant = usize::try_from(numwant)
            .unwrap_or(usize::MAX)
            .min(max_peers);
        let params = AnnounceParams {
            peer_id: req.peer_id,
            peer: Peer {
                uploaded: req.uploaded.0,
                downloaded: req.downloaded.0,
                left: req.left.0,
                last_seen: self.now_secs(),
                key: req.key.map_or(0, |k| k.0),
                ip,
                port: req.port.get(),
                flags: if req.key.is_some() { Peer::HAS_KEY } else { 0 },
            },
            event: req.event,
            selection: crate::swarm::Selection {
                numwant,
                want_v6,
                neighbourhood: inner.locality.as_ref().and_then(|l| l.neighbourhood(ip)),
                max_scan: inner.config.swarm.max_scan.max(numwant),
            },
        };
        let stats = inner
            .store
            .announce(req.info_hash, params, out)
            .inspect_err(|_| {
                inner.metrics.error(protocol, ErrorKind::Full);
            })?;
        Ok(AnnounceReply {
            stats,
            interval: inner.interval,
            min_interval: inner.min_interval,
        })
    }

    /// Scrape numbers of `ih`: `None` if it is not tracked or not allowed.
    pub(crate) fn scrape_one(&self, ih: &InfoHash) -> Option<SwarmStats> {
        if !self.is_allowed(ih) {
            return None;
        }
        self.inner.store.scrape(ih)
    }

    /// Every torrent's scrape numbers (full scrape).
    pub(crate) fn scrape_all(&self, out: &mut Vec<(InfoHash, SwarmStats)>) {
        self.inner
            .store
            .for_each(|ih, t| out.push((*ih, t.stats())));
    }

    /// Removes expired peers and torrents that are gone or no longer
    /// allowed. Returns (peers, torrents) removed. Called periodically by
    /// [`crate::serve`]; public for embedders that drive their own timers.
    /// Answers an HTTP announce (`path` = `/announce`) or scrape
    /// (`/scrape`) whose query string is `query`, from client address `ip`:
    /// the bencoded body a tracker sends with `200 OK`, `text/plain`. `None`
    /// for other paths. This lets another HTTP server (the hub's) embed the
    /// tracker on its own port; rate limiting and metrics apply as usual.
    pub fn http_request(&self, path: &str, query: &[u8], ip: IpAddr) -> Option<Vec<u8>> {
        crate::http_server::embedded(self, path, query, ip)
    }

    pub fn cleanup(&self) -> (usize, usize) {
        let cutoff = self.now_secs().saturating_sub(self.inner.expire_after);
        let closed = self.inner.closed;
        let allow = &self.inner.allow;
        self.inner
            .store
            .cleanup(cutoff, &|ih| !closed || allow.contains(ih), &|_| closed)
    }

    /// A snapshot of the whole tracker; at most `max_torrents` torrents are listed.
    pub fn stats(&self, max_torrents: usize) -> TrackerStats {
        let mut s = TrackerStats {
            uptime_secs: self.inner.start.elapsed().as_secs(),
            torrents: self.inner.store.torrent_count(),
            peers: self.inner.store.peer_count(),
            seeders: 0,
            leechers: 0,
            completed: 0,
            requests: self.inner.metrics.counters(),
            torrent_list: Vec::new(),
            truncated: false,
        };
        self.inner.store.for_each(|ih, t| {
            let st = t.stats();
            s.seeders += u64::from(st.seeders);
            s.leechers += u64::from(st.leechers);
            s.completed += u64::from(st.completed);
            if s.torrent_list.len() < max_torrents {
                s.torrent_list.push(summary(ih, st));
            } else {
                s.truncated = true;
            }
        });
        s
    }

    /// One torrent with up to `max_peers` of its peers, if tracked.
    pub fn torrent_stats(&self, ih: &InfoHash, max_peers: usize) -> Option<TorrentStats> {
        let now = self.now_secs();
        self.inner.store.with_torrent(ih, |t| {
            let peers = t
                .seeds
                .iter()
                .chain(t.leeches.iter())
                .take(max_peers)
                .map(|(id, p)| PeerStats {
                    peer_id: id.to_hex(),
                    client: id
                        .0
                        .iter()
                        .take(8)
                        .map(|&c| {
                            if c.is_ascii_graphic() {
                                char::from(c)
                            } else {
                                '.'
                            }
                        })
                        .collect(),
                    ip: p.ip,
                    port: p.port,
                    uploaded: p.uploaded,
                    downloaded: p.downloaded,
                    left: p.left,
                    seeder: p.is_seed(),
                    completed: p.flags & Peer::COMPLETED != 0,
                    last_seen_secs_ago: now.saturating_sub(p.last_seen),
                })
                .collect();
            TorrentStats {
                summary: summary(ih, t.stats()),
                peers,
            }
        })
    }

    /// Prometheus text exposition of counters and swarm gauges (per-torrent
    /// gauges for at most `max_torrents` torrents, so an open tracker's
    /// scrape stays bounded).
    pub fn metrics_text(&self, max_torrents: usize) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(4096);
        self.inner.metrics.render(&mut out);
        crate::metrics::header(
            &mut out,
            "anthill_tracker_peers_not_stored_total",
            "counter",
            "Announces of new peers not stored because a peer cap was reached.",
        );
        let _ = writeln!(
            out,
            "anthill_tracker_peers_not_stored_total {}",
            self.inner.store.not_stored_count()
        );
        let stats = self.stats(max_torrents);
        crate::metrics::header(
            &mut out,
            "anthill_tracker_torrents",
            "gauge",
            "Torrents tracked.",
        );
        let _ = writeln!(out, "anthill_tracker_torrents {}", stats.torrents);
        crate::metrics::header(
            &mut out,
            "anthill_tracker_peers",
            "gauge",
            "Peers stored, by kind.",
        );
        let _ = writeln!(
            out,
            "anthill_tracker_peers{{kind=\"seeder\"}} {}",
            stats.seeders
        );
        let _ = writeln!(
            out,
            "anthill_tracker_peers{{kind=\"leecher\"}} {}",
            stats.leechers
        );
        for (name, help, kind) in [
            (
                "anthill_tracker_torrent_seeders",
                "Seeders of one torrent.",
                "gauge",
            ),
            (
                "anthill_tracker_torrent_leechers",
                "Leechers of one torrent.",
                "gauge",
            ),
            (
                "anthill_tracker_torrent_completed_total",
                "Completed events of one torrent.",
                "counter",
            ),
        ] {
            crate::metrics::header(&mut out, name, kind, help);
            for t in &stats.torrent_list {
                let v = match name {
                    "anthill_tracker_torrent_seeders" => t.seeders,
                    "anthill_tracker_torrent_leechers" => t.leechers,
                    _ => t.completed,
                };
                let _ = writeln!(out, "{name}{{info_hash=\"{}\"}} {v}", t.info_hash);
            }
        }
        out
    }
}

fn summary(ih: &InfoHash, st: SwarmStats) -> TorrentSummary {
    TorrentSummary {
        info_hash: ih.to_hex(),
        seeders: st.seeders,
        leechers: st.leechers,
        completed: st.completed,
    }
}
