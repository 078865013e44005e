//! The tracker's configuration: a TOML file whose every table and field is
//! optional (`#[serde(default)]`) and whose unknown fields are errors, so a
//! typo never silently falls back to a default. `anthill tracker
//! --print-config` prints [`TrackerConfig::default`] as TOML.

use crate::{HumanDuration, Subnet, TrackerError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the tracker can be told.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// HTTP listener (announce, scrape, stats, metrics).
    pub http: HttpConfig,
    /// UDP listener (BEP 15).
    pub udp: UdpConfig,
    /// Announce intervals and response sizes.
    pub announce: AnnounceConfig,
    /// Swarm store limits and peer selection.
    pub swarm: SwarmConfig,
    /// Which torrents are served.
    pub access: AccessConfig,
    /// Per-IP request rate limiting.
    pub rate_limit: RateLimitConfig,
}

impl TrackerConfig {
    /// Parses a TOML config file's text.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The config as TOML with a comment explaining every setting (for
    /// `--print-config`); it parses back to the same config.
    pub fn to_toml(&self) -> String {
        crate::config_docs::documented(self)
    }

    /// Refuses settings that cannot work or would not do what they say.
    /// [`crate::Tracker::new`] calls it; a front end can call it earlier.
    pub fn validate(&self) -> Result<(), TrackerError> {
        let invalid = |m: String| Err(TrackerError::InvalidConfig(m));
        let interval = self.announce.interval.get();
        if interval < Duration::from_secs(1) {
            return invalid(format!(
                "announce.interval is {}; it must be at least 1s (clients announce this often)",
                self.announce.interval
            ));
        }
        if self.announce.max_numwant == 0 {
            return invalid("announce.max_numwant must be at least 1".into());
        }
        for (key, n) in [
            ("http.workers", self.http.workers),
            ("udp.workers", self.udp.workers),
        ] {
            if n > MAX_WORKERS {
                return invalid(format!(
                    "{key} is {n}; at most {MAX_WORKERS} worker threads (0 means one per CPU)"
                ));
            }
        }
        if self.access.mode == AccessMode::Open && self.access.allow_list.is_some() {
            return invalid(
                "access.allow_list is set but access.mode is open, which serves every \
                 infohash; set access.mode = \"closed\" to apply the list"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Most worker threads per protocol: far more than cores on any machine;
/// a typo such as 100000 would exhaust the process's thread limit.
pub const MAX_WORKERS: usize = 1024;

/// The HTTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Serve HTTP at all.
    pub enabled: bool,
    /// Address to listen on, e.g. `"0.0.0.0:6969"` or `"[::]:6969"`.
    pub listen: SocketAddr,
    /// Threads serving HTTP, each with its own event loop; 0 means one per CPU.
    pub workers: usize,
    /// Largest request head accepted, in bytes; longer requests get 431 and are closed.
    pub max_request_bytes: usize,
    /// Time allowed to receive one request head.
    pub request_timeout: HumanDuration,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive_timeout: HumanDuration,
    /// Most open connections; more are closed on accept.
    pub max_connections: usize,
    /// Header carrying the client address when behind a reverse proxy, e.g.
    /// `"X-Real-IP"`. Only set it if the proxy overwrites the header: it is trusted.
    pub client_ip_header: Option<String>,
    /// Answer a scrape without `info_hash` with every torrent (BEP 48 full scrape).
    pub full_scrape: bool,
    /// Serve `GET /stats` (JSON) and `GET /metrics` (Prometheus).
    pub stats: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([0, 0, 0, 0], 6969)),
            workers: 0,
            max_request_bytes: 4096,
            request_timeout: HumanDuration::secs(10),
            keep_alive_timeout: HumanDuration::secs(30),
            max_connections: 8192,
            client_ip_header: None,
            full_scrape: false,
            stats: true,
        }
    }
}

/// The UDP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UdpConfig {
    /// Serve UDP at all.
    pub enabled: bool,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Threads serving UDP, each with its own `SO_REUSEPORT` socket on the
    /// port; 0 means one per CPU.
    pub workers: usize,
    /// Socket receive buffer in bytes (the kernel may cap it).
    pub receive_buffer_bytes: usize,
    /// Largest response datagram in bytes; announce peers are cut to fit.
    pub max_response_bytes: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([0, 0, 0, 0], 6969)),
            workers: 0,
            receive_buffer_bytes: 8 << 20,
            max_response_bytes: 1220,
        }
    }
}

/// Announce timing and response sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnounceConfig {
    /// Interval between regular announces that clients are told.
    pub interval: HumanDuration,
    /// Shortest interval clients are told to respect (`min interval`).
    pub min_interval: HumanDuration,
    /// A peer not heard from for this many intervals is dropped.
    pub expire_after_intervals: u32,
    /// Peers returned when the client does not say (`numwant`).
    pub default_numwant: u32,
    /// Most peers returned, whatever `numwant` says.
    pub max_numwant: u32,
    /// The `tracker id` sent in every HTTP response.
    pub tracker_id: String,
}

