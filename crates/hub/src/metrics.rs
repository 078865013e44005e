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
    let _ = writeln!(
        o,
        "# HELP anthill_hub_releases Releases currently published."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_releases gauge");
    let _ = writeln!(o, "anthill_hub_releases {}", view.releases.len());
    let newest = view.releases.first().map_or(0, |r| r.seq);
    let _ = writeln!(
        o,
        "# HELP anthill_hub_newest_seq Sequence number of the newest release."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_newest_seq gauge");
    let _ = writeln!(o, "anthill_hub_newest_seq {newest}");
    let _ = writeln!(
        o,
        "# HELP anthill_hub_published_total Releases published since the hub started."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_published_total counter");
    let _ = writeln!(
        o,
        "anthill_hub_published_total {}",
        m.published.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "# HELP anthill_hub_rejected_total Entries rejected since the hub started."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_rejected_total counter");
    let _ = writeln!(
        o,
        "anthill_hub_rejected_total {}",
        m.rejected.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "# HELP anthill_hub_rejections_recorded Rejections in the hub's database, ever."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_rejections_recorded gauge");
    let _ = writeln!(o, "anthill_hub_rejections_recorded {}", view.rejected_total);
    let _ = writeln!(
        o,
        "# HELP anthill_hub_foreign_torrents Torrents listed from torrents/."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_foreign_torrents gauge");
    let _ = writeln!(o, "anthill_hub_foreign_torrents {}", view.foreign.len());
    let _ = writeln!(
        o,
        "# HELP anthill_hub_event_clients Open /api/events streams."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_event_clients gauge");
    let _ = writeln!(
        o,
        "anthill_hub_event_clients {}",
        m.sse_clients.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "# HELP anthill_hub_uptime_seconds Seconds since the hub started."
    );
    let _ = writeln!(o, "# TYPE anthill_hub_uptime_seconds gauge");
    let _ = writeln!(
        o,
        "anthill_hub_uptime_seconds {}",
        shared.started.elapsed().as_secs()
    );
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
    o.push_str(&shared.tracker.metrics_text(1000));
    o
}
