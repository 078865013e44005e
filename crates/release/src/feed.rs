//! The RSS 2.0 feed that agents and stock BitTorrent clients follow.
//!
//! What clients need, measured from their source: qBittorrent takes an
//! item's `.torrent` from its `enclosure` only when the type is exactly
//! `application/x-bittorrent`, dedups items by `guid`, and stops parsing a
//! feed whose channel `lastBuildDate` did not change since its last fetch;
//! so every item has a stable `guid` (`urn:btih:<infohash hex>`) and
//! `lastBuildDate` is the time the item list last changed (not the time the
//! feed was written: a restarted hub writes the same bytes). Items carry
//! the torrent namespace used by torrent RSS feeds (`torrent:infoHash`,
//! `torrent:contentLength`, `torrent:magnetURI`, `torrent:fileName`) and,
//! for releases of an anthill hub, links to the signed manifest.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metainfo::Infohash;

use crate::xml::{element, escape};

/// MIME type of `.torrent` files, as qBittorrent requires it.
pub const TORRENT_MIME: &str = "application/x-bittorrent";
/// The torrent RSS namespace.
pub const TORRENT_NS: &str = "http://xmlns.ezrss.it/0.1/";
/// anthill's own namespace (manifest links, seq).
pub const ANTHILL_NS: &str = "urn:anthill:release:1";

/// A feed: channel fields and items, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// Channel title.
    pub title: String,
    /// Channel link (the hub's page).
    pub link: String,
    /// The feed's own URL (`atom:link rel="self"`).
    pub self_url: String,
    /// Channel description.
    pub description: String,
    /// Suggested poll interval, minutes.
    pub ttl_minutes: u32,
    /// When the item list last changed (unix seconds).
    pub last_build: i64,
    /// Items, newest first.
    pub items: Vec<FeedItem>,
}

/// One torrent in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItem {
    /// The release name.
    pub title: String,
    /// Infohash (the guid is `urn:btih:<hex>`). Always set by a hub; a
    /// plain feed from elsewhere may name only the `.torrent`, whose
    /// infohash is then known once it is fetched.
    pub infohash: Option<Infohash>,
    /// When it was published (unix seconds).
    pub published: i64,
    /// URL of the `.torrent`.
    pub torrent_url: String,
    /// Size of the `.torrent` in bytes.
    pub torrent_length: u64,
    /// The release's page.
    pub link: String,
    /// Human description.
    pub description: String,
    /// Content bytes.
    pub content_length: u64,
    /// Magnet link.
    pub magnet: String,
    /// The `.torrent`'s file name.
    pub file_name: String,
    /// The hub's sequence number (anthill releases only).
    pub seq: Option<u64>,
    /// URL of the signed manifest (anthill releases only).
    pub manifest_url: Option<String>,
    /// URL of the manifest's minisign signature (anthill releases only).
    pub signature_url: Option<String>,
}

/// An RFC 822 date as RSS wants it (`Tue, 01 Dec 2026 08:35:11 GMT`).
pub fn rfc822(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    httpdate::fmt_http_date(t)
}

/// Now, in unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Feed {
    /// The feed as RSS 2.0 XML (UTF-8).
    pub fn to_xml(&self) -> String {
        let mut o = String::with_capacity(1024 + self.items.len() * 1024);
        o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        o.push_str(
            "<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\" xmlns:torrent=\"",
        );
        o.push_str(TORRENT_NS);
        o.push_str("\" xmlns:anthill=\"");
        o.push_str(ANTHILL_NS);
        o.push_str("\">\n  <channel>\n");
        element(&mut o, 2, "title", &self.title);
        element(&mut o, 2, "link", &self.link);
        o.push_str("    <atom:link href=\"");
        escape(&self.self_url, &mut o);
        o.push_str("\" rel=\"self\" type=\"application/rss+xml\"/>\n");
        element(&mut o, 2, "description", &self.description);
        element(&mut o, 2, "generator", "anthill hub");
        element(&mut o, 2, "ttl", &self.ttl_minutes.to_string());
        element(&mut o, 2, "lastBuildDate", &rfc822(self.last_build));
        for item in &self.items {
            item.write(&mut o);
        }
        o.push_str("  </channel>\n</rss>\n");
        o
    }
}

