//! BEP 19 web seeds: an HTTP server holding the files, used as a fallback.
//!
//! A web seed joins the torrent actor as a pseudo-peer: it registers like a
//! connection, announces HAVE ALL and unchokes, and answers the actor's
//! `request` messages by fetching the covering byte range of the piece with
//! HTTP range GETs (one per file span; pad files are zeros, never fetched).
//! The blocks go back as ordinary `piece` messages, so picking, hashing,
//! storage and bans work exactly as for any peer: a web seed serving bad
//! data is banned like a peer. The actor starts web seeds only when peers do
//! not deliver (see `Actor::maybe_start_web_seeds`), so they are a fallback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use metainfo::Info;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use wire::{Handshake, Message, PeerId, Piece, Reserved};

use crate::TorrentError;
use crate::context::TorrentShared;
use crate::event::{Connected, Event, PeerCmd, PeerGone};
use crate::peer::PEER_CHANNEL;

/// Consecutive failed fetches before a web seed is given up.
const MAX_FAILURES: u32 = 5;

/// Why a fetch from a web seed failed.
#[derive(Debug, thiserror::Error)]
pub enum WebSeedError {
    /// The request failed (connect, timeout, malformed answer, ...).
    #[error("{url}: {source}")]
    Http {
        /// The file's URL.
        url: String,
        /// The HTTP client's error.
        source: crate::http::HttpError,
    },
    /// The server answered with a status other than 206 (or a 200 with
    /// the whole file).
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The file's URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The answer does not have the bytes asked for.
    #[error("{url}: got {got} bytes, asked for {asked}")]
    ShortBody {
        /// The file's URL.
        url: String,
        /// Bytes received.
        got: u64,
        /// Bytes asked for.
        asked: u64,
    },
}

/// Percent-encodes one path component for a URL.
fn encode_component(s: &str) -> String {
    metainfo::url_encode(s.as_bytes()).to_string()
}

/// The URL of file `file` of the torrent under web seed `base` (BEP 19).
pub(crate) fn file_url(base: &str, info: &Info, file: usize) -> String {
    let f = &info.files()[file];
    if !info.is_multi_file() {
        if base.ends_with('/') {
            return format!("{base}{}", encode_component(info.name()));
        }
        return base.to_string();
    }
    let mut url = base.to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(&encode_component(info.name()));
    for c in &f.path {
        url.push('/');
        url.push_str(&encode_component(c));
    }
    url
}

