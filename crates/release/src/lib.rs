//! The contract between anthill's hub and its agents, free of I/O.
//!
//! A hub publishes, for each release, a [`Manifest`] (JSON: hub key id,
//! sequence number, name, infohash, size, file count, creation time) signed
//! in the minisign format, so that an operator can check it with Debian's
//! `minisign -V` and the hub's public key; and a signed [`ReleaseIndex`] of
//! the releases it currently serves, re-signed daily with an expiry a week
//! later, so that an agent can tell a frozen or rolled-back feed from a fresh
//! one. Both are listed in an RSS 2.0 [`Feed`] that stock clients
//! (qBittorrent's RSS downloader) follow too, and that agents read back
//! with [`Feed::parse`] (also plain feeds of torrents from other servers).
//!
//! Keys are minisign Ed25519 keys: [`SigningKey`] signs (the hub),
//! [`PublicKey`] verifies (agents, operators).
//!
//! ```
//! use release::{Manifest, ReleaseName, SigningKey};
//! let key = SigningKey::generate().unwrap();
//! let manifest = Manifest {
//!     format: 1,
//!     hub: key.key_id(),
//!     seq: 7,
//!     name: ReleaseName::new("app-1.4.2").unwrap(),
//!     infohash: metainfo::Infohash([0xab; 20]),
//!     total_size: 1 << 20,
//!     file_count: 12,
//!     created: 1_764_578_111,
//! };
//! let json = manifest.to_json();
//! let sig = key.sign(&json, &manifest.trusted_comment()).unwrap();
//! let verified = key.public_key().verify_manifest(&json, &sig).unwrap();
//! assert_eq!(verified, manifest);
//! ```

mod error;
mod feed;
mod feed_parse;
mod index;
mod keys;
mod manifest;
mod release_name;
pub mod report;
mod xml;

pub use error::{KeyError, ManifestError, SignatureError};
pub use feed::{ANTHILL_NS, Feed, FeedItem, TORRENT_MIME, TORRENT_NS, rfc822, unix_now};
pub use feed_parse::FeedError;
pub use index::{INDEX_VALIDITY_SECS, IndexEntry, ReleaseIndex};
pub use keys::{KeyId, PublicKey, SigningKey};
pub use manifest::Manifest;
pub use release_name::{ReleaseName, ReleaseNameError};
pub use report::{AgentReport, HookReport, ReleaseReport, ReportError};
