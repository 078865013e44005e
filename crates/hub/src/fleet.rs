//! The rollout as the dashboard shows it: per release, how many agents
//! have it installed, are on their way, failed or went silent, how long the
//! fleet took to get it, how many bytes the hub sent against how many the
//! agents received, and a bounded time series of the rollout's progress.
//!
//! Everything here is plain functions over the agents' latest reports
//! ([`crate::agents::Agents`] feeds them in one pass under its lock), so the
//! rules are unit-tested without a hub. The hub's fleet task
//! (`lib.rs`, `fleet_task`) runs [`Fleet::tick`] once a second at most and
//! turns its result into one coalesced `agents` event: a fleet of 10 000
//! agents reporting every minute costs one summary pass and one small event
//! per second, never one event per report.
//!
//! Buckets of an agent for one release ([`Status::of`]):
//!
//! | status | when |
//! |---|---|
//! | `stale` | no report for `agent_stale_after`, whatever it last said |
//! | `failed` | state `failed` or `refused`, or its install hook exited non-zero or was killed |
//! | `installed` | state `installed` or `active` |
//! | `downloading` | `seen`, `downloading`, `verified`, `activating`, `hook_running` |
//! | `other` | anything else (`skipped`, `retired`, …), or the release is not in its report |
//!
//! The fleet of a release is its non-stale agents; it is *full* when every
//! one of them is `installed`, and the time to full fleet is from the
//! publish to the moment the last of them was first seen installed.

use std::collections::HashMap;

use release::ReleaseReport;
use serde::Serialize;

/// Most points kept per release; a full series is halved (every other
/// point) and its sampling step doubled, so it always spans the whole
/// rollout.
pub const SERIES_POINTS: usize = 600;
/// Most agent rows carried by one `agents` event; more changed agents are
/// only counted (`changed_total`) and a client re-reads the page it shows.
pub const MAX_EVENT_ROWS: usize = 50;
/// Longest error or hook output text in an [`AgentRow`] (its tail).
pub const ROW_TEXT: usize = 400;

/// Where an agent stands with one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Installed or active.
    Installed,
    /// On its way (seen, downloading, verified, activating, hook running).
    Downloading,
    /// Failed, refused, or its hook failed.
    Failed,
    /// No report for `agent_stale_after`.
    Stale,
    /// Skipped, retired, or not reported.
    Other,
}

impl Status {
    /// Every status, in the order the page lists them.
    pub const ALL: [Status; 5] = [
        Status::Installed,
        Status::Downloading,
        Status::Failed,
        Status::Stale,
        Status::Other,
    ];

    /// The agent's status for a release it reports as `r` (`None`: not in
    /// its report).
    pub fn of(r: Option<&ReleaseReport>, stale: bool) -> Status {
        if stale {
            return Status::Stale;
        }
        let Some(r) = r else {
            return Status::Other;
        };
        if hook_failed(r) {
            return Status::Failed;
        }
        match r.state.as_str() {
            "failed" | "refused" => Status::Failed,
            s if is_complete(s) => Status::Installed,
            "seen" | "downloading" | "verified" | "activating" | "hook_running" => {
                Status::Downloading
            }
            _ => Status::Other,
        }
    }

    /// Its name in JSON, metrics and CSS classes.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Installed => "installed",
            Status::Downloading => "downloading",
            Status::Failed => "failed",
            Status::Stale => "stale",
            Status::Other => "other",
        }
    }
}

/// The release is in place on the agent (`installed` or `active`).
pub fn is_complete(state: &str) -> bool {
    matches!(state, "installed" | "active")
}

/// Its install hook ran and exited non-zero, or was killed (no exit code)
/// after it was started.
pub fn hook_failed(r: &ReleaseReport) -> bool {
    r.hook
        .as_ref()
        .is_some_and(|h| h.exit_code != Some(0) && r.state != "hook_running")
}

