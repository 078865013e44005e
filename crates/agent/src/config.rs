//! The agent's configuration: a TOML file whose every field is optional
//! (`#[serde(default)]`) and whose unknown fields are errors, then flags and
//! `ANTHILL_AGENT_*` variables on top (the CLI's job). `anthill agent
//! --print-config` prints [`AgentConfig::to_toml`], each setting with its
//! documentation from [`DOCS`] (a test checks the two agree).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything the agent can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Feed URLs (mirrors or distinct feeds; all are followed).
    pub feeds: Vec<String>,
    /// The agent's directory.
    pub dir: PathBuf,
    /// Trusted hub public keys: base64 or key files.
    pub trust: Vec<String>,
    /// Extra CA certificate files (PEM) trusted for https, besides the built-in roots.
    pub ca: Vec<PathBuf>,
    /// Shell command run after each switch of `current`.
    pub hook: Option<String>,
    /// The hook is killed after this long.
    pub hook_timeout_secs: f64,
    /// Metrics and status listener.
    pub listen: Option<SocketAddr>,
    /// This agent's name.
    pub name: Option<String>,
    /// Installed releases kept.
    pub keep: usize,
    /// On the very first start take every release, oldest first.
    pub backfill: bool,
    /// Feed poll interval.
    pub poll_interval_secs: f64,
    /// Longest wait between retries of a failing feed, event stream or download.
    pub max_backoff_secs: f64,
    /// Subscribe to the hub's event stream.
    pub events: bool,
    /// How long metadata is awaited from peers before the `.torrent` is fetched.
    pub metadata_timeout_secs: f64,
    /// Time limit of one HTTP fetch.
    pub fetch_timeout_secs: f64,
    /// A download without a newly verified piece for this long fails (retried later).
    pub stall_timeout_secs: f64,
    /// Where the engine accepts peers.
    pub peer_listen: Vec<SocketAddr>,
    /// Download limit, bytes/s (0: none).
    pub max_download_rate: u64,
    /// Upload limit, bytes/s (0: none).
    pub max_upload_rate: u64,
    /// TCP congestion control of peer connections (`system`: the kernel's).
    pub tcp_congestion: String,
    /// Report to the hub.
    pub report: bool,
    /// Where reports go (default: `api/agents/report` next to each feed).
    pub report_urls: Vec<String>,
    /// Report at least this often (more often while something changes).
    pub report_interval_secs: f64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            feeds: Vec::new(),
            dir: PathBuf::from("agent"),
            trust: Vec::new(),
            ca: Vec::new(),
            hook: None,
            hook_timeout_secs: 300.0,
            listen: None,
            name: None,
            keep: 3,
            backfill: false,
            poll_interval_secs: 60.0,
            max_backoff_secs: 300.0,
            events: true,
            metadata_timeout_secs: 5.0,
            fetch_timeout_secs: 30.0,
            stall_timeout_secs: 600.0,
            peer_listen: vec![SocketAddr::from(([0, 0, 0, 0], 6881))],
            max_download_rate: 0,
            max_upload_rate: 0,
            tcp_congestion: "cubic".into(),
            report: true,
            report_urls: Vec::new(),
            report_interval_secs: 60.0,
        }
    }
}