impl FeedItem {
    fn write(&self, o: &mut String) {
        o.push_str("    <item>\n");
        element(o, 3, "title", &self.title);
        let guid = match self.infohash {
            Some(ih) => format!("urn:btih:{}", ih.to_hex()),
            None => self.torrent_url.clone(),
        };
        element(o, 3, "guid isPermaLink=\"false\"", &guid);
        element(o, 3, "pubDate", &rfc822(self.published));
        element(o, 3, "link", &self.link);
        element(o, 3, "description", &self.description);
        o.push_str("      <enclosure url=\"");
        escape(&self.torrent_url, o);
        o.push_str(&format!(
            "\" length=\"{}\" type=\"{TORRENT_MIME}\"/>\n",
            self.torrent_length
        ));
        if let Some(ih) = self.infohash {
            element(o, 3, "torrent:infoHash", &ih.to_hex());
        }
        element(
            o,
            3,
            "torrent:contentLength",
            &self.content_length.to_string(),
        );
        element(o, 3, "torrent:magnetURI", &self.magnet);
        element(o, 3, "torrent:fileName", &self.file_name);
        if let Some(seq) = self.seq {
            element(o, 3, "anthill:seq", &seq.to_string());
        }
        if let Some(u) = &self.manifest_url {
            element(o, 3, "anthill:manifest", u);
        }
        if let Some(u) = &self.signature_url {
            element(o, 3, "anthill:signature", u);
        }
        o.push_str("    </item>\n");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn feed() -> Feed {
        Feed {
            title: "anthill hub <test>".into(),
            link: "http://h:6880/".into(),
            self_url: "http://h:6880/feed.xml".into(),
            description: "releases".into(),
            ttl_minutes: 1,
            last_build: 1_764_578_111,
            items: vec![FeedItem {
                title: "app-1.0".into(),
                infohash: Some(Infohash([0xab; 20])),
                published: 1_764_578_000,
                torrent_url: "http://h:6880/torrents/app-1.0.torrent?a=1&b=2".into(),
                torrent_length: 321,
                link: "http://h:6880/releases/app-1.0".into(),
                description: "release app-1.0".into(),
                content_length: 1000,
                magnet: "magnet:?xt=urn:btih:ab&dn=app-1.0".into(),
                file_name: "app-1.0.torrent".into(),
                seq: Some(4),
                manifest_url: Some("http://h:6880/manifests/app-1.0.json".into()),
                signature_url: Some("http://h:6880/manifests/app-1.0.json.minisig".into()),
            }],
        }
    }

    #[test]
    fn writes_what_clients_look_for() {
        let x = feed().to_xml();
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\""));
        assert!(x.contains("<title>anthill hub &lt;test&gt;</title>"));
        assert!(
            x.contains("<lastBuildDate>Mon, 01 Dec 2025 08:35:11 GMT</lastBuildDate>"),
            "{x}"
        );
        assert!(x.contains(&format!(
            "<guid isPermaLink=\"false\">urn:btih:{}</guid>",
            "ab".repeat(20)
        )));
        assert!(x.contains(
            "<enclosure url=\"http://h:6880/torrents/app-1.0.torrent?a=1&amp;b=2\" length=\"321\" type=\"application/x-bittorrent\"/>"
        ));
        assert!(x.contains("<torrent:contentLength>1000</torrent:contentLength>"));
        assert!(x.contains(
            "<torrent:magnetURI>magnet:?xt=urn:btih:ab&amp;dn=app-1.0</torrent:magnetURI>"
        ));
        assert!(x.contains("<anthill:seq>4</anthill:seq>"));
        assert!(x.contains("<ttl>1</ttl>"));
    }

    #[test]
    fn same_feed_same_bytes() {
        assert_eq!(feed().to_xml(), feed().to_xml());
    }
}
