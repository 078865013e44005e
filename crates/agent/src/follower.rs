//! Learning of releases: each feed is polled (conditional GET, interval
//! with ±20 % jitter, exponential backoff while it fails), and beside a
//! hub's feed its event stream (`/api/events`) is followed so that a
//! publish is known within a second; a lost stream is reconnected with
//! backoff. What is learnt goes to the agent's core as [`Learnt`] batches;
//! deciding what to do with it is not this module's job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metainfo::Infohash;
use release::{Feed, FeedItem};
use serde::Deserialize;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::http::{Client, Fetched, Validators};
use crate::planner::{Candidate, backoff};
use crate::sse::SseParser;

/// Releases learnt from one read of a feed or one event.
#[derive(Debug, Clone)]
pub struct Learnt {
    /// The feed.
    pub feed: String,
    /// What it lists (or the one release an event announced).
    pub candidates: Vec<Candidate>,
    /// A whole feed (true) or one event (false).
    pub full: bool,
}

/// What `/status` and `/metrics` show of a feed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FeedStatus {
    /// The feed URL.
    pub url: String,
    /// Successful reads (200 or 304).
    pub polls: u64,
    /// Failed reads.
    pub errors: u64,
    /// Last successful read, unix seconds.
    pub last_ok: Option<i64>,
    /// The last error, if the last read failed.
    pub last_error: Option<String>,
    /// The event stream is connected.
    pub events_connected: bool,
    /// Events received.
    pub events: u64,
}

/// `URL` with its last path segment replaced by `name`.
pub fn sibling(feed_url: &str, name: &str) -> String {
    let base = feed_url.split(['?', '#']).next().unwrap_or(feed_url);
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    match base[scheme_end..].rfind('/') {
        Some(i) => format!("{}/{name}", &base[..scheme_end + i]),
        None => format!("{base}/{name}"),
    }
}

/// The poll interval varied by ±20 %.
pub fn jitter(interval: Duration) -> Duration {
    interval.mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// Settings of the followers.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Poll interval.
    pub interval: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// Follow event streams.
    pub events: bool,
}

const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The hub sends a keep-alive every 15 s; three missed mean a dead stream.
const EVENT_IDLE: Duration = Duration::from_secs(45);

/// Follows one feed until `cancel`: spawns its poller and event follower.
pub fn follow(
    url: String,
    client: Client,
    opts: FollowOptions,
    tx: mpsc::Sender<Learnt>,
    status: Arc<Mutex<FeedStatus>>,
    cancel: CancellationToken,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    let poke = Arc::new(Notify::new());
    let synced = Arc::new(tokio::sync::watch::channel(false).0);
    {
        let (url, client, opts, tx, status, cancel, poke, synced) = (
            url.clone(),
            client.clone(),
            opts.clone(),
            tx.clone(),
            Arc::clone(&status),
            cancel.clone(),
            Arc::clone(&poke),
            Arc::clone(&synced),
        );
        tasks.spawn(
            async move { poll_loop(url, client, opts, tx, status, cancel, poke, synced).await },
        );
    }
    if opts.events {
        tasks.spawn(async move {
            event_loop(url, client, opts, tx, status, cancel, poke, synced).await
        });
    }
}

fn set_status(status: &Mutex<FeedStatus>, f: impl FnOnce(&mut FeedStatus)) {
    f(&mut status.lock().unwrap_or_else(|e| e.into_inner()));
}

#[allow(clippy::too_many_arguments)]
async fn poll_loop(
    url: String,
    client: Client,
    opts: FollowOptions,
    tx: mpsc::Sender<Learnt>,
    status: Arc<Mutex<FeedStatus>>,
    cancel: CancellationToken,
    poke: Arc<Notify>,
    synced: Arc<tokio::sync::watch::Sender<bool>>,
) {
    let mut validators: Option<Validators> = None;
    let mut failures: u32 = 0;
    let mut resolved: HashMap<String, Infohash> = HashMap::new();
    loop {
        let result = poll_once(&url, &client, validators.as_ref(), &mut resolved).await;
        let ok = match result {
            Ok(None) => true,
            Ok(Some((candidates, v, complete))) => {
                let learnt = Learnt {
                    feed: url.clone(),
                    candidates,
                    full: true,
                };
                if tx.send(learnt).await.is_err() {
                    return;
                }
                // Only a feed whose every item was understood is cached:
                // otherwise the next poll must read it again.
                validators = complete.then_some(v);
                true
            }
            Err(e) => {
                failures += 1;
                warn!(feed = %url, error = %e, failures, "cannot read the feed");
                set_status(&status, |s| {
                    s.errors += 1;
                    s.last_error = Some(e);
                });
                false
            }
        };
        if ok {
            failures = 0;
            synced.send_replace(true);
            set_status(&status, |s| {
                s.polls += 1;
                s.last_ok = Some(release::unix_now());
                s.last_error = None;
            });
        }
        let wait = if ok {
            jitter(opts.interval)
        } else {
            backoff(BACKOFF_BASE, failures, opts.max_backoff)
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
            () = poke.notified() => debug!(feed = %url, "polling now"),
        }
    }
}