/// One release's fleet, as `/api/fleet`, the `agents` event and the page show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Agents that ever reported (stale ones included).
    pub agents: u64,
    /// Non-stale agents with the release installed or active.
    pub installed: u64,
    /// Non-stale agents on their way.
    pub downloading: u64,
    /// Non-stale agents that failed (state or hook).
    pub failed: u64,
    /// Agents with no recent report.
    pub stale: u64,
    /// Non-stale agents that skipped the release or do not know it yet.
    pub other: u64,
    /// Mean verified share over the non-stale agents (0 to 1; 0 if none).
    pub mean_progress: f64,
    /// Bytes the agents received from each other.
    pub from_peers: u64,
    /// Bytes the agents received from the hub (seeder and web seed).
    pub from_hub: u64,
    /// `from_peers + from_hub`, summed over every agent.
    pub delivered_bytes: u64,
    /// Bytes the hub sent: its seeder's upload plus web seed bytes served.
    pub origin_bytes: u64,
    /// Seconds from the publish until the last non-stale agent was first
    /// seen installed; `None` until every non-stale agent is.
    pub time_to_full_secs: Option<u64>,
}

impl Summary {
    /// The count of one status.
    pub fn count(&self, s: Status) -> u64 {
        match s {
            Status::Installed => self.installed,
            Status::Downloading => self.downloading,
            Status::Failed => self.failed,
            Status::Stale => self.stale,
            Status::Other => self.other,
        }
    }

    /// Non-stale agents: the fleet this release is rolled out to.
    pub fn fleet(&self) -> u64 {
        self.agents - self.stale
    }
}

/// Adds agents one by one into a [`Summary`].
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    s: Summary,
    progress_sum: f64,
    /// Latest first-seen-installed time among the non-stale agents.
    last_complete: Option<i64>,
}

impl SummaryBuilder {
    /// Counts one agent: its report of the release (if any), whether it is
    /// stale, and since when (unix seconds) the hub has seen it installed.
    pub fn add(&mut self, r: Option<&ReleaseReport>, stale: bool, complete_since: Option<i64>) {
        let status = Status::of(r, stale);
        let s = &mut self.s;
        s.agents += 1;
        match status {
            Status::Installed => s.installed += 1,
            Status::Downloading => s.downloading += 1,
            Status::Failed => s.failed += 1,
            Status::Stale => s.stale += 1,
            Status::Other => s.other += 1,
        }
        if let Some(r) = r {
            s.from_peers = s.from_peers.saturating_add(r.from_peers);
            s.from_hub = s.from_hub.saturating_add(r.from_hub);
            if !stale {
                self.progress_sum += if status == Status::Installed {
                    1.0
                } else {
                    r.progress
                };
            }
        }
        if status == Status::Installed {
            let at = complete_since.unwrap_or(0);
            self.last_complete = Some(self.last_complete.map_or(at, |l| l.max(at)));
        }
    }

    /// The summary of a release published at `published_at` (unix s), of
    /// which the hub sent `origin_bytes`.
    pub fn finish(self, published_at: i64, origin_bytes: u64) -> Summary {
        let mut s = self.s;
        let fleet = s.fleet();
        if fleet > 0 {
            s.mean_progress = (self.progress_sum / fleet as f64).clamp(0.0, 1.0);
        }
        s.delivered_bytes = s.from_peers.saturating_add(s.from_hub);
        s.origin_bytes = origin_bytes;
        if fleet > 0 && s.installed == fleet {
            s.time_to_full_secs = self
                .last_complete
                .map(|at| u64::try_from(at - published_at).unwrap_or(0));
        }
        s
    }
}

/// One sample: `[t, complete, fleet, mean]`: seconds since the publish,
/// agents installed, non-stale agents, mean progress (0 to 1, 3 decimals).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point(pub u64, pub u64, pub u64, pub f64);

impl Point {
    /// The sample of a summary at `t` seconds since the publish.
    pub fn of(t: u64, s: &Summary) -> Self {
        Point(
            t,
            s.installed,
            s.fleet(),
            (s.mean_progress * 1000.0).round() / 1000.0,
        )
    }
}

/// A release's rollout over time, at most [`SERIES_POINTS`] points.
///
/// Points are at least `step` seconds apart, except the last one, which is
/// provisional while it is within `step` of the one before: newer samples
/// overwrite it, so the series always ends with the latest state. When it is
/// full, every other point is dropped (the first and last are kept) and
/// `step` doubles.
#[derive(Debug, Clone)]
pub struct Series {
    points: Vec<Point>,
    step: u64,
    /// The last point is provisional: within `step` of the one before.
    open: bool,
}

