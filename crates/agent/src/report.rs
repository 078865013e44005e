//! Reporting to the hub: `POST /api/agents/report` next to each feed (the
//! hub's `feed.xml` and `api/` share a base), with the agent's name, the
//! release `current` names, and per release its state, progress, rates,
//! bytes from peers and from the hub, hook result and error
//! ([`release::AgentReport`]).
//!
//! A report goes out every few seconds ([`FAST`]) while something changes
//! (a state, progress, a rate), and every `report_interval` otherwise, so
//! that the hub can mark an agent that stops reporting as stale. A URL that
//! answers with an error (a plain web server behind a static feed has no
//! such route) is tried again after a backoff, never in a tight loop; a
//! report never delays anything else the agent does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metainfo::Infohash;
use release::{AgentReport, HookReport, ReleaseReport};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::follower::sibling;
use crate::http::Client;
use crate::status::Snapshot;

/// Reports are at least this far apart while something changes.
pub const FAST: Duration = Duration::from_secs(2);
/// Longest wait before retrying a URL that failed.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Bytes one download received, by origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfer {
    /// From other peers.
    pub from_peers: u64,
    /// From the hub (its seeder and web seed).
    pub from_hub: u64,
}

/// What the reporter reads besides the snapshot: the transfers of finished
/// downloads (the engine forgets them when the download ends).
#[derive(Debug, Default)]
pub struct Transfers(Mutex<HashMap<Infohash, Transfer>>);

impl Transfers {
    /// Records the final counts of a download.
    pub fn record(&self, ih: Infohash, t: Transfer) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.entry(ih).or_default();
        // A resumed download adds to what an earlier try received.
        e.from_peers += t.from_peers;
        e.from_hub += t.from_hub;
    }
    fn get(&self, ih: &Infohash) -> Transfer {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(ih).copied().unwrap_or_default()
    }
}

/// The report URL of a feed URL.
pub fn report_url(feed: &str) -> String {
    sibling(feed, "api/agents/report")
}

/// Builds the report from the snapshot and the engine's live torrents.
pub fn build(
    name: &str,
    snapshot: &Snapshot,
    session: &swarm::Session,
    transfers: &Transfers,
) -> AgentReport {
    let live: HashMap<Infohash, swarm::TorrentProgress> = session
        .torrents()
        .into_iter()
        .map(|h| (h.infohash(), h.progress()))
        .collect();
    let releases = snapshot
        .releases
        .iter()
        .rev()
        .filter(|r| r.state != "removed")
        .take(release::report::MAX_RELEASES)
        .filter_map(|r| {
            let ih = Infohash::from_hex(&r.infohash).ok()?;
            let done = transfers.get(&ih);
            let p = live.get(&ih);
            let complete = matches!(
                r.state.as_str(),
                "verified" | "installed" | "activating" | "hook_running" | "active" | "retired"
            );
            let progress = match p {
                _ if complete => 1.0,
                Some(p) if p.bytes_total > 0 => {
                    (p.bytes_have as f64 / p.bytes_total as f64).clamp(0.0, 1.0)
                }
                _ => 0.0,
            };
            let (from_peers, from_hub, down, up) = match p {
                Some(p) if r.state == "downloading" => (
                    done.from_peers + p.downloaded.saturating_sub(p.downloaded_origin),
                    done.from_hub + p.downloaded_origin,
                    p.download_rate,
                    p.upload_rate,
                ),
                Some(p) => (done.from_peers, done.from_hub, 0, p.upload_rate),
                None => (done.from_peers, done.from_hub, 0, 0),
            };
            let hook = r.hook_status.as_ref().map(|s| HookReport {
                exit_code: s.strip_prefix("exit ").and_then(|c| c.trim().parse().ok()),
                output_tail: r.hook_output.clone().unwrap_or_default(),
            });
            let error = match r.state.as_str() {
                "failed" | "refused" => r.reason.clone(),
                _ => None,
            };
            Some(ReleaseReport {
                infohash: r.infohash.clone(),
                name: Some(r.name.clone()),
                state: r.state.clone(),
                progress,
                download_rate: down,
                upload_rate: up,
                from_peers,
                from_hub,
                hook,
                error,
                switched_at_ms: r.switched_at_ms,
            })
        })
        .collect();
    AgentReport {
        name: name.to_string(),
        version: Some(env!("CARGO_PKG_VERSION").to_string()),
        current: snapshot.current.clone(),
        releases,
    }
}

