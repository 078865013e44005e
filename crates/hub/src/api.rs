//! What the JSON API and the event stream say: serializable snapshots built
//! from the core's state, never logic of their own.

use metainfo::{Infohash, Magnet, Metainfo};
use serde::Serialize;

use crate::Urls;
use crate::public::ForeignTorrent;
use crate::store::{Rejection, ReleaseRecord};

/// One published release, as `/api/releases` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseView {
    /// Sequence number.
    pub seq: u64,
    /// Name.
    pub name: String,
    /// Infohash, hex.
    #[serde(serialize_with = "hex")]
    pub infohash: Infohash,
    /// Content bytes.
    pub total_size: u64,
    /// Files.
    pub file_count: u64,
    /// Piece length.
    pub piece_length: u64,
    /// Pieces.
    pub pieces: u64,
    /// Unix seconds.
    pub published_at: i64,
    /// `.torrent` URL.
    pub torrent_url: String,
    /// `.torrent` size.
    pub torrent_size: u64,
    /// Manifest URL.
    pub manifest_url: String,
    /// Signature URL.
    pub signature_url: String,
    /// Magnet link.
    pub magnet: String,
    /// The manifest and its signature are in place.
    pub signed: bool,
    /// Seeder state, if it is being seeded.
    pub seeding: Option<SeedView>,
}

/// The hub's seeder for one release.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedView {
    /// Bytes uploaded since the hub started.
    pub uploaded: u64,
    /// Connected peers.
    pub peers: usize,
    /// Upload rate, bytes/s.
    pub upload_rate: u64,
}

impl ReleaseView {
    /// The view of a record.
    pub fn new(r: &ReleaseRecord, urls: &Urls, seeding: Option<SeedView>) -> Self {
        Self {
            seq: r.seq,
            name: r.name.to_string(),
            infohash: r.infohash,
            total_size: r.total_size,
            file_count: r.file_count,
            piece_length: r.piece_length,
            pieces: r.pieces,
            published_at: r.published_at,
            torrent_url: urls.torrent(&r.name),
            torrent_size: r.torrent.len() as u64,
            manifest_url: urls.manifest(&r.name),
            signature_url: urls.signature(&r.name),
            magnet: Metainfo::from_bytes(&r.torrent)
                .map(|m| Magnet::from_metainfo(&m).to_string())
                .unwrap_or_default(),
            signed: !r.signature.is_empty() && !r.manifest.is_empty(),
            seeding,
        }
    }
}

/// `/api/releases`.
#[derive(Debug, Clone, Serialize)]
pub struct ReleasesView {
    /// The hub's key id.
    pub hub: String,
    /// Its public key (base64, as `minisign -P` and `anthill agent --trust` take it).
    pub public_key: String,
    /// The feed's URL.
    pub feed_url: String,
    /// Published releases, newest first.
    pub releases: Vec<ReleaseView>,
    /// Latest rejections, newest first.
    pub rejected: Vec<Rejection>,
    /// Rejections ever recorded.
    pub rejected_total: u64,
    /// Torrents from `torrents/`.
    pub foreign: Vec<ForeignTorrent>,
}

/// A publish-pipeline event, sent on `/api/events`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HubEvent {
    /// Sent first on every connection.
    Hello {
        /// Hub key id.
        hub: String,
        /// Highest seq published (0 if none).
        newest_seq: u64,
    },
    /// A release was published.
    Published(ReleaseView),
    /// An entry was refused.
    Rejected(Rejection),
    /// A release left the feed (past `keep`).
    Retired {
        /// Its seq.
        seq: u64,
        /// Its name.
        name: String,
        /// Its infohash.
        #[serde(serialize_with = "hex")]
        infohash: Infohash,
    },
    /// The list of foreign torrents changed.
    FeedChanged,
    /// Agents reported, or the fleet's summary changed (at most once a second).
    Agents(Box<AgentsTick>),
}

/// The `agents` event: what changed in the fleet since the last one.
#[derive(Debug, Clone, Serialize)]
pub struct AgentsTick {
    /// Counts events (from 1 at hub start).
    pub tick: u64,
    /// The hub's clock (unix s).
    pub at: i64,
    /// Agents that ever reported.
    pub agents: usize,
    /// The newest release (hex), the one `changed` rows describe.
    pub release: Option<String>,
    /// Releases whose summary changed or that agents reported on, with the
    /// series' latest point.
    pub releases: Vec<crate::fleet::TickRelease>,
    /// Rows of (some of) the agents that reported since the last event.
    pub changed: Vec<crate::fleet::AgentRow>,
    /// How many agents reported; more than `changed.len()` means the
    /// client should re-read the rows it shows (`/api/fleet/agents`).
    pub changed_total: usize,
}

impl HubEvent {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Published(_) => "published",
            Self::Rejected(_) => "rejected",
            Self::Retired { .. } => "retired",
            Self::FeedChanged => "feed_changed",
            Self::Agents(_) => "agents",
        }
    }
}

/// Serializes an infohash as hex.
pub(crate) fn hex<S: serde::Serializer>(ih: &Infohash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ih.to_hex())
}

/// `1.5 MiB` (see [`metainfo::ByteSize`]).
pub(crate) fn human(bytes: u64) -> String {
    metainfo::ByteSize(bytes).to_string()
}

/// A name from a foreign torrent made safe to show: control characters
/// replaced by U+FFFD.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// Escapes text for HTML.
pub(crate) fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(human(5), "5 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\u{FFFD}[2Jb\u{FFFD}");
        assert_eq!(html("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }
}
