//! The signed index of the releases a hub currently serves.
//!
//! A feed can be frozen (an attacker in the middle keeps serving an old
//! copy) or rolled back (an older, validly signed feed served instead). Each
//! manifest is signed, so neither can smuggle in a release; but an agent
//! could be kept on an old one forever. The index closes that gap: it lists
//! seq and infohash of every current release, carries `issued_at` and an
//! `expires_at` one week later, and the hub re-signs it daily and on every
//! change. An agent refuses an expired index, and an index older than one it
//! has already seen.

use metainfo::Infohash;
use serde::{Deserialize, Serialize};

use crate::{KeyId, ManifestError, PublicKey, ReleaseName};

/// How long an index stays valid after it is issued: one week.
pub const INDEX_VALIDITY_SECS: i64 = 7 * 24 * 3600;

/// One release in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// The hub's sequence number.
    pub seq: u64,
    /// Release name.
    pub name: ReleaseName,
    /// Infohash of its torrent.
    #[serde(with = "crate::manifest::hex_infohash")]
    pub infohash: Infohash,
}

/// The hub's current releases, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseIndex {
    /// Format version, 1.
    pub format: u32,
    /// Key id of the hub.
    pub hub: KeyId,
    /// When it was signed (unix seconds).
    pub issued_at: i64,
    /// After this (unix seconds) it must not be trusted.
    pub expires_at: i64,
    /// Current releases, highest seq first.
    pub releases: Vec<IndexEntry>,
}

impl ReleaseIndex {
    /// The version this build writes and reads.
    pub const FORMAT: u32 = 1;

    /// An index of `releases` issued at `now`, valid for a week.
    pub fn new(hub: KeyId, now: i64, mut releases: Vec<IndexEntry>) -> Self {
        releases.sort_by_key(|r| std::cmp::Reverse(r.seq));
        Self {
            format: Self::FORMAT,
            hub,
            issued_at: now,
            expires_at: now + INDEX_VALIDITY_SECS,
            releases,
        }
    }

    /// The exact bytes that are signed.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses index JSON (no signature check).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        let i: Self = serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
            what: "index",
            source,
        })?;
        if i.format != Self::FORMAT {
            return Err(ManifestError::Format {
                what: "index",
                format: i.format,
            });
        }
        Ok(i)
    }

    /// Highest seq listed (0 when empty).
    pub fn newest_seq(&self) -> u64 {
        self.releases.iter().map(|r| r.seq).max().unwrap_or(0)
    }

    /// The signed one-line comment.
    pub fn trusted_comment(&self) -> String {
        format!(
            "anthill index hub={} issued_at={} expires_at={} newest_seq={} releases={}",
            self.hub,
            self.issued_at,
            self.expires_at,
            self.newest_seq(),
            self.releases.len()
        )
    }

    /// True once `now` is past `expires_at`.
    pub fn is_expired(&self, now: i64) -> bool {
        now > self.expires_at
    }
}

impl PublicKey {
    /// Verifies an index's signature with this key and parses it (expiry is
    /// the caller's check: [`ReleaseIndex::is_expired`]).
    pub fn verify_index(
        &self,
        json: &[u8],
        signature: &str,
    ) -> Result<ReleaseIndex, ManifestError> {
        let comment = self
            .verify(json, signature)
            .map_err(|source| ManifestError::Signature {
                what: "index",
                source,
            })?;
        let i = ReleaseIndex::from_json(json)?;
        if comment != i.trusted_comment() {
            return Err(ManifestError::CommentMismatch {
                what: "index",
                comment,
            });
        }
        if i.hub != self.key_id() {
            return Err(ManifestError::HubMismatch {
                what: "index",
                named: i.hub.to_string(),
                signed: self.key_id().to_string(),
            });
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    fn entry(seq: u64) -> IndexEntry {
        IndexEntry {
            seq,
            name: ReleaseName::new(&format!("r{seq}")).unwrap(),
            infohash: Infohash([seq as u8; 20]),
        }
    }

    #[test]
    fn signed_index_verifies_and_expires_after_a_week() {
        let k = SigningKey::generate().unwrap();
        let i = ReleaseIndex::new(k.key_id(), 1000, vec![entry(1), entry(3), entry(2)]);
        assert_eq!(i.releases[0].seq, 3);
        assert_eq!(i.newest_seq(), 3);
        let json = i.to_json();
        let sig = k.sign(&json, &i.trusted_comment()).unwrap();
        let back = k.public_key().verify_index(&json, &sig).unwrap();
        assert_eq!(back, i);
        assert!(!back.is_expired(1000 + INDEX_VALIDITY_SECS));
        assert!(back.is_expired(1001 + INDEX_VALIDITY_SECS));
    }

    #[test]
    fn tampered_index_is_refused() {
        let k = SigningKey::generate().unwrap();
        let i = ReleaseIndex::new(k.key_id(), 1000, vec![entry(1)]);
        let json = i.to_json();
        let sig = k.sign(&json, &i.trusted_comment()).unwrap();
        let text = String::from_utf8(json).unwrap();
        let later = text.replace(
            &format!("\"expires_at\":{}", i.expires_at),
            &format!("\"expires_at\":{}", i.expires_at + 1),
        );
        assert!(k.public_key().verify_index(later.as_bytes(), &sig).is_err());
    }
}
