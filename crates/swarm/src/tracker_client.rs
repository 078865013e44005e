//! Announcing to trackers: HTTP (BEP 3, 7, 23) and UDP (BEP 15), with BEP 12 tiers.
//!
//! [`TrackerClient`] holds the per-torrent state trackers expect us to keep:
//! the UDP connection id (reused while fresh), the HTTP `tracker id`, and the
//! BEP 12 tier order (a tracker that answered moves to the front of its tier).
//! Everything the tracker sends back is untrusted: responses are size-capped,
//! parsed strictly and bounded in the number of peers kept.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tracker_proto::udp::{self, ConnectionId, TransactionId};
use tracker_proto::{AnnounceEvent, ByteCount, InfoHash, PeerId, PeerKey, Port};

use crate::http::{self, HttpError};

/// Largest tracker response body we read.
const MAX_RESPONSE: usize = 1 << 20;
/// Most peers kept from one response.
const MAX_PEERS: usize = 2000;
/// How long a UDP connection id may be reused (BEP 15 allows two minutes).
const UDP_CONNECTION_TTL: Duration = Duration::from_secs(60);

/// What we tell the tracker.
#[derive(Debug, Clone)]
pub struct AnnounceParams {
    /// The torrent.
    pub infohash: [u8; 20],
    /// Our peer id.
    pub peer_id: [u8; 20],
    /// Our listening port.
    pub port: u16,
    /// Bytes uploaded since `started`.
    pub uploaded: u64,
    /// Bytes downloaded since `started`.
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
    /// started / completed / stopped / none.
    pub event: AnnounceEvent,
    /// Peers wanted (`None`: tracker default).
    pub numwant: Option<u32>,
    /// Random key identifying us across IP changes.
    pub key: u32,
}

/// What the tracker told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// Peers to connect to (IPv4 and IPv6).
    pub peers: Vec<SocketAddr>,
    /// When to announce next.
    pub interval: Duration,
    /// Do not announce more often than this.
    pub min_interval: Option<Duration>,
    /// Seeders, if reported.
    pub seeders: Option<u32>,
    /// Leechers, if reported.
    pub leechers: Option<u32>,
    /// A warning to log.
    pub warning: Option<String>,
}

/// Why an announce failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackerClientError {
    /// The URL scheme is neither `http` nor `udp`, or the URL is malformed.
    #[error("unsupported tracker URL {0:?}")]
    BadUrl(String),
    /// HTTP transport failure.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// UDP or DNS failure.
    #[error("tracker {url}: {source}")]
    Io {
        /// The tracker.
        url: String,
        /// The error.
        source: std::io::Error,
    },
    /// No answer after all retries.
    #[error("tracker {0}: no answer")]
    Timeout(String),
    /// The tracker refused (`failure reason` or a UDP error).
    #[error("tracker {url} refused: {reason}")]
    Failure {
        /// The tracker.
        url: String,
        /// Its reason.
        reason: String,
    },
    /// The response could not be understood.
    #[error("tracker {url}: malformed response: {what}")]
    Malformed {
        /// The tracker.
        url: String,
        /// What was wrong.
        what: String,
    },
    /// Every tracker of every tier failed; the last error is kept.
    #[error("no tracker answered (last error: {0})")]
    AllFailed(Box<TrackerClientError>),
    /// The torrent has no trackers.
    #[error("no trackers")]
    NoTrackers,
}

/// Timeouts and retries.
#[derive(Debug, Clone)]
pub struct TrackerClientOptions {
    /// Whole-request timeout for HTTP announces.
    pub http_timeout: Duration,
    /// First UDP retransmission timeout; doubled on every retry (BEP 15 uses 15 s,
    /// far too slow for a fleet on a LAN).
    pub udp_initial_timeout: Duration,
    /// UDP attempts per request.
    pub udp_attempts: u32,
    /// Announce from this address (the session's specific listen address,
    /// so that the tracker sees the address peers can reach us at).
    pub source_ip: Option<std::net::IpAddr>,
}