/// Fetches bytes `[start, end)` of `piece` (offsets within the piece).
async fn fetch(
    base: &str,
    info: &Info,
    piece: u32,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, WebSeedError> {
    let mut out = vec![0u8; (end - start) as usize];
    for s in info.piece_spans(piece as usize) {
        let (a, b) = (s.piece_offset.max(start), (s.piece_offset + s.len).min(end));
        if a >= b || info.files()[s.file].is_pad() {
            continue;
        }
        let from = s.file_offset + (a - s.piece_offset);
        let len = b - a;
        let url = file_url(base, info, s.file);
        let range = format!("bytes={}-{}", from, from + len - 1);
        let resp = crate::http::get(
            &url,
            &[("Range", range)],
            len as usize + 1024,
            Duration::from_secs(30),
        )
        .await;
        let resp = match resp {
            Ok(r) => r,
            Err(source) => return Err(WebSeedError::Http { url, source }),
        };
        let body = match resp.status {
            206 => resp.body,
            // A server that ignores Range sends the whole (small) file.
            200 if resp.body.len() as u64 >= from + len => {
                resp.body[from as usize..(from + len) as usize].to_vec()
            }
            status => return Err(WebSeedError::Status { url, status }),
        };
        if body.len() as u64 != len {
            return Err(WebSeedError::ShortBody {
                url,
                got: body.len() as u64,
                asked: len,
            });
        }
        out[(a - start) as usize..(b - start) as usize].copy_from_slice(&body);
    }
    Ok(out)
}

/// Peer ids of web seeds start with this.
const WEB_SEED_ID: &[u8; 8] = b"-AHWEBS-";

/// Whether `id` is one of our web-seed pseudo peers.
pub(crate) fn is_web_seed(id: &PeerId) -> bool {
    id.0.starts_with(WEB_SEED_ID)
}

/// Runs one web seed until the torrent stops, the actor drops it, or it fails
/// [`MAX_FAILURES`] times in a row.
pub(crate) async fn run(shared: Arc<TorrentShared>, base: String, info: Arc<Info>, n: u16) {
    let (cmd_tx, mut cmds) = mpsc::channel(PEER_CHANNEL);
    let (reply_tx, reply_rx) = oneshot::channel();
    let mut id = [b'0'; 20];
    id[..8].copy_from_slice(WEB_SEED_ID);
    id[8..].copy_from_slice(format!("{n:012}").as_bytes());
    // A pseudo address, unique per web seed, for the actor's bookkeeping.
    let addr = SocketAddr::from(([0, 0, 0, 0], n));
    let hs = Handshake::new(Reserved::NONE, shared.infohash, PeerId(id));
    let c = Connected {
        addr,
        handshake: hs,
        outgoing: false,
        cmd: cmd_tx,
        reply: reply_tx,
    };
    if shared
        .events
        .send(Event::Connected(Box::new(c)))
        .await
        .is_err()
    {
        return;
    }
    let Ok(Some(slot)) = reply_rx.await else {
        return;
    };
    debug!(url = %base, "web seed joined");
    let hello = vec![Message::HaveAll, Message::Unchoke];
    if shared
        .events
        .send(Event::Messages(slot, hello))
        .await
        .is_err()
    {
        return;
    }
    let mut queue: Vec<wire::BlockRequest> = Vec::new();
    let mut failures = 0u32;
    let mut gave_up = None;
    loop {
        if queue.is_empty() {
            let cmd = tokio::select! {
                () = shared.cancel.cancelled() => break,
                c = cmds.recv() => c,
            };
            let Some(cmd) = cmd else { break };
            absorb(cmd, &mut queue);
        }
        while let Ok(cmd) = cmds.try_recv() {
            absorb(cmd, &mut queue);
        }
        let Some(first) = queue.first().copied() else {
            continue;
        };
        // Everything queued for the same piece in one range.
        let piece = first.piece;
        let batch: Vec<wire::BlockRequest> =
            queue.iter().filter(|r| r.piece == piece).copied().collect();
        queue.retain(|r| r.piece != piece);
        let start = batch
            .iter()
            .map(|r| u64::from(r.offset.0))
            .min()
            .unwrap_or(0);
        let end = batch
            .iter()
            .map(|r| u64::from(r.offset.0) + u64::from(r.length.0))
            .max()
            .unwrap_or(0);
        let msgs = match fetch(&base, &info, piece.0, start, end).await {
            Ok(data) => {
                failures = 0;
                let data = Bytes::from(data);
                batch
                    .iter()
                    .map(|r| {
                        let a = (u64::from(r.offset.0) - start) as usize;
                        Message::Piece(Piece {
                            index: r.piece,
                            offset: r.offset,
                            data: data.slice(a..a + r.length.as_usize()),
                        })
                    })
                    .collect()
            }
            Err(e) => {
                failures += 1;
                warn!(url = %base, error = %e, "web seed fetch failed");
                if failures >= MAX_FAILURES {
                    gave_up = Some(TorrentError::WebSeedGaveUp {
                        failures,
                        source: Arc::new(e),
                    });
                    break;
                }
                tokio::time::sleep(Duration::from_secs(u64::from(failures))).await;
                batch.into_iter().map(Message::RejectRequest).collect()
            }
        };
        if shared
            .events
            .send(Event::Messages(slot, msgs))
            .await
            .is_err()
        {
            return;
        }
    }
    if let Some(e) = gave_up {
        let _ = shared.events.send(Event::WebSeedGaveUp(e)).await;
    }
    let _ = shared
        .events
        .send(Event::Gone(slot, PeerGone::WebSeedStopped))
        .await;
}

fn absorb(cmd: PeerCmd, queue: &mut Vec<wire::BlockRequest>) {
    if let PeerCmd::Send(msgs) = cmd {
        for m in msgs {
            match m {
                Message::Request(r) => queue.push(r),
                Message::Cancel(r) => queue.retain(|q| *q != r),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metainfo::FileEntry;

    #[test]
    fn bep19_urls() {
        let single = Info::single("a b.iso", 16384, vec![[0; 20]], 10);
        assert_eq!(file_url("http://h/x.iso", &single, 0), "http://h/x.iso");
        assert_eq!(
            file_url("http://h/dir/", &single, 0),
            "http://h/dir/a%20b.iso"
        );
        let multi = Info::multi(
            "rel",
            16384,
            vec![[0; 20]],
            vec![FileEntry::new(vec!["bin".into(), "ä+.txt".into()], 10)],
        );
        assert_eq!(
            file_url("http://h/seed", &multi, 0),
            "http://h/seed/rel/bin/%C3%A4%2B.txt"
        );
        assert_eq!(
            file_url("http://h/seed/", &multi, 0),
            "http://h/seed/rel/bin/%C3%A4%2B.txt"
        );
    }
}
