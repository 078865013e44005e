//! Trust decisions, as plain functions: is this release, with its signed
//! manifest and its hub's signed index, one to install?
//!
//! With trusted keys, a release is accepted only if its manifest signature
//! is valid for one of them, the manifest names the infohash the feed gave,
//! its seq is above every seq already accepted from that key (a replayed
//! older release is refused), and the hub's index is validly signed by the
//! same key, unexpired, not older than an index already seen from it, and
//! does not list another infohash for the same seq.

use std::collections::HashMap;

use metainfo::Infohash;
use release::{KeyId, Manifest, ManifestError, PublicKey, SignatureError};

/// Why a release is refused. Each is recorded and logged, never downloaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The feed item has no manifest and signature.
    #[error("unsigned: the feed item has no manifest and signature, and --trust is set")]
    Unsigned,
    /// Signed by a key that is not trusted.
    #[error("signed by key {0}, which is not trusted")]
    UntrustedKey(String),
    /// The signature or manifest does not hold.
    #[error("bad manifest: {0}")]
    BadManifest(String),
    /// The manifest names another infohash than the feed or the torrent.
    #[error("the manifest names infohash {manifest}, but the {what} has {other}")]
    InfohashMismatch {
        /// "feed item" or "torrent".
        what: &'static str,
        /// In the manifest.
        manifest: Infohash,
        /// In the feed or torrent.
        other: Infohash,
    },
    /// The torrent's name is not the manifest's.
    #[error("the manifest names release {manifest:?}, but the torrent is named {torrent:?}")]
    NameMismatch {
        /// In the manifest.
        manifest: String,
        /// In the torrent.
        torrent: String,
    },
    /// Not above the highest seq accepted from that key.
    #[error("replay: seq {seq} is not above seq {highest} already accepted from key {key}")]
    Replay {
        /// This release's seq.
        seq: u64,
        /// Highest accepted.
        highest: u64,
        /// The key.
        key: String,
    },
    /// The index's signature or contents do not hold.
    #[error("bad index: {0}")]
    BadIndex(String),
    /// The index expired (a frozen feed).
    #[error("the hub's index expired at {expires_at} (now {now}): the feed may be frozen")]
    IndexExpired {
        /// Its expiry.
        expires_at: i64,
        /// Now.
        now: i64,
    },
    /// The index is older than one already seen (a rolled-back feed).
    #[error(
        "the hub's index was issued at {issued_at}, before one already seen ({seen}): rolled back"
    )]
    IndexRolledBack {
        /// This one's issue time.
        issued_at: i64,
        /// The newest seen.
        seen: i64,
    },
    /// The index lists another release under the same seq.
    #[error("the hub's index lists seq {seq} with infohash {listed}, not {manifest}")]
    IndexConflict {
        /// The seq.
        seq: u64,
        /// In the index.
        listed: Infohash,
        /// In the manifest.
        manifest: Infohash,
    },
}

/// What the agent has accepted before, per key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Highest seq accepted per key id (as printed).
    pub highest_seq: HashMap<String, u64>,
    /// Newest index `issued_at` seen per key id.
    pub newest_index: HashMap<String, i64>,
}

/// The signed documents of one release, as fetched.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// Manifest JSON.
    pub manifest: &'a [u8],
    /// Its `.minisig` text.
    pub signature: &'a str,
    /// Index JSON.
    pub index: &'a [u8],
    /// Its `.minisig` text.
    pub index_signature: &'a str,
    /// The infohash the feed gave.
    pub feed_infohash: Infohash,
    /// Now, unix seconds.
    pub now: i64,
}

/// An accepted release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The verified manifest.
    pub manifest: Manifest,
    /// The key that signed it.
    pub key: KeyId,
    /// The index's `issued_at`.
    pub index_issued_at: i64,
}

