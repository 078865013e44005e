//! A lean HTTP/1.1 server for the tracker's few endpoints.
//!
//! Why not a framework: an announce is a ~300-byte GET answered with a
//! ~100-byte body, and a fleet's clients mostly open one connection per
//! announce. The per-request work of a general router, header map and body
//! machinery costs more than the announce itself, so this module parses the
//! head with [`tracker_proto::http::parse_head`] straight from the read
//! buffer and writes the whole response with one `write_all`. Each
//! connection is one task; the number of connections is capped; every read
//! has a timeout; heads are size-limited; bodies are refused.

use crate::Tracker;
use crate::metrics::{ErrorKind, Protocol};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracker_proto::InfoHash;
use tracker_proto::http::{
    self, AnnounceResponse, HeadError, HeadParse, PeerForm, ResponsePeer, ScrapeResponse,
};

/// Most infohashes in one HTTP scrape.
const MAX_SCRAPE: usize = 256;
/// Most torrents listed by `/stats` and `/metrics`.
const MAX_LISTED_TORRENTS: usize = 10_000;
/// Most peers listed by `/stats?info_hash=`.
const MAX_LISTED_PEERS: usize = 10_000;

/// Accepts connections until `cancel` fires.
pub(crate) async fn accept_loop(
    tracker: Tracker,
    listener: TcpListener,
    cancel: CancellationToken,
    tasks: TaskTracker,
) -> Result<(), crate::TrackerError> {
    let limit = Arc::new(Semaphore::new(tracker.config().http.max_connections.max(1)));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = cancel.cancelled() => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracker
                .metrics()
                .http_connections_rejected
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        tracker
            .metrics()
            .http_connections
            .fetch_add(1, Ordering::Relaxed);
        let tracker = tracker.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(&tracker, stream, peer, &cancel).await {
                tracing::debug!(%peer, error = %e, "http connection ended with error");
            }
        });
    }
}

async fn connection(
    tracker: &Tracker,
    mut stream: TcpStream,
    peer: SocketAddr,
    cancel: &CancellationToken,
) -> std::io::Result<()> {
    let cfg = &tracker.config().http;
    let max = cfg.max_request_bytes.max(64);
    let ip_header = cfg.client_ip_header.as_deref().map(str::as_bytes);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut out: Vec<u8> = Vec::with_capacity(512);
    let mut peers: Vec<ResponsePeer> = Vec::new();
    let mut first = true;
    loop {
        let mut head_deadline = None;
        // Read until a whole head is buffered.
        let (consumed, keep_alive) = loop {
            match http::parse_head(&buf, max, ip_header) {
                Ok(HeadParse::Complete(head)) => {
                    out.clear();
                    let keep = head.keep_alive && !cancel.is_cancelled();
                    respond(tracker, &head, peer, keep, &mut out, &mut peers);
                    break (head.len, keep);
                }
                Ok(HeadParse::Incomplete) => {}
                Err(e) => {
                    tracker
                        .metrics()
                        .error(Protocol::Http, ErrorKind::BadRequest);
                    let status = match e {
                        HeadError::TooLarge { .. } => "431 Request Header Fields Too Large",
                        HeadError::UnsupportedVersion => "505 HTTP Version Not Supported",
                        _ => "400 Bad Request",
                    };
                    out.clear();
                    write_response(
                        &mut out,
                        status,
                        "text/plain",
                        e.to_string().as_bytes(),
                        false,
                    );
                    stream.write_all(&out).await?;
                    linger(stream).await;
                    return Ok(());
                }
            }
            // The whole head must arrive within `request_timeout` of its first
            // byte (of the connection, for the first request), however slowly
            // it trickles in; an idle keep-alive connection gets
            // `keep_alive_timeout`.
            let deadline = if buf.is_empty() && !first {
                tokio::time::Instant::now() + cfg.keep_alive_timeout.get()
            } else {
                *head_deadline
                    .get_or_insert_with(|| tokio::time::Instant::now() + cfg.request_timeout.get())
            };
            let n = tokio::select! {
                r = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) => return Ok(()),
                },
                () = cancel.cancelled(), if buf.is_empty() => return Ok(()),
            };
            if n == 0 {
                return Ok(());
            }
        };
        if first && keep_alive {
            // Only connections that stay open need Nagle off (so a second
            // response is not held back); one-shot ones save the syscall.
            let _ = stream.set_nodelay(true);
        }
        first = false;
        stream.write_all(&out).await?;
        buf.drain(..consumed);
        if !keep_alive {
            // Dropping the stream closes it (FIN): no separate shutdown call.
            return Ok(());
        }
    }
}

/// Closes after an error response without resetting the connection: unread
/// request bytes would make the kernel send RST, and the client could lose
/// the response. Reads (and drops) at most 64 KiB for at most a second.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut total = 0;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

fn write_response(
    out: &mut Vec<u8>,
    status: &str,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) {
    use std::io::Write;
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    out.extend_from_slice(body);
}

fn client_ip(tracker: &Tracker, head: &http::RequestHead<'_>, peer: SocketAddr) -> IpAddr {
    if tracker.config().http.client_ip_header.is_some() {
        // X-Forwarded-For may list a chain; the first entry is the client.
        if let Some(ip) = head
            .client_ip_header
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return ip.to_canonical();
        }
    }
    peer.ip().to_canonical()
}