type Polled = Option<(Vec<Candidate>, Validators, bool)>;

/// One conditional read: `None` if unchanged; else the candidates, the new
/// validators, and whether every torrent item could be resolved.
async fn poll_once(
    url: &str,
    client: &Client,
    since: Option<&Validators>,
    resolved: &mut HashMap<String, Infohash>,
) -> Result<Polled, String> {
    let (bytes, v) = match client.get(url, Feed::MAX_BYTES, since).await {
        Ok(Fetched::NotModified) => return Ok(None),
        Ok(Fetched::Body { bytes, validators }) => (bytes, validators),
        Err(e) => return Err(e.to_string()),
    };
    let feed = Feed::parse(&bytes).map_err(|e| format!("{url}: {e}"))?;
    let mut out = Vec::new();
    let mut complete = true;
    for item in feed.items {
        match candidate(url, item, client, resolved).await {
            Ok(c) => out.push(c),
            Err(e) => {
                complete = false;
                warn!(feed = %url, error = %e, "skipping a feed item for now");
            }
        }
    }
    Ok(Some((out, v, complete)))
}

/// A feed item as a candidate; an item without an infohash has its
/// `.torrent` fetched once to learn it.
async fn candidate(
    feed: &str,
    item: FeedItem,
    client: &Client,
    resolved: &mut HashMap<String, Infohash>,
) -> Result<Candidate, String> {
    let infohash = match item.infohash {
        Some(ih) => ih,
        None => match resolved.get(&item.torrent_url) {
            Some(ih) => *ih,
            None => {
                let bytes = client
                    .get_body(&item.torrent_url, metainfo::MAX_TORRENT_FILE_SIZE)
                    .await
                    .map_err(|e| e.to_string())?;
                // Only the infohash is learnt here: a torrent that names one
                // but is unusable (an unsafe path) is the core's to refuse.
                let ih = metainfo::Metainfo::infohash_of_file(&bytes)
                    .map_err(|e| format!("{} is not a torrent: {e}", item.torrent_url))?;
                resolved.insert(item.torrent_url.clone(), ih);
                ih
            }
        },
    };
    let name = if item.title.is_empty() {
        item.file_name.clone()
    } else {
        item.title.clone()
    };
    Ok(Candidate {
        infohash,
        name,
        seq: item.seq,
        published: item.published,
        torrent_url: item.torrent_url,
        magnet: item.magnet,
        manifest_url: item.manifest_url,
        signature_url: item.signature_url,
        content_length: item.content_length,
        feed: feed.to_string(),
    })
}

/// The release in a hub's `published` event (a subset of its fields).
#[derive(Debug, Deserialize)]
struct Published {
    seq: u64,
    name: String,
    infohash: String,
    #[serde(default)]
    total_size: u64,
    #[serde(default)]
    published_at: i64,
    torrent_url: String,
    #[serde(default)]
    magnet: String,
    manifest_url: Option<String>,
    signature_url: Option<String>,
}