/// Checks a release against the trusted `keys` and the `history`.
pub fn check(keys: &[PublicKey], ev: Evidence<'_>, history: &History) -> Result<Accepted, Refusal> {
    let mut first_other = None;
    let mut untrusted = None;
    let mut verified = None;
    for k in keys {
        match k.verify_manifest(ev.manifest, ev.signature) {
            Ok(m) => {
                verified = Some((k, m));
                break;
            }
            Err(ManifestError::Signature {
                source: SignatureError::OtherKey { signed_by, .. },
                ..
            }) => untrusted = Some(signed_by),
            Err(e) => {
                first_other.get_or_insert(e.to_string());
            }
        }
    }
    let Some((key, manifest)) = verified else {
        return Err(match (first_other, untrusted) {
            (Some(e), _) => Refusal::BadManifest(e),
            (None, Some(k)) => Refusal::UntrustedKey(k),
            (None, None) => Refusal::BadManifest("no trusted key to check it with".into()),
        });
    };
    if manifest.infohash != ev.feed_infohash {
        return Err(Refusal::InfohashMismatch {
            what: "feed item",
            manifest: manifest.infohash,
            other: ev.feed_infohash,
        });
    }
    let key_id = key.key_id().to_string();
    if let Some(&highest) = history.highest_seq.get(&key_id) {
        if manifest.seq <= highest {
            return Err(Refusal::Replay {
                seq: manifest.seq,
                highest,
                key: key_id,
            });
        }
    }
    let index = key
        .verify_index(ev.index, ev.index_signature)
        .map_err(|e| Refusal::BadIndex(e.to_string()))?;
    if index.is_expired(ev.now) {
        return Err(Refusal::IndexExpired {
            expires_at: index.expires_at,
            now: ev.now,
        });
    }
    if let Some(&seen) = history.newest_index.get(&key_id) {
        if index.issued_at < seen {
            return Err(Refusal::IndexRolledBack {
                issued_at: index.issued_at,
                seen,
            });
        }
    }
    if let Some(e) = index.releases.iter().find(|e| e.seq == manifest.seq) {
        if e.infohash != manifest.infohash {
            return Err(Refusal::IndexConflict {
                seq: manifest.seq,
                listed: e.infohash,
                manifest: manifest.infohash,
            });
        }
    }
    Ok(Accepted {
        key: key.key_id(),
        index_issued_at: index.issued_at,
        manifest,
    })
}

