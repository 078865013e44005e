//! A deliberately small HTTP/1.x request-head parser: trackers only need
//! `GET <path>?<query>`, keep-alive and (behind a reverse proxy) one header
//! naming the client address. Anything else is rejected, not interpreted.

/// Result of feeding bytes to [`parse_head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadParse<'a> {
    /// A whole head was found.
    Complete(RequestHead<'a>),
    /// More bytes are needed (and the limit is not reached yet).
    Incomplete,
}

/// A parsed request head, borrowing from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// Request method, e.g. `GET`.
    pub method: &'a [u8],
    /// Path part of the target, up to `?`.
    pub path: &'a [u8],
    /// Query part of the target, after `?` (empty if none).
    pub query: &'a [u8],
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// HTTP/1.1 (`true`) or HTTP/1.0.
    pub http11: bool,
    /// Value of the header named by the caller (e.g. `X-Real-IP`), if present.
    pub client_ip_header: Option<&'a [u8]>,
    /// Bytes of input used by the head, including the final blank line.
    pub len: usize,
}

/// Why a request head is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The head is longer than the caller's limit.
    #[error("request head longer than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request line is not `METHOD /target HTTP/1.x`.
    #[error("malformed request line")]
    BadRequestLine,
    /// Only HTTP/1.0 and HTTP/1.1 are spoken.
    #[error("unsupported http version")]
    UnsupportedVersion,
    /// A header line without a colon, or with bytes not allowed in a header.
    #[error("malformed header line")]
    BadHeader,
    /// More headers than the parser accepts.
    #[error("more than {limit} headers")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// Tracker requests have no body.
    #[error("request bodies are not accepted")]
    BodyNotAllowed,
}

/// Most header lines accepted in one request.
pub const MAX_HEADERS: usize = 64;

/// Parses one request head from the start of `buf`.
///
/// `max_len` bounds the head: if no complete head is within the first
/// `max_len` bytes the result is [`HeadError::TooLarge`]. `client_ip_header`
/// names a header (case-insensitive) whose value is returned in
/// [`RequestHead::client_ip_header`].
pub fn parse_head<'a>(
    buf: &'a [u8],
    max_len: usize,
    client_ip_header: Option<&[u8]>,
) -> Result<HeadParse<'a>, HeadError> {
    let window = &buf[..buf.len().min(max_len)];
    let Some(end) = find_blank_line(window) else {
        if buf.len() >= max_len {
            return Err(HeadError::TooLarge { limit: max_len });
        }
        return Ok(HeadParse::Incomplete);
    };
    let len = end + 4;
    let head = &buf[..end];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().ok_or(HeadError::BadRequestLine)?;
    let mut parts = request_line.split(|&b| b == b' ');
    let method = parts.next().ok_or(HeadError::BadRequestLine)?;
    let target = parts.next().ok_or(HeadError::BadRequestLine)?;
    let version = parts.next().ok_or(HeadError::BadRequestLine)?;
    if parts.next().is_some()
        || method.is_empty()
        || !method.iter().all(u8::is_ascii_uppercase)
        || !target.starts_with(b"/")
        || !target.iter().all(|&b| b.is_ascii_graphic())
    {
        return Err(HeadError::BadRequestLine);
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        v if v.starts_with(b"HTTP/") => return Err(HeadError::UnsupportedVersion),
        _ => return Err(HeadError::BadRequestLine),
    };
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &target[target.len()..]),
    };
    let mut keep_alive = http11;
    let mut client_ip = None;
    let mut count = 0;
    for line in lines {
        count += 1;
        if count > MAX_HEADERS {
            return Err(HeadError::TooManyHeaders { limit: MAX_HEADERS });
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HeadError::BadHeader)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| b.is_ascii_graphic()) {
            return Err(HeadError::BadHeader);
        }
        if line.iter().any(|&b| b < 0x20 && b != b'\t') {
            return Err(HeadError::BadHeader);
        }
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value != b"0" {
                return Err(HeadError::BodyNotAllowed);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(HeadError::BodyNotAllowed);
        } else if client_ip_header.is_some_and(|h| name.eq_ignore_ascii_case(h)) {
            client_ip = Some(value);
        }
    }
    Ok(HeadParse::Complete(RequestHead {
        method,
        path,
        query,
        keep_alive,
        http11,
        client_ip_header: client_ip,
        len,
    }))
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> RequestHead<'_> {
        match parse_head(buf, 4096, Some(b"x-real-ip")) {
            Ok(HeadParse::Complete(h)) => h,
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        let h = complete(b"GET /announce?a=1 HTTP/1.1\r\nHost: x\r\n\r\nrest");
        assert_eq!(h.method, b"GET");
        assert_eq!(h.path, b"/announce");
        assert_eq!(h.query, b"a=1");
        assert!(h.keep_alive);
        assert!(h.http11);
        assert_eq!(h.len, 39);
    }

    #[test]
    fn http10_closes_by_default() {
        let h = complete(b"GET /scrape HTTP/1.0\r\n\r\n");
        assert!(!h.keep_alive);
        assert_eq!(h.query, b"");
        let h = complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(h.keep_alive);
    }

    #[test]
    fn connection_close() {
        let h = complete(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!h.keep_alive);
    }

    #[test]
    fn client_ip_header() {
        let h = complete(b"GET / HTTP/1.1\r\nX-Real-IP:  10.0.0.1 \r\n\r\n");
        assert_eq!(h.client_ip_header, Some(&b"10.0.0.1"[..]));
    }

    #[test]
    fn incomplete() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\n", 4096, None),
            Ok(HeadParse::Incomplete)
        );
    }

    #[test]
    fn too_large() {
        let buf = vec![b'a'; 100];
        assert_eq!(
            parse_head(&buf, 100, None),
            Err(HeadError::TooLarge { limit: 100 })
        );
    }

    #[test]
    fn bad_request_line() {
        for bad in [
            &b"GET\r\n\r\n"[..],
            b"GET announce HTTP/1.1\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 x\r\n\r\n",
            b"GET / FTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                parse_head(bad, 4096, None),
                Err(HeadError::BadRequestLine),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unsupported_version() {
        assert_eq!(
            parse_head(b"GET / HTTP/2.0\r\n\r\n", 4096, None),
            Err(HeadError::UnsupportedVersion)
        );
    }

    #[test]
    fn bad_header() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n", 4096, None),
            Err(HeadError::BadHeader)
        );
    }

    #[test]
    fn too_many_headers() {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            buf.extend_from_slice(b"a: b\r\n");
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_head(&buf, 8192, None),
            Err(HeadError::TooManyHeaders { limit: MAX_HEADERS })
        );
    }

    #[test]
    fn body_not_allowed() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 4096, None),
            Err(HeadError::BodyNotAllowed)
        );
        assert_eq!(
            parse_head(
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                4096,
                None
            ),
            Err(HeadError::BodyNotAllowed)
        );
    }
}