/// One line of documentation per setting, in the order printed.
pub const DOCS: &[(&str, &str)] = &[
    (
        "feeds",
        "Feed URLs to follow (RSS of an anthill hub, or any RSS feed of torrents). All are polled; mirrors of one hub give the same releases, which are installed once.",
    ),
    (
        "dir",
        "The agent's directory: agent.db, staging/ (downloads in progress), releases/ (complete, verified releases), current (symlink to the active release).",
    ),
    (
        "trust",
        "Trusted hub public keys, each the base64 line or a minisign .pub file. With any, a release is installed only with a valid manifest signature by one of them, a higher seq than any accepted before, and a valid, unexpired signed index. Without, every release is installed unsigned (a warning at start).",
    ),
    (
        "ca",
        "PEM files of private certificate authorities (each with one or more certificates), trusted for https feeds, torrents, manifests, index and reports in addition to the built-in roots. A file that cannot be read or holds no certificate stops the agent at start.",
    ),
    (
        "hook",
        "Shell command (sh -c) run after each switch of current, with ANTHILL_RELEASE, ANTHILL_RELEASE_PATH, ANTHILL_INFOHASH and ANTHILL_PREVIOUS_RELEASE. Run at most once per install.",
    ),
    (
        "hook_timeout_secs",
        "The hook is killed after this many seconds.",
    ),
    (
        "listen",
        "Address for GET /metrics (Prometheus) and GET /status (JSON). Unset: no listener.",
    ),
    ("name", "This agent's name (default: the host name)."),
    (
        "keep",
        "Installed releases kept on disk and seeded; older ones are deleted (never current or the one before it).",
    ),
    (
        "backfill",
        "On the very first start, install every release in the feeds, oldest first (default: only the newest).",
    ),
    (
        "poll_interval_secs",
        "Seconds between feed polls (each varied by +-20 %). A hub's event stream makes new releases known within a second in between.",
    ),
    (
        "max_backoff_secs",
        "Longest wait between retries of a failing feed, event stream or download (the wait doubles from a second or so up to this).",
    ),
    (
        "events",
        "Subscribe to the hub's event stream (/api/events beside the feed) to learn of releases at once.",
    ),
    (
        "metadata_timeout_secs",
        "Seconds to wait for a torrent's metadata from peers (BEP 9) before fetching the .torrent from the feed's server.",
    ),
    (
        "fetch_timeout_secs",
        "Time limit in seconds of one HTTP fetch (feed, .torrent, manifest, index).",
    ),
    (
        "stall_timeout_secs",
        "A download during which no piece is verified for this many seconds fails and is retried later with backoff, so that newer releases are not held up behind one nobody serves.",
    ),
    (
        "peer_listen",
        "Addresses where the engine accepts BitTorrent peers (a taken port falls back to a free one).",
    ),
    (
        "max_download_rate",
        "Download limit of the whole engine in bytes per second (0: unlimited).",
    ),
    (
        "max_upload_rate",
        "Upload limit of the whole engine in bytes per second (0: unlimited); seeding to other agents is what spares the hub.",
    ),
    (
        "tcp_congestion",
        "TCP congestion control of peer connections (Linux), or \"system\" for the kernel's default. Loss-based control (cubic) keeps a swarm's many flows per link from overflowing shallow queues, where BBR v1 retransmits much.",
    ),
    (
        "report",
        "Report this agent's state to the hub (POST api/agents/report), so that its /api/agents, /metrics and dashboard show the rollout.",
    ),
    (
        "report_urls",
        "Where reports go; empty: api/agents/report next to each feed URL. A URL that answers with an error is retried with backoff.",
    ),
    (
        "report_interval_secs",
        "A report goes out at least this often (every 2 s while something changes); the hub marks agents silent for 3 minutes as stale.",
    ),
];

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

