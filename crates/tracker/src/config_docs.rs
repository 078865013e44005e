//! `--print-config` output: the effective configuration as TOML with every
//! setting explained, and optional settings shown commented out with an
//! example. The table below must name every field (a test checks it).

use crate::TrackerConfig;
use std::fmt::Write;

/// (section, key, explanation, example for an unset optional value)
const DOCS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "http",
        "enabled",
        "Serve HTTP announces, scrapes, /stats and /metrics.",
        None,
    ),
    (
        "http",
        "listen",
        "Address to listen on, e.g. \"0.0.0.0:6969\" or \"[::]:6969\".",
        None,
    ),
    (
        "http",
        "workers",
        "Threads serving HTTP, each with its own event loop; 0 = one per CPU.",
        None,
    ),
    (
        "http",
        "max_request_bytes",
        "Largest request head in bytes; longer requests get 431.",
        None,
    ),
    (
        "http",
        "request_timeout",
        "Time allowed for a whole request head to arrive.",
        None,
    ),
    (
        "http",
        "keep_alive_timeout",
        "How long an idle keep-alive connection stays open.",
        None,
    ),
    (
        "http",
        "max_connections",
        "Most open connections; more are closed on accept.",
        None,
    ),
    (
        "http",
        "client_ip_header",
        "Header with the client address behind a reverse proxy (trusted!).",
        Some("\"X-Real-IP\""),
    ),
    (
        "http",
        "full_scrape",
        "Answer /scrape without info_hash with every torrent (BEP 48).",
        None,
    ),
    (
        "http",
        "stats",
        "Serve GET /stats (JSON) and GET /metrics (Prometheus).",
        None,
    ),
    (
        "udp",
        "enabled",
        "Serve BEP 15 UDP announces and scrapes.",
        None,
    ),
    ("udp", "listen", "Address to listen on.", None),
    (
        "udp",
        "workers",
        "Threads serving UDP, each with its own socket on the port; 0 = one per CPU.",
        None,
    ),
    (
        "udp",
        "receive_buffer_bytes",
        "Socket receive and send buffer in bytes (the kernel may cap it).",
        None,
    ),
    (
        "udp",
        "max_response_bytes",
        "Largest response datagram; announce peers are cut to fit.",
        None,
    ),
    (
        "announce",
        "interval",
        "Interval between regular announces told to clients (\"30s\", \"2m\", \"1h\").",
        None,
    ),
    (
        "announce",
        "min_interval",
        "Shortest interval clients must respect (min interval).",
        None,
    ),
    (
        "announce",
        "expire_after_intervals",
        "Drop a peer not heard from for this many intervals.",
        None,
    ),
    (
        "announce",
        "default_numwant",
        "Peers returned when the client does not say how many.",
        None,
    ),
    (
        "announce",
        "max_numwant",
        "Most peers returned per announce.",
        None,
    ),
    (
        "announce",
        "tracker_id",
        "The `tracker id` sent in HTTP responses.",
        None,
    ),
    (
        "swarm",
        "max_torrents",
        "Most torrents tracked; announces for new ones fail beyond it.",
        None,
    ),
    (
        "swarm",
        "max_peers_per_torrent",
        "Most peers stored per torrent; more still get peers but are not stored.",
        None,
    ),
    (
        "swarm",
        "max_peers",
        "Most peers stored in total (about 140 bytes each).",
        None,
    ),
    (
        "swarm",
        "cleanup_interval",
        "How often expired peers are swept out.",
        None,
    ),
    (
        "swarm",
        "prefer_subnet_v4",
        "Return peers in the requester's IPv4 /N first (e.g. 24 for a rack).",
        Some("24"),
    ),
    (
        "swarm",
        "prefer_subnet_v6",
        "Same for IPv6 (e.g. 64).",
        Some("64"),
    ),
    (
        "swarm",
        "locality_groups",
        "Networks whose members get each other first; checked before the prefixes.",
        None,
    ),
    (
        "swarm",
        "max_scan",
        "Most stored peers examined per announce when locality is on.",
        None,
    ),
    (
        "access",
        "mode",
        "\"open\": any infohash; \"closed\": only those in the allow list.",
        None,
    ),
    (
        "access",
        "allow_list",
        "Allow-list file: one hex infohash per line, # comments; reloaded on change.",
        Some("\"/etc/anthill/allow-list\""),
    ),
    (
        "access",
        "reload_interval",
        "How often the allow-list file is checked for changes.",
        None,
    ),
    (
        "access",
        "trust_ip_param",
        "Use the address clients claim (ip=, BEP 15 IP field). Trusted networks only.",
        None,
    ),
    (
        "rate_limit",
        "enabled",
        "Limit requests per client address (IPv6: per /64).",
        None,
    ),
    (
        "rate_limit",
        "per_second",
        "Sustained requests per second per address.",
        None,
    ),
    ("rate_limit", "burst", "Requests allowed in a burst.", None),
    (
        "rate_limit",
        "max_tracked",
        "Most addresses tracked at once; beyond it requests pass untracked.",
        None,
    ),
];