impl Default for Series {
    fn default() -> Self {
        Self {
            points: Vec::new(),
            step: 1,
            open: false,
        }
    }
}

impl Series {
    /// Adds a sample; samples older than the last are ignored.
    pub fn sample(&mut self, p: Point) {
        let Some(last) = self.points.last() else {
            self.points.push(p);
            return;
        };
        if p.0 < last.0 {
            return;
        }
        let n = self.points.len();
        let anchor = if self.open { self.points[n - 2] } else { *last };
        let within = p.0 < anchor.0.saturating_add(self.step);
        match (self.open, within) {
            (true, _) => self.points[n - 1] = p,
            (false, _) => self.points.push(p),
        }
        self.open = within;
        if self.points.len() >= SERIES_POINTS {
            let last = self.points[self.points.len() - 1];
            let mut kept: Vec<Point> = self.points.iter().step_by(2).copied().collect();
            if kept.last() != Some(&last) {
                kept.push(last);
            }
            self.points = kept;
            self.open = false;
            self.step = self.step.saturating_mul(2);
        }
    }

    /// The points, oldest first.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The latest point.
    pub fn last(&self) -> Option<Point> {
        self.points.last().copied()
    }
}

/// A published release as the fleet task sees it.
#[derive(Debug, Clone)]
pub struct Release {
    /// Infohash, lowercase hex.
    pub infohash: String,
    /// Unix seconds.
    pub published_at: i64,
    /// Bytes the hub sent of it.
    pub origin_bytes: u64,
}

/// One release in an `agents` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickRelease {
    /// Infohash, hex.
    pub infohash: String,
    /// Its summary now.
    pub summary: Summary,
    /// The series' latest point, if any.
    pub point: Option<Point>,
}

/// The rollout state the hub keeps between ticks: a series per release
/// and what the last event said. Owned by `Shared::fleet`; only the fleet
/// task writes it, `/api/fleet` reads it.
#[derive(Debug, Default)]
pub struct Fleet {
    series: HashMap<String, Series>,
    last: HashMap<String, Summary>,
    ticks: u64,
}

impl Fleet {
    /// Takes the summaries of `releases` at `now` (unix s). `touched`: the
    /// releases (hex) that a report received since the last tick mentions.
    /// Samples the series of every touched release, and of one whose
    /// summary changed (not while every agent is stale); forgets releases
    /// no longer listed. Returns the
    /// releases whose summary changed or that were touched, and the tick
    /// number, or `None` if nothing did (no event then).
    pub fn tick(
        &mut self,
        now: i64,
        releases: &[Release],
        summaries: Vec<Summary>,
        touched: &std::collections::HashSet<String>,
        agents_changed: bool,
    ) -> Option<(u64, Vec<TickRelease>)> {
        self.series
            .retain(|ih, _| releases.iter().any(|r| &r.infohash == ih));
        self.last
            .retain(|ih, _| releases.iter().any(|r| &r.infohash == ih));
        let mut out = Vec::new();
        for (r, s) in releases.iter().zip(summaries) {
            let changed = self.last.get(&r.infohash) != Some(&s);
            let hit = touched.contains(&r.infohash);
            if !changed && !hit {
                continue;
            }
            // A fleet of no (non-stale) agent says nothing about progress.
            let sample =
                s.fleet() > 0 && (hit || (changed && self.series.contains_key(&r.infohash)));
            let point = if sample {
                let t = u64::try_from(now - r.published_at).unwrap_or(0);
                let series = self.series.entry(r.infohash.clone()).or_default();
                series.sample(Point::of(t, &s));
                series.last()
            } else {
                None
            };
            self.last.insert(r.infohash.clone(), s.clone());
            out.push(TickRelease {
                infohash: r.infohash.clone(),
                summary: s,
                point,
            });
        }
        if out.is_empty() && !agents_changed {
            return None;
        }
        self.ticks += 1;
        Some((self.ticks, out))
    }

    /// A release's series (empty if no agent reported it yet).
    pub fn series(&self, infohash: &str) -> &[Point] {
        self.series.get(infohash).map_or(&[], |s| s.points())
    }

    /// The summary the last tick computed for a release.
    pub fn last_summary(&self, infohash: &str) -> Option<&Summary> {
        self.last.get(infohash)
    }
}

