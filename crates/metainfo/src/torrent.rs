use bencode::{Encoder, Limits, Value};

use crate::{Info, Infohash, MAX_TORRENT_FILE_SIZE, MetainfoError as E};

/// A whole `.torrent`: the [`Info`] plus trackers, web seeds and descriptive keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    info: Info,
    raw_info: Vec<u8>,
    infohash: Infohash,
    announce: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    hybrid: bool,
}

impl Metainfo {
    /// Wraps an [`Info`] built locally; the infohash is over its canonical encoding.
    pub fn new(info: Info) -> Self {
        let raw_info = info.encode();
        Self {
            infohash: Infohash::of_info(&raw_info),
            raw_info,
            info,
            announce: Vec::new(),
            web_seeds: Vec::new(),
            comment: None,
            created_by: None,
            creation_date: None,
            hybrid: false,
        }
    }

    /// Builds from an `info` dictionary received as raw bytes (BEP 9 metadata exchange).
    /// The caller has already checked the raw bytes hash to the expected infohash.
    pub fn from_info_bytes(raw_info: &[u8]) -> Result<Self, E> {
        if raw_info.len() > MAX_TORRENT_FILE_SIZE {
            return Err(E::TooLarge {
                size: raw_info.len(),
                limit: MAX_TORRENT_FILE_SIZE,
            });
        }
        let v = bencode::decode_with(raw_info, limits())?;
        Self::from_parts(&v, raw_info, None)
    }

