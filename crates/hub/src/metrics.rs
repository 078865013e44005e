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
        peers.push((name, p.peers));
    }
    let _ = writeln!(
        o,
        "# HELP anthill_hub_peers Peers connected to the hub's seeder, per release."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_peers gauge");
    for (name, n) in peers {
        let _ = writeln!(o, "anthill_hub_peers{{release=\"{name}\"}} {n}");
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
        "# HELP anthill_hub_agents_newest_release Agents by their state of the newest release.\n# TYPE anthill_hub_agents_newest_release gauge"
    );
    let mut states: Vec<_> = states.into_iter().collect();
    states.sort();
    for (state, n) in states {
        let _ = writeln!(
            o,
            "anthill_hub_agents_newest_release{{state=\"{state}\"}} {n}"
        );
    }
    o.push_str(&shared.tracker.metrics_text(1000));
    o
}