/// One agent as the dashboard lists it, for one release: small and bounded
/// (texts keep their last [`ROW_TEXT`] bytes), unlike the full report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentRow {
    /// Agent name.
    pub name: String,
    /// Its anthill version.
    pub version: Option<String>,
    /// The release `current` points to.
    pub current: Option<String>,
    /// Its state of the release (`unknown` if not in its report).
    pub state: String,
    /// The bucket it counts in.
    pub status: Status,
    /// Verified share, 0 to 1.
    pub progress: f64,
    /// Bytes/s.
    pub download_rate: u64,
    /// Bytes/s.
    pub upload_rate: u64,
    /// Bytes from peers.
    pub from_peers: u64,
    /// Bytes from the hub.
    pub from_hub: u64,
    /// The hook ran (or was started).
    pub hook_ran: bool,
    /// Its exit code (`None`: killed, still running or never started).
    pub hook_exit: Option<i32>,
    /// The tail of its output.
    pub hook_output: String,
    /// The last error.
    pub error: Option<String>,
    /// When the hub got its latest report (unix s).
    pub reported_at: i64,
    /// Seconds since.
    pub age_secs: u64,
    /// No report for `agent_stale_after`.
    pub stale: bool,
    /// Stale, failed, or an error is set: the page makes it stand out.
    pub problem: bool,
}

impl AgentRow {
    /// The row of an agent whose report of the release is `r`.
    pub fn new(
        report: &release::AgentReport,
        r: Option<&ReleaseReport>,
        reported_at: i64,
        age_secs: u64,
        stale: bool,
    ) -> Self {
        let status = Status::of(r, stale);
        let error = r.and_then(|r| r.error.as_deref()).map(tail);
        let problem = is_problem(r, stale);
        Self {
            name: report.name.clone(),
            version: report.version.as_deref().map(tail),
            current: report.current.as_deref().map(tail),
            state: r.map_or_else(|| "unknown".to_string(), |r| r.state.clone()),
            status,
            progress: r.map_or(0.0, |r| r.progress),
            download_rate: r.map_or(0, |r| r.download_rate),
            upload_rate: r.map_or(0, |r| r.upload_rate),
            from_peers: r.map_or(0, |r| r.from_peers),
            from_hub: r.map_or(0, |r| r.from_hub),
            hook_ran: r.is_some_and(|r| r.hook.is_some()),
            hook_exit: r.and_then(|r| r.hook.as_ref()).and_then(|h| h.exit_code),
            hook_output: r
                .and_then(|r| r.hook.as_ref())
                .map(|h| tail(&h.output_tail))
                .unwrap_or_default(),
            problem,
            error,
            reported_at,
            age_secs,
            stale,
        }
    }
}

/// Stale, failed (state or hook), or an error is set.
pub fn is_problem(r: Option<&ReleaseReport>, stale: bool) -> bool {
    Status::of(r, stale) == Status::Failed || stale || r.is_some_and(|r| r.error.is_some())
}

/// The last [`ROW_TEXT`] bytes of `s` (on a char boundary).
fn tail(s: &str) -> String {
    if s.len() <= ROW_TEXT {
        return s.to_string();
    }
    let mut cut = s.len() - ROW_TEXT;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    s[cut..].to_string()
}