    /// Parses and validates a `.torrent` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, E> {
        if bytes.len() > MAX_TORRENT_FILE_SIZE {
            return Err(E::TooLarge {
                size: bytes.len(),
                limit: MAX_TORRENT_FILE_SIZE,
            });
        }
        let top = bencode::decode_with(bytes, limits())?;
        let d = top.dict().ok_or(E::NotADict("torrent"))?;
        let info_v = d.get(b"info").ok_or(E::Missing("info"))?;
        Self::from_parts(info_v, info_v.raw(), Some(&top))
    }

    /// The infohash of a `.torrent` file's `info` dictionary without
    /// checking the dictionary: names what a torrent claims to be even when
    /// [`Metainfo::from_bytes`] refuses it (an unsafe path, say), so that
    /// the refusal can be recorded against the right torrent.
    pub fn infohash_of_file(bytes: &[u8]) -> Result<Infohash, E> {
        if bytes.len() > MAX_TORRENT_FILE_SIZE {
            return Err(E::TooLarge {
                size: bytes.len(),
                limit: MAX_TORRENT_FILE_SIZE,
            });
        }
        let top = bencode::decode_with(bytes, limits())?;
        let d = top.dict().ok_or(E::NotADict("torrent"))?;
        let info_v = d.get(b"info").ok_or(E::Missing("info"))?;
        if info_v.dict().is_none() {
            return Err(E::NotADict("info"));
        }
        Ok(Infohash::of_info(info_v.raw()))
    }

    fn from_parts(info_v: &Value<'_>, raw_info: &[u8], top: Option<&Value<'_>>) -> Result<Self, E> {
        let info = Info::parse(info_v)?;
        let hybrid = info_v
            .dict()
            .and_then(|d| d.get(b"meta version"))
            .and_then(Value::int)
            == Some(2);
        let mut m = Self {
            info,
            raw_info: raw_info.to_vec(),
            infohash: Infohash::of_info(raw_info),
            announce: Vec::new(),
            web_seeds: Vec::new(),
            comment: None,
            created_by: None,
            creation_date: None,
            hybrid,
        };
        let Some(d) = top.and_then(Value::dict) else {
            return Ok(m);
        };
        // Optional keys are read leniently: a wrong type drops the key, it does
        // not reject a torrent whose data is perfectly well described.
        if let Some(tiers) = d.get(b"announce-list").and_then(Value::list) {
            m.announce = tiers
                .iter()
                .filter_map(Value::list)
                .map(|t| t.iter().filter_map(url).collect::<Vec<_>>())
                .filter(|t: &Vec<String>| !t.is_empty())
                .collect();
        }
        if m.announce.is_empty() {
            if let Some(a) = d.get(b"announce").and_then(url) {
                m.announce = vec![vec![a]];
            }
        }
        m.web_seeds = match d.get(b"url-list") {
            Some(v) if v.list().is_some() => v
                .list()
                .unwrap_or_default()
                .iter()
                .filter_map(url)
                .collect(),
            Some(v) => url(v).into_iter().collect(),
            None => Vec::new(),
        };
        m.comment = d.get(b"comment").and_then(Value::str).map(str::to_string);
        m.created_by = d
            .get(b"created by")
            .and_then(Value::str)
            .map(str::to_string);
        m.creation_date = d.get(b"creation date").and_then(Value::int);
        Ok(m)
    }

    /// Sets the tracker tiers (BEP 12). The first URL is also written as `announce`.
    pub fn with_announce(mut self, tiers: Vec<Vec<String>>) -> Self {
        self.announce = tiers.into_iter().filter(|t| !t.is_empty()).collect();
        self
    }
    /// Sets BEP 19 web seed URLs.
    pub fn with_web_seeds(mut self, urls: Vec<String>) -> Self {
        self.web_seeds = urls;
        self
    }
    /// Sets the comment.
    pub fn with_comment(mut self, c: Option<String>) -> Self {
        self.comment = c;
        self
    }
    /// Sets `created by`.
    pub fn with_created_by(mut self, c: Option<String>) -> Self {
        self.created_by = c;
        self
    }
    /// Sets `creation date` (seconds since the epoch).
    pub fn with_creation_date(mut self, t: Option<i64>) -> Self {
        self.creation_date = t;
        self
    }

    /// The info dictionary.
    pub fn info(&self) -> &Info {
        &self.info
    }
    /// The raw `info` bytes the infohash is computed over.
    pub fn raw_info(&self) -> &[u8] {
        &self.raw_info
    }
    /// The v1 infohash.
    pub fn infohash(&self) -> Infohash {
        self.infohash
    }
    /// Tracker tiers (BEP 12); a plain `announce` is one tier of one.
    pub fn announce_tiers(&self) -> &[Vec<String>] {
        &self.announce
    }
    /// All tracker URLs, tier by tier.
    pub fn trackers(&self) -> impl Iterator<Item = &str> {
        self.announce.iter().flatten().map(String::as_str)
    }
    /// BEP 19 web seeds.
    pub fn web_seeds(&self) -> &[String] {
        &self.web_seeds
    }
    /// The comment.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
    /// `created by`.
    pub fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }
    /// `creation date`, seconds since the epoch.
    pub fn creation_date(&self) -> Option<i64> {
        self.creation_date
    }
    /// True for a BEP 52 hybrid torrent (loaded through its v1 part).
    pub fn is_hybrid(&self) -> bool {
        self.hybrid
    }

    /// Encodes the torrent; the `info` bytes are written exactly as held.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.dict(|d| {
            if let Some(first) = self.trackers().next() {
                d.key("announce").str(first);
            }
            if self.announce.len() > 1 || self.announce.first().is_some_and(|t| t.len() > 1) {
                d.key("announce-list").list(|l| {
                    for tier in &self.announce {
                        l.list(|t| {
                            for u in tier {
                                t.str(u);
                            }
                        });
                    }
                });
            }
            if let Some(c) = &self.comment {
                d.key("comment").str(c);
            }
            if let Some(c) = &self.created_by {
                d.key("created by").str(c);
            }
            if let Some(t) = self.creation_date {
                d.key("creation date").int(t);
            }
            d.key("info").raw(&self.raw_info);
            match self.web_seeds.as_slice() {
                [] => {}
                [one] => {
                    d.key("url-list").str(one);
                }
                many => {
                    d.key("url-list").list(|l| {
                        for u in many {
                            l.str(u);
                        }
                    });
                }
            }
        });
        e.finish()
    }
}

fn url(v: &Value<'_>) -> Option<String> {
    v.str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn limits() -> Limits {
    Limits {
        max_depth: 32,
        ..Limits::default()
    }
}
