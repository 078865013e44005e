//! A lean HTTP/1.1 server for the tracker's few endpoints.
//!
//! Why not a framework, nor even an async runtime: an announce is a
//! ~300-byte GET answered with a ~100-byte body, and a fleet's clients
//! mostly open one connection per announce, so the kernel's TCP work
//! dominates and every extra syscall shows. Each worker thread runs its own
//! `mio` event loop on its own `SO_REUSEPORT` listener and serves a new
//! connection in place: `accept4`, `recvfrom` (the request has usually
//! arrived with the handshake), `sendto`, `close`, four syscalls and no
//! registration. Only a connection whose request is not complete yet, or
//! whose response does not fit the socket buffer, is registered with epoll
//! and kept in a slab until it finishes or its deadline passes (a whole
//! head must arrive within `request_timeout`; an idle keep-alive connection
//! lives `keep_alive_timeout`). Heads are size-limited, bodies are refused,
//! open connections are capped over all workers. Closing the socket drops
//! it from epoll, so no deregistration call is made either.

use crate::Tracker;
use crate::metrics::{ErrorKind as MetricError, Protocol};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
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

/// The listener's token; connections use their slab keys.
const LISTENER: Token = Token(usize::MAX - 1);
/// The token of the waker that announces shutdown.
const WAKE: Token = Token(usize::MAX);
/// How often deadlines of registered connections are checked.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// How long accepting pauses after an error such as "too many open files".
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// How long, and how many bytes, a connection is read and discarded after an
/// error response before it is closed.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Most connections accepted before the ready ones are served again: a
/// connection that had to wait for its request is not held up by a whole
/// burst of new ones.
const ACCEPT_BATCH: usize = 64;
/// Bytes read per `recv`.
const READ_CHUNK: usize = 4096;

/// What the workers share with [`crate::serve`].
pub(crate) struct Shared {
    /// Set once to stop every worker (HTTP ones are then woken by their
    /// wakers, UDP ones notice within their receive timeout).
    pub(crate) stop: AtomicBool,
    /// Open connections over all workers.
    pub(crate) open: AtomicUsize,
}

/// One worker's event loop, built before its thread starts so that
/// [`crate::serve`] holds the waker.
pub(crate) struct Worker {
    poll: Poll,
    listener: Option<TcpListener>,
    /// Kept open for as long as the worker runs: closing the eventfd would
    /// drop a wake-up that has not been collected yet.
    _waker: Arc<Waker>,
}

impl Worker {
    /// Takes a listener (made non-blocking here); returns the worker and the
    /// waker that must be woken after [`Shared::stop`] is set.
    pub(crate) fn new(listener: std::net::TcpListener) -> std::io::Result<(Self, Arc<Waker>)> {
        listener.set_nonblocking(true)?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok((
            Self {
                poll,
                listener: Some(listener),
                _waker: waker.clone(),
            },
            waker,
        ))
    }

