use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bencode::{Dict, Value};
use bytes::Bytes;

use crate::{ExtendedId, ExtensionError};

const WHAT: &str = "extended handshake";

/// The BEP 10 extended handshake (extended message id 0).
///
/// Parsing is lenient: unknown keys are ignored and a known key with the
/// wrong type or an out-of-range value is treated as absent, because clients
/// disagree on details and none of these fields is essential. Only a payload
/// that is not a bencoded dictionary is an error.
///
/// ```
/// use wire::{ExtendedHandshake, ExtendedId, UT_METADATA};
/// let mut ours = ExtendedHandshake::default();
/// ours.extensions.insert(UT_METADATA.into(), ExtendedId(1));
/// ours.metadata_size = Some(31_235);
/// ours.client = Some("anthill 0.1".into());
/// let bytes = ours.to_bytes();
/// let theirs = ExtendedHandshake::parse(&bytes).unwrap();
/// assert_eq!(theirs.extension_id(UT_METADATA), Some(ExtendedId(1)));
/// assert_eq!(theirs, ours);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtendedHandshake {
    /// `m`: extension name to the id the sender wants to receive it under.
    /// Id 0 means the sender disabled that extension. Names that are not UTF-8
    /// and ids outside 0..=255 are dropped; at most 128 entries are kept.
    pub extensions: BTreeMap<String, ExtendedId>,
    /// `v`: client name and version (lossy UTF-8).
    pub client: Option<String>,
    /// `p`: the sender's TCP listen port (1..=65535).
    pub listen_port: Option<u16>,
    /// `reqq`: how many outstanding requests the sender accepts.
    pub request_queue: Option<u32>,
    /// `metadata_size`: size of the info dictionary (BEP 9), in bytes.
    pub metadata_size: Option<u64>,
    /// `yourip`: our address as the sender sees it (4 or 16 bytes).
    pub your_ip: Option<IpAddr>,
    /// `ipv4`: the sender's own IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// `ipv6`: the sender's own IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
}

/// Most `m` entries kept from one handshake.
const MAX_EXTENSIONS: usize = 128;

impl ExtendedHandshake {
    /// Parses an extended handshake payload. Bytes after the dictionary are
    /// ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, ExtensionError> {
        let (v, _) = bencode::decode_prefix(payload)
            .map_err(|source| ExtensionError::Bencode { what: WHAT, source })?;
        let d = v.dict().ok_or(ExtensionError::NotADict { what: WHAT })?;
        let mut h = ExtendedHandshake::default();
        if let Some(m) = d.get(b"m").and_then(Value::dict) {
            for (name, id) in m.iter() {
                if h.extensions.len() == MAX_EXTENSIONS {
                    break;
                }
                let (Ok(name), Some(id)) = (
                    std::str::from_utf8(name),
                    id.int().and_then(|i| u8::try_from(i).ok()),
                ) else {
                    continue;
                };
                h.extensions.insert(name.to_owned(), ExtendedId(id));
            }
        }
        h.client = d
            .get(b"v")
            .and_then(Value::bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        h.listen_port = int_field(d, b"p").filter(|p| *p != 0);
        h.request_queue = int_field(d, b"reqq");
        h.metadata_size = int_field(d, b"metadata_size");
        h.your_ip = d
            .get(b"yourip")
            .and_then(Value::bytes)
            .and_then(ip_from_bytes);
        h.ipv4 = d
            .get(b"ipv4")
            .and_then(Value::bytes)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(Ipv4Addr::from);
        h.ipv6 = d
            .get(b"ipv6")
            .and_then(Value::bytes)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(Ipv6Addr::from);
        Ok(h)
    }

    /// The id under which the sender wants to receive extension `name`;
    /// `None` if it does not support it or disabled it (id 0).
    pub fn extension_id(&self, name: &str) -> Option<ExtendedId> {
        self.extensions
            .get(name)
            .copied()
            .filter(|id| *id != ExtendedId::HANDSHAKE)
    }