impl Default for AnnounceConfig {
    fn default() -> Self {
        Self {
            interval: HumanDuration::secs(120),
            min_interval: HumanDuration::secs(30),
            expire_after_intervals: 3,
            default_numwant: 50,
            max_numwant: 200,
            tracker_id: "anthill".to_owned(),
        }
    }
}

/// Store limits and peer selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwarmConfig {
    /// Most torrents tracked; announces for new ones fail beyond it.
    pub max_torrents: usize,
    /// Most peers stored per torrent; new peers beyond it get peers but are not stored.
    pub max_peers_per_torrent: usize,
    /// Most peers stored in total.
    pub max_peers: usize,
    /// How often expired peers are swept out.
    pub cleanup_interval: HumanDuration,
    /// Put peers in the requester's IPv4 subnet of this prefix length first
    /// (e.g. 24 for a rack's /24).
    pub prefer_subnet_v4: Option<u8>,
    /// Same for IPv6 (e.g. 64).
    pub prefer_subnet_v6: Option<u8>,
    /// Locality groups: a requester inside one of these networks gets peers
    /// from the same network first. Checked before the prefix rules.
    pub locality_groups: Vec<Subnet>,
    /// Most stored peers looked at to answer one announce when locality is on.
    pub max_scan: usize,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        Self {
            max_torrents: 100_000,
            max_peers_per_torrent: 100_000,
            max_peers: 4_000_000,
            cleanup_interval: HumanDuration::secs(30),
            prefer_subnet_v4: None,
            prefer_subnet_v6: None,
            locality_groups: Vec::new(),
            max_scan: 4096,
        }
    }
}

/// Open or closed tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    /// Any infohash is tracked.
    #[default]
    Open,
    /// Only infohashes in the allow list (file and in-process API).
    Closed,
}

/// Which torrents are served and which client claims are believed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// `open` or `closed`.
    pub mode: AccessMode,
    /// Allow-list file: one 40-digit hex infohash per line, `#` comments.
    /// Reloaded when it changes.
    pub allow_list: Option<PathBuf>,
    /// How often the allow-list file is checked for changes.
    pub reload_interval: HumanDuration,
    /// Use the address a client claims (`ip=`, BEP 15 IP field) instead of
    /// the packet's source. Only safe on a trusted network.
    pub trust_ip_param: bool,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            mode: AccessMode::Open,
            allow_list: None,
            reload_interval: HumanDuration::secs(5),
            trust_ip_param: false,
        }
    }
}

/// Token bucket per client IP (per /64 for IPv6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Limit at all.
    pub enabled: bool,
    /// Sustained requests per second per address.
    pub per_second: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
    /// Most addresses tracked at once (bounds memory); beyond it requests are allowed.
    pub max_tracked: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // A fleet of 10 000 agents behind one NAT announcing every 2 minutes
        // averages ~85 requests/s, and a restart of all of them at once is a
        // burst of 10 000.
        Self {
            enabled: true,
            per_second: 500,
            burst: 20_000,
            max_tracked: 200_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_through_toml() {
        let c = TrackerConfig::default();
        assert_eq!(TrackerConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn partial_file() {
        let c = TrackerConfig::from_toml(
            "[announce]\ninterval = \"5m\"\n[access]\nmode = \"closed\"\n\
             [swarm]\nlocality_groups = [\"10.0.0.0/8\"]\n",
        )
        .unwrap();
        assert_eq!(c.announce.interval, HumanDuration::secs(300));
        assert_eq!(c.access.mode, AccessMode::Closed);
        assert_eq!(c.swarm.locality_groups.len(), 1);
        assert_eq!(c.http, HttpConfig::default());
    }

    #[test]
    fn unknown_field_is_an_error() {
        let e = TrackerConfig::from_toml("[http]\nlisten_on = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("listen_on"), "{e}");
    }

    #[test]
    fn validate_refuses_what_cannot_work() {
        assert!(TrackerConfig::default().validate().is_ok());
        let bad = |f: &dyn Fn(&mut TrackerConfig), want: &str| {
            let mut c = TrackerConfig::default();
            f(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} in {e}");
        };
        bad(
            &|c| c.announce.interval = "0s".parse().unwrap(),
            "announce.interval is 0s",
        );
        bad(
            &|c| c.announce.interval = "500ms".parse().unwrap(),
            "at least 1s",
        );
        bad(&|c| c.announce.max_numwant = 0, "max_numwant");
        bad(&|c| c.udp.workers = 100_000, "udp.workers is 100000");
        bad(&|c| c.http.workers = MAX_WORKERS + 1, "http.workers");
        bad(
            &|c| c.access.allow_list = Some("/x".into()),
            "access.mode is open",
        );
        let mut c = TrackerConfig::default();
        c.udp.workers = MAX_WORKERS;
        c.access.mode = AccessMode::Closed;
        c.access.allow_list = Some("/x".into());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_duration_is_an_error() {
        assert!(TrackerConfig::from_toml("[announce]\ninterval = \"5\"\n").is_err());
    }
}