    /// Serves until [`Shared::stop`] is set, then lets requests already in
    /// flight finish (idle connections are closed at once) for at most
    /// `drain` and returns.
    pub(crate) fn run(
        mut self,
        tracker: &Tracker,
        shared: &Shared,
        drain: Duration,
    ) -> std::io::Result<()> {
        let cfg = &tracker.config().http;
        let mut ctx = Ctx {
            tracker,
            max_head: cfg.max_request_bytes.max(64),
            max_open: cfg.max_connections.max(1),
            ip_header: cfg.client_ip_header.as_deref().map(str::as_bytes),
            request_timeout: cfg.request_timeout.get(),
            keep_alive_timeout: cfg.keep_alive_timeout.get(),
            stopping: false,
            scratch: vec![0; READ_CHUNK],
            out: Vec::with_capacity(1024),
            body: Vec::with_capacity(512),
            peers: Vec::new(),
        };
        let mut conns: Slab<Conn> = Slab::new();
        let mut events = Events::with_capacity(256);
        let mut backlog = Backlog::Empty;
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        let mut drain_until: Option<Instant> = None;
        loop {
            if !ctx.stopping && shared.stop.load(Ordering::Acquire) {
                ctx.stopping = true;
                drain_until = Some(Instant::now() + drain);
                // New connections are refused from here on.
                self.listener = None;
                backlog = Backlog::Empty;
                // Idle connections hold nothing up; busy ones finish.
                close_where(shared, &mut conns, Conn::is_idle);
            }
            if ctx.stopping
                && (conns.is_empty() || drain_until.is_some_and(|d| Instant::now() >= d))
            {
                if !conns.is_empty() {
                    tracing::warn!(
                        connections = conns.len(),
                        "in-flight http requests did not finish in time"
                    );
                }
                close_where(shared, &mut conns, |_| true);
                return Ok(());
            }
            // Sleep until an event, the next deadline sweep (only while
            // connections wait), the end of an accept back-off or of the
            // drain; do not sleep while the backlog may hold connections.
            let now = Instant::now();
            let backlog_at = match backlog {
                Backlog::Empty => None,
                Backlog::More => Some(now),
                Backlog::PausedUntil(t) => Some(t),
            };
            let sweep_at = (!conns.is_empty()).then_some(next_sweep);
            let timeout = [sweep_at, backlog_at, drain_until]
                .into_iter()
                .flatten()
                .min()
                .map(|t| t.saturating_duration_since(now));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in &events {
                match event.token() {
                    WAKE => {}
                    LISTENER => {
                        // Accepted after the connections that are ready:
                        // those were accepted earlier and have waited longer.
                        if backlog == Backlog::Empty {
                            backlog = Backlog::More;
                        }
                    }
                    Token(k) => {
                        let Some(conn) = conns.get_mut(k) else {
                            continue;
                        };
                        if ctx.drive(conn) == Next::Close {
                            close(shared, conns.remove(k));
                        }
                    }
                }
            }
            if let Backlog::PausedUntil(t) = backlog {
                if Instant::now() >= t {
                    // Connections that queued during the pause raise no new
                    // edge: accept them now.
                    backlog = Backlog::More;
                }
            }
            if backlog == Backlog::More {
                backlog = self.accept_batch(&mut ctx, shared, &mut conns);
            }
            let now = Instant::now();
            if now >= next_sweep {
                next_sweep = now + SWEEP_EVERY;
                close_where(shared, &mut conns, |c| now >= c.deadline);
            }
        }
    }

    /// Accepts up to [`ACCEPT_BATCH`] connections, serving each in place and
    /// registering those that must wait. The listener is edge-triggered: it
    /// raises no new event for connections already queued, so the result
    /// says whether to go on (`More`), or when to retry after an error.
    fn accept_batch(
        &mut self,
        ctx: &mut Ctx<'_>,
        shared: &Shared,
        conns: &mut Slab<Conn>,
    ) -> Backlog {
        let Some(listener) = &self.listener else {
            return Backlog::Empty;
        };
        for _ in 0..ACCEPT_BATCH {
            let (stream, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Backlog::Empty,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    return Backlog::PausedUntil(Instant::now() + ACCEPT_BACKOFF);
                }
            };
            let metrics = ctx.tracker.metrics();
            if shared.open.fetch_add(1, Ordering::Relaxed) >= ctx.max_open {
                shared.open.fetch_sub(1, Ordering::Relaxed);
                metrics
                    .http_connections_rejected
                    .fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            }
            metrics.http_connections.fetch_add(1, Ordering::Relaxed);
            let mut conn = Conn {
                stream,
                peer,
                buf: Vec::new(),
                pending: Vec::new(),
                state: State::Reading,
                then: After::Close,
                first: true,
                deadline: Instant::now() + ctx.request_timeout,
                lingered: 0,
            };
            if ctx.drive(&mut conn) == Next::Close {
                close(shared, conn);
                continue;
            }
            let entry = conns.vacant_entry();
            let token = Token(entry.key());
            // Both interests at once: edge-triggered, so no re-registration
            // when the connection moves between reading and writing.
            match self.poll.registry().register(
                &mut conn.stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                Ok(()) => {
                    entry.insert(conn);
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "cannot register http connection");
                    close(shared, conn);
                }
            }
        }
        Backlog::More
    }
}

/// What the listener's queue needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backlog {
    /// Drained: wait for its next event.
    Empty,
    /// May hold more connections: accept again after serving ready ones.
    More,
    /// Accepting failed (out of descriptors, say): retry at this time.
    PausedUntil(Instant),
}

/// Accept errors that concern one connection (already reset by the client,
/// say), after which the next accept can succeed at once.
fn is_transient_accept_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Closes a connection: dropping the socket sends FIN and removes it from
/// epoll.
fn close(shared: &Shared, conn: Conn) {
    shared.open.fetch_sub(1, Ordering::Relaxed);
    drop(conn);
}

/// Closes every registered connection for which `pred` holds.
fn close_where(shared: &Shared, conns: &mut Slab<Conn>, mut pred: impl FnMut(&Conn) -> bool) {
    conns.retain(|_, c| {
        let doomed = pred(c);
        if doomed {
            shared.open.fetch_sub(1, Ordering::Relaxed);
        }
        !doomed
    });
}

