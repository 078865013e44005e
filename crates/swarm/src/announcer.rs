//! The tracker side of a torrent: one task that announces (BEP 3/15, BEP 12
//! tiers via [`crate::tracker_client::TrackerClient`]) and feeds the peers it
//! gets to the torrent actor like any other peer source (`--peer`, PEX,
//! magnet `x.pe`): as [`TorrentCmd::AddPeers`].
//!
//! `started` first, `completed` the moment the download completes (not at
//! the next interval, so the tracker hands us out as a seed at once),
//! `stopped` when the torrent stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tracing::{debug, warn};
use tracker_proto::AnnounceEvent;

use crate::context::TorrentShared;
use crate::event::{Event, TorrentCmd};
use crate::torrent::{TorrentEvent, TorrentProgress};
use crate::tracker_client::{AnnounceParams, TrackerClient, TrackerClientOptions};

/// Shortest interval we honour between regular announces.
const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// Longest wait between announces, whatever the tracker says.
const MAX_INTERVAL: Duration = Duration::from_secs(30 * 60);

fn params(
    shared: &TorrentShared,
    progress: &watch::Receiver<TorrentProgress>,
    event: AnnounceEvent,
    key: u32,
) -> AnnounceParams {
    let p = progress.borrow();
    AnnounceParams {
        infohash: shared.infohash.0,
        peer_id: shared.peer_id.0,
        port: shared.net.listen_port().unwrap_or(0),
        uploaded: p.uploaded,
        downloaded: p.downloaded,
        // Unknown size (magnet): anything non-zero says "leecher".
        left: if p.bytes_total == 0 {
            1
        } else {
            p.bytes_total - p.bytes_have
        },
        event,
        numwant: Some(200),
        key,
    }
}

/// Runs until the torrent is cancelled; see the module docs.
pub(crate) async fn run(
    shared: Arc<TorrentShared>,
    tiers: Vec<Vec<String>>,
    progress: watch::Receiver<TorrentProgress>,
    mut events: broadcast::Receiver<TorrentEvent>,
) {
    let source_ip = shared
        .net
        .source_ip(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut client = TrackerClient::new(
        tiers,
        TrackerClientOptions {
            source_ip,
            ..TrackerClientOptions::default()
        },
    );
    if !client.has_trackers() {
        return;
    }
    let key = u32::from_le_bytes([
        shared.peer_id.0[16],
        shared.peer_id.0[17],
        shared.peer_id.0[18],
        shared.peer_id.0[19],
    ]);
    let mut event = AnnounceEvent::Started;
    let mut failures = 0u32;
    loop {
        let req = params(&shared, &progress, event, key);
        let wait = tokio::select! {
            () = shared.cancel.cancelled() => break,
            r = client.announce(&req) => match r {
                Ok((url, resp)) => {
                    debug!(tracker = %url, peers = resp.peers.len(), "announced");
                    failures = 0;
                    event = AnnounceEvent::None;
                    if !resp.peers.is_empty() {
                        let _ = shared.events.send(Event::Cmd(TorrentCmd::AddPeers(resp.peers))).await;
                    }
                    resp.interval.clamp(MIN_INTERVAL, MAX_INTERVAL)
                }
                Err(e) => {
                    failures += 1;
                    if failures <= 3 || failures % 10 == 0 {
                        warn!(error = %e, "tracker announce failed");
                    }
                    Duration::from_secs(5u64 << failures.min(6)).min(MAX_INTERVAL)
                }
            },
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                () = shared.cancel.cancelled() => {
                    announce_stopped(&mut client, &shared, &progress, key).await;
                    return;
                }
                () = tokio::time::sleep_until(deadline) => break,
                ev = events.recv() => match ev {
                    Ok(TorrentEvent::Complete) => {
                        event = AnnounceEvent::Completed;
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        // The actor is gone; wait for the cancellation.
                        shared.cancel.cancelled().await;
                    }
                    _ => {}
                },
            }
        }
    }
    announce_stopped(&mut client, &shared, &progress, key).await;
}

/// How long a `stopped` announce may take.
const STOPPED_TIMEOUT: Duration = Duration::from_secs(1);

async fn announce_stopped(
    client: &mut TrackerClient,
    shared: &TorrentShared,
    progress: &watch::Receiver<TorrentProgress>,
    key: u32,
) {
    let req = params(shared, progress, AnnounceEvent::Stopped, key);
    // A courtesy to the tracker: bounded tightly, so a stop is quick even
    // when the tracker is gone (a UDP one would otherwise take its whole
    // retry timeout).
    let _ = tokio::time::timeout(STOPPED_TIMEOUT, client.announce(&req)).await;
}
