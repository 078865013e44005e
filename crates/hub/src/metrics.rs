//! Prometheus metrics of the hub (the embedded tracker adds its own).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Shared;

/// Counters since the hub started.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    published: AtomicU64,
    rejected: AtomicU64,
    pub(crate) sse_clients: AtomicU64,
}

impl Metrics {
    pub(crate) fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
}

/// The text exposition of every hub metric, then the tracker's.
pub(crate) fn render(shared: &Shared) -> String {
    let view = crate::read_view(shared);
    let mut o = String::new();
    let m = &shared.metrics;
    let newest = view.releases.first().map_or(0, |r| r.seq);
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    for (name, kind, help, value) in [
        (
            "releases",
            "gauge",
            "Releases currently published.",
            view.releases.len() as u64,
        ),
        (
            "newest_seq",
            "gauge",
            "Sequence number of the newest release.",
            newest,
        ),
        (
            "published_total",
            "counter",
            "Releases published since the hub started.",
            load(&m.published),
        ),
        (
            "rejected_total",
            "counter",
            "Entries rejected since the hub started.",
            load(&m.rejected),
        ),
        (
            "rejections_recorded",
            "gauge",
            "Rejections in the hub's database, ever.",
            view.rejected_total,
        ),
        (
            "foreign_torrents",
            "gauge",
            "Torrents listed from torrents/.",
            view.foreign.len() as u64,
        ),
        (
            "event_clients",
            "gauge",
            "Open /api/events streams.",
            load(&m.sse_clients),
        ),
        (
            "uptime_seconds",
            "gauge",
            "Seconds since the hub started.",
            shared.started.elapsed().as_secs(),
        ),
    ] {
        let _ = writeln!(
            o,
            "# HELP anthill_hub_{name} {help}\n# TYPE anthill_hub_{name} {kind}\nanthill_hub_{name} {value}"
        );
    }
    let seeding: Vec<_> = shared
        .seeding
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    let _ = writeln!(
        o,
        "# HELP anthill_hub_uploaded_bytes Bytes the hub's seeder uploaded, per release."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_uploaded_bytes counter");
    let mut peers = Vec::new();
    for h in &seeding {
        let p = h.progress();
        let name = p.name.clone().unwrap_or_default();
        let _ = writeln!(
            o,
            "anthill_hub_uploaded_bytes{{release=\"{name}\"}} {}",
            p.uploaded
        );
        peers.push((name, p.peers, p.metadata_uploaded));
    }
    let _ = writeln!(
        o,
        "# HELP anthill_hub_metadata_bytes Info-dictionary bytes the hub's seeder sent to peers (BEP 9), per release.\n# TYPE anthill_hub_metadata_bytes counter"
    );
    for (name, _, metadata) in &peers {
        let _ = writeln!(
            o,
            "anthill_hub_metadata_bytes{{release=\"{name}\"}} {metadata}"
        );
    }
    let _ = writeln!(
        o,
        "# HELP anthill_hub_torrent_file_bytes_total Bytes of .torrent files served over HTTP.\n# TYPE anthill_hub_torrent_file_bytes_total counter\nanthill_hub_torrent_file_bytes_total {}",
        shared
            .torrent_file_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "# HELP anthill_hub_peers Peers connected to the hub's seeder, per release."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_peers gauge");
    for (name, n, _) in peers {
        let _ = writeln!(o, "anthill_hub_peers{{release=\"{name}\"}} {n}");
    }
    let _ = writeln!(
        o,
        "# HELP anthill_hub_webseed_bytes Bytes the hub's web seed served, per release.\n# TYPE anthill_hub_webseed_bytes counter"
    );
    let webseed = shared
        .webseed_bytes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for r in &view.releases {
        let n = webseed.get(&r.infohash).copied().unwrap_or(0);
        let _ = writeln!(o, "anthill_hub_webseed_bytes{{release=\"{}\"}} {n}", r.name);
    }
    let newest_ih = view.releases.first().map(|r| r.infohash.to_hex());
    let (agents, stale, states) = shared
        .agents
        .summary(shared.config.agent_stale_after.get(), newest_ih.as_deref());
    let _ = writeln!(
        o,
        "# HELP anthill_hub_agents Agents that have reported.\n# TYPE anthill_hub_agents gauge\nanthill_hub_agents {agents}"
    );
    let _ = writeln!(
        o,
        "# HELP anthill_hub_agents_stale Agents whose last report is older than agent_stale_after.\n# TYPE anthill_hub_agents_stale gauge\nanthill_hub_agents_stale {stale}"
    );
    let _ = writeln!(
        o,
        "# HELP anthill_hub_agents_newest_release Agents by their last reported state of the newest release, stale ones included (anthill_hub_fleet_agents has the dashboard's buckets).\n# TYPE anthill_hub_agents_newest_release gauge"
    );
    let mut states: Vec<_> = states.into_iter().collect();
    states.sort();
    for (state, n) in states {
        let _ = writeln!(
            o,
            "anthill_hub_agents_newest_release{{state=\"{state}\"}} {n}"
        );
    }
    fleet_metrics(shared, &view, &mut o);
    o.push_str(&shared.tracker.metrics_text(1000));
    o
}

/// The dashboard's numbers per release (`crate::fleet`): the same summary
/// the page and `/api/fleet` show.
fn fleet_metrics(shared: &Shared, view: &crate::View, o: &mut String) {
    let releases = crate::fleet_releases(shared, view);
    let summaries = shared
        .agents
        .summaries(shared.config.agent_stale_after.get(), &releases);
    let named: Vec<_> = view.releases.iter().zip(&summaries).collect();
    let _ = writeln!(
        o,
        "# HELP anthill_hub_fleet_agents Agents per release by dashboard status (installed, downloading, failed, stale, other).\n# TYPE anthill_hub_fleet_agents gauge"
    );
    for (r, s) in &named {
        for st in crate::fleet::Status::ALL {
            let _ = writeln!(
                o,
                "anthill_hub_fleet_agents{{release=\"{}\",status=\"{}\"}} {}",
                r.name,
                st.as_str(),
                s.count(st)
            );
        }
    }
    for (name, help, get) in [
        (
            "fleet_delivered_bytes",
            "Bytes the agents report received for a release, from peers and the hub.",
            (|s: &crate::fleet::Summary| Some(s.delivered_bytes))
                as fn(&crate::fleet::Summary) -> Option<u64>,
        ),
        (
            "fleet_origin_bytes",
            "Bytes the hub sent of a release: seeder upload plus web seed (since start).",
            |s| Some(s.origin_bytes),
        ),
        (
            "fleet_time_to_full_seconds",
            "Seconds from publish until every non-stale agent had the release installed (absent until then).",
            |s| s.time_to_full_secs,
        ),
    ] {
        let _ = writeln!(
            o,
            "# HELP anthill_hub_{name} {help}\n# TYPE anthill_hub_{name} gauge"
        );
        for (r, s) in &named {
            if let Some(v) = get(s) {
                let _ = writeln!(o, "anthill_hub_{name}{{release=\"{}\"}} {v}", r.name);
            }
        }
    }
}