/// A connection that has to wait for the socket.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Received bytes not consumed by a request yet.
    buf: Vec<u8>,
    /// Response bytes not written yet.
    pending: Vec<u8>,
    state: State,
    /// What follows once the response is written.
    then: After,
    /// No request has been answered on it yet.
    first: bool,
    /// When it is closed whatever its state.
    deadline: Instant,
    /// Bytes discarded while lingering.
    lingered: usize,
}

impl Conn {
    /// Waiting for a request with nothing of it received.
    fn is_idle(&self) -> bool {
        self.state == State::Reading && self.buf.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a request head.
    Reading,
    /// Writing `pending`; then as `Conn::then` says.
    Writing,
    /// After an error response: reading and dropping what the client still
    /// sends, so that unread bytes do not make the kernel reset the
    /// connection before the client has read the response.
    Lingering,
}

/// What follows a written response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Close the connection.
    Close,
    /// Read the next request.
    KeepAlive,
    /// Half-close and linger (after an error response).
    Linger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Go on: the connection can make progress without waiting.
    Continue,
    /// Wait for the socket.
    Wait,
    /// Done (or failed): close it.
    Close,
}

/// A worker's settings and reusable buffers.
struct Ctx<'a> {
    tracker: &'a Tracker,
    max_head: usize,
    max_open: usize,
    ip_header: Option<&'a [u8]>,
    request_timeout: Duration,
    keep_alive_timeout: Duration,
    /// Shutdown has begun: answer what is in flight with `Connection: close`.
    stopping: bool,
    scratch: Vec<u8>,
    out: Vec<u8>,
    body: Vec<u8>,
    peers: Vec<ResponsePeer>,
}