/// Per release: infohash, state, whether a hook result or error is set.
type States = Vec<(String, String, bool)>;

/// What is sent at once when it changes: states, `current`, hook results
/// and errors.
fn states(r: &AgentReport) -> States {
    r.releases
        .iter()
        .map(|x| {
            (
                x.infohash.clone(),
                x.state.clone(),
                x.hook.is_some() || x.error.is_some(),
            )
        })
        .chain(std::iter::once((
            String::new(),
            r.current.clone().unwrap_or_default(),
            false,
        )))
        .collect()
}

/// What is sent every [`FAST`] while it changes: progress in whole percents.
fn progress(r: &AgentReport) -> Vec<u32> {
    r.releases
        .iter()
        .map(|x| (x.progress * 100.0) as u32)
        .collect()
}

/// A change of state waits this long for the changes that follow it.
const SETTLE: Duration = Duration::from_millis(150);

/// One report destination and its backoff.
struct Target {
    url: String,
    failures: u32,
    /// Not tried again before this (backoff after a failure).
    next: tokio::time::Instant,
    /// The latest report has not reached it yet (it failed): it is sent
    /// again once `next` comes, changed or not, so a hub that was away
    /// hears from every agent soon after it is back.
    owed: bool,
    warned: bool,
}

/// Sends reports until `cancel`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    urls: Vec<String>,
    name: String,
    interval: Duration,
    client: Client,
    mut snapshot: watch::Receiver<Snapshot>,
    session: swarm::Session,
    transfers: Arc<Transfers>,
    cancel: CancellationToken,
) {
    let mut targets: Vec<Target> = urls
        .into_iter()
        .map(|url| Target {
            url,
            failures: 0,
            next: tokio::time::Instant::now(),
            owed: false,
            warned: false,
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    info!(urls = ?targets.iter().map(|t| &t.url).collect::<Vec<_>>(), "reporting to the hub");
    let mut last: Option<(States, Vec<u32>)> = None;
    let mut last_sent: Option<tokio::time::Instant> = None;
    loop {
        let report = build(&name, &snapshot.borrow(), &session, &transfers);
        let (st, pr) = (states(&report), progress(&report));
        let busy = report
            .releases
            .iter()
            .any(|r| r.download_rate > 0 || r.state == "downloading");
        let now = tokio::time::Instant::now();
        let since = last_sent.map(|t| now.duration_since(t));
        let state_changed = last.as_ref().is_none_or(|l| l.0 != st);
        let progressed = busy || last.as_ref().is_none_or(|l| l.1 != pr);
        // When the next report is due, from the last one.
        let next = if state_changed {
            SETTLE
        } else if progressed {
            FAST
        } else {
            interval
        };
        let due = since.is_none_or(|s| s >= next);
        let retry = targets.iter().any(|t| t.owed && now >= t.next);
        if due || retry {
            if due {
                for t in &mut targets {
                    t.owed = true;
                }
            }
            let body = match serde_json::to_vec(&report) {
                Ok(b) => b,
                Err(e) => {
                    warn!(error = %e, "cannot encode the report");
                    return;
                }
            };
            for t in targets.iter_mut().filter(|t| t.owed && now >= t.next) {
                match client.post_json(&t.url, body.clone()).await {
                    Ok(()) => {
                        if t.failures > 0 {
                            info!(url = %t.url, "reporting again");
                        }
                        t.failures = 0;
                        t.owed = false;
                        t.warned = false;
                    }
                    Err(e) => {
                        t.failures += 1;
                        // Never further apart than regular reports are.
                        let cap = interval.min(MAX_BACKOFF).max(FAST);
                        let wait = crate::planner::backoff(FAST, t.failures, cap);
                        t.next = tokio::time::Instant::now() + wait;
                        if t.warned {
                            debug!(url = %t.url, error = %e, "report failed");
                        } else {
                            warn!(url = %t.url, error = %e, retry_in = ?wait, "cannot report to the hub");
                            t.warned = true;
                        }
                    }
                }
            }
            if due {
                last_sent = Some(now);
                last = Some((st, pr));
            }
            continue;
        }
        // Wake on a state change, when the next report is due (busy
        // downloads are looked at every FAST), or to retry a failed target.
        let sent = last_sent.unwrap_or(now);
        let wake = if busy { FAST.min(next) } else { next };
        let retry_at = targets.iter().filter(|t| t.owed).map(|t| t.next).min();
        let wake_at = retry_at.map_or(sent + wake, |r| r.min(sent + wake));
        tokio::select! {
            () = cancel.cancelled() => return,
            r = snapshot.changed() => {
                if r.is_err() {
                    return;
                }
                // Let a burst of changes settle into one report.
                tokio::time::sleep(SETTLE).await;
            }
            () = tokio::time::sleep_until(wake_at) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ReleaseStatus;

    fn rel(state: &str, hook: Option<&str>) -> ReleaseStatus {
        ReleaseStatus {
            infohash: "ab".repeat(20),
            name: "app-1".into(),
            seq: Some(1),
            key_id: None,
            state: state.into(),
            reason: Some("disk full".into()),
            attempts: 0,
            previous: None,
            hook_status: hook.map(str::to_string),
            hook_output: hook.map(|_| "ok\n".to_string()),
            feed: "http://h/feed.xml".into(),
            updated_at: 0,
            reused_bytes: None,
            downloaded_bytes: None,
            switched_at_ms: None,
        }
    }

    #[test]
    fn report_urls_sit_next_to_the_feed() {
        assert_eq!(
            report_url("http://hub:6880/feed.xml"),
            "http://hub:6880/api/agents/report"
        );
        assert_eq!(
            report_url("https://h/x/feed.xml?x=1"),
            "https://h/x/api/agents/report"
        );
    }

    #[tokio::test]
    async fn reports_carry_state_hook_errors_and_transfers_and_validate() {
        let session = swarm::Session::new(swarm::SessionOptions {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            ..Default::default()
        })
        .await
        .unwrap();
        let transfers = Transfers::default();
        let ih = Infohash::from_hex(&"ab".repeat(20)).unwrap();
        transfers.record(
            ih,
            Transfer {
                from_peers: 7,
                from_hub: 3,
            },
        );
        transfers.record(
            ih,
            Transfer {
                from_peers: 1,
                from_hub: 0,
            },
        );
        let snap = Snapshot {
            current: Some("app-1".into()),
            releases: vec![rel("active", Some("exit 3"))],
            ..Snapshot::default()
        };
        let r = build("web-01", &snap, &session, &transfers);
        let x = &r.releases[0];
        assert_eq!((x.state.as_str(), x.progress), ("active", 1.0));
        assert_eq!((x.from_peers, x.from_hub), (8, 3));
        assert_eq!(x.hook.as_ref().unwrap().exit_code, Some(3));
        assert_eq!(x.error, None, "a reason is an error only when it failed");
        r.clone().validate().unwrap();

        let snap = Snapshot {
            current: None,
            releases: vec![rel("failed", None)],
            ..Snapshot::default()
        };
        let r2 = build("web-01", &snap, &session, &transfers);
        assert_eq!(r2.releases[0].error.as_deref(), Some("disk full"));
        assert_eq!(r2.releases[0].progress, 0.0);
        assert_ne!(states(&r), states(&r2));
        assert_ne!(progress(&r), progress(&r2));
        session.shutdown().await;
    }
}
