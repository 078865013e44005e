//! One task per peer connection: handshake, then a reader and a writer run
//! concurrently until either ends.
//!
//! The reader reads large chunks straight into the decoder's buffer, decodes
//! every complete message and hands them to the torrent actor as one batch
//! (piece data stays a zero-copy slice of the receive buffer until the actor
//! copies it into the piece being assembled). The writer takes commands from
//! the actor's bounded channel, coalesces whatever is queued into one buffer
//! and writes it with one call; blocks to upload are read from storage on the
//! blocking pool straight into that buffer behind their 13-byte headers.
//!
//! Reader and writer never wait for each other, so two peers that both have a
//! full socket buffer cannot deadlock. Every wait has a named timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, error};
use wire::{
    DecoderOptions, Handshake, HandshakeParser, Message, MessageDecoder, PIECE_HEADER_LEN,
    Reserved, piece_header,
};

use crate::PeerSlot;
use crate::context::{Congestion, TorrentShared};
use crate::event::{Connected, Event, PeerCmd, PeerError, PeerGone};
use crate::rate::acquire_all;

/// Bytes we try to read from a socket at once.
const READ_CHUNK: usize = 256 * 1024;
/// Most bytes of blocks the writer reads from storage for one write.
const SERVE_BATCH_BYTES: usize = 1024 * 1024;
/// Unsent bytes a peer socket may hold (`TCP_NOTSENT_LOWAT`, Linux). The
/// kernel otherwise buffers up to megabytes a connection, and a message
/// written after them (a HAVE, a REQUEST, a CHOKE) waits until they are on
/// the wire: seconds where a connection gets a thin share of a slow link. A
/// super-seeding origin's next reveal reached agents 1-1.5 s after it was
/// sent, and its uplink idled. Bytes sent and not yet acknowledged do not
/// count, so this does not cap the congestion window.
pub(crate) const UNSENT_LOWAT: u32 = 64 * 1024;
/// Bytes of blocks written between reports of what was uploaded.
const UPLOADED_REPORT_BYTES: usize = 64 * 1024;
/// Capacity of the actor → peer command channel.
pub(crate) const PEER_CHANNEL: usize = 1024;

/// The extension bits we advertise: BEP 10 and BEP 6.
pub(crate) fn our_reserved() -> Reserved {
    Reserved::NONE.with_extension_protocol(true).with_fast(true)
}

async fn timed<T>(
    d: Duration,
    what: &'static str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, PeerError> {
    match tokio::time::timeout(d, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(PeerError::Io(what, e)),
        Err(_) => Err(PeerError::Timeout(what)),
    }
}

/// Reads a whole handshake; returns it and whatever followed it.
pub(crate) async fn read_handshake(
    stream: &mut TcpStream,
    d: Duration,
) -> Result<(Handshake, BytesMut), PeerError> {
    let mut parser = HandshakeParser::new();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let deadline = tokio::time::Instant::now() + d;
    loop {
        if let Some(h) = parser.decode(&mut buf)? {
            return Ok((h, buf));
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let n = timed(left, "reading handshake", stream.read_buf(&mut buf)).await?;
        if n == 0 {
            return Err(PeerError::Closed);
        }
    }
}

/// Connects to `addr`, from `source` if given, with `congestion` control.
pub(crate) async fn dial(
    addr: SocketAddr,
    source: Option<std::net::IpAddr>,
    congestion: &Congestion,
) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    congestion.apply(socket2::SockRef::from(&socket));
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(addr).await
}

/// Connects to `addr` and runs the connection; reports failures to the actor.
pub(crate) async fn connect_and_run(shared: Arc<TorrentShared>, addr: SocketAddr) {
    let net = &shared.net;
    let attempt = async {
        let mut stream = timed(
            net.handshake_timeout,
            "connecting",
            dial(addr, shared.net.source_ip(addr), &shared.net.congestion),
        )
        .await?;
        let _ = stream.set_nodelay(true);
        let ours = Handshake::new(our_reserved(), shared.infohash, shared.peer_id);
        timed(
            net.handshake_timeout,
            "writing handshake",
            stream.write_all(&ours.to_bytes()),
        )
        .await?;
        let (theirs, rest) = read_handshake(&mut stream, net.handshake_timeout).await?;
        if theirs.info_hash != shared.infohash {
            return Err(PeerError::WrongTorrent);
        }
        Ok((stream, theirs, rest))
    };
    match attempt.await {
        Ok((stream, hs, rest)) => run(shared, stream, addr, hs, rest, true).await,
        Err(e) => {
            debug!(%addr, error = %e, "connect failed");
            let _ = shared
                .events
                .send(Event::ConnectFailed(addr, e.to_string()))
                .await;
        }
    }
}

