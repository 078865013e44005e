//! `public/`: the feed, `.torrent` files, manifests, signatures, the signed
//! index and the public key as plain static files, each written atomically
//! and only when its bytes change, so any web server or CDN can mirror the
//! directory (everything in it is signed or checked against something
//! signed, so a mirror need not be trusted). The whole directory is a
//! function of the database and `torrents/`: a restarted hub writes the
//! same bytes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use metainfo::{Infohash, Magnet, Metainfo};
use release::{Feed, FeedItem, SigningKey};
use sha1::{Digest, Sha1};
use tracing::warn;

use crate::error::io;
use crate::store::{ReleaseRecord, Store};
use crate::{HubError, Layout, Urls};

/// Largest `.torrent` accepted from `torrents/`.
const MAX_FOREIGN_TORRENT: u64 = 16 << 20;

/// A torrent from `torrents/`, listed as it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ForeignTorrent {
    /// Its file name in `torrents/`.
    pub file: String,
    /// The torrent's name.
    pub name: String,
    /// Infohash.
    #[serde(serialize_with = "crate::api::hex")]
    pub infohash: Infohash,
    /// Content bytes.
    pub total_size: u64,
    /// Its modification time (unix seconds): the feed's pubDate.
    pub modified: i64,
    /// `.torrent` size.
    pub torrent_size: u64,
    /// Magnet link.
    pub magnet: String,
}

/// The feed as served, with what conditional GETs need.
#[derive(Debug, Clone, Default)]
pub struct FeedBytes {
    /// The XML.
    pub xml: bytes::Bytes,
    /// Strong validator: a digest of the bytes.
    pub etag: String,
    /// When the items last changed (unix seconds): `Last-Modified`.
    pub last_modified: i64,
}

/// Writes `public/` and remembers what it wrote.
#[derive(Debug, Default)]
pub struct PublicFiles {
    /// The feed now served.
    pub feed: Arc<FeedBytes>,
    /// Foreign torrents now listed.
    pub foreign: Arc<Vec<ForeignTorrent>>,
    /// Settings for the feed.
    pub settings: FeedSettings,
}

/// Channel settings.
#[derive(Debug, Clone, Default)]
pub struct FeedSettings {
    /// Title.
    pub title: String,
    /// Most items.
    pub max_items: usize,
    /// `ttl`, minutes.
    pub ttl_minutes: u32,
}

impl PublicFiles {
    /// Rewrites whatever changed below `public/`.
    pub fn write(
        &mut self,
        layout: &Layout,
        store: &Store,
        urls: &Urls,
        key: &SigningKey,
        published: &[ReleaseRecord],
        (index_json, index_sig): (Vec<u8>, String),
    ) -> Result<(), HubError> {
        let public = layout.public();
        write_if_changed(
            &public.join("hub.pub"),
            key.public_key().to_file_text().as_bytes(),
        )?;
        let mut torrents = BTreeSet::new();
        let mut manifests = BTreeSet::new();
        for r in published {
            let t = layout.public_torrent(&r.name);
            let m = layout.public_manifest(&r.name);
            let s = layout.public_signature(&r.name);
            write_if_changed(&t, &r.torrent)?;
            write_if_changed(&m, &r.manifest)?;
            write_if_changed(&s, r.signature.as_bytes())?;
            torrents.insert(file_name(&t));
            manifests.insert(file_name(&m));
            manifests.insert(file_name(&s));
        }
        remove_others(&public.join("torrents"), &torrents)?;
        remove_others(&public.join("manifests"), &manifests)?;
        let foreign = scan_foreign(layout)?;
        write_if_changed(&public.join("index.json"), &index_json)?;
        write_if_changed(&public.join("index.json.minisig"), index_sig.as_bytes())?;

        let items = self.items(urls, published, &foreign);
        // lastBuildDate is when the item list last changed, kept in the
        // database: the same items give the same bytes, also after a restart.
        let digest = hex::encode(Sha1::digest(
            items
                .iter()
                .map(|i| {
                    let ih = i.infohash.map(|h| h.to_hex()).unwrap_or_default();
                    format!("{ih}|{}|{}\n", i.torrent_url, i.published)
                })
                .collect::<String>(),
        ));
        let last_build = match (store.meta("feed_digest")?, store.meta("feed_changed_at")?) {
            (Some(d), Some(at)) if d == digest => {
                at.parse().unwrap_or_else(|_| crate::publish::now())
            }
            _ => {
                let now = crate::publish::now();
                store.set_meta("feed_changed_at", &now.to_string())?;
                store.set_meta("feed_digest", &digest)?;
                now
            }
        };
        let feed = Feed {
            title: self.settings.title.clone(),
            link: format!("{}/", urls.base()),
            self_url: urls.feed(),
            description: format!(
                "Releases published by {} (signed by hub key {})",
                self.settings.title,
                key.key_id()
            ),
            ttl_minutes: self.settings.ttl_minutes.max(1),
            last_build,
            items,
        };
        let xml = feed.to_xml().into_bytes();
        write_if_changed(&public.join("feed.xml"), &xml)?;
        let etag = format!("\"{}\"", &hex::encode(Sha1::digest(&xml))[..20]);
        self.feed = Arc::new(FeedBytes {
            xml: xml.into(),
            etag,
            last_modified: last_build,
        });
        self.foreign = Arc::new(foreign);
        Ok(())
    }