impl AgentConfig {
    /// Parses a TOML config file's text.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks values that would make the agent misbehave.
    pub fn validate(&self) -> Result<(), String> {
        if self.feeds.is_empty() {
            return Err("give at least one feed: --feed URL (or `feeds` in --config)".into());
        }
        for f in &self.feeds {
            if !(f.starts_with("http://") || f.starts_with("https://")) {
                return Err(format!("feed {f:?} is not an http:// or https:// URL"));
            }
        }
        if self.keep < 2 {
            return Err("keep must be at least 2 (current and the one before it)".into());
        }
        for (name, v, min) in [
            ("poll_interval_secs", self.poll_interval_secs, 0.05),
            ("max_backoff_secs", self.max_backoff_secs, 0.05),
            ("hook_timeout_secs", self.hook_timeout_secs, 0.01),
            ("metadata_timeout_secs", self.metadata_timeout_secs, 0.0),
            ("fetch_timeout_secs", self.fetch_timeout_secs, 0.1),
            ("stall_timeout_secs", self.stall_timeout_secs, 0.1),
            ("report_interval_secs", self.report_interval_secs, 1.0),
        ] {
            if !v.is_finite() || v < min {
                return Err(format!(
                    "{name} must be a number of seconds of at least {min}"
                ));
            }
        }
        Ok(())
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        secs(self.poll_interval_secs)
    }
    /// The backoff cap.
    pub fn max_backoff(&self) -> Duration {
        secs(self.max_backoff_secs)
    }
    /// The hook's time limit.
    pub fn hook_timeout(&self) -> Duration {
        secs(self.hook_timeout_secs)
    }
    /// The wait for metadata from peers.
    pub fn metadata_timeout(&self) -> Duration {
        secs(self.metadata_timeout_secs)
    }
    /// The longest time between two reports.
    pub fn report_interval(&self) -> Duration {
        secs(self.report_interval_secs)
    }
    /// How long a download may go without a verified piece.
    pub fn stall_timeout(&self) -> Duration {
        secs(self.stall_timeout_secs)
    }
    /// One fetch's time limit.
    pub fn fetch_timeout(&self) -> Duration {
        secs(self.fetch_timeout_secs)
    }

    /// The config as TOML, every setting preceded by its documentation; it
    /// parses back to the same config. Unset options are shown as comments.
    pub fn to_toml(&self) -> String {
        let table = toml::Table::try_from(self).unwrap_or_default();
        let mut out = String::from("# anthill agent configuration (anthill agent --config FILE)\n");
        for (key, doc) in DOCS {
            out.push('\n');
            for line in wrap(doc, 76) {
                out.push_str("# ");
                out.push_str(&line);
                out.push('\n');
            }
            match table.get(*key) {
                Some(v) => {
                    let mut one = toml::Table::new();
                    one.insert((*key).to_string(), v.clone());
                    out.push_str(&toml::to_string(&one).unwrap_or_default());
                }
                None => out.push_str(&format!("# {key} = \n")),
            }
        }
        out
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().map_or(0, |l| l.len());
        if last > 0 && last + 1 + word.len() > width {
            lines.push(String::new());
        }
        if let Some(l) = lines.last_mut() {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_config_parses_back_and_documents_every_field() {
        let mut c = AgentConfig::default();
        assert_eq!(AgentConfig::from_toml(&c.to_toml()).unwrap(), c);
        c.hook = Some("echo hi".into());
        c.listen = Some("127.0.0.1:9100".parse().unwrap());
        c.name = Some("web-1".into());
        c.feeds = vec!["http://hub:6880/feed.xml".into()];
        c.trust = vec!["RWQ...".into()];
        c.ca = vec!["/etc/anthill/ca.pem".into()];
        assert_eq!(AgentConfig::from_toml(&c.to_toml()).unwrap(), c);
        let table = toml::Table::try_from(&c).unwrap();
        for k in table.keys() {
            assert!(DOCS.iter().any(|(d, _)| d == k), "undocumented setting {k}");
        }
        assert_eq!(
            table.len(),
            DOCS.len(),
            "a documented setting does not exist"
        );
    }

    #[test]
    fn unknown_and_bad_settings_are_errors() {
        assert!(AgentConfig::from_toml("kep = 3").is_err());
        let mut c = AgentConfig::from_toml("keep = 4\nfeeds = [\"http://h/feed.xml\"]").unwrap();
        assert_eq!(c.keep, 4);
        assert_eq!(c.validate(), Ok(()));
        c.keep = 1;
        assert!(c.validate().is_err());
        c.keep = 3;
        c.poll_interval_secs = f64::NAN;
        assert!(c.validate().is_err());
        c.poll_interval_secs = 1.0;
        c.feeds = vec!["ftp://x".into()];
        assert!(c.validate().is_err());
        c.feeds.clear();
        assert!(c.validate().is_err());
    }
}
