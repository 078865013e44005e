//! BEP 15 over blocking sockets on dedicated threads.
//!
//! UDP needs no per-client state (connection ids are stateless, see
//! `connection_id.rs`), so each worker is a plain loop: receive, handle,
//! send. Each worker has its own `SO_REUSEPORT` socket on the port, so the
//! kernel hands all of one client's datagrams to one worker and workers do
//! not contend for one queue (a socket bound by the caller without
//! `SO_REUSEPORT` is shared instead). Threads avoid an async runtime's wake-ups on the
//! hottest path; a 100 ms receive timeout lets them notice shutdown.
//!
//! Nothing is sent for a packet whose connection id is not valid, so a
//! spoofed source can at most get the 16-byte connect response, never more
//! than the request it sent.

use crate::Tracker;
use crate::metrics::{ErrorKind, Protocol};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracker_proto::http::ResponsePeer;
use tracker_proto::udp::{
    AnnounceResponse, ErrorResponse, ParseError, Request, Response, ScrapeResponse,
};

/// Runs one worker until `stop` is set.
pub(crate) fn worker(tracker: &Tracker, socket: &UdpSocket, stop: &AtomicBool) {
    let _ = socket.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 2048];
    let mut out = Vec::with_capacity(1500);
    let mut peers = Vec::with_capacity(256);
    while !stop.load(Ordering::Relaxed) {
        let (n, src) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "udp receive failed");
                continue;
            }
        };
        out.clear();
        if handle(tracker, &buf[..n], src, &mut out, &mut peers) {
            if let Err(e) = socket.send_to(&out, src) {
                tracing::debug!(%src, error = %e, "udp send failed");
            }
        }
    }
}

/// Handles one datagram; returns whether `out` holds a response to send.
pub(crate) fn handle(
    tracker: &Tracker,
    packet: &[u8],
    src: SocketAddr,
    out: &mut Vec<u8>,
    peers: &mut Vec<ResponsePeer>,
) -> bool {
    let ip = src.ip().to_canonical();
    if !tracker.check_rate(ip, Protocol::Udp) {
        return false;
    }
    let response = match Request::parse(packet) {
        Ok(Request::Connect(c)) => Response::Connect {
            transaction_id: c.transaction_id,
            connection_id: tracker.connection_id(ip),
        },
        Ok(Request::Announce(a)) => {
            if !tracker.check_connection_id(a.connection_id, ip) {
                return false;
            }
            let v6 = ip.is_ipv6();
            let entry = if v6 { 18 } else { 6 };
            let max = tracker.config().udp.max_response_bytes.saturating_sub(20) / entry;
            peers.clear();
            match tracker.announce(&a.announce, ip, Some(v6), max, Protocol::Udp, peers) {
                Ok(reply) => Response::Announce(AnnounceResponse {
                    transaction_id: a.transaction_id,
                    interval: reply.interval,
                    leechers: reply.stats.leechers,
                    seeders: reply.stats.seeders,
                    peers: peers.iter().map(|p| p.addr).collect(),
                }),
                Err(e) => Response::Error(ErrorResponse {
                    transaction_id: a.transaction_id,
                    message: e.to_string(),
                }),
            }
        }
        Ok(Request::Scrape(s)) => {
            if !tracker.check_connection_id(s.connection_id, ip) {
                return false;
            }
            tracker.metrics().scrape(Protocol::Udp);
            Response::Scrape(ScrapeResponse {
                transaction_id: s.transaction_id,
                stats: s
                    .info_hashes
                    .iter()
                    .map(|ih| tracker.scrape_one(ih).unwrap_or_default())
                    .collect(),
            })
        }
        Err(ParseError::Sendable {
            connection_id,
            transaction_id,
            message,
        }) => {
            if !tracker.check_connection_id(connection_id, ip) {
                return false;
            }
            tracker
                .metrics()
                .error(Protocol::Udp, ErrorKind::BadRequest);
            Response::Error(ErrorResponse {
                transaction_id,
                message: message.to_owned(),
            })
        }
        Err(_) => {
            tracker
                .metrics()
                .error(Protocol::Udp, ErrorKind::BadRequest);
            return false;
        }
    };
    response.write_into(out);
    true
}