/// Runs an established connection (handshakes exchanged) until it ends.
pub(crate) async fn run(
    shared: Arc<TorrentShared>,
    stream: TcpStream,
    addr: SocketAddr,
    handshake: Handshake,
    leftover: BytesMut,
    outgoing: bool,
) {
    let (cmd_tx, cmd_rx) = mpsc::channel(PEER_CHANNEL);
    let (reply_tx, reply_rx) = oneshot::channel();
    let joined = shared
        .events
        .send(Event::Connected(Box::new(Connected {
            addr,
            handshake,
            outgoing,
            cmd: cmd_tx,
            reply: reply_tx,
        })))
        .await;
    if joined.is_err() {
        return;
    }
    let Ok(Some(slot)) = reply_rx.await else {
        return;
    };
    let span = tracing::debug_span!("peer", %addr, slot = slot.0, id = %handshake.peer_id);
    async {
        debug!(outgoing, "peer connected");
        limit_unsent(&stream);
        let (rd, wr) = stream.into_split();
        let reason = tokio::select! {
            r = reader(&shared, slot, rd, leftover) => r,
            r = writer(&shared, slot, wr, cmd_rx) => r,
            () = shared.cancel.cancelled() => PeerError::TorrentGone,
        };
        if matches!(reason, PeerError::Bug(_)) {
            error!(%reason, "peer disconnected");
        } else {
            debug!(%reason, "peer disconnected");
        }
        let _ = shared
            .events
            .send(Event::Gone(slot, PeerGone::Error(reason)))
            .await;
    }
    .instrument(span)
    .await;
}