    fn items(
        &self,
        urls: &Urls,
        published: &[ReleaseRecord],
        foreign: &[ForeignTorrent],
    ) -> Vec<FeedItem> {
        let mut items: Vec<FeedItem> = published
            .iter()
            .map(|r| FeedItem {
                title: r.name.to_string(),
                infohash: Some(r.infohash),
                published: r.published_at,
                torrent_url: urls.torrent(&r.name),
                torrent_length: r.torrent.len() as u64,
                link: urls.page(&r.name),
                description: format!(
                    "Release {} (seq {}): {} in {} files",
                    r.name,
                    r.seq,
                    crate::api::human(r.total_size),
                    r.file_count
                ),
                content_length: r.total_size,
                magnet: Metainfo::from_bytes(&r.torrent)
                    .map(|m| Magnet::from_metainfo(&m).to_string())
                    .unwrap_or_default(),
                file_name: format!("{}.torrent", r.name),
                seq: Some(r.seq),
                manifest_url: Some(urls.manifest(&r.name)),
                signature_url: Some(urls.signature(&r.name)),
            })
            .collect();
        items.extend(foreign.iter().map(|f| FeedItem {
            title: f.name.clone(),
            infohash: Some(f.infohash),
            published: f.modified,
            torrent_url: urls.foreign(&f.file),
            torrent_length: f.torrent_size,
            link: urls.foreign(&f.file),
            description: format!("Torrent {} ({})", f.name, crate::api::human(f.total_size)),
            content_length: f.total_size,
            magnet: f.magnet.clone(),
            file_name: f.file.clone(),
            seq: None,
            manifest_url: None,
            signature_url: None,
        }));
        // Newest first; releases published in the same second by seq, then
        // by infohash so the order is stable.
        items.sort_by(|a, b| {
            b.published
                .cmp(&a.published)
                .then(b.seq.cmp(&a.seq))
                .then(a.infohash.cmp(&b.infohash))
        });
        items.truncate(self.settings.max_items.max(1));
        items
    }
}

/// Lists `torrents/*.torrent`, copies the valid ones to `public/foreign/`
/// and removes copies whose source is gone. Invalid files are logged and
/// skipped (they are the operator's, not ours to move).
fn scan_foreign(layout: &Layout) -> Result<Vec<ForeignTorrent>, HubError> {
    let dir = layout.torrents();
    let out_dir = layout.public().join("foreign");
    let mut found = Vec::new();
    let mut names = BTreeSet::new();
    for e in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
        let path = e.path();
        let Some(file) = e.file_name().to_str().map(str::to_string) else {
            warn!(path = %path.display(), "skipping a torrent whose name is not UTF-8");
            continue;
        };
        let Some(stem) = file.strip_suffix(".torrent") else {
            continue;
        };
        if release::ReleaseName::new(stem).is_err() {
            warn!(file = %file, "skipping a torrent whose file name is not URL-safe (letters, digits, . _ + - ~ @)");
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() || meta.len() > MAX_FOREIGN_TORRENT {
            warn!(file = %file, "skipping torrents/ entry: not a regular file of at most 16 MiB");
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(err) => {
                warn!(file = %file, error = %err, "cannot read a torrent in torrents/");
                continue;
            }
        };
        let m = match Metainfo::from_bytes(&bytes) {
            Ok(m) => m,
            Err(err) => {
                warn!(file = %file, error = %err, "skipping an invalid torrent in torrents/");
                continue;
            }
        };
        write_if_changed(&out_dir.join(&file), &bytes)?;
        names.insert(file.clone());
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        found.push(ForeignTorrent {
            name: crate::api::printable(m.info().name()),
            infohash: m.infohash(),
            total_size: content_length(m.info()),
            modified,
            torrent_size: bytes.len() as u64,
            magnet: Magnet::from_metainfo(&m).to_string(),
            file,
        });
    }
    remove_others(&out_dir, &names)?;
    found.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(found)
}

/// Bytes of real content (pad files excluded).
pub(crate) fn content_length(info: &metainfo::Info) -> u64 {
    info.files()
        .iter()
        .filter(|f| !f.is_pad())
        .map(|f| f.length)
        .sum()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Writes `path` atomically unless it already holds `bytes`.
pub(crate) fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), HubError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    storage::write_atomic(path, bytes).map_err(io("write", path))
}

/// Removes every file of `dir` not named in `keep` (and not hidden).
fn remove_others(dir: &Path, keep: &BTreeSet<String>) -> Result<(), HubError> {
    let mut removed = false;
    for e in std::fs::read_dir(dir).map_err(io("list", dir))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) && !name.starts_with('.') {
            let p: PathBuf = e.path();
            std::fs::remove_file(&p).map_err(io("remove", &p))?;
            removed = true;
        }
    }
    if removed {
        storage::sync_dir(dir).map_err(io("sync", dir))?;
    }
    Ok(())
}
