//! anthill's BitTorrent tracker: HTTP and UDP announces for any standard
//! client, scrape, JSON stats and Prometheus metrics.
//!
//! The main type is [`Tracker`], the transport-independent state (a sharded
//! in-memory swarm store, the allow list, rate limiter and counters).
//! [`serve`] runs its HTTP and UDP servers on [`Listeners`] until a shutdown
//! future completes; [`run`] does both steps from a [`TrackerConfig`]. The
//! hub embeds a tracker with [`Tracker::new`] + [`serve`] and keeps the
//! handle to register infohashes ([`Tracker::allow_list`]) and read
//! progress ([`Tracker::stats`]).
//!
//! ```no_run
//! # async fn f() -> Result<(), tracker::TrackerError> {
//! let config = tracker::TrackerConfig::default();
//! let listeners = tracker::Listeners::bind(&config)?;
//! tracker::run(config, listeners, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! Layout:
//! - `swarm/`: the store (see `swarm/SWARM.md` for invariants and lock order)
//! - `http_server.rs`, `udp_server.rs`: the transports
//! - `connection_id.rs`: BEP 15 connection ids and their threat model
//! - `rate_limiter.rs`, `allow_list.rs`, `locality.rs`: policies
//! - `config.rs`: the TOML configuration

mod allow_list;
mod config;
mod config_docs;
mod connection_id;
mod error;
mod http_server;
mod human_duration;
mod listeners;
mod locality;
mod metrics;
mod rate_limiter;
mod stats;
mod subnet;
mod swarm;
mod tracker;
mod udp_server;

pub use allow_list::{AllowList, MAX_ALLOW_LIST_BYTES, parse_allow_list};
pub use config::{
    AccessConfig, AccessMode, AnnounceConfig, HttpConfig, MAX_WORKERS, RateLimitConfig,
    SwarmConfig, TrackerConfig, UdpConfig,
};
pub use error::{AnnounceError, TrackerError};
pub use human_duration::{HumanDuration, ParseDurationError};
pub use listeners::{Listeners, bind_tcp, bind_udp};
pub use stats::{PeerStats, RequestCounters, TorrentStats, TorrentSummary, TrackerStats};
pub use subnet::{ParseSubnetError, Subnet};
pub use tracker::Tracker;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long in-flight HTTP requests get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds a [`Tracker`] from `config` and [`serve`]s it.
pub async fn run(
    config: TrackerConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), TrackerError> {
    let tracker = Tracker::new(config)?;
    serve(tracker, listeners, shutdown).await
}

