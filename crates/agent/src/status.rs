//! `GET /status` (JSON) and `GET /metrics` (Prometheus) on `--listen`: thin
//! handlers over the snapshot the core publishes after every change.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::planner::State;
use crate::store::Record;

/// One release, as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseStatus {
    /// Infohash, hex.
    pub infohash: String,
    /// Name.
    pub name: String,
    /// Hub seq.
    pub seq: Option<u64>,
    /// Signing key id (trusted releases).
    pub key_id: Option<String>,
    /// State name.
    pub state: String,
    /// Why it failed, was refused or skipped.
    pub reason: Option<String>,
    /// Failed attempts.
    pub attempts: u32,
    /// The release current named before this one.
    pub previous: Option<String>,
    /// Hook outcome.
    pub hook_status: Option<String>,
    /// Hook output tail.
    pub hook_output: Option<String>,
    /// Feed it came from.
    pub feed: String,
    /// Last change, unix seconds.
    pub updated_at: i64,
    /// Bytes of this release copied from earlier releases on disk instead
    /// of downloaded (delta reuse, issue 9); `None` until this agent process
    /// downloaded it.
    pub reused_bytes: Option<u64>,
    /// Payload bytes the engine received from peers for this release (all
    /// attempts of this agent process); `None` until then.
    pub downloaded_bytes: Option<u64>,
    /// When this agent process switched `current` to it, unix milliseconds.
    pub switched_at_ms: Option<u64>,
}

impl From<&Record> for ReleaseStatus {
    fn from(r: &Record) -> Self {
        Self {
            infohash: r.infohash.to_hex(),
            name: r.name.clone(),
            seq: r.seq,
            key_id: r.key_id.clone(),
            state: r.state.as_str().to_string(),
            reason: r.reason.clone(),
            attempts: r.attempts,
            previous: r.previous.clone(),
            hook_status: r.hook_status.clone(),
            hook_output: r.hook_output.clone(),
            feed: r.feed.clone(),
            updated_at: r.updated_at,
            reused_bytes: None,
            downloaded_bytes: None,
            switched_at_ms: None,
        }
    }
}

/// What the core publishes after every change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// The release `current` names.
    pub current: Option<String>,
    /// Every release known, in the order learnt.
    pub releases: Vec<ReleaseStatus>,
    /// Set while the agent cannot record its state (the disk is full or
    /// failing): what failed, and the last step failure not yet recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Snapshot {
    /// The release named `name`, if known.
    pub fn release(&self, name: &str) -> Option<&ReleaseStatus> {
        self.releases.iter().rev().find(|r| r.name == name)
    }
}

/// Event counters since start.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    installed: AtomicU64,
    refused: AtomicU64,
    hook_failed: AtomicU64,
    store_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn inc_installed(&self) {
        self.installed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn inc_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn inc_hook_failed(&self) {
        self.hook_failed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn inc_store_errors(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
) {
    let s1 = Arc::clone(&shared);
    let s2 = Arc::clone(&shared);
    let app = Router::new()
        .route(
            "/status",
            get(move || {
                let s = Arc::clone(&s1);
                async move { status(&s) }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let s = Arc::clone(&s2);
                async move { metrics(&s) }
            }),
        );
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "status listener failed");
    }
}

#[derive(Serialize)]
struct StatusView<'a> {
    name: &'a str,
    dir: String,
    trusted_keys: bool,
    current: Option<String>,
    feeds: Vec<crate::follower::FeedStatus>,
    torrents: Vec<TorrentView>,
    releases: Vec<ReleaseStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

#[derive(Serialize)]
struct TorrentView {
    infohash: String,
    name: Option<String>,
    state: String,
    pieces_have: u32,
    pieces_total: u32,
    bytes_have: u64,
    bytes_total: u64,
    uploaded: u64,
    downloaded: u64,
    peers: usize,
    /// Why the engine stopped the torrent (state `Failed`).
    error: Option<String>,
    /// Failed saves of its resume state, and the latest one.
    resume_errors: u64,
    last_resume_error: Option<String>,
}