impl Default for TrackerClientOptions {
    fn default() -> Self {
        Self {
            http_timeout: Duration::from_secs(15),
            udp_initial_timeout: Duration::from_secs(2),
            udp_attempts: 3,
            source_ip: None,
        }
    }
}

/// Per-torrent tracker state; see the module docs.
#[derive(Debug)]
pub struct TrackerClient {
    tiers: Vec<Vec<String>>,
    opts: TrackerClientOptions,
    udp_ids: HashMap<String, (ConnectionId, Instant)>,
    tracker_ids: HashMap<String, String>,
}

impl TrackerClient {
    /// A client for these BEP 12 tiers.
    pub fn new(tiers: Vec<Vec<String>>, opts: TrackerClientOptions) -> Self {
        Self {
            tiers: tiers.into_iter().filter(|t| !t.is_empty()).collect(),
            opts,
            udp_ids: HashMap::new(),
            tracker_ids: HashMap::new(),
        }
    }

    /// True when there is at least one tracker.
    pub fn has_trackers(&self) -> bool {
        !self.tiers.is_empty()
    }

    /// Announces following BEP 12: the first tracker that answers wins and
    /// moves to the front of its tier. Returns the tracker URL with the answer.
    pub async fn announce(
        &mut self,
        params: &AnnounceParams,
    ) -> Result<(String, AnnounceResponse), TrackerClientError> {
        let mut last = TrackerClientError::NoTrackers;
        for t in 0..self.tiers.len() {
            for i in 0..self.tiers[t].len() {
                let url = self.tiers[t][i].clone();
                match self.announce_one(&url, params).await {
                    Ok(resp) => {
                        let tier = &mut self.tiers[t];
                        let u = tier.remove(i);
                        tier.insert(0, u);
                        return Ok((url, resp));
                    }
                    Err(e) => {
                        tracing::debug!(tracker = %url, error = %e, "announce failed");
                        last = e;
                    }
                }
            }
        }
        match last {
            TrackerClientError::NoTrackers => Err(last),
            e => Err(TrackerClientError::AllFailed(Box::new(e))),
        }
    }

    /// Announces to one tracker URL.
    pub async fn announce_one(
        &mut self,
        url: &str,
        params: &AnnounceParams,
    ) -> Result<AnnounceResponse, TrackerClientError> {
        if url.starts_with("http://") {
            self.announce_http(url, params).await
        } else if let Some(rest) = url.strip_prefix("udp://") {
            self.announce_udp(url, rest, params).await
        } else {
            Err(TrackerClientError::BadUrl(url.to_string()))
        }
    }

    async fn announce_http(
        &mut self,
        url: &str,
        p: &AnnounceParams,
    ) -> Result<AnnounceResponse, TrackerClientError> {
        let mut q = String::with_capacity(256);
        q.push_str(url);
        q.push(if url.contains('?') { '&' } else { '?' });
        q.push_str("info_hash=");
        tracker_proto::http::percent_encode(&p.infohash, &mut q);
        q.push_str("&peer_id=");
        tracker_proto::http::percent_encode(&p.peer_id, &mut q);
        q.push_str(&format!(
            "&port={}&uploaded={}&downloaded={}&left={}&compact=1&key={:08x}",
            p.port, p.uploaded, p.downloaded, p.left, p.key
        ));
        if let Some(e) = p.event.as_http() {
            q.push_str("&event=");
            q.push_str(e);
        }
        if let Some(n) = p.numwant {
            q.push_str(&format!("&numwant={n}"));
        }
        if let Some(id) = self.tracker_ids.get(url) {
            q.push_str("&trackerid=");
            tracker_proto::http::percent_encode(id.as_bytes(), &mut q);
        }
        let resp = http::get_from(
            &q,
            &[],
            MAX_RESPONSE,
            self.opts.http_timeout,
            self.opts.source_ip,
        )
        .await?;
        // Trackers send failures with 200 or with an error status; read the body either way.
        let parsed = parse_http_response(url, &resp.body);
        match parsed {
            Ok((r, tracker_id)) => {
                if resp.status != 200 {
                    return Err(TrackerClientError::Http(HttpError::Status(resp.status)));
                }
                if let Some(id) = tracker_id {
                    self.tracker_ids.insert(url.to_string(), id);
                }
                Ok(r)
            }
            Err(e @ TrackerClientError::Failure { .. }) => Err(e),
            Err(_) if resp.status != 200 => {
                Err(TrackerClientError::Http(HttpError::Status(resp.status)))
            }
            Err(e) => Err(e),
        }
    }