async fn reader(
    shared: &TorrentShared,
    slot: PeerSlot,
    mut rd: OwnedReadHalf,
    leftover: BytesMut,
) -> PeerError {
    let net = &shared.net;
    let count = shared.piece_count();
    let mut dec = MessageDecoder::with_buffer(
        leftover,
        DecoderOptions {
            piece_count: (count > 0).then_some(count),
            ..Default::default()
        },
    );
    let idle = net.keepalive_interval * 2 + Duration::from_secs(30);
    loop {
        if dec.options().piece_count.is_none() {
            let n = shared.piece_count();
            if n > 0 {
                dec.set_piece_count(n);
            }
        }
        let mut batch = Vec::new();
        loop {
            match dec.next_message() {
                Ok(Some(m)) => {
                    batch.push(m);
                    if batch.len() >= 512 {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // Deliver what came before the bad message, then close.
                    if !batch.is_empty() {
                        let _ = shared.events.send(Event::Messages(slot, batch)).await;
                    }
                    return e.into();
                }
            }
        }
        if !batch.is_empty() {
            if shared
                .events
                .send(Event::Messages(slot, batch))
                .await
                .is_err()
            {
                return PeerError::TorrentGone;
            }
            continue;
        }
        let buf = dec.buffer_mut();
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let n = match timed(idle, "waiting for a message", rd.read_buf(buf)).await {
            Ok(0) => return PeerError::Closed,
            Ok(n) => n,
            Err(e) => return e,
        };
        let limits = [&shared.down, &shared.net.down];
        acquire_all(&limits, n as u64).await;
    }
}

/// Sets [`UNSENT_LOWAT`] where the system has it; elsewhere the kernel's
/// buffering stays as it is.
fn limit_unsent(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(UNSENT_LOWAT) {
        debug!(error = %e, "cannot limit the unsent bytes of a peer socket");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}

/// Takes what the actor has queued for the peer without waiting: messages
/// are encoded into `out`, requests to serve are added to `serve` (up to
/// about `max_serve_bytes` of blocks a call). False once the actor has
/// dropped the channel.
fn drain_commands(
    cmds: &mut mpsc::Receiver<PeerCmd>,
    out: &mut BytesMut,
    serve: &mut Vec<wire::BlockRequest>,
    max_serve_bytes: usize,
) -> bool {
    let mut serve_bytes = 0usize;
    while out.len() < 256 * 1024 && serve_bytes < max_serve_bytes {
        match cmds.try_recv() {
            Ok(PeerCmd::Send(msgs)) => {
                for m in msgs {
                    m.encode(out);
                }
            }
            Ok(PeerCmd::Serve(reqs)) => {
                serve_bytes += reqs.iter().map(|r| r.length.as_usize()).sum::<usize>();
                serve.extend(reqs);
            }
            Err(mpsc::error::TryRecvError::Empty) => break,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

/// Writes the messages encoded in `out`, if any, and empties it.
async fn write_messages(
    wr: &mut OwnedWriteHalf,
    out: &mut BytesMut,
    write_timeout: Duration,
) -> Result<(), PeerError> {
    if !out.is_empty() {
        timed(write_timeout, "writing messages", wr.write_all(out)).await?;
        out.clear();
    }
    Ok(())
}

async fn writer(
    shared: &TorrentShared,
    slot: PeerSlot,
    mut wr: OwnedWriteHalf,
    mut cmds: mpsc::Receiver<PeerCmd>,
) -> PeerError {
    let net = &shared.net;
    let write_timeout = Duration::from_secs(60);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut serve: Vec<wire::BlockRequest> = Vec::new();
    loop {
        // Requests left over from the last batch are served without waiting.
        if serve.is_empty() {
            let first = match tokio::time::timeout(net.keepalive_interval, cmds.recv()).await {
                Ok(Some(c)) => c,
                Ok(None) => return PeerError::Dropped,
                Err(_) => {
                    Message::KeepAlive.encode(&mut out);
                    if let Err(e) =
                        timed(write_timeout, "writing keep-alive", wr.write_all(&out)).await
                    {
                        return e;
                    }
                    out.clear();
                    continue;
                }
            };
            match first {
                PeerCmd::Send(msgs) => {
                    for m in msgs {
                        m.encode(&mut out);
                    }
                }
                PeerCmd::Serve(reqs) => serve.extend(reqs),
            }
        }
        if !drain_commands(&mut cmds, &mut out, &mut serve, SERVE_BATCH_BYTES) {
            return PeerError::Dropped;
        }
        // Control messages (e.g. requests) go out before bulk data.
        if let Err(e) = write_messages(&mut wr, &mut out, write_timeout).await {
            return e;
        }
        if !serve.is_empty() {
            let Some(store) = shared.store() else {
                serve.clear();
                continue;
            };
            // At most SERVE_BATCH_BYTES read at once; what arrived beyond
            // (requests taken while the last batch was written) waits.
            let mut bytes = 0usize;
            let n = serve
                .iter()
                .take_while(|r| {
                    bytes += r.length.as_usize();
                    bytes <= SERVE_BATCH_BYTES
                })
                .count()
                .max(1);
            let rest = serve.split_off(n.min(serve.len()));
            let reqs = std::mem::replace(&mut serve, rest);
            let total: usize = reqs
                .iter()
                .map(|r| PIECE_HEADER_LEN + r.length.as_usize())
                .sum();
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = BytesMut::with_capacity(total);
                for r in &reqs {
                    buf.put_slice(&piece_header(r.piece, r.offset, r.length));
                    let start = buf.len();
                    buf.resize(start + r.length.as_usize(), 0);
                    store.read_block(r.piece, r.offset.0, &mut buf[start..])?;
                }
                Ok::<_, storage::StorageError>((buf, reqs))
            })
            .await;
            let (buf, reqs) = match read {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return e.into(),
                Err(e) if e.is_panic() => {
                    return PeerError::Bug(format!(
                        "the task reading blocks to upload panicked: {e}"
                    ));
                }
                Err(_) => return PeerError::TorrentGone,
            };
            let limits = [&shared.up, &shared.net.up];
            acquire_all(&limits, buf.len() as u64).await;
            // One block message at a time, with what the actor queued
            // meanwhile (a HAVE, a CHOKE) in between, and what was written
            // reported as it goes: with the socket's unsent bytes limited,
            // the batch takes as long to write as to send.
            let mut at = 0usize;
            let mut done: Vec<wire::BlockRequest> = Vec::new();
            let mut done_bytes = 0usize;
            let last = reqs.len().saturating_sub(1);
            for (i, r) in reqs.into_iter().enumerate() {
                let len = PIECE_HEADER_LEN + r.length.as_usize();
                let block = &buf[at..at + len];
                at += len;
                if let Err(e) = timed(write_timeout, "writing blocks", wr.write_all(block)).await {
                    return e;
                }
                done.push(r);
                done_bytes += len;
                if done_bytes >= UPLOADED_REPORT_BYTES || i == last {
                    done_bytes = 0;
                    let reqs = std::mem::take(&mut done);
                    if shared
                        .events
                        .send(Event::Uploaded(slot, reqs))
                        .await
                        .is_err()
                    {
                        return PeerError::TorrentGone;
                    }
                }
                if i == last {
                    break;
                }
                // Control messages jump the rest of the batch; new requests
                // wait for the next one.
                if !drain_commands(&mut cmds, &mut out, &mut serve, SERVE_BATCH_BYTES) {
                    return PeerError::Dropped;
                }
                if let Err(e) = write_messages(&mut wr, &mut out, write_timeout).await {
                    return e;
                }
            }
        }
    }
}