/// A `published` event's data as a candidate.
pub fn published_candidate(feed: &str, data: &str) -> Result<Candidate, String> {
    let p: Published =
        serde_json::from_str(data).map_err(|e| format!("bad published event: {e}"))?;
    let infohash =
        Infohash::from_hex(&p.infohash).map_err(|e| format!("bad published event: {e}"))?;
    Ok(Candidate {
        infohash,
        name: p.name,
        seq: Some(p.seq),
        published: p.published_at,
        torrent_url: p.torrent_url,
        magnet: p.magnet,
        manifest_url: p.manifest_url,
        signature_url: p.signature_url,
        content_length: p.total_size,
        feed: feed.to_string(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn event_loop(
    feed: String,
    client: Client,
    opts: FollowOptions,
    tx: mpsc::Sender<Learnt>,
    status: Arc<Mutex<FeedStatus>>,
    cancel: CancellationToken,
    poke: Arc<Notify>,
    synced: Arc<tokio::sync::watch::Sender<bool>>,
) {
    let url = sibling(&feed, "api/events");
    // Events only add to a feed that was read once: the first start's
    // choice (the newest release) is made on a whole feed.
    let mut rx = synced.subscribe();
    tokio::select! {
        () = cancel.cancelled() => return,
        r = rx.wait_for(|s| *s) => if r.is_err() { return },
    }
    let mut failures: u32 = 0;
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            r = follow_stream(&feed, &url, &client, &tx, &status, &poke) => r,
        };
        set_status(&status, |s| s.events_connected = false);
        match outcome {
            Ok(()) => failures = 1,
            Err((e, plain)) => {
                failures += 1;
                if plain {
                    // Not a hub (a plain feed server): polling is all there is.
                    debug!(url = %url, error = %e, "no event stream here");
                    failures = 64;
                } else {
                    warn!(url = %url, error = %e, "event stream lost; reconnecting with backoff");
                }
            }
        }
        let wait = backoff(BACKOFF_BASE, failures, opts.max_backoff);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Reads one connection of the event stream until it ends. The error says
/// whether the server has no stream at all.
async fn follow_stream(
    feed: &str,
    url: &str,
    client: &Client,
    tx: &mpsc::Sender<Learnt>,
    status: &Mutex<FeedStatus>,
    poke: &Notify,
) -> Result<(), (String, bool)> {
    let mut stream = client
        .events(url)
        .await
        .map_err(|e| (e.to_string(), matches!(e.status(), Some(404..=406))))?;
    info!(url = %url, "event stream connected");
    set_status(status, |s| s.events_connected = true);
    let mut parser = SseParser::default();
    loop {
        let chunk = stream
            .next_chunk(EVENT_IDLE)
            .await
            .map_err(|e| (e.to_string(), false))?;
        let Some(chunk) = chunk else {
            return Ok(());
        };
        for ev in parser.push(&chunk).map_err(|e| (e.to_string(), false))? {
            set_status(status, |s| s.events += 1);
            match ev.event.as_str() {
                // (Re)connected or fell behind: what was missed is in the feed.
                "hello" | "lagged" | "retired" | "feed_changed" => poke.notify_one(),
                "published" => match published_candidate(feed, &ev.data) {
                    Ok(c) => {
                        info!(release = %c.name, seq = ?c.seq, "learnt of a release from the event stream");
                        let learnt = Learnt {
                            feed: feed.to_string(),
                            candidates: vec![c],
                            full: false,
                        };
                        if tx.send(learnt).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => warn!(url = %url, error = %e, "ignoring an event"),
                },
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_of_a_feed_url() {
        assert_eq!(
            sibling("http://h:1/feed.xml", "index.json"),
            "http://h:1/index.json"
        );
        assert_eq!(
            sibling("https://h/hub/feed.xml?x=1", "api/events"),
            "https://h/hub/api/events"
        );
        assert_eq!(sibling("http://h:1", "index.json"), "http://h:1/index.json");
        assert_eq!(
            sibling("http://h:1/", "index.json"),
            "http://h:1/index.json"
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(60));
            assert!(
                j >= Duration::from_secs(48) && j <= Duration::from_secs(72),
                "{j:?}"
            );
        }
    }

    #[test]
    fn published_events_become_candidates() {
        let data = format!(
            "{{\"type\":\"published\",\"seq\":3,\"name\":\"app-3\",\"infohash\":\"{}\",\"total_size\":9,\"torrent_url\":\"http://h/t/app-3.torrent\",\"manifest_url\":\"http://h/m.json\",\"signature_url\":\"http://h/m.json.minisig\",\"magnet\":\"magnet:?x\",\"published_at\":5,\"extra\":1}}",
            "ab".repeat(20)
        );
        let c = published_candidate("http://h/feed.xml", &data).unwrap();
        assert_eq!(
            (c.seq, c.name.as_str(), c.content_length),
            (Some(3), "app-3", 9)
        );
        assert_eq!(c.infohash, Infohash([0xab; 20]));
        assert!(published_candidate("f", "{}").is_err());
    }
}
