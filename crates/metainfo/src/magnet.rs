use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, PercentEncode, percent_decode_str, utf8_percent_encode};

use crate::{Infohash, Metainfo};

/// A magnet link (BEP 9): what is needed to find a torrent's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Magnet {
    /// `xt=urn:btih:…`
    pub infohash: Infohash,
    /// `dn`: display name.
    pub name: Option<String>,
    /// `tr`: trackers, in order.
    pub trackers: Vec<String>,
    /// `ws`: web seeds.
    pub web_seeds: Vec<String>,
    /// `x.pe`: peer addresses (`host:port`).
    pub peers: Vec<String>,
    /// `xl`: exact length in bytes (of the content: pad files are not counted).
    pub length: Option<u64>,
}

/// Why a magnet link was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    /// Does not start with `magnet:?`.
    #[error("not a magnet link (must start with `magnet:?`)")]
    NotMagnet,
    /// No `xt=urn:btih:` parameter.
    #[error("magnet link has no `xt=urn:btih:` infohash")]
    NoInfohash,
    /// The infohash is malformed.
    #[error("magnet link has a malformed infohash: {0}")]
    BadInfohash(String),
    /// Bad percent-encoding or non-UTF-8 text.
    #[error("magnet link has bad percent-encoding in `{0}`")]
    BadEncoding(String),
}

impl Magnet {
    /// The magnet link for a torrent: infohash, name, trackers, web seeds and length.
    pub fn from_metainfo(m: &Metainfo) -> Self {
        Self {
            infohash: m.infohash(),
            name: Some(m.info().name().to_string()),
            trackers: m.trackers().map(str::to_string).collect(),
            web_seeds: m.web_seeds().to_vec(),
            peers: Vec::new(),
            length: Some(m.info().content_length()),
        }
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "magnet:?xt=urn:btih:{}", self.infohash.to_hex())?;
        if let Some(n) = &self.name {
            write!(f, "&dn={}", encode(n))?;
        }
        if let Some(l) = self.length {
            write!(f, "&xl={l}")?;
        }
        for t in &self.trackers {
            write!(f, "&tr={}", encode(t))?;
        }
        for w in &self.web_seeds {
            write!(f, "&ws={}", encode(w))?;
        }
        for p in &self.peers {
            write!(f, "&x.pe={}", encode(p))?;
        }
        Ok(())
    }
}

impl FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let query = s.strip_prefix("magnet:?").ok_or(MagnetError::NotMagnet)?;
        let mut m = Magnet::default();
        let mut have_hash = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v).ok_or_else(|| MagnetError::BadEncoding(k.to_string()))?;
            match k {
                "xt" => {
                    if let Some(h) = v.strip_prefix("urn:btih:") {
                        m.infohash = h
                            .parse()
                            .map_err(|_| MagnetError::BadInfohash(h.to_string()))?;
                        have_hash = true;
                    }
                }
                "dn" => m.name = Some(v),
                "tr" => m.trackers.push(v),
                "ws" => m.web_seeds.push(v),
                "x.pe" => m.peers.push(v),
                "xl" => m.length = v.parse().ok(),
                _ => {}
            }
        }
        if !have_hash {
            return Err(MagnetError::NoInfohash);
        }
        Ok(m)
    }
}

/// Magnet values keep `:` and `/` readable (`tr=http://t/announce`).
const MAGNET_VALUE: &AsciiSet = &crate::URL_UNRESERVED.remove(b':').remove(b'/');

fn encode(s: &str) -> PercentEncode<'_> {
    utf8_percent_encode(s, MAGNET_VALUE)
}

/// Decodes a query value (`+` is a space); `None` for a malformed escape,
/// which the crate would pass through, or for text that is not UTF-8.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let well_formed = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    let spaced = s.replace('+', " ");
    let text = percent_decode_str(&spaced).decode_utf8().ok()?;
    Some(text.into_owned())
}