    async fn announce_udp(
        &mut self,
        url: &str,
        rest: &str,
        p: &AnnounceParams,
    ) -> Result<AnnounceResponse, TrackerClientError> {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let io = |source| TrackerClientError::Io {
            url: url.to_string(),
            source,
        };
        let target = tokio::net::lookup_host(authority)
            .await
            .map_err(io)?
            .next()
            .ok_or_else(|| TrackerClientError::BadUrl(url.to_string()))?;
        let bind: SocketAddr = match self.opts.source_ip {
            Some(ip) if ip.is_ipv6() == target.is_ipv6() => (ip, 0).into(),
            _ if target.is_ipv6() => (Ipv6Addr::UNSPECIFIED, 0).into(),
            _ => (Ipv4Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(bind).await.map_err(io)?;
        sock.connect(target).await.map_err(io)?;
        let ipv6 = target.is_ipv6();

        let conn = match self.udp_ids.get(url) {
            Some((id, at)) if at.elapsed() < UDP_CONNECTION_TTL => *id,
            _ => {
                let tx = TransactionId(random_u32());
                let mut buf = Vec::new();
                udp::Request::Connect(udp::ConnectRequest { transaction_id: tx })
                    .write_into(&mut buf);
                match self.udp_exchange(url, &sock, &buf, tx, ipv6).await? {
                    udp::Response::Connect { connection_id, .. } => {
                        self.udp_ids
                            .insert(url.to_string(), (connection_id, Instant::now()));
                        connection_id
                    }
                    other => return Err(unexpected(url, &other)),
                }
            }
        };
        let tx = TransactionId(random_u32());
        let port = Port::new(p.port)
            .ok_or_else(|| TrackerClientError::BadUrl(format!("{url}: port 0")))?;
        let req = udp::Request::Announce(udp::AnnounceRequest {
            connection_id: conn,
            transaction_id: tx,
            announce: tracker_proto::AnnounceRequest {
                info_hash: InfoHash(p.infohash),
                peer_id: PeerId(p.peer_id),
                downloaded: ByteCount(p.downloaded),
                left: ByteCount(p.left),
                uploaded: ByteCount(p.uploaded),
                event: p.event,
                ip: None,
                key: Some(PeerKey(p.key)),
                numwant: p.numwant,
                port,
                compact: true,
                no_peer_id: true,
                tracker_id: None,
            },
        });
        let mut buf = Vec::new();
        req.write_into(&mut buf);
        match self.udp_exchange(url, &sock, &buf, tx, ipv6).await {
            Ok(udp::Response::Announce(a)) => Ok(AnnounceResponse {
                peers: a
                    .peers
                    .into_iter()
                    .filter(valid_peer)
                    .take(MAX_PEERS)
                    .collect(),
                interval: Duration::from_secs(u64::from(a.interval.clamp(10, 86_400))),
                min_interval: None,
                seeders: Some(a.seeders),
                leechers: Some(a.leechers),
                warning: None,
            }),
            Ok(other) => Err(unexpected(url, &other)),
            Err(e) => {
                // A stale connection id is the usual cause of an error reply; forget it.
                self.udp_ids.remove(url);
                Err(e)
            }
        }
    }

    async fn udp_exchange(
        &self,
        url: &str,
        sock: &UdpSocket,
        req: &[u8],
        tx: TransactionId,
        ipv6: bool,
    ) -> Result<udp::Response, TrackerClientError> {
        let mut timeout = self.opts.udp_initial_timeout;
        let mut buf = vec![0u8; 8192];
        for _ in 0..self.opts.udp_attempts {
            sock.send(req)
                .await
                .map_err(|source| TrackerClientError::Io {
                    url: url.to_string(),
                    source,
                })?;
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Err(_) => break, // retransmit
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        return Err(TrackerClientError::Io {
                            url: url.to_string(),
                            source: e,
                        });
                    }
                    Ok(Err(_)) => continue,
                    Ok(Ok(n)) => n,
                };
                // Datagrams with another transaction id are stray answers to old requests.
                match udp::Response::parse(&buf[..n], ipv6) {
                    Some(udp::Response::Error(e)) if e.transaction_id == tx => {
                        return Err(TrackerClientError::Failure {
                            url: url.to_string(),
                            reason: e.message,
                        });
                    }
                    Some(r) if response_tx(&r) == tx => return Ok(r),
                    _ => continue,
                }
            }
            timeout *= 2;
        }
        Err(TrackerClientError::Timeout(url.to_string()))
    }
}

