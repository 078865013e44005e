//! Reading RSS feeds of torrents: our hub's ([`Feed::to_xml`] round-trips
//! through [`Feed::parse`]) and plain ones from other servers.
//!
//! Plain feeds vary. What is taken: any `<item>` (RSS 0.9x, 1.0 and 2.0)
//! whose `enclosure` has type `application/x-bittorrent`, or whose enclosure
//! URL or `link` ends in `.torrent`, or that carries a magnet link; its
//! infohash from `torrent:infoHash` (also the old nested ezRSS form), a
//! `urn:btih:` guid or the magnet link, in that order, and none if none is
//! given (the `.torrent` then tells). Other items are skipped, never an
//! error. What is refused: more than [`Feed::MAX_BYTES`], malformed XML,
//! nesting deeper than [`Feed::MAX_DEPTH`], more than [`Feed::MAX_ITEMS`]
//! items, and a document without a `<channel>`.

use std::time::UNIX_EPOCH;

use metainfo::Infohash;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::{ANTHILL_NS, Feed, FeedItem, TORRENT_MIME, TORRENT_NS};

const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

/// Why bytes are not a feed we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// Larger than [`Feed::MAX_BYTES`].
    #[error("the feed is {len} bytes; at most {max} are read")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed XML.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset where the parser stopped.
        position: u64,
        /// The parser's message.
        message: String,
    },
    /// Elements nested deeper than [`Feed::MAX_DEPTH`].
    #[error("elements are nested deeper than {0}")]
    TooDeep(usize),
    /// More than [`Feed::MAX_ITEMS`] torrent items.
    #[error("more than {0} items")]
    TooManyItems(usize),
    /// No `<channel>` element: not RSS.
    #[error("not an RSS feed: it has no <channel> element")]
    NotRss,
}

/// Which namespace an element is in, as far as feeds care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    None,
    Torrent,
    Anthill,
    Atom,
    Other,
}

fn ns_of(r: &ResolveResult<'_>) -> Ns {
    match r {
        ResolveResult::Bound(ns) => match ns.as_ref() {
            n if n == TORRENT_NS.as_bytes() => Ns::Torrent,
            n if n == ANTHILL_NS.as_bytes() => Ns::Anthill,
            n if n == ATOM_NS.as_bytes() => Ns::Atom,
            // RSS 1.0 puts its elements in its own namespace.
            b"http://purl.org/rss/1.0/" => Ns::None,
            _ => Ns::Other,
        },
        ResolveResult::Unbound => Ns::None,
        ResolveResult::Unknown(_) => Ns::Other,
    }
}

/// An item's fields as read, before deciding whether it is a torrent.
#[derive(Debug, Default)]
struct RawItem {
    title: String,
    guid: String,
    pub_date: String,
    link: String,
    description: String,
    enclosure_url: Option<String>,
    enclosure_type: String,
    enclosure_length: String,
    info_hash: String,
    content_length: String,
    magnet: String,
    file_name: String,
    seq: String,
    manifest: Option<String>,
    signature: Option<String>,
}

fn is_torrent_path(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or("");
    // Compared as bytes: the path may end in multi-byte characters, and
    // slicing the str there would panic (found by the fuzz target).
    let b = path.as_bytes();
    b.len() > ".torrent".len() && b[b.len() - ".torrent".len()..].eq_ignore_ascii_case(b".torrent")
}

#[cfg(test)]
#[test]
fn torrent_paths_ending_in_multibyte_characters_do_not_panic() {
    assert!(!is_torrent_path("https://e.org/dl?x"));
    assert!(!is_torrent_path("https://e.org/\u{fffd}\u{fffd}\u{fffd}x"));
    assert!(!is_torrent_path("https://e.org/ab\u{fffd}"));
    assert!(is_torrent_path("https://e.org/a.TORRENT?x=1"));
}