/// Problems first, then by name: the order of `/api/fleet/agents` and the page.
pub fn sort_rows(rows: &mut [AgentRow]) {
    rows.sort_by(|a, b| b.problem.cmp(&a.problem).then_with(|| a.name.cmp(&b.name)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use release::HookReport;

    fn rr(state: &str, progress: f64) -> ReleaseReport {
        ReleaseReport {
            infohash: "ab".repeat(20),
            name: Some("app-1".into()),
            state: state.into(),
            progress,
            download_rate: 0,
            upload_rate: 0,
            from_peers: 300,
            from_hub: 100,
            hook: None,
            error: None,
            switched_at_ms: None,
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(
            Status::of(Some(&rr("installed", 1.0)), false),
            Status::Installed
        );
        assert_eq!(
            Status::of(Some(&rr("active", 1.0)), false),
            Status::Installed
        );
        assert_eq!(
            Status::of(Some(&rr("downloading", 0.2)), false),
            Status::Downloading
        );
        assert_eq!(Status::of(Some(&rr("refused", 0.0)), false), Status::Failed);
        assert_eq!(Status::of(Some(&rr("skipped", 0.0)), false), Status::Other);
        assert_eq!(Status::of(None, false), Status::Other);
        let mut hooked = rr("active", 1.0);
        hooked.hook = Some(HookReport {
            exit_code: Some(3),
            output_tail: "boom".into(),
        });
        assert_eq!(Status::of(Some(&hooked), false), Status::Failed);
        hooked.hook.as_mut().unwrap().exit_code = None;
        assert_eq!(
            Status::of(Some(&hooked), false),
            Status::Failed,
            "killed hook"
        );
        hooked.state = "hook_running".into();
        assert_eq!(Status::of(Some(&hooked), false), Status::Downloading);
    }

    #[test]
    fn stale_agents_count_as_stale_not_installed() {
        let mut b = SummaryBuilder::default();
        b.add(Some(&rr("installed", 1.0)), false, Some(1010));
        b.add(Some(&rr("installed", 1.0)), true, Some(1005));
        b.add(Some(&rr("failed", 0.0)), true, None);
        let s = b.finish(1000, 50);
        assert_eq!(
            (s.agents, s.installed, s.stale, s.failed, s.fleet()),
            (3, 1, 2, 0, 1)
        );
        assert_eq!(s.mean_progress, 1.0, "stale agents are not in the mean");
        assert_eq!(
            s.delivered_bytes, 1200,
            "their bytes were delivered all the same"
        );
        assert_eq!(s.origin_bytes, 50);
        assert_eq!(
            s.time_to_full_secs,
            Some(10),
            "the fleet is the non-stale agents"
        );
    }

    #[test]
    fn time_to_full_fleet_waits_for_the_last_agent() {
        let mut b = SummaryBuilder::default();
        b.add(Some(&rr("installed", 1.0)), false, Some(1030));
        b.add(Some(&rr("downloading", 0.5)), false, None);
        let s = b.finish(1000, 0);
        assert_eq!(s.time_to_full_secs, None);
        assert_eq!(s.mean_progress, 0.75);
        let mut b = SummaryBuilder::default();
        b.add(Some(&rr("active", 1.0)), false, Some(1030));
        b.add(Some(&rr("installed", 1.0)), false, Some(1090));
        b.add(None, true, None);
        assert_eq!(b.finish(1000, 0).time_to_full_secs, Some(90));
        // An agent that does not know the release yet keeps the fleet from full.
        let mut b = SummaryBuilder::default();
        b.add(Some(&rr("installed", 1.0)), false, Some(1030));
        b.add(None, false, None);
        let s = b.finish(1000, 0);
        assert_eq!((s.other, s.time_to_full_secs), (1, None));
        // No agent: not full.
        assert_eq!(
            SummaryBuilder::default().finish(1000, 0).time_to_full_secs,
            None
        );
    }

    #[test]
    fn a_series_stays_bounded_and_spans_the_whole_rollout() {
        let mut s = Series::default();
        for t in 0..100_000u64 {
            s.sample(Point(t, t / 100, 1000, 0.5));
            assert!(s.points().len() < SERIES_POINTS, "bounded at {t}");
        }
        let p = s.points();
        assert_eq!(p[0].0, 0, "the first point is kept");
        assert_eq!(
            p.last().unwrap().0,
            99_999,
            "the series ends with the latest sample"
        );
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0), "ordered");
        assert!(
            p.len() > SERIES_POINTS / 4,
            "not thinned too much: {}",
            p.len()
        );
        // Evenly spread: no gap much larger than the mean.
        let mean = 100_000 / p.len() as u64;
        assert!(p.windows(2).all(|w| w[1].0 - w[0].0 <= 4 * mean));
    }

    #[test]
    fn samples_within_a_step_replace_the_last_point() {
        let mut s = Series::default();
        s.sample(Point(0, 0, 2, 0.0));
        s.sample(Point(0, 0, 2, 0.1));
        assert_eq!(s.last(), Some(Point(0, 0, 2, 0.1)));
        s.sample(Point(1, 1, 2, 0.5));
        s.sample(Point(2, 1, 2, 0.6));
        assert_eq!(s.points().len(), 3);
        s.sample(Point(1, 2, 2, 1.0));
        assert_eq!(
            s.last(),
            Some(Point(2, 1, 2, 0.6)),
            "older samples are ignored"
        );
        // After a downsample the step is 2 s: samples 1 s apart keep every other one.
        let mut s = Series::default();
        for t in 0..SERIES_POINTS as u64 {
            s.sample(Point(t, 0, 1, 0.0));
        }
        let n = s.points().len();
        let last = s.last().unwrap().0;
        for t in last + 1..=last + 20 {
            s.sample(Point(t, 1, 1, 1.0));
        }
        let new = &s.points()[n..];
        assert!((10..=11).contains(&new.len()), "{new:?}");
        assert!(
            new[..new.len() - 1]
                .windows(2)
                .all(|w| w[1].0 - w[0].0 >= 2)
        );
        assert_eq!(s.last().unwrap().0, last + 20, "the latest sample is last");
    }

    #[test]
    fn ticks_sample_touched_releases_and_stay_quiet_otherwise() {
        let mut f = Fleet::default();
        let rel = |ih: &str| Release {
            infohash: ih.into(),
            published_at: 1000,
            origin_bytes: 0,
        };
        let releases = [rel("aa"), rel("bb")];
        let sum = |installed| Summary {
            agents: 2,
            installed,
            downloading: 2 - installed,
            ..Summary::default()
        };
        let touched: std::collections::HashSet<String> = ["aa".to_string()].into();
        let (n, out) = f
            .tick(1005, &releases, vec![sum(0), sum(0)], &touched, true)
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(out.len(), 2, "both are new");
        assert_eq!(out[0].point, Some(Point(5, 0, 2, 0.0)));
        assert_eq!(out[1].point, None, "no agent reported bb: no series");
        assert!(f.series("bb").is_empty());
        assert!(
            f.tick(
                1006,
                &releases,
                vec![sum(0), sum(0)],
                &Default::default(),
                false
            )
            .is_none(),
            "nothing changed: no event"
        );
        let (n, out) = f
            .tick(
                1007,
                &releases,
                vec![sum(1), sum(0)],
                &Default::default(),
                false,
            )
            .unwrap();
        assert_eq!((n, out.len()), (2, 1));
        assert_eq!(
            out[0].point,
            Some(Point(7, 1, 2, 0.0)),
            "a change samples too"
        );
        assert_eq!(f.series("aa").len(), 2);
        // While every agent is stale the series waits.
        let all_stale = Summary {
            agents: 2,
            stale: 2,
            ..Summary::default()
        };
        let bb: std::collections::HashSet<String> = ["bb".to_string()].into();
        let (_, out) = f
            .tick(1008, &releases, vec![sum(1), all_stale], &bb, true)
            .unwrap();
        assert_eq!((out.len(), out[0].infohash.as_str()), (1, "bb"));
        assert_eq!(out[0].point, None);
        assert!(f.series("bb").is_empty());
        // A retired release is forgotten.
        f.tick(
            1008,
            &releases[1..],
            vec![sum(0)],
            &Default::default(),
            false,
        );
        assert!(f.series("aa").is_empty() && f.last_summary("aa").is_none());
    }

    #[test]
    fn rows_are_bounded_and_flag_problems() {
        let report = release::AgentReport {
            name: "web-01".into(),
            version: None,
            current: None,
            releases: vec![],
        };
        let mut r = rr("downloading", 0.5);
        r.error = Some(format!("{}<script>end", "x".repeat(10_000)));
        let row = AgentRow::new(&report, Some(&r), 0, 0, false);
        assert!(row.problem && row.status == Status::Downloading);
        assert_eq!(row.error.as_deref().unwrap().len(), ROW_TEXT);
        assert!(row.error.unwrap().ends_with("<script>end"));
        let ok = AgentRow::new(&report, Some(&rr("installed", 1.0)), 0, 0, false);
        assert!(!ok.problem);
        let stale = AgentRow::new(&report, None, 0, 999, true);
        assert!(stale.problem && stale.state == "unknown" && stale.status == Status::Stale);
        let mut rows = vec![ok, stale];
        sort_rows(&mut rows);
        assert!(rows[0].stale);
    }
}
