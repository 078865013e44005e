//! A minimal HTTP/1.1 client for what the engine fetches over plain HTTP:
//! tracker announces, `.torrent` URLs and web-seed ranges.
//!
//! Why not a full client crate: these requests are one GET each, on
//! fleet-internal plain-HTTP endpoints, and every response must be bounded in
//! size and time because the other end is untrusted. Forty lines of
//! framing with hard caps is easier to audit than a general client's limits.
//! HTTPS is not supported; such a URL is a clear error.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Why an HTTP fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Not an `http://` URL, or no host.
    #[error("unsupported URL {0:?} (only http:// is supported)")]
    BadUrl(String),
    /// Connect, read or write failed.
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    /// No complete answer in time.
    #[error("http: timed out after {0:?}")]
    Timeout(Duration),
    /// The response head or chunk framing is malformed.
    #[error("http: malformed response: {0}")]
    Malformed(&'static str),
    /// The body is larger than allowed.
    #[error("http: response body larger than {0} bytes")]
    TooLarge(usize),
    /// A status other than the accepted ones.
    #[error("http: status {0}")]
    Status(u16),
}

/// A parsed `http://host[:port]/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl HttpUrl {
    /// Parses an `http://` URL.
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = || HttpError::BadUrl(url.chars().take(200).collect());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => 80,
                None => return Err(bad()),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() || target.contains(['\r', '\n', ' ']) {
            return Err(bad());
        }
        Ok(Self { host, port, target })
    }

    fn host_header(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

async fn connect(url: &HttpUrl, source: Option<std::net::IpAddr>) -> std::io::Result<TcpStream> {
    let Some(ip) = source else {
        return TcpStream::connect((url.host.as_str(), url.port)).await;
    };
    let mut last = None;
    for addr in tokio::net::lookup_host((url.host.as_str(), url.port)).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if ip.is_ipv4() == addr.is_ipv4() {
            socket.bind(std::net::SocketAddr::new(ip, 0))?;
        }
        match socket.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address for the host")))
}

/// GETs `url` with optional extra header lines, reading at most `max_body`
/// bytes, all within `timeout`.
pub async fn get(
    url: &str,
    extra_headers: &[(&str, String)],
    max_body: usize,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    get_from(url, extra_headers, max_body, timeout, None).await
}

/// [`get`] from a given local address (the connection is bound to it
/// when it is of the target's family).
pub async fn get_from(
    url: &str,
    extra_headers: &[(&str, String)],
    max_body: usize,
    timeout: Duration,
    source: Option<std::net::IpAddr>,
) -> Result<HttpResponse, HttpError> {
    let url = HttpUrl::parse(url)?;
    tokio::time::timeout(timeout, get_inner(&url, extra_headers, max_body, source))
        .await
        .map_err(|_| HttpError::Timeout(timeout))?
}

async fn get_inner(
    url: &HttpUrl,
    extra_headers: &[(&str, String)],
    max_body: usize,
    source: Option<std::net::IpAddr>,
) -> Result<HttpResponse, HttpError> {
    let stream = connect(url, source).await?;
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: anthill/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
        url.target,
        url.host_header(),
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in extra_headers {
        if v.contains(['\r', '\n']) {
            return Err(HttpError::Malformed("header value with a line break"));
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.get_mut().write_all(req.as_bytes()).await?;
    read_response(&mut stream, max_body).await
}

/// Reads a whole response from `bytes` with the client's own reader, for
/// fuzzing and tests: `bytes` is what a server sent, up to the close.
pub fn parse_response(bytes: &[u8], max_body: usize) -> Result<HttpResponse, HttpError> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut reader = bytes;
    let fut = std::pin::pin!(read_response(&mut reader, max_body));
    // A byte slice never makes a read wait, so one poll finishes the read.
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(HttpError::Malformed("a read of a byte slice waited")),
    }
}

/// Reads the status line, headers and body (Content-Length, chunked, or to
/// the end), with the caps described on [`get`].
async fn read_response<R: AsyncBufRead + Unpin>(
    stream: &mut R,
    max_body: usize,
) -> Result<HttpResponse, HttpError> {
    // Head: at most 64 header lines of at most 8 KiB each.
    let mut line = Vec::new();
    read_line(stream, &mut line).await?;
    let status_line =
        std::str::from_utf8(&line).map_err(|_| HttpError::Malformed("status line"))?;
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not an HTTP/1.x response"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(HttpError::Malformed("status code"))?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    for n in 0.. {
        if n > 64 {
            return Err(HttpError::Malformed("too many header lines"));
        }
        read_line(stream, &mut line).await?;
        if line.is_empty() {
            break;
        }
        let l = String::from_utf8_lossy(&line);
        let Some((k, v)) = l.split_once(':') else {
            return Err(HttpError::Malformed("header line without a colon"));
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            let len: usize = v
                .parse()
                .map_err(|_| HttpError::Malformed("content-length"))?;
            if len > max_body {
                return Err(HttpError::TooLarge(max_body));
            }
            content_length = Some(len);
        } else if k.eq_ignore_ascii_case("transfer-encoding")
            && v.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            read_line(stream, &mut line).await?;
            let size_text = String::from_utf8_lossy(&line);
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| HttpError::Malformed("chunk size"))?;
            if size == 0 {
                break;
            }
            if body.len().saturating_add(size) > max_body {
                return Err(HttpError::TooLarge(max_body));
            }
            let start = body.len();
            body.resize(start + size, 0);
            stream.read_exact(&mut body[start..]).await?;
            read_line(stream, &mut line).await?;
        }
    } else if let Some(len) = content_length {
        body.resize(len, 0);
        stream.read_exact(&mut body).await?;
    } else {
        let mut limited = stream.take(max_body as u64 + 1);
        limited.read_to_end(&mut body).await?;
        if body.len() > max_body {
            return Err(HttpError::TooLarge(max_body));
        }
    }
    Ok(HttpResponse { status, body })
}

