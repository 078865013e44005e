//! The hub's configuration: a TOML file whose every field is optional
//! (`#[serde(default)]`) and whose unknown fields are errors, then flags and
//! `ANTHILL_HUB_*` variables on top (the CLI's job). `anthill hub
//! --print-config` prints [`HubConfig::to_toml`]: the effective settings,
//! each with its documentation ([`DOCS`], checked against the fields by a
//! test so the two cannot drift).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracker::HumanDuration;

/// Everything the hub can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// The hub's directory (created on first start).
    pub dir: PathBuf,
    /// HTTP listener (feed, API, web seed, tracker); the UDP tracker uses the same port.
    pub listen: SocketAddr,
    /// Base URL written into torrents and the feed.
    pub public_url: Option<String>,
    /// Where the hub's seeder accepts BitTorrent peers.
    pub peer_listen: Vec<SocketAddr>,
    /// An entry in incoming/ is published once it has not changed for this long.
    pub settle: HumanDuration,
    /// How often incoming/ and torrents/ are rescanned besides file events.
    pub rescan_interval: HumanDuration,
    /// Newest releases kept published and seeded; older ones are deleted.
    pub keep: usize,
    /// Most items in the feed.
    pub feed_items: usize,
    /// Poll interval suggested by the feed's `ttl`.
    pub feed_ttl: HumanDuration,
    /// Feed and page title.
    pub title: String,
    /// Announce interval told to peers by the embedded tracker.
    pub announce_interval: HumanDuration,
    /// BEP 16 super-seeding of new releases (the origin sends each piece as few times as possible).
    pub super_seed: bool,
    /// Files smaller than this fraction of the piece length are packed, not aligned (0 aligns every file).
    pub pack_below_fraction: f64,
    /// An agent that has not reported for this long is shown as stale.
    pub agent_stale_after: HumanDuration,
    /// Upload limit of the hub's seeder, bytes/s (0: none).
    pub max_upload_rate: u64,
    /// TCP congestion control of peer connections (`system`: the kernel's).
    pub tcp_congestion: String,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("hub"),
            listen: SocketAddr::from(([0, 0, 0, 0], 6880)),
            public_url: None,
            peer_listen: vec![SocketAddr::from(([0, 0, 0, 0], 6881))],
            settle: HumanDuration::secs(2),
            rescan_interval: HumanDuration::secs(5),
            keep: 10,
            feed_items: 50,
            feed_ttl: HumanDuration::secs(60),
            title: "anthill hub".into(),
            announce_interval: HumanDuration::secs(60),
            super_seed: true,
            pack_below_fraction: 0.0,
            agent_stale_after: HumanDuration::secs(180),
            max_upload_rate: 0,
            tcp_congestion: "cubic".into(),
        }
    }
}

/// One line of documentation per setting, in the order printed.
pub const DOCS: &[(&str, &str)] = &[
    (
        "dir",
        "The hub's directory: incoming/, releases/, torrents/, rejected/, keys/, public/ and hub.db (created on first start).",
    ),
    (
        "listen",
        "HTTP listener: feed, .torrent files, manifests, web seed, tracker /announce and /scrape, API, metrics, dashboard. The UDP tracker listens on the same port.",
    ),
    (
        "public_url",
        "Base URL written into torrents and the feed, e.g. \"http://hub.example:6880\" (for a hub behind NAT or a proxy). Default: built from `listen`, with 0.0.0.0 replaced by this host's address.",
    ),
    (
        "peer_listen",
        "Addresses where the hub's seeder accepts BitTorrent peers (a taken port falls back to a free one).",
    ),
    (
        "settle",
        "An entry dropped in incoming/ becomes a release once nothing in it changed for this long (`anthill publish` skips the wait).",
    ),
    (
        "rescan_interval",
        "How often incoming/ and torrents/ are rescanned in addition to file-system events (inotify misses events on some file systems).",
    ),
    (
        "keep",
        "Number of newest releases kept published and seeded; older ones leave the feed and are deleted from releases/.",
    ),
    ("feed_items", "Most items in /feed.xml, newest first."),
    (
        "feed_ttl",
        "Poll interval suggested to feed readers (the feed's <ttl>, rounded up to whole minutes).",
    ),
    ("title", "Title of the feed and of the hub's page."),
    (
        "announce_interval",
        "Announce interval the embedded tracker tells peers.",
    ),
    (
        "super_seed",
        "BEP 16 super-seeding: the origin sends each piece out as few times as possible.",
    ),
    (
        "agent_stale_after",
        "An agent that has not reported for this long is shown as stale (agents report every minute when idle).",
    ),
    (
        "max_upload_rate",
        "Upload limit of the hub's BitTorrent seeder in bytes per second (0: unlimited); the web seed is only used by agents that peers do not serve.",
    ),
    (
        "tcp_congestion",
        "TCP congestion control of peer connections (Linux), or \"system\" for the kernel's default. Loss-based control (cubic) keeps a swarm's many flows per link from overflowing shallow queues, where BBR v1 retransmits much.",
    ),
    (
        "pack_below_fraction",
        "Files smaller than this fraction of the piece length are packed together instead of each starting on a piece boundary (BEP 47 alignment, which lets unchanged files keep their piece hashes from release to release). 0 aligns every file.",
    ),
];

impl HubConfig {
    /// Parses a TOML config file's text.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The config as TOML, every setting preceded by its documentation; it
    /// parses back to the same config. An unset `public_url` is shown as a
    /// comment.
    pub fn to_toml(&self) -> String {
        let table = toml::Table::try_from(self).unwrap_or_default();
        let mut out = String::from("# anthill hub configuration (anthill hub --config FILE)\n");
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
        let c = HubConfig::default();
        let text = c.to_toml();
        assert_eq!(HubConfig::from_toml(&text).unwrap(), c);
        let mut with_url = c;
        with_url.public_url = Some("http://h:1".into());
        assert_eq!(HubConfig::from_toml(&with_url.to_toml()).unwrap(), with_url);
        // every serialized key has a doc line, and every doc names a field
        let table = toml::Table::try_from(&with_url).unwrap();
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
    fn unknown_settings_are_errors() {
        assert!(HubConfig::from_toml("kep = 3").is_err());
        assert_eq!(HubConfig::from_toml("keep = 3").unwrap().keep, 3);
        assert_eq!(
            HubConfig::from_toml("settle = \"500ms\"").unwrap().settle,
            HumanDuration(std::time::Duration::from_millis(500))
        );
    }
}