fn feeds(s: &Shared) -> Vec<crate::follower::FeedStatus> {
    s.feeds
        .iter()
        .map(|f| f.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .collect()
}

fn torrents(s: &Shared) -> Vec<TorrentView> {
    s.session
        .torrents()
        .into_iter()
        .map(|h| {
            let p = h.progress();
            TorrentView {
                infohash: h.infohash().to_hex(),
                name: p.name,
                state: p.state.name().to_string(),
                error: match &p.state {
                    swarm::TorrentState::Failed(e) => Some(e.to_string()),
                    _ => None,
                },
                resume_errors: p.resume_errors,
                last_resume_error: p.last_resume_error.as_ref().map(ToString::to_string),
                pieces_have: p.pieces_have,
                pieces_total: p.pieces_total,
                bytes_have: p.bytes_have,
                bytes_total: p.bytes_total,
                uploaded: p.uploaded,
                downloaded: p.downloaded,
                peers: p.peers,
            }
        })
        .collect()
}

fn status(s: &Shared) -> Response {
    let snap = s.snapshot.borrow().clone();
    axum::Json(StatusView {
        name: &s.name,
        dir: s.dir.display().to_string(),
        trusted_keys: s.trusted,
        current: snap.current,
        feeds: feeds(s),
        torrents: torrents(s),
        releases: snap.releases,
        problem: snap.problem,
    })
    .into_response()
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text.
pub(crate) fn render(s: &Shared) -> String {
    let snap = s.snapshot.borrow().clone();
    let mut o = String::new();
    let _ = writeln!(o, "# HELP anthill_agent_releases Releases known, by state.");
    let _ = writeln!(o, "# TYPE anthill_agent_releases gauge");
    for st in State::ALL {
        let n = snap
            .releases
            .iter()
            .filter(|r| r.state == st.as_str())
            .count();
        let _ = writeln!(o, "anthill_agent_releases{{state=\"{st}\"}} {n}");
    }
    let current_seq = snap
        .current
        .as_deref()
        .and_then(|c| snap.release(c))
        .and_then(|r| r.seq)
        .unwrap_or(0);
    let _ = writeln!(
        o,
        "# HELP anthill_agent_current_seq Seq of the current release (0: none or unsigned)."
    );
    let _ = writeln!(o, "# TYPE anthill_agent_current_seq gauge");
    let _ = writeln!(o, "anthill_agent_current_seq {current_seq}");
    for (name, help, v) in [
        (
            "anthill_agent_installs_total",
            "Switches of current since start.",
            &s.counters.installed,
        ),
        (
            "anthill_agent_refusals_total",
            "Releases refused by the trust rules since start.",
            &s.counters.refused,
        ),
        (
            "anthill_agent_hook_failures_total",
            "Hooks that failed or timed out since start.",
            &s.counters.hook_failed,
        ),
        (
            "anthill_agent_store_errors_total",
            "Times the state database could not be written (disk full or failing) and the agent waited to retry.",
            &s.counters.store_errors,
        ),
    ] {
        let _ = writeln!(
            o,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            v.load(Ordering::Relaxed)
        );
    }
    let feeds = feeds(s);
    let _ = writeln!(
        o,
        "# HELP anthill_agent_feed_polls_total Successful feed reads.\n# TYPE anthill_agent_feed_polls_total counter"
    );
    for f in &feeds {
        let _ = writeln!(
            o,
            "anthill_agent_feed_polls_total{{feed=\"{}\"}} {}",
            label(&f.url),
            f.polls
        );
    }
    let _ = writeln!(
        o,
        "# HELP anthill_agent_feed_errors_total Failed feed reads.\n# TYPE anthill_agent_feed_errors_total counter"
    );
    for f in &feeds {
        let _ = writeln!(
            o,
            "anthill_agent_feed_errors_total{{feed=\"{}\"}} {}",
            label(&f.url),
            f.errors
        );
    }
    let _ = writeln!(
        o,
        "# HELP anthill_agent_events_connected The hub's event stream is connected.\n# TYPE anthill_agent_events_connected gauge"
    );
    for f in &feeds {
        let _ = writeln!(
            o,
            "anthill_agent_events_connected{{feed=\"{}\"}} {}",
            label(&f.url),
            u8::from(f.events_connected)
        );
    }
    let t = torrents(s);
    let up: u64 = t.iter().map(|t| t.uploaded).sum();
    let down: u64 = t.iter().map(|t| t.downloaded).sum();
    let peers: usize = t.iter().map(|t| t.peers).sum();
    let _ = writeln!(
        o,
        "# HELP anthill_agent_uploaded_bytes Payload bytes uploaded by the torrents now in the engine.\n# TYPE anthill_agent_uploaded_bytes gauge\nanthill_agent_uploaded_bytes {up}"
    );
    let _ = writeln!(
        o,
        "# HELP anthill_agent_downloaded_bytes Payload bytes downloaded by the torrents now in the engine.\n# TYPE anthill_agent_downloaded_bytes gauge\nanthill_agent_downloaded_bytes {down}"
    );
    let _ = writeln!(
        o,
        "# HELP anthill_agent_peers Connected peers.\n# TYPE anthill_agent_peers gauge\nanthill_agent_peers {peers}"
    );
    let _ = writeln!(
        o,
        "# HELP anthill_agent_torrents Torrents in the engine (seeding or downloading).\n# TYPE anthill_agent_torrents gauge\nanthill_agent_torrents {}",
        t.len()
    );
    o
}

fn metrics(s: &Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(s),
    )
        .into_response()
}
