//! The signed description of one release.

use metainfo::Infohash;
use serde::{Deserialize, Serialize};

use crate::{KeyId, ManifestError, PublicKey, ReleaseName, SignatureError};

/// What a hub states about one release. Serialized as compact JSON with
/// fields in declaration order ([`Manifest::to_json`]); the signature covers
/// those exact bytes, and its trusted comment repeats seq, infohash and name
/// ([`Manifest::trusted_comment`]) so that `minisign -V` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version, 1.
    pub format: u32,
    /// Key id of the hub that signed it.
    pub hub: KeyId,
    /// The hub's sequence number: strictly increasing per hub key.
    pub seq: u64,
    /// Release name (a safe single path component).
    pub name: ReleaseName,
    /// BitTorrent v1 infohash of the release's torrent.
    #[serde(with = "hex_infohash")]
    pub infohash: Infohash,
    /// Content bytes (pad files excluded).
    pub total_size: u64,
    /// Number of files (pad files excluded).
    pub file_count: u64,
    /// When the hub published it (unix seconds).
    pub created: i64,
}

impl Manifest {
    /// The version this build writes and reads.
    pub const FORMAT: u32 = 1;

    /// The exact bytes that are signed.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses manifest JSON (no signature check).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        let m: Self = serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
            what: "manifest",
            source,
        })?;
        if m.format != Self::FORMAT {
            return Err(ManifestError::Format {
                what: "manifest",
                format: m.format,
            });
        }
        Ok(m)
    }

    /// The signed one-line comment: `anthill release seq=N infohash=HEX name=NAME`.
    pub fn trusted_comment(&self) -> String {
        format!(
            "anthill release seq={} infohash={} name={}",
            self.seq,
            self.infohash.to_hex(),
            self.name
        )
    }
}

impl PublicKey {
    /// Verifies a manifest's signature with this key and parses it; the
    /// trusted comment and the hub key id inside must agree with the JSON.
    pub fn verify_manifest(&self, json: &[u8], signature: &str) -> Result<Manifest, ManifestError> {
        let sig_err = |source: SignatureError| ManifestError::Signature {
            what: "manifest",
            source,
        };
        let comment = self.verify(json, signature).map_err(sig_err)?;
        let m = Manifest::from_json(json)?;
        if comment != m.trusted_comment() {
            return Err(ManifestError::CommentMismatch {
                what: "manifest",
                comment,
            });
        }
        if m.hub != self.key_id() {
            return Err(ManifestError::HubMismatch {
                what: "manifest",
                named: m.hub.to_string(),
                signed: self.key_id().to_string(),
            });
        }
        Ok(m)
    }
}

pub(crate) mod hex_infohash {
    use metainfo::Infohash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(ih: &Infohash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ih.to_hex())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Infohash, D::Error> {
        let s = String::deserialize(d)?;
        Infohash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    fn sample(key: &SigningKey) -> Manifest {
        Manifest {
            format: 1,
            hub: key.key_id(),
            seq: 3,
            name: ReleaseName::new("app-2").unwrap(),
            infohash: Infohash([7; 20]),
            total_size: 1000,
            file_count: 2,
            created: 1_700_000_000,
        }
    }

    #[test]
    fn json_round_trips_in_a_fixed_order() {
        let k = SigningKey::generate().unwrap();
        let m = sample(&k);
        let json = m.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.starts_with("{\"format\":1,\"hub\":\""), "{text}");
        assert!(text.contains(&format!("\"infohash\":\"{}\"", "07".repeat(20))));
        assert_eq!(Manifest::from_json(&json).unwrap(), m);
    }

    #[test]
    fn verification_catches_every_kind_of_tampering() {
        let k = SigningKey::generate().unwrap();
        let m = sample(&k);
        let json = m.to_json();
        let sig = k.sign(&json, &m.trusted_comment()).unwrap();
        assert_eq!(k.public_key().verify_manifest(&json, &sig).unwrap(), m);

        let mut changed = json.clone();
        let at = changed.iter().position(|&b| b == b'3').unwrap();
        changed[at] = b'4';
        assert!(matches!(
            k.public_key().verify_manifest(&changed, &sig),
            Err(ManifestError::Signature { .. })
        ));

        // Validly signed, but the comment says something else.
        let lying = k.sign(&json, "anthill release seq=99").unwrap();
        assert!(matches!(
            k.public_key().verify_manifest(&json, &lying),
            Err(ManifestError::CommentMismatch { .. })
        ));

        // Signed by the key, but naming another hub.
        let other = SigningKey::generate().unwrap();
        let mut m2 = m;
        m2.hub = other.key_id();
        let j2 = m2.to_json();
        let s2 = k.sign(&j2, &m2.trusted_comment()).unwrap();
        assert!(matches!(
            k.public_key().verify_manifest(&j2, &s2),
            Err(ManifestError::HubMismatch { .. })
        ));
    }

    #[test]
    fn unknown_fields_and_formats_are_refused() {
        let k = SigningKey::generate().unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&sample(&k).to_json()).unwrap();
        v["extra"] = 1.into();
        assert!(Manifest::from_json(v.to_string().as_bytes()).is_err());
        let mut v: serde_json::Value = serde_json::from_slice(&sample(&k).to_json()).unwrap();
        v["format"] = 2.into();
        assert!(matches!(
            Manifest::from_json(v.to_string().as_bytes()),
            Err(ManifestError::Format { format: 2, .. })
        ));
        assert!(Manifest::from_json(b"{").is_err());
    }
}