/// Reads one CRLF- (or LF-) terminated line without the terminator, at most 8 KiB.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    line: &mut Vec<u8>,
) -> Result<(), HttpError> {
    line.clear();
    let n = (&mut *r).take(8192).read_until(b'\n', line).await?;
    if n == 0 {
        return Err(HttpError::Malformed("connection closed early"));
    }
    if line.last() != Some(&b'\n') {
        return Err(HttpError::Malformed("line too long"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = HttpUrl::parse("http://t.example:6969/announce?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("t.example", 6969, "/announce?x=1")
        );
        let u = HttpUrl::parse("http://[::1]:80/a").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert_eq!(u.host_header(), "[::1]");
        let u = HttpUrl::parse("http://h?q").unwrap();
        assert_eq!(u.target, "/?q");
        for bad in [
            "https://h/",
            "http://",
            "http://h:x/",
            "http://h/a b",
            "ftp://h",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_each_body_framing() {
        let ok = |raw: &[u8], max| parse_response(raw, max).map(|r| (r.status, r.body));
        assert_eq!(
            ok(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 5).unwrap(),
            (200, b"hello".to_vec())
        );
        assert_eq!(
            ok(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;x=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                11
            )
            .unwrap(),
            (200, b"hello world".to_vec())
        );
        assert_eq!(
            ok(b"HTTP/1.0 404 Not Found\nServer: x\n\nrest", 9).unwrap(),
            (404, b"rest".to_vec())
        );
    }

    #[test]
    fn refuses_oversized_and_malformed_responses() {
        let err = |raw: &[u8], max| parse_response(raw, max).unwrap_err().to_string();
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello!\r\n0\r\n\r\n";
        assert!(err(chunked, 5).contains("larger than 5"));
        assert!(
            err(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!", 5).contains("larger than 5")
        );
        assert!(err(b"HTTP/1.1 200 OK\r\n\r\nhello!", 5).contains("larger than 5"));
        assert!(err(b"SSH-2.0\r\n\r\n", 5).contains("not an HTTP/1.x"));
        assert!(err(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 5).contains("colon"));
        assert!(
            err(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                5
            )
            .contains("chunk size")
        );
        assert!(err(b"HTTP/1.1 200 OK\r\n", 5).contains("closed early"));
        // A body shorter than its Content-Length is cut off, not padded.
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", 9).is_err());
    }
}
