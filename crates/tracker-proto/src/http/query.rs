//! Query strings of announce and scrape requests.
//!
//! `info_hash` and `peer_id` are 20 raw bytes, percent-encoded byte by byte,
//! so values are decoded as bytes, never as UTF-8. `+` is kept as a literal
//! byte: BitTorrent clients percent-encode everything outside the unreserved
//! set, and treating `+` as a space would corrupt a raw 0x2b byte.

use super::RequestError;
use crate::{AnnounceEvent, AnnounceRequest, ByteCount, InfoHash, PeerId, PeerKey, Port};
use std::net::IpAddr;

/// Longest decoded value accepted for any parameter, in bytes.
pub const MAX_VALUE_LEN: usize = 128;

/// Decodes `%XX` escapes of `src` into `out`, returning the decoded length.
///
/// Fails with [`RequestError::BadPercentEncoding`] on a malformed escape and
/// [`RequestError::ValueTooLong`] if `out` is too small; `name` names the
/// parameter in the error.
pub fn percent_decode(
    src: &[u8],
    out: &mut [u8],
    name: &'static str,
) -> Result<usize, RequestError> {
    let mut i = 0;
    let mut n = 0;
    while i < src.len() {
        let byte = if src[i] == b'%' {
            let hi = src.get(i + 1).copied().and_then(hex_value);
            let lo = src.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    i += 3;
                    (hi << 4) | lo
                }
                _ => return Err(RequestError::BadPercentEncoding(name)),
            }
        } else {
            i += 1;
            src[i - 1]
        };
        let slot = out.get_mut(n).ok_or(RequestError::ValueTooLong(name))?;
        *slot = byte;
        n += 1;
    }
    Ok(n)
}

/// Appends `bytes` percent-encoded (everything outside the RFC 3986
/// unreserved set, [`metainfo::URL_UNRESERVED`]) to `out`, for clients and
/// load generators building announce and scrape URLs.
pub fn percent_encode(bytes: &[u8], out: &mut String) {
    out.extend(metainfo::url_encode(bytes));
}

/// The value of one ASCII hex digit (either case) of a `%XX` escape.
fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => (&p[..eq], &p[eq + 1..]),
            None => (p, &p[p.len()..]),
        })
}

fn decode_20(value: &[u8], name: &'static str) -> Result<[u8; 20], RequestError> {
    let mut buf = [0u8; 20];
    let mut tmp = [0u8; 21];
    let n = percent_decode(value, &mut tmp, name).map_err(|e| match e {
        RequestError::ValueTooLong(n) => RequestError::InvalidParameter(n),
        e => e,
    })?;
    if n != 20 {
        return Err(RequestError::InvalidParameter(name));
    }
    buf.copy_from_slice(&tmp[..20]);
    Ok(buf)
}

fn decode_small<'b>(
    value: &[u8],
    buf: &'b mut [u8; MAX_VALUE_LEN],
    name: &'static str,
) -> Result<&'b [u8], RequestError> {
    let n = percent_decode(value, buf, name)?;
    Ok(&buf[..n])
}

fn decode_u64(value: &[u8], name: &'static str) -> Result<u64, RequestError> {
    let mut buf = [0u8; MAX_VALUE_LEN];
    let v = decode_small(value, &mut buf, name)?;
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return Err(RequestError::InvalidParameter(name));
    }
    let mut n: u64 = 0;
    for &d in v {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(RequestError::InvalidParameter(name))?;
    }
    Ok(n)
}

fn set_once<T>(slot: &mut Option<T>, v: T, name: &'static str) -> Result<(), RequestError> {
    if slot.is_some() {
        return Err(RequestError::DuplicateParameter(name));
    }
    *slot = Some(v);
    Ok(())
}