fn respond(
    tracker: &Tracker,
    head: &http::RequestHead<'_>,
    peer: SocketAddr,
    keep_alive: bool,
    out: &mut Vec<u8>,
    peers: &mut Vec<ResponsePeer>,
) {
    const BENCODE: &str = "text/plain";
    if head.method != b"GET" {
        write_response(
            out,
            "405 Method Not Allowed",
            "text/plain",
            b"only GET is supported\n",
            keep_alive,
        );
        return;
    }
    let mut body = Vec::with_capacity(256);
    match head.path {
        b"/announce" => {
            let ip = client_ip(tracker, head, peer);
            if !tracker.check_rate(ip, Protocol::Http) {
                http::failure(&crate::AnnounceError::RateLimited.to_string(), &mut body);
                write_response(out, "200 OK", BENCODE, &body, false);
                return;
            }
            announce(tracker, head.query, ip, &mut body, peers);
        }
        b"/scrape" => {
            let ip = client_ip(tracker, head, peer);
            if !tracker.check_rate(ip, Protocol::Http) {
                http::failure(&crate::AnnounceError::RateLimited.to_string(), &mut body);
                write_response(out, "200 OK", BENCODE, &body, false);
                return;
            }
            scrape(tracker, head.query, &mut body);
        }
        b"/stats" if tracker.config().http.stats => {
            match stats_json(tracker, head.query) {
                Some(json) => write_response(out, "200 OK", "application/json", &json, keep_alive),
                None => write_response(
                    out,
                    "404 Not Found",
                    "application/json",
                    b"{\"error\":\"unknown torrent\"}",
                    keep_alive,
                ),
            }
            return;
        }
        b"/metrics" if tracker.config().http.stats => {
            let text = tracker.metrics_text(MAX_LISTED_TORRENTS.min(1000));
            write_response(
                out,
                "200 OK",
                "text/plain; version=0.0.4",
                text.as_bytes(),
                keep_alive,
            );
            return;
        }
        b"/" => {
            write_response(
                out,
                "200 OK",
                "text/plain",
                b"anthill tracker\nGET /announce  BEP 3 announce\nGET /scrape    BEP 48 scrape\n\
                  GET /stats     JSON (?info_hash=HEX for peers)\nGET /metrics   Prometheus\n",
                keep_alive,
            );
            return;
        }
        _ => {
            write_response(
                out,
                "404 Not Found",
                "text/plain",
                b"not found\n",
                keep_alive,
            );
            return;
        }
    }
    write_response(out, "200 OK", BENCODE, &body, keep_alive);
}

fn announce(
    tracker: &Tracker,
    query: &[u8],
    ip: IpAddr,
    body: &mut Vec<u8>,
    peers: &mut Vec<ResponsePeer>,
) {
    let req = match http::parse_announce(query) {
        Ok(r) => r,
        Err(e) => {
            tracker.metrics().announce(Protocol::Http);
            tracker
                .metrics()
                .error(Protocol::Http, ErrorKind::BadRequest);
            http::failure(&e.to_string(), body);
            return;
        }
    };
    peers.clear();
    let max = usize::try_from(tracker.config().announce.max_numwant).unwrap_or(usize::MAX);
    match tracker.announce(&req, ip, None, max, Protocol::Http, peers) {
        Ok(reply) => AnnounceResponse {
            interval: reply.interval,
            min_interval: Some(reply.min_interval),
            complete: reply.stats.seeders,
            incomplete: reply.stats.leechers,
            tracker_id: Some(tracker.config().announce.tracker_id.as_bytes()),
            warning: None,
            peers,
            form: if req.compact {
                PeerForm::Compact
            } else {
                PeerForm::Dict {
                    no_peer_id: req.no_peer_id,
                }
            },
        }
        .encode_into(body),
        Err(e) => http::failure(&e.to_string(), body),
    }
}

fn scrape(tracker: &Tracker, query: &[u8], body: &mut Vec<u8>) {
    tracker.metrics().scrape(Protocol::Http);
    let hashes = match http::parse_scrape(query, MAX_SCRAPE) {
        Ok(h) => h,
        Err(e) => {
            tracker
                .metrics()
                .error(Protocol::Http, ErrorKind::BadRequest);
            http::failure(&e.to_string(), body);
            return;
        }
    };
    let mut files = Vec::with_capacity(hashes.len());
    if hashes.is_empty() {
        if !tracker.config().http.full_scrape {
            http::failure("full scrape is disabled: pass info_hash", body);
            return;
        }
        tracker.scrape_all(&mut files);
    } else {
        for ih in hashes {
            if let Some(s) = tracker.scrape_one(&ih) {
                files.push((ih, s));
            }
        }
    }
    ScrapeResponse { files: &files }.encode_into(body);
}

fn stats_json(tracker: &Tracker, query: &[u8]) -> Option<Vec<u8>> {
    let hex = query
        .split(|&b| b == b'&')
        .find_map(|p| p.strip_prefix(b"info_hash="))
        .and_then(|v| std::str::from_utf8(v).ok());
    let json = match hex {
        Some(h) => {
            let ih = InfoHash::from_hex(h).ok()?;
            serde_json::to_vec(&tracker.torrent_stats(&ih, MAX_LISTED_PEERS)?)
        }
        None => serde_json::to_vec(&tracker.stats(MAX_LISTED_TORRENTS)),
    };
    json.ok()
}
