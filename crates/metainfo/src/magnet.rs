use std::fmt;
use std::str::FromStr;

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

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