/// Parses the query string of an announce (`GET /announce?...`).
///
/// Required: `info_hash`, `peer_id`, `port`; `uploaded`, `downloaded` and
/// `left` default to 0 when absent (several clients omit them on `stopped`).
/// Unknown parameters are ignored; a known one given twice is an error.
pub fn parse_announce(query: &[u8]) -> Result<AnnounceRequest, RequestError> {
    let mut info_hash = None;
    let mut peer_id = None;
    let mut port = None;
    let mut uploaded = None;
    let mut downloaded = None;
    let mut left = None;
    let mut event = None;
    let mut numwant = None;
    let mut key = None;
    let mut ip = None;
    let mut compact = None;
    let mut no_peer_id = None;
    let mut tracker_id = None;
    for (name, value) in pairs(query) {
        match name {
            b"info_hash" => set_once(
                &mut info_hash,
                InfoHash(decode_20(value, "info_hash")?),
                "info_hash",
            )?,
            b"peer_id" => set_once(
                &mut peer_id,
                PeerId(decode_20(value, "peer_id")?),
                "peer_id",
            )?,
            b"port" => {
                let p = u16::try_from(decode_u64(value, "port")?)
                    .ok()
                    .and_then(Port::new)
                    .ok_or(RequestError::InvalidParameter("port"))?;
                set_once(&mut port, p, "port")?;
            }
            b"uploaded" => set_once(&mut uploaded, decode_u64(value, "uploaded")?, "uploaded")?,
            b"downloaded" => set_once(
                &mut downloaded,
                decode_u64(value, "downloaded")?,
                "downloaded",
            )?,
            b"left" => set_once(&mut left, decode_u64(value, "left")?, "left")?,
            b"event" => {
                let mut buf = [0u8; MAX_VALUE_LEN];
                let e = match decode_small(value, &mut buf, "event")? {
                    b"" | b"empty" | b"paused" => AnnounceEvent::None,
                    b"started" => AnnounceEvent::Started,
                    b"completed" => AnnounceEvent::Completed,
                    b"stopped" => AnnounceEvent::Stopped,
                    _ => return Err(RequestError::InvalidParameter("event")),
                };
                set_once(&mut event, e, "event")?;
            }
            b"numwant" => {
                let mut buf = [0u8; MAX_VALUE_LEN];
                let v = decode_small(value, &mut buf, "numwant")?;
                // Negative means "tracker's choice" (some clients send -1).
                let n = if v.first() == Some(&b'-') {
                    if v.len() < 2 || !v[1..].iter().all(u8::is_ascii_digit) {
                        return Err(RequestError::InvalidParameter("numwant"));
                    }
                    None
                } else {
                    Some(u32::try_from(decode_u64(value, "numwant")?).unwrap_or(u32::MAX))
                };
                set_once(&mut numwant, n, "numwant")?;
            }
            b"key" => {
                let mut buf = [0u8; MAX_VALUE_LEN];
                let k = PeerKey::from_http(decode_small(value, &mut buf, "key")?);
                set_once(&mut key, k, "key")?;
            }
            b"ip" => {
                let mut buf = [0u8; MAX_VALUE_LEN];
                let v = decode_small(value, &mut buf, "ip")?;
                // BEP 3 allows a DNS name here; only literal addresses are used.
                let addr = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<IpAddr>().ok());
                set_once(&mut ip, addr, "ip")?;
            }
            b"compact" => {
                let c = match value {
                    b"1" => true,
                    b"0" => false,
                    _ => return Err(RequestError::InvalidParameter("compact")),
                };
                set_once(&mut compact, c, "compact")?;
            }
            b"no_peer_id" => set_once(&mut no_peer_id, value != b"0", "no_peer_id")?,
            b"trackerid" => {
                let mut buf = [0u8; MAX_VALUE_LEN];
                let v = decode_small(value, &mut buf, "trackerid")?.to_vec();
                set_once(&mut tracker_id, v, "trackerid")?;
            }
            _ => {}
        }
    }
    Ok(AnnounceRequest {
        info_hash: info_hash.ok_or(RequestError::MissingParameter("info_hash"))?,
        peer_id: peer_id.ok_or(RequestError::MissingParameter("peer_id"))?,
        port: port.ok_or(RequestError::MissingParameter("port"))?,
        uploaded: ByteCount(uploaded.unwrap_or(0)),
        downloaded: ByteCount(downloaded.unwrap_or(0)),
        left: ByteCount(left.unwrap_or(0)),
        event: event.unwrap_or_default(),
        numwant: numwant.flatten(),
        key,
        ip: ip.flatten(),
        compact: compact.unwrap_or(true),
        no_peer_id: no_peer_id.unwrap_or(false),
        tracker_id,
    })
}