/// The torrent obtained (from peers or the hub) must be the manifest's.
pub fn check_torrent(manifest: &Manifest, infohash: Infohash, name: &str) -> Result<(), Refusal> {
    if infohash != manifest.infohash {
        return Err(Refusal::InfohashMismatch {
            what: "torrent",
            manifest: manifest.infohash,
            other: infohash,
        });
    }
    if name != manifest.name.as_str() {
        return Err(Refusal::NameMismatch {
            manifest: manifest.name.to_string(),
            torrent: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use release::{IndexEntry, ReleaseIndex, ReleaseName, SigningKey};

    struct Hub {
        key: SigningKey,
    }

    struct Docs {
        manifest: Vec<u8>,
        sig: String,
        index: Vec<u8>,
        index_sig: String,
        infohash: Infohash,
    }

    impl Hub {
        fn new() -> Self {
            Self {
                key: SigningKey::generate().unwrap(),
            }
        }
        fn release(&self, seq: u64, issued_at: i64) -> Docs {
            let infohash = Infohash([seq as u8; 20]);
            let m = Manifest {
                format: 1,
                hub: self.key.key_id(),
                seq,
                name: ReleaseName::new(&format!("app-{seq}")).unwrap(),
                infohash,
                total_size: 10,
                file_count: 1,
                created: issued_at,
            };
            let manifest = m.to_json();
            let sig = self.key.sign(&manifest, &m.trusted_comment()).unwrap();
            let i = ReleaseIndex::new(
                self.key.key_id(),
                issued_at,
                vec![IndexEntry {
                    seq,
                    name: m.name,
                    infohash,
                }],
            );
            let index = i.to_json();
            let index_sig = self.key.sign(&index, &i.trusted_comment()).unwrap();
            Docs {
                manifest,
                sig,
                index,
                index_sig,
                infohash,
            }
        }
    }

    fn ev(d: &Docs, now: i64) -> Evidence<'_> {
        Evidence {
            manifest: &d.manifest,
            signature: &d.sig,
            index: &d.index,
            index_signature: &d.index_sig,
            feed_infohash: d.infohash,
            now,
        }
    }

    #[test]
    fn a_signed_fresh_release_is_accepted() {
        let hub = Hub::new();
        let d = hub.release(4, 1000);
        let a = check(&[hub.key.public_key()], ev(&d, 1001), &History::default()).unwrap();
        assert_eq!(a.manifest.seq, 4);
        assert_eq!(a.key, hub.key.key_id());
        assert_eq!(a.index_issued_at, 1000);
        check_torrent(&a.manifest, d.infohash, "app-4").unwrap();
        assert!(matches!(
            check_torrent(&a.manifest, Infohash([9; 20]), "app-4"),
            Err(Refusal::InfohashMismatch {
                what: "torrent",
                ..
            })
        ));
        assert!(matches!(
            check_torrent(&a.manifest, d.infohash, "other"),
            Err(Refusal::NameMismatch { .. })
        ));
    }

    #[test]
    fn an_untrusted_key_is_refused_by_name() {
        let (hub, other) = (Hub::new(), Hub::new());
        let d = hub.release(1, 1000);
        assert_eq!(
            check(&[other.key.public_key()], ev(&d, 1000), &History::default()),
            Err(Refusal::UntrustedKey(hub.key.key_id().to_string()))
        );
        // With both keys trusted it is accepted.
        check(
            &[other.key.public_key(), hub.key.public_key()],
            ev(&d, 1000),
            &History::default(),
        )
        .unwrap();
    }

    #[test]
    fn a_tampered_manifest_or_signature_is_refused() {
        let hub = Hub::new();
        let mut d = hub.release(1, 1000);
        let keys = [hub.key.public_key()];
        d.manifest[12] ^= 1;
        assert!(matches!(
            check(&keys, ev(&d, 1000), &History::default()),
            Err(Refusal::BadManifest(_))
        ));
        let mut d = hub.release(1, 1000);
        d.sig = d.sig.replace("seq=1", "seq=2");
        assert!(matches!(
            check(&keys, ev(&d, 1000), &History::default()),
            Err(Refusal::BadManifest(_))
        ));
        let mut d = hub.release(1, 1000);
        d.sig = "garbage".into();
        assert!(matches!(
            check(&keys, ev(&d, 1000), &History::default()),
            Err(Refusal::BadManifest(_))
        ));
    }

    #[test]
    fn the_feed_must_name_the_signed_infohash() {
        let hub = Hub::new();
        let d = hub.release(1, 1000);
        let mut e = ev(&d, 1000);
        e.feed_infohash = Infohash([0xee; 20]);
        assert!(matches!(
            check(&[hub.key.public_key()], e, &History::default()),
            Err(Refusal::InfohashMismatch {
                what: "feed item",
                ..
            })
        ));
    }

    #[test]
    fn replays_of_older_or_equal_seqs_are_refused() {
        let hub = Hub::new();
        let keys = [hub.key.public_key()];
        let mut h = History::default();
        h.highest_seq.insert(hub.key.key_id().to_string(), 5);
        for seq in [3, 5] {
            let d = hub.release(seq, 1000);
            assert!(matches!(
                check(&keys, ev(&d, 1000), &h),
                Err(Refusal::Replay { highest: 5, .. })
            ));
        }
        check(&keys, ev(&hub.release(6, 1000), 1000), &h).unwrap();
    }

    #[test]
    fn expired_rolled_back_and_conflicting_indexes_are_refused() {
        let hub = Hub::new();
        let keys = [hub.key.public_key()];
        let d = hub.release(1, 1000);
        let later = 1000 + release::INDEX_VALIDITY_SECS + 1;
        assert!(matches!(
            check(&keys, ev(&d, later), &History::default()),
            Err(Refusal::IndexExpired { .. })
        ));
        let mut h = History::default();
        h.newest_index.insert(hub.key.key_id().to_string(), 2000);
        assert!(matches!(
            check(&keys, ev(&d, 2000), &h),
            Err(Refusal::IndexRolledBack {
                issued_at: 1000,
                seen: 2000
            })
        ));
        // An index listing another torrent under the same seq.
        let mut d = hub.release(1, 1000);
        let other = hub.release(2, 1000);
        let i = ReleaseIndex::new(
            hub.key.key_id(),
            1000,
            vec![IndexEntry {
                seq: 1,
                name: ReleaseName::new("app-1").unwrap(),
                infohash: other.infohash,
            }],
        );
        d.index = i.to_json();
        d.index_sig = hub.key.sign(&d.index, &i.trusted_comment()).unwrap();
        assert!(matches!(
            check(&keys, ev(&d, 1000), &History::default()),
            Err(Refusal::IndexConflict { seq: 1, .. })
        ));
        // An index signed by another key.
        let mut d = hub.release(1, 1000);
        let stranger = Hub::new().release(1, 1000);
        d.index = stranger.index;
        d.index_sig = stranger.index_sig;
        assert!(matches!(
            check(&keys, ev(&d, 1000), &History::default()),
            Err(Refusal::BadIndex(_))
        ));
    }
}