/// Serves `tracker` on `listeners` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish (up to 5 s) and returns.
/// Returns an error at once if a worker dies.
pub async fn serve(
    tracker: Tracker,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), TrackerError> {
    let cancel = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    // Worker threads (HTTP and UDP) poll `shared.stop`; HTTP ones are also
    // woken by their wakers.
    let shared = Arc::new(http_server::Shared {
        stop: AtomicBool::new(false),
        open: AtomicUsize::new(0),
    });
    // If this future is dropped (its runtime shuts down) or returns early,
    // the worker threads must still stop, or joining them would hang.
    let mut stop_guard = StopGuard {
        cancel: cancel.clone(),
        shared: shared.clone(),
        http_wakers: Vec::new(),
    };

    if let Some(l) = listeners.http {
        let setup = |source| TrackerError::Listener {
            protocol: "http",
            source,
        };
        let addr = l.local_addr().map_err(setup)?;
        let n = worker_count(tracker.config().http.workers);
        tracing::info!(%addr, workers = n, "http tracker listening");
        // Each worker is a thread with its own event loop and, when the
        // socket allows it, its own SO_REUSEPORT listener: a connection's
        // accept, read and write then happen on one thread, with no
        // cross-thread wake-ups. Otherwise workers share the listener.
        for i in 0..n {
            // Worker 0 takes the listener itself. A sibling is only made for
            // the others: connections the kernel queues on a sibling that is
            // then dropped would be reset.
            let sibling = if i == 0 {
                None
            } else {
                listeners::sibling_tcp(&l)
            };
            let l = match sibling {
                Some(sibling) => sibling,
                None => l.try_clone().map_err(setup)?,
            };
            let (worker, waker) = http_server::Worker::new(l).map_err(setup)?;
            stop_guard.http_wakers.push(waker);
            let (t, sh) = (tracker.clone(), shared.clone());
            spawn_worker(&mut workers, format!("http worker {i}"), move || {
                worker.run(&t, &sh, DRAIN_TIMEOUT).map_err(setup)
            })?;
        }
    }

    if let Some(sock) = listeners.udp {
        let setup = |source| TrackerError::Listener {
            protocol: "udp",
            source,
        };
        let addr = sock.local_addr().map_err(setup)?;
        let n = worker_count(tracker.config().udp.workers);
        tracing::info!(%addr, workers = n, "udp tracker listening");
        for i in 0..n {
            // One SO_REUSEPORT socket per worker when the socket allows it
            // (the first worker takes the given one); otherwise they share.
            let sibling = if i == 0 {
                None
            } else {
                listeners::sibling_udp(&sock)
            };
            let s = match sibling {
                Some(s) => s,
                None => sock.try_clone().map_err(setup)?,
            };
            let (t, sh) = (tracker.clone(), shared.clone());
            spawn_worker(&mut workers, format!("udp worker {i}"), move || {
                udp_server::worker(&t, &s, &sh.stop);
                Ok(())
            })?;
        }
    }

    {
        let (t, c) = (tracker.clone(), cancel.clone());
        workers.spawn(async move {
            let every = t
                .config()
                .swarm
                .cleanup_interval
                .get()
                .max(Duration::from_millis(10));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = c.cancelled() => return ("cleaner".to_owned(), Ok(())),
                }
                let t2 = t.clone();
                if let Ok((peers, torrents)) =
                    tokio::task::spawn_blocking(move || t2.cleanup()).await
                {
                    if peers + torrents > 0 {
                        tracing::debug!(peers, torrents, "expired");
                    }
                }
            }
        });
    }

    if tracker.allow_list().path().is_some() {
        let (t, c) = (tracker.clone(), cancel.clone());
        workers.spawn(async move {
            let every = t.config().access.reload_interval.get().max(Duration::from_millis(10));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = c.cancelled() => return ("allow-list watcher".to_owned(), Ok(())),
                }
                let t2 = t.clone();
                match tokio::task::spawn_blocking(move || t2.allow_list().reload_if_changed()).await {
                    Ok(Ok(true)) => tracing::info!(entries = t.allow_list().len(), "allow list reloaded"),
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "allow list not reloaded; keeping the previous one"),
                    Err(e) => tracing::error!(error = %e, "allow list reload task failed"),
                }
            }
        });
    }

    let mut failure = None;
    tokio::pin!(shutdown);
    tokio::select! {
        () = &mut shutdown => tracing::info!("shutting down"),
        Some(done) = workers.join_next() => {
            let (name, result) = match done {
                Ok(x) => x,
                Err(e) => ("worker".to_owned(), Err(TrackerError::WorkerFailed { worker: "worker".into(), reason: e.to_string() })),
            };
            failure = Some(result.err().unwrap_or(TrackerError::WorkerFailed { worker: name, reason: "returned".into() }));
        }
    }
    // HTTP workers finish what is in flight (at most DRAIN_TIMEOUT) and
    // return; joining them below waits for that.
    stop_guard.stop();
    while let Some(done) = workers.join_next().await {
        if let Ok((name, Err(e))) = done {
            if failure.is_none() {
                tracing::error!(worker = %name, error = %e, "worker failed during shutdown");
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `0` means one per CPU.
fn worker_count(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
}

/// Runs `work` on a thread named after `name` and adds a task to `workers`
/// that yields `(name, result)` when the thread ends (a panic is an error).
/// The thread reports through a channel, so no blocking-pool thread waits
/// on each worker: a thread that cannot be started is a plain error.
fn spawn_worker(
    workers: &mut tokio::task::JoinSet<(String, Result<(), TrackerError>)>,
    name: String,
    work: impl FnOnce() -> Result<(), TrackerError> + Send + 'static,
) -> Result<(), TrackerError> {
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("anthill-{}", name.replace(" worker ", "-")))
        .spawn(move || {
            // A panic drops `done` unsent, which the task below reports.
            let _ = done.send(work());
        })
        .map_err(|source| TrackerError::Spawn {
            worker: name.clone(),
            source,
        })?;
    workers.spawn(async move {
        let result = finished.await.unwrap_or_else(|_| {
            Err(TrackerError::WorkerFailed {
                worker: name.clone(),
                reason: "panicked".into(),
            })
        });
        (name, result)
    });
    Ok(())
}

/// Stops every worker when told to or when dropped.
struct StopGuard {
    cancel: CancellationToken,
    shared: Arc<http_server::Shared>,
    http_wakers: Vec<Arc<mio::Waker>>,
}

impl StopGuard {
    fn stop(&self) {
        self.cancel.cancel();
        self.shared.stop.store(true, Ordering::Release);
        for w in &self.http_wakers {
            if let Err(e) = w.wake() {
                tracing::error!(error = %e, "cannot wake an http worker to stop it");
            }
        }
    }
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.stop();
    }
}