/// Parses the query string of a scrape (BEP 48): every `info_hash`
/// parameter, at most `max` of them. An empty result asks for a full scrape.
pub fn parse_scrape(query: &[u8], max: usize) -> Result<Vec<InfoHash>, RequestError> {
    let mut out = Vec::new();
    for (name, value) in pairs(query) {
        if name == b"info_hash" {
            if out.len() >= max {
                return Err(RequestError::TooManyInfoHashes { max });
            }
            out.push(InfoHash(decode_20(value, "info_hash")?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IH: &str = "%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14";
    const PID: &str = "-TR3000-abcdefghijkl";

    fn q(extra: &str) -> String {
        format!("info_hash={IH}&peer_id={PID}&port=51413{extra}")
    }

    #[test]
    fn minimal_announce_defaults() {
        let r = parse_announce(q("").as_bytes()).unwrap();
        assert_eq!(r.info_hash.0[0], 1);
        assert_eq!(&r.peer_id.0, PID.as_bytes());
        assert_eq!(r.port.get(), 51413);
        assert_eq!(r.left, ByteCount(0));
        assert_eq!(r.event, AnnounceEvent::None);
        assert!(r.compact);
        assert_eq!(r.numwant, None);
        assert_eq!(r.key, None);
    }

    #[test]
    fn full_announce() {
        let r = parse_announce(
            q(
                "&uploaded=1&downloaded=2&left=3&event=completed&numwant=7&key=0000000a\
               &ip=10.1.2.3&compact=0&no_peer_id=1&trackerid=t%41&supportcrypto=1",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!((r.uploaded.0, r.downloaded.0, r.left.0), (1, 2, 3));
        assert_eq!(r.event, AnnounceEvent::Completed);
        assert_eq!(r.numwant, Some(7));
        assert_eq!(r.key, Some(PeerKey(10)));
        assert_eq!(r.ip, Some("10.1.2.3".parse().unwrap()));
        assert!(!r.compact);
        assert!(r.no_peer_id);
        assert_eq!(r.tracker_id.as_deref(), Some(&b"tA"[..]));
    }

    #[test]
    fn negative_numwant_is_default() {
        let r = parse_announce(q("&numwant=-1").as_bytes()).unwrap();
        assert_eq!(r.numwant, None);
    }

    #[test]
    fn hostname_ip_is_ignored() {
        let r = parse_announce(q("&ip=example.org").as_bytes()).unwrap();
        assert_eq!(r.ip, None);
    }

    #[test]
    fn missing_info_hash() {
        assert_eq!(
            parse_announce(b"peer_id=-TR3000-abcdefghijkl&port=1"),
            Err(RequestError::MissingParameter("info_hash"))
        );
    }

    #[test]
    fn missing_peer_id() {
        let s = format!("info_hash={IH}&port=1");
        assert_eq!(
            parse_announce(s.as_bytes()),
            Err(RequestError::MissingParameter("peer_id"))
        );
    }

    #[test]
    fn missing_port() {
        let s = format!("info_hash={IH}&peer_id={PID}");
        assert_eq!(
            parse_announce(s.as_bytes()),
            Err(RequestError::MissingParameter("port"))
        );
    }

    #[test]
    fn short_info_hash() {
        let s = format!("info_hash=abc&peer_id={PID}&port=1");
        assert_eq!(
            parse_announce(s.as_bytes()),
            Err(RequestError::InvalidParameter("info_hash"))
        );
    }

    #[test]
    fn long_info_hash() {
        let s = format!("info_hash={IH}%15&peer_id={PID}&port=1");
        assert_eq!(
            parse_announce(s.as_bytes()),
            Err(RequestError::InvalidParameter("info_hash"))
        );
    }

    #[test]
    fn bad_escape() {
        let s = format!("info_hash=%zz{}&peer_id={PID}&port=1", &IH[3..]);
        assert_eq!(
            parse_announce(s.as_bytes()),
            Err(RequestError::BadPercentEncoding("info_hash"))
        );
        assert_eq!(
            parse_announce(q("&key=%4").as_bytes()),
            Err(RequestError::BadPercentEncoding("key"))
        );
    }

    #[test]
    fn port_zero_and_overflow() {
        let s = format!("info_hash={IH}&peer_id={PID}&port=0");
        assert_eq!(
            parse_announce(s.as_bytes()),
            Err(RequestError::InvalidParameter("port"))
        );
        let s = format!("info_hash={IH}&peer_id={PID}&port=65536");
        assert_eq!(
            parse_announce(s.as_bytes()),
            Err(RequestError::InvalidParameter("port"))
        );
    }

    #[test]
    fn negative_left() {
        assert_eq!(
            parse_announce(q("&left=-1").as_bytes()),
            Err(RequestError::InvalidParameter("left"))
        );
    }

    #[test]
    fn overflowing_number() {
        assert_eq!(
            parse_announce(q("&uploaded=18446744073709551616").as_bytes()),
            Err(RequestError::InvalidParameter("uploaded"))
        );
    }

    #[test]
    fn bad_event() {
        assert_eq!(
            parse_announce(q("&event=exploded").as_bytes()),
            Err(RequestError::InvalidParameter("event"))
        );
    }

    #[test]
    fn bad_compact() {
        assert_eq!(
            parse_announce(q("&compact=yes").as_bytes()),
            Err(RequestError::InvalidParameter("compact"))
        );
    }

    #[test]
    fn duplicate() {
        assert_eq!(
            parse_announce(q("&port=2").as_bytes()),
            Err(RequestError::DuplicateParameter("port"))
        );
    }

    #[test]
    fn value_too_long() {
        let long = "a".repeat(MAX_VALUE_LEN + 1);
        assert_eq!(
            parse_announce(q(&format!("&key={long}")).as_bytes()),
            Err(RequestError::ValueTooLong("key"))
        );
    }

    #[test]
    fn scrape_many() {
        let s = format!("info_hash={IH}&info_hash={}", "a".repeat(20));
        let v = parse_scrape(s.as_bytes(), 10).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].0, [b'a'; 20]);
        assert_eq!(parse_scrape(b"", 10), Ok(vec![]));
    }

    #[test]
    fn scrape_too_many() {
        let s = format!("info_hash={IH}&info_hash={IH}");
        assert_eq!(
            parse_scrape(s.as_bytes(), 1),
            Err(RequestError::TooManyInfoHashes { max: 1 })
        );
    }

    #[test]
    fn encode_decode_round_trip() {
        let raw: Vec<u8> = (0..=255).collect();
        let mut s = String::new();
        percent_encode(&raw, &mut s);
        let mut out = [0u8; 256];
        let n = percent_decode(s.as_bytes(), &mut out, "x").unwrap();
        assert_eq!(&out[..n], &raw[..]);
    }
}