fn response_tx(r: &udp::Response) -> TransactionId {
    match r {
        udp::Response::Connect { transaction_id, .. } => *transaction_id,
        udp::Response::Announce(a) => a.transaction_id,
        udp::Response::Scrape(s) => s.transaction_id,
        udp::Response::Error(e) => e.transaction_id,
    }
}

fn unexpected(url: &str, r: &udp::Response) -> TrackerClientError {
    TrackerClientError::Malformed {
        url: url.to_string(),
        what: format!("unexpected reply {r:?}")
            .chars()
            .take(200)
            .collect(),
    }
}

fn valid_peer(a: &SocketAddr) -> bool {
    a.port() != 0 && !a.ip().is_unspecified() && !a.ip().is_multicast()
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() as u32
}

/// Parses an HTTP announce response body; returns the answer and any `tracker id`.
///
/// The body is decoded by [`tracker_proto::http::decode_announce`]; here the
/// answer is bounded for the engine: intervals clamped to 10 s..1 day,
/// unusable peers dropped, at most [`MAX_PEERS`] kept, texts cut to 500
/// characters, a non-UTF-8 `tracker id` ignored.
pub fn parse_http_response(
    url: &str,
    body: &[u8],
) -> Result<(AnnounceResponse, Option<String>), TrackerClientError> {
    use tracker_proto::http::{Reply, decode_announce};
    let r = match decode_announce(body) {
        Ok(Reply::Ok(r)) => r,
        Ok(Reply::Failure(reason)) => {
            return Err(TrackerClientError::Failure {
                url: url.to_string(),
                reason: reason.chars().take(500).collect(),
            });
        }
        Err(e) => {
            return Err(TrackerClientError::Malformed {
                url: url.to_string(),
                what: e.to_string(),
            });
        }
    };
    let secs = |s: u32| Duration::from_secs(u64::from(s.clamp(10, 86_400)));
    let mut peers: Vec<SocketAddr> = r.peers.iter().map(|p| p.addr).collect();
    peers.retain(valid_peer);
    peers.truncate(MAX_PEERS);
    let tracker_id = r.tracker_id.and_then(|id| String::from_utf8(id).ok());
    Ok((
        AnnounceResponse {
            peers,
            interval: secs(r.interval),
            min_interval: r.min_interval.map(secs),
            seeders: r.complete,
            leechers: r.incomplete,
            warning: r.warning.map(|s| s.chars().take(500).collect()),
        },
        tracker_id,
    ))
}

#[cfg(test)]
mod tests;