fn http_date(s: &str) -> i64 {
    httpdate::parse_http_date(s.trim())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

fn infohash_of(raw: &RawItem) -> Option<Infohash> {
    if let Ok(ih) = raw.info_hash.trim().parse::<Infohash>() {
        return Some(ih);
    }
    let guid = raw.guid.trim();
    if let Some(h) = guid
        .strip_prefix("urn:btih:")
        .and_then(|h| h.parse::<Infohash>().ok())
    {
        return Some(h);
    }
    raw.magnet
        .trim()
        .parse::<metainfo::Magnet>()
        .ok()
        .map(|m| m.infohash)
}

impl RawItem {
    /// The item as a torrent, or `None` if it is not one.
    fn finish(self) -> Option<FeedItem> {
        let mime = self
            .enclosure_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let torrent_url = match &self.enclosure_url {
            Some(u) if mime == TORRENT_MIME || is_torrent_path(u) => u.clone(),
            _ if is_torrent_path(&self.link) => self.link.clone(),
            _ if !self.magnet.trim().is_empty() => String::new(),
            _ => return None,
        };
        let infohash = infohash_of(&self);
        if torrent_url.is_empty() && infohash.is_none() {
            return None;
        }
        let number = |s: &str| s.trim().parse::<u64>().ok();
        Some(FeedItem {
            infohash,
            published: http_date(&self.pub_date),
            torrent_length: number(&self.enclosure_length).unwrap_or(0),
            content_length: number(&self.content_length).unwrap_or(0),
            seq: number(&self.seq),
            title: self.title,
            torrent_url,
            link: self.link,
            description: self.description,
            magnet: self.magnet,
            file_name: self.file_name,
            manifest_url: self.manifest,
            signature_url: self.signature,
        })
    }

    fn set(&mut self, ns: Ns, local: &[u8], text: String) {
        match (ns, local) {
            (Ns::None, b"title") => self.title = text,
            (Ns::None, b"guid") => self.guid = text,
            (Ns::None, b"pubDate") => self.pub_date = text,
            (Ns::None, b"link") => self.link = text,
            (Ns::None, b"description") => self.description = text,
            (Ns::Torrent, b"infoHash") => self.info_hash = text,
            (Ns::Torrent, b"contentLength") => self.content_length = text,
            (Ns::Torrent, b"magnetURI") => self.magnet = text,
            (Ns::Torrent, b"fileName") => self.file_name = text,
            (Ns::Anthill, b"seq") => self.seq = text,
            (Ns::Anthill, b"manifest") => self.manifest = Some(text),
            (Ns::Anthill, b"signature") => self.signature = Some(text),
            _ => {}
        }
    }
}

/// Attribute `name` (no prefix) of `e`, unescaped.
fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.as_ref() == name).then(|| match a.unescape_value() {
            Ok(v) => v.into_owned(),
            Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
        })
    })
}

struct Frame {
    ns: Ns,
    local: Vec<u8>,
}

impl Feed {
    /// Largest feed read, in bytes.
    pub const MAX_BYTES: usize = 8 << 20;
    /// Deepest element nesting accepted.
    pub const MAX_DEPTH: usize = 64;
    /// Most torrent items accepted.
    pub const MAX_ITEMS: usize = 10_000;

