//! Percent-encoding for the URLs this workspace builds: magnet links,
//! tracker announce and scrape queries, web seed paths. One set of
//! characters left as they are (RFC 3986 unreserved), on the
//! `percent-encoding` crate.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, PercentEncode};

/// Bytes left unescaped in a URL component: RFC 3986 unreserved
/// (`A-Z a-z 0-9 - . _ ~`). BitTorrent clients escape everything else,
/// which keeps a raw `+` of an infohash from reading as a space.
pub const URL_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `bytes` with every byte outside [`URL_UNRESERVED`] written as `%XX`
/// (upper-case hex); display it or collect it into a `String`.
pub fn url_encode(bytes: &[u8]) -> PercentEncode<'_> {
    percent_encoding::percent_encode(bytes, URL_UNRESERVED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_all_but_unreserved() {
        assert_eq!(url_encode(b"aZ9-._~").to_string(), "aZ9-._~");
        assert_eq!(url_encode(b"a b+c/%").to_string(), "a%20b%2Bc%2F%25");
        assert_eq!(url_encode(&[0, 0xff, 0x2b]).to_string(), "%00%FF%2B");
        assert_eq!(url_encode("é".as_bytes()).to_string(), "%C3%A9");
    }
}