    /// Encodes the payload (canonical bencode, absent fields omitted).
    pub fn to_bytes(&self) -> Bytes {
        let mut e = bencode::Encoder::new();
        // keys in ascending byte order
        e.dict(|d| {
            if let Some(ip) = self.ipv4 {
                d.key("ipv4").bytes(&ip.octets());
            }
            if let Some(ip) = self.ipv6 {
                d.key("ipv6").bytes(&ip.octets());
            }
            d.key("m").dict(|m| {
                for (name, id) in &self.extensions {
                    m.key(name).int(i64::from(id.0));
                }
            });
            if let Some(size) = self.metadata_size {
                d.key("metadata_size")
                    .int(i64::try_from(size).unwrap_or(i64::MAX));
            }
            if let Some(p) = self.listen_port {
                d.key("p").int(i64::from(p));
            }
            if let Some(q) = self.request_queue {
                d.key("reqq").int(i64::from(q));
            }
            if let Some(v) = &self.client {
                d.key("v").str(v);
            }
            match self.your_ip {
                Some(IpAddr::V4(ip)) => {
                    d.key("yourip").bytes(&ip.octets());
                }
                Some(IpAddr::V6(ip)) => {
                    d.key("yourip").bytes(&ip.octets());
                }
                None => {}
            }
        });
        Bytes::from(e.finish())
    }
}

/// An integer field converted to `T`, `None` if absent, not an integer, or out of range.
fn int_field<T: TryFrom<i64>>(d: &Dict<'_>, key: &[u8]) -> Option<T> {
    d.get(key)
        .and_then(Value::int)
        .and_then(|i| T::try_from(i).ok())
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_libtorrent_style_handshake() {
        let payload = b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei5234e4:reqqi500e11:upload_onlyi0e1:v17:libtorrent 2.0.8 6:yourip4:\x7f\x00\x00\x01e";
        let h = ExtendedHandshake::parse(payload).unwrap();
        assert_eq!(h.extension_id("ut_metadata"), Some(ExtendedId(2)));
        assert_eq!(h.extension_id("ut_pex"), Some(ExtendedId(1)));
        assert_eq!(h.metadata_size, Some(5234));
        assert_eq!(h.request_queue, Some(500));
        assert_eq!(h.client.as_deref(), Some("libtorrent 2.0.8 "));
        assert_eq!(h.your_ip, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(h.listen_port, None);
    }

    #[test]
    fn wrong_types_are_ignored() {
        let payload = b"d4:ipv43:abc1:md1:ai300e1:bi-1e1:c1:x1:di0ee13:metadata_sizei-5e1:p5:hello4:reqqi99999999999e1:vi3e6:yourip5:abcdee";
        let h = ExtendedHandshake::parse(payload).unwrap();
        assert_eq!(h.extensions.len(), 1);
        assert_eq!(h.extensions.get("d"), Some(&ExtendedId(0)));
        assert_eq!(h.extension_id("d"), None, "id 0 means disabled");
        assert_eq!(h.metadata_size, None);
        assert_eq!(h.listen_port, None);
        assert_eq!(h.request_queue, None);
        assert_eq!(h.client, None);
        assert_eq!(h.your_ip, None);
        assert_eq!(h.ipv4, None);
    }

    #[test]
    fn m_not_a_dict_is_ignored() {
        let h = ExtendedHandshake::parse(b"d1:mi1e1:pi6881ee").unwrap();
        assert!(h.extensions.is_empty());
        assert_eq!(h.listen_port, Some(6881));
    }

    #[test]
    fn rejects_non_dict() {
        assert_eq!(
            ExtendedHandshake::parse(b"li1ee"),
            Err(ExtensionError::NotADict {
                what: "extended handshake"
            })
        );
    }

    #[test]
    fn rejects_bad_bencode() {
        assert!(matches!(
            ExtendedHandshake::parse(b"d1:m"),
            Err(ExtensionError::Bencode {
                what: "extended handshake",
                ..
            })
        ));
        assert!(matches!(
            ExtendedHandshake::parse(b""),
            Err(ExtensionError::Bencode { .. })
        ));
    }

    #[test]
    fn encodes_canonically() {
        let mut h = ExtendedHandshake {
            listen_port: Some(6881),
            your_ip: Some(IpAddr::from([10, 0, 0, 1])),
            ..Default::default()
        };
        h.extensions.insert("ut_pex".into(), ExtendedId(2));
        h.extensions.insert("ut_metadata".into(), ExtendedId(1));
        assert_eq!(
            &h.to_bytes()[..],
            b"d1:md11:ut_metadatai1e6:ut_pexi2ee1:pi6881e6:yourip4:\x0a\x00\x00\x01e"
        );
        // strictly canonical: the strict decoder accepts it with sorted keys required
        let limits = bencode::Limits {
            require_sorted_keys: true,
            ..Default::default()
        };
        assert!(bencode::decode_with(&h.to_bytes(), limits).is_ok());
    }
}