    /// Parses an RSS feed (see the module documentation for what is taken).
    pub fn parse(bytes: &[u8]) -> Result<Feed, FeedError> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(FeedError::TooLarge {
                len: bytes.len(),
                max: Self::MAX_BYTES,
            });
        }
        let mut r = NsReader::from_reader(bytes);
        r.config_mut().check_end_names = true;
        let mut feed = Feed {
            title: String::new(),
            link: String::new(),
            self_url: String::new(),
            description: String::new(),
            ttl_minutes: 0,
            last_build: 0,
            items: Vec::new(),
        };
        let mut seen_channel = false;
        let mut stack: Vec<Frame> = Vec::new();
        let mut item: Option<(usize, RawItem)> = None;
        let mut text = String::new();
        loop {
            let xml_err = |r: &NsReader<&[u8]>, e: quick_xml::Error| FeedError::Xml {
                position: r.error_position(),
                message: e.to_string(),
            };
            let (res, ev) = match r.read_resolved_event() {
                Ok((res, ev)) => (ns_of(&res), ev),
                Err(e) => return Err(xml_err(&r, e)),
            };
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(ev, Event::Empty(_));
                    let local = e.local_name().as_ref().to_vec();
                    let parent_is_channel = stack
                        .last()
                        .is_some_and(|f| f.ns == Ns::None && f.local == b"channel");
                    match (res, local.as_slice()) {
                        (Ns::None, b"channel") => seen_channel = true,
                        (Ns::None, b"item") if item.is_none() => {
                            item = Some((stack.len(), RawItem::default()));
                        }
                        (Ns::None, b"enclosure") => {
                            if let Some((_, it)) = item.as_mut() {
                                if it.enclosure_url.is_none() {
                                    it.enclosure_url = attr(e, b"url");
                                    it.enclosure_type = attr(e, b"type").unwrap_or_default();
                                    it.enclosure_length = attr(e, b"length").unwrap_or_default();
                                }
                            }
                        }
                        (Ns::Atom, b"link")
                            if parent_is_channel
                                && item.is_none()
                                && attr(e, b"rel").as_deref() == Some("self") =>
                        {
                            feed.self_url = attr(e, b"href").unwrap_or_default();
                        }
                        _ => {}
                    }
                    text.clear();
                    if !empty {
                        if stack.len() >= Self::MAX_DEPTH {
                            return Err(FeedError::TooDeep(Self::MAX_DEPTH));
                        }
                        stack.push(Frame { ns: res, local });
                    } else if let Some((depth, _)) = &item {
                        if *depth == stack.len() && res == Ns::None && local == b"item" {
                            // `<item/>`: nothing in it.
                            item = None;
                        }
                    }
                }
                Event::Text(t) => match t.unescape() {
                    Ok(s) => text.push_str(&s),
                    Err(_) => text.push_str(&String::from_utf8_lossy(&t)),
                },
                Event::CData(c) => text.push_str(&String::from_utf8_lossy(&c)),
                Event::End(_) => {
                    let Some(frame) = stack.pop() else {
                        return Err(FeedError::Xml {
                            position: r.buffer_position(),
                            message: "end tag without a start tag".into(),
                        });
                    };
                    let value = std::mem::take(&mut text);
                    match &mut item {
                        Some((depth, _)) if *depth == stack.len() => {
                            let (_, raw) = item.take().unwrap_or_default();
                            if let Some(it) = raw.finish() {
                                if feed.items.len() == Self::MAX_ITEMS {
                                    return Err(FeedError::TooManyItems(Self::MAX_ITEMS));
                                }
                                feed.items.push(it);
                            }
                        }
                        Some((_, raw)) => raw.set(frame.ns, &frame.local, value),
                        None => {
                            let in_channel = stack
                                .last()
                                .is_some_and(|f| f.ns == Ns::None && f.local == b"channel");
                            if in_channel && frame.ns == Ns::None {
                                match frame.local.as_slice() {
                                    b"title" => feed.title = value,
                                    b"link" => feed.link = value,
                                    b"description" => feed.description = value,
                                    b"ttl" => feed.ttl_minutes = value.trim().parse().unwrap_or(0),
                                    b"lastBuildDate" => feed.last_build = http_date(&value),
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !stack.is_empty() {
            return Err(FeedError::Xml {
                position: r.buffer_position(),
                message: "the document ends inside an element".into(),
            });
        }
        if !seen_channel {
            return Err(FeedError::NotRss);
        }
        Ok(feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn our_feed_round_trips() {
        let f = crate::feed::tests::feed();
        assert_eq!(Feed::parse(f.to_xml().as_bytes()).unwrap(), f);
    }

    #[test]
    fn a_plain_feed_of_torrents_is_read() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
<channel>
  <title>Some tracker</title>
  <link>https://example.org/</link>
  <item>
    <title><![CDATA[distro 12 <amd64>]]></title>
    <link>https://example.org/t/distro-12.torrent</link>
    <guid>https://example.org/t/1</guid>
    <pubDate>Tue, 01 Dec 2026 08:35:11 GMT</pubDate>
  </item>
  <item>
    <title>news, not a torrent</title>
    <link>https://example.org/news</link>
  </item>
  <item>
    <title>ezrss style</title>
    <enclosure url="https://example.org/dl?id=7" type="application/x-bittorrent; charset=x" length="55"/>
    <torrent xmlns="http://xmlns.ezrss.it/0.1/">
      <infoHash>ABABABABABABABABABABABABABABABABABABABAB</infoHash>
      <contentLength>1234</contentLength>
    </torrent>
  </item>
  <item>
    <title>magnet only</title>
    <guid>urn:btih:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd</guid>
    <torrent:magnetURI xmlns:torrent="http://xmlns.ezrss.it/0.1/">magnet:?xt=urn:btih:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd&amp;dn=m</torrent:magnetURI>
  </item>
  <item><title>video</title><enclosure url="https://example.org/a.mp4" type="video/mp4"/></item>
  <item/>
</channel>
</rss>"#;
        let f = Feed::parse(xml).unwrap();
        assert_eq!(f.title, "Some tracker");
        assert_eq!(f.items.len(), 3, "{:#?}", f.items);
        assert_eq!(f.items[0].title, "distro 12 <amd64>");
        assert_eq!(
            f.items[0].torrent_url,
            "https://example.org/t/distro-12.torrent"
        );
        assert_eq!(f.items[0].infohash, None);
        assert_eq!(f.items[0].published, 1_796_114_111);
        assert_eq!(f.items[1].torrent_url, "https://example.org/dl?id=7");
        assert_eq!(f.items[1].infohash, Some(Infohash([0xab; 20])));
        assert_eq!(f.items[1].content_length, 1234);
        assert_eq!(f.items[1].torrent_length, 55);
        assert_eq!(f.items[2].torrent_url, "");
        assert_eq!(f.items[2].infohash, Some(Infohash([0xcd; 20])));
        assert!(f.items.iter().all(|i| i.seq.is_none()));
    }

    #[test]
    fn refusals() {
        assert_eq!(Feed::parse(b"<rss></rss>"), Err(FeedError::NotRss));
        assert!(matches!(
            Feed::parse(b"<rss><channel></rss>"),
            Err(FeedError::Xml { .. })
        ));
        assert!(matches!(
            Feed::parse(b"<rss><channel>"),
            Err(FeedError::Xml { .. })
        ));
        let deep = format!(
            "<rss><channel>{}{}</channel></rss>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert_eq!(
            Feed::parse(deep.as_bytes()),
            Err(FeedError::TooDeep(Feed::MAX_DEPTH))
        );
        let big = vec![b' '; Feed::MAX_BYTES + 1];
        assert!(matches!(Feed::parse(&big), Err(FeedError::TooLarge { .. })));
        let many = format!(
            "<rss><channel>{}</channel></rss>",
            "<item><link>a.torrent</link></item>".repeat(Feed::MAX_ITEMS + 1)
        );
        assert_eq!(
            Feed::parse(many.as_bytes()),
            Err(FeedError::TooManyItems(Feed::MAX_ITEMS))
        );
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 <>&'\"./:?=#%~_-]{0,24}"
    }

    fn item() -> impl Strategy<Value = FeedItem> {
        (
            (
                text(),
                proptest::option::of(any::<[u8; 20]>()),
                0i64..4_000_000_000,
            ),
            (
                "https?://[a-z]{1,8}/[a-z]{0,8}\\.torrent",
                any::<u64>(),
                text(),
                text(),
            ),
            (any::<u64>(), text(), text()),
            (
                proptest::option::of(any::<u64>()),
                proptest::option::of(text()),
                proptest::option::of(text()),
            ),
        )
            .prop_map(
                |(
                    (title, ih, published),
                    (url, tl, link, desc),
                    (cl, magnet, file),
                    (seq, m, s),
                )| {
                    FeedItem {
                        title,
                        infohash: ih.map(Infohash),
                        published,
                        torrent_url: url,
                        torrent_length: tl,
                        link,
                        description: desc,
                        content_length: cl,
                        magnet,
                        file_name: file,
                        seq,
                        manifest_url: m,
                        signature_url: s,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn any_feed_round_trips(
            (title, link, self_url, description) in (text(), text(), text(), text()),
            ttl in any::<u32>(),
            last_build in 0i64..4_000_000_000,
            items in proptest::collection::vec(item(), 0..5),
        ) {
            let f = Feed { title, link, self_url, description, ttl_minutes: ttl, last_build, items };
            prop_assert_eq!(Feed::parse(f.to_xml().as_bytes()).unwrap(), f);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Feed::parse(&data);
        }

        #[test]
        fn mangled_feeds_never_panic(cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>()) {
            let mut x = crate::feed::tests::feed().to_xml().into_bytes();
            let at = flip % x.len();
            x[at] = byte;
            x.truncate(cut.min(x.len()));
            let _ = Feed::parse(&x);
        }
    }
}