impl Ctx<'_> {
    /// Moves `conn` as far as the socket allows.
    fn drive(&mut self, conn: &mut Conn) -> Next {
        loop {
            match conn.state {
                State::Reading => {
                    match self.answer_buffered(conn) {
                        Some(Next::Continue) => continue,
                        Some(next) => return next,
                        None => {}
                    }
                    match conn.stream.read(&mut self.scratch) {
                        Ok(0) => return Next::Close,
                        Ok(n) => conn.buf.extend_from_slice(&self.scratch[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Wait,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            tracing::debug!(peer = %conn.peer, error = %e, "http read failed");
                            return Next::Close;
                        }
                    }
                }
                State::Writing => {
                    match write_some(&mut conn.stream, &conn.pending) {
                        Ok(n) if n == conn.pending.len() => conn.pending.clear(),
                        Ok(n) => {
                            conn.pending.drain(..n);
                            continue;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Wait,
                        Err(e) => {
                            tracing::debug!(peer = %conn.peer, error = %e, "http write failed");
                            return Next::Close;
                        }
                    }
                    if self.after_response(conn) == Next::Close {
                        return Next::Close;
                    }
                }
                State::Lingering => loop {
                    match conn.stream.read(&mut self.scratch) {
                        Ok(0) => return Next::Close,
                        Ok(n) => {
                            conn.lingered += n;
                            if conn.lingered >= LINGER_BYTES {
                                return Next::Close;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Wait,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => return Next::Close,
                    }
                },
            }
        }
    }

    /// Answers a request if a whole head is buffered: writes the response
    /// (what the socket takes; the rest goes to `pending`). `None` when more
    /// bytes are needed; `Wait` when the response is not all written.
    fn answer_buffered(&mut self, conn: &mut Conn) -> Option<Next> {
        let (consumed, then) = match http::parse_head(&conn.buf, self.max_head, self.ip_header) {
            Ok(HeadParse::Complete(head)) => {
                self.out.clear();
                let keep = head.keep_alive && !self.stopping;
                let keep = respond(
                    self.tracker,
                    &head,
                    conn.peer,
                    keep,
                    &mut self.out,
                    &mut self.body,
                    &mut self.peers,
                );
                (head.len, if keep { After::KeepAlive } else { After::Close })
            }
            Ok(HeadParse::Incomplete) => return None,
            Err(e) => {
                self.tracker
                    .metrics()
                    .error(Protocol::Http, MetricError::BadRequest);
                let status = match e {
                    HeadError::TooLarge { .. } => "431 Request Header Fields Too Large",
                    HeadError::UnsupportedVersion => "505 HTTP Version Not Supported",
                    _ => "400 Bad Request",
                };
                self.out.clear();
                write_response(
                    &mut self.out,
                    status,
                    "text/plain",
                    e.to_string().as_bytes(),
                    false,
                );
                (conn.buf.len(), After::Linger)
            }
        };
        conn.buf.drain(..consumed);
        conn.then = then;
        if then == After::KeepAlive && conn.first {
            // Only connections that stay open need Nagle off (so a second
            // response is not held back); one-shot ones save the syscall.
            let _ = conn.stream.set_nodelay(true);
        }
        conn.first = false;
        let written = match write_some(&mut conn.stream, &self.out) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => {
                tracing::debug!(peer = %conn.peer, error = %e, "http write failed");
                return Some(Next::Close);
            }
        };
        if written < self.out.len() {
            conn.pending.extend_from_slice(&self.out[written..]);
            conn.state = State::Writing;
            return Some(Next::Wait);
        }
        Some(self.after_response(conn))
    }

    /// After a whole response is written: close, linger, or read the next
    /// request (which may be buffered already).
    fn after_response(&self, conn: &mut Conn) -> Next {
        match conn.then {
            After::Linger => {
                // Half-close so the client sees the end of the response.
                let _ = conn.stream.shutdown(std::net::Shutdown::Write);
                conn.state = State::Lingering;
                conn.deadline = Instant::now() + LINGER_TIME;
                conn.buf = Vec::new();
                Next::Continue
            }
            After::Close => Next::Close,
            After::KeepAlive => {
                conn.state = State::Reading;
                conn.deadline = Instant::now()
                    + if conn.buf.is_empty() {
                        self.keep_alive_timeout
                    } else {
                        self.request_timeout
                    };
                Next::Continue
            }
        }
    }
}

/// Writes what the socket takes now.
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match stream.write(&bytes[done..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock && done > 0 => return Ok(done),
            Err(e) => return Err(e),
        }
    }
    Ok(done)
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

/// Writes the response to `head` into `out`; returns whether the
/// connection stays open after it.
fn respond(
    tracker: &Tracker,
    head: &http::RequestHead<'_>,
    peer: SocketAddr,
    keep_alive: bool,
    out: &mut Vec<u8>,
    body: &mut Vec<u8>,
    peers: &mut Vec<ResponsePeer>,
) -> bool {
    const BENCODE: &str = "text/plain";
    if head.method != b"GET" {
        write_response(
            out,
            "405 Method Not Allowed",
            "text/plain",
            b"only GET is supported\n",
            keep_alive,
        );
        return keep_alive;
    }
    body.clear();
    match head.path {
        b"/announce" => {
            let ip = client_ip(tracker, head, peer);
            if !tracker.check_rate(ip, Protocol::Http) {
                http::failure(&crate::AnnounceError::RateLimited.to_string(), body);
                write_response(out, "200 OK", BENCODE, body, false);
                return false;
            }
            announce(tracker, head.query, ip, body, peers);
        }
        b"/scrape" => {
            let ip = client_ip(tracker, head, peer);
            if !tracker.check_rate(ip, Protocol::Http) {
                http::failure(&crate::AnnounceError::RateLimited.to_string(), body);
                write_response(out, "200 OK", BENCODE, body, false);
                return false;
            }
            scrape(tracker, head.query, body);
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
            return keep_alive;
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
            return keep_alive;
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
            return keep_alive;
        }
        _ => {
            write_response(
                out,
                "404 Not Found",
                "text/plain",
                b"not found\n",
                keep_alive,
            );
            return keep_alive;
        }
    }
    write_response(out, "200 OK", BENCODE, body, keep_alive);
    keep_alive
}

/// The bencoded answer to an HTTP announce (`path` `/announce`) or scrape
/// (`/scrape`) with query string `query` from `ip`, rate limit included;
/// `None` for any other path. For servers that embed the tracker behind
/// their own HTTP stack (the hub's axum router).
pub(crate) fn embedded(tracker: &Tracker, path: &str, query: &[u8], ip: IpAddr) -> Option<Vec<u8>> {
    let mut body = Vec::with_capacity(256);
    let is_announce = match path {
        "/announce" => true,
        "/scrape" => false,
        _ => return None,
    };
    let ip = ip.to_canonical();
    if !tracker.check_rate(ip, Protocol::Http) {
        http::failure(&crate::AnnounceError::RateLimited.to_string(), &mut body);
    } else if is_announce {
        announce(tracker, query, ip, &mut body, &mut Vec::new());
    } else {
        scrape(tracker, query, &mut body);
    }
    Some(body)
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
                .error(Protocol::Http, MetricError::BadRequest);
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
                .error(Protocol::Http, MetricError::BadRequest);
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