const SECTIONS: &[&str] = &["http", "udp", "announce", "swarm", "access", "rate_limit"];

fn section_toml(config: &TrackerConfig, section: &str) -> String {
    let r = match section {
        "http" => toml::to_string(&config.http),
        "udp" => toml::to_string(&config.udp),
        "announce" => toml::to_string(&config.announce),
        "swarm" => toml::to_string(&config.swarm),
        "access" => toml::to_string(&config.access),
        _ => toml::to_string(&config.rate_limit),
    };
    r.unwrap_or_default()
}

/// `config` as TOML with a comment above every setting.
pub(crate) fn documented(config: &TrackerConfig) -> String {
    let mut out = String::from(
        "# anthill tracker configuration (anthill tracker --config FILE).\n\
         # Every setting is optional; flags and ANTHILL_TRACKER_* variables override this file.\n",
    );
    for section in SECTIONS {
        let rendered = section_toml(config, section);
        let _ = write!(out, "\n[{section}]\n");
        for (s, key, doc, example) in DOCS {
            if s != section {
                continue;
            }
            let _ = writeln!(out, "# {doc}");
            let prefix = format!("{key} = ");
            match rendered.lines().find(|l| l.starts_with(&prefix)) {
                Some(line) => {
                    let _ = writeln!(out, "{line}");
                }
                None => {
                    let _ = writeln!(out, "# {key} = {}", example.unwrap_or("..."));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_set() -> TrackerConfig {
        let mut c = TrackerConfig::default();
        c.http.client_ip_header = Some("X-Real-IP".into());
        c.swarm.prefer_subnet_v4 = Some(24);
        c.swarm.prefer_subnet_v6 = Some(64);
        c.access.allow_list = Some("/x".into());
        c
    }

    #[test]
    fn every_field_is_documented() {
        let c = all_set();
        for section in SECTIONS {
            for line in section_toml(&c, section).lines() {
                let Some((key, _)) = line.split_once(" = ") else {
                    continue;
                };
                assert!(
                    DOCS.iter().any(|(s, k, _, _)| s == section && *k == key),
                    "[{section}] {key} has no documentation in config_docs.rs"
                );
            }
        }
    }

    #[test]
    fn documented_output_parses_back() {
        for c in [TrackerConfig::default(), all_set()] {
            let text = documented(&c);
            assert_eq!(TrackerConfig::from_toml(&text).unwrap(), c, "{text}");
        }
    }

    #[test]
    fn unset_options_are_commented_examples() {
        let text = documented(&TrackerConfig::default());
        assert!(
            text.contains("# client_ip_header = \"X-Real-IP\""),
            "{text}"
        );
        assert!(text.contains("# prefer_subnet_v4 = 24"), "{text}");
    }
}
