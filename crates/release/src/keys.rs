//! minisign Ed25519 keys: the hub signs with a [`SigningKey`], agents and
//! operators verify with its [`PublicKey`].
//!
//! Files are minisign's own formats, so Debian's `minisign -V -p hub.pub`
//! checks what the hub signed. The hub's secret key is stored unencrypted
//! (mode 0600): a daemon that restarts unattended cannot ask for a password.

use std::io::Cursor;

use crate::{KeyError, SignatureError};

/// The 8-byte key id minisign prints as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // minisign shows the little-endian u64 in upper-case hex.
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl std::str::FromStr for KeyId {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::Parse {
            what: "key id",
            reason: format!("{s:?} is not 16 hex digits"),
        };
        if s.len() != 16 {
            return Err(bad());
        }
        let n = u64::from_str_radix(s, 16).map_err(|_| bad())?;
        Ok(Self(n.to_le_bytes()))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn key_id(bytes: &[u8]) -> KeyId {
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    KeyId(id)
}

/// A public key: verifies what the matching [`SigningKey`] signed.
#[derive(Clone)]
pub struct PublicKey(minisign::PublicKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_base64() == other.to_base64()
    }
}

impl PublicKey {
    /// Parses a key as given on a command line or in a file: the bare
    /// base64 line (`RWQ…`) or a whole minisign `.pub` file (an
    /// `untrusted comment:` line, then the base64 line).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or("");
        minisign::PublicKey::from_base64(line)
            .map(Self)
            .map_err(|e| KeyError::Parse {
                what: "public",
                reason: e.to_string(),
            })
    }

    /// The base64 form (what `minisign -P` takes).
    pub fn to_base64(&self) -> String {
        self.0.to_base64()
    }

    /// The `.pub` file text (`minisign -p FILE` reads it).
    pub fn to_file_text(&self) -> String {
        format!(
            "untrusted comment: anthill hub public key {}\n{}\n",
            self.key_id(),
            self.to_base64()
        )
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        key_id(self.0.keynum())
    }

    /// Checks that `signature` (the text of a `.minisig` file) signs `data`
    /// with this key, and returns its trusted comment.
    pub fn verify(&self, data: &[u8], signature: &str) -> Result<String, SignatureError> {
        let sig = minisign::SignatureBox::from_string(signature)
            .map_err(|e| SignatureError::Malformed(e.to_string()))?;
        let signed_by = key_id(sig.keynum());
        if signed_by != self.key_id() {
            return Err(SignatureError::OtherKey {
                signed_by: signed_by.to_string(),
                expected: self.key_id().to_string(),
            });
        }
        minisign::verify(&self.0, &sig, Cursor::new(data), true, false, false)
            .map_err(|e| SignatureError::Mismatch(e.to_string()))?;
        sig.trusted_comment()
            .map_err(|e| SignatureError::Malformed(e.to_string()))
    }
}

/// A secret key with its public half: signs manifests and indexes.
pub struct SigningKey {
    sk: minisign::SecretKey,
    pk: minisign::PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id())
    }
}

impl SigningKey {
    /// A new random key pair.
    pub fn generate() -> Result<Self, KeyError> {
        let kp = minisign::KeyPair::generate_unencrypted_keypair()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Ok(Self {
            sk: kp.sk,
            pk: kp.pk,
        })
    }

    /// Reads a minisign secret key file's text (unencrypted).
    pub fn from_file_text(text: &str) -> Result<Self, KeyError> {
        let parse = |e: minisign::PError| KeyError::Parse {
            what: "secret",
            reason: e.to_string(),
        };
        let sk_box = minisign::SecretKeyBox::from_string(text).map_err(parse)?;
        let sk = sk_box.into_unencrypted_secret_key().map_err(|e| {
            if text.contains("encrypted") || e.to_string().contains("ncrypt") {
                KeyError::Encrypted
            } else {
                parse(e)
            }
        })?;
        if sk.is_encrypted() {
            return Err(KeyError::Encrypted);
        }
        let pk = minisign::PublicKey::from_secret_key(&sk).map_err(parse)?;
        Ok(Self { sk, pk })
    }

    /// The secret key file's text (minisign format, unencrypted).
    pub fn to_file_text(&self) -> String {
        self.sk
            .to_box(Some(&format!("anthill hub secret key {}", self.key_id())))
            .map(|b| b.to_string())
            .unwrap_or_default()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.pk.clone())
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        key_id(self.pk.keynum())
    }

    /// Signs `data`; returns the `.minisig` file text. `trusted_comment` is
    /// signed too (one line).
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> Result<String, SignatureError> {
        let untrusted = format!("signature from anthill hub key {}", self.key_id());
        minisign::sign(
            Some(&self.pk),
            &self.sk,
            Cursor::new(data),
            Some(trusted_comment),
            Some(&untrusted),
        )
        .map(|b| b.into_string())
        .map_err(|e| SignatureError::Sign(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_returns_the_trusted_comment() {
        let k = SigningKey::generate().unwrap();
        let sig = k.sign(b"hello", "seq=1 infohash=ab").unwrap();
        assert_eq!(
            k.public_key().verify(b"hello", &sig).unwrap(),
            "seq=1 infohash=ab"
        );
    }

    #[test]
    fn a_changed_byte_fails() {
        let k = SigningKey::generate().unwrap();
        let sig = k.sign(b"hello", "c").unwrap();
        assert!(matches!(
            k.public_key().verify(b"hellp", &sig),
            Err(SignatureError::Mismatch(_))
        ));
    }

    #[test]
    fn a_changed_trusted_comment_fails() {
        let k = SigningKey::generate().unwrap();
        let sig = k.sign(b"hello", "seq=1").unwrap();
        let forged = sig.replace("trusted comment: seq=1", "trusted comment: seq=9");
        assert_ne!(forged, sig);
        assert!(k.public_key().verify(b"hello", &forged).is_err());
    }

    #[test]
    fn another_key_is_named() {
        let (a, b) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        let sig = a.sign(b"x", "c").unwrap();
        assert!(matches!(
            b.public_key().verify(b"x", &sig),
            Err(SignatureError::OtherKey { .. })
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        let k = SigningKey::generate().unwrap();
        assert!(matches!(
            k.public_key().verify(b"x", "not a signature"),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn keys_round_trip_through_their_files() {
        let k = SigningKey::generate().unwrap();
        let k2 = SigningKey::from_file_text(&k.to_file_text()).unwrap();
        assert_eq!(k2.key_id(), k.key_id());
        let pk = PublicKey::parse(&k.public_key().to_file_text()).unwrap();
        assert_eq!(pk, k.public_key());
        let pk = PublicKey::parse(&k.public_key().to_base64()).unwrap();
        let sig = k2.sign(b"data", "c").unwrap();
        pk.verify(b"data", &sig).unwrap();
    }

    #[test]
    fn key_ids_print_and_parse() {
        let k = SigningKey::generate().unwrap();
        let s = k.key_id().to_string();
        assert_eq!(s.len(), 16);
        assert_eq!(s.parse::<KeyId>().unwrap(), k.key_id());
        assert!("xyz".parse::<KeyId>().is_err());
    }

    #[test]
    fn bad_public_keys_are_errors() {
        assert!(PublicKey::parse("").is_err());
        assert!(PublicKey::parse("RWQ-not-base64").is_err());
        assert!(SigningKey::from_file_text("garbage").is_err());
    }
}
