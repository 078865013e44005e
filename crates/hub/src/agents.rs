//! What agents report to the hub, and the latest report of each: served at
//! `/api/agents` and counted in `/metrics`, so an operator (and the
//! dashboard) can see a rollout. An agent reports every few seconds while
//! something changes and every minute otherwise; one that has not reported
//! for `agent_stale_after` is marked stale.
//!
//! Reports are untrusted input: bounded in size (the route's body limit),
//! in count (at most [`MAX_AGENTS`] agents, [`MAX_RELEASES`] releases per
//! report) and in every string's length; names are checked like release
//! names.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use release::{AgentReport, ReleaseReport, ReportError};
use serde::Serialize;

use crate::fleet::{self, AgentRow, Summary, SummaryBuilder};

/// Most agents remembered; reports from more are refused (503).
pub const MAX_AGENTS: usize = 100_000;

/// An agent as `/api/agents` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    /// Its latest report.
    #[serde(flatten)]
    pub report: AgentReport,
    /// When it arrived (unix seconds).
    pub reported_at: i64,
    /// Seconds since.
    pub age_secs: u64,
    /// No report for longer than the hub's `agent_stale_after`.
    pub stale: bool,
}

struct Entry {
    report: AgentReport,
    at: Instant,
    at_unix: i64,
    /// Per release (lowercase hex) it reports installed: since when (unix
    /// s) it has, without a break in between.
    complete_since: Vec<(String, i64)>,
}

impl Entry {
    /// Its report of a release (`infohash`: lowercase hex, as stored).
    fn release(&self, infohash: &str) -> Option<&ReleaseReport> {
        self.report.releases.iter().find(|r| r.infohash == infohash)
    }

    fn complete_since(&self, infohash: &str) -> Option<i64> {
        self.complete_since
            .iter()
            .find(|(ih, _)| ih == infohash)
            .map(|(_, at)| *at)
    }

    fn stale(&self, stale_after: Duration) -> bool {
        self.at.elapsed() > stale_after
    }

    fn row(&self, infohash: &str, stale_after: Duration) -> AgentRow {
        let age = self.at.elapsed();
        AgentRow::new(
            &self.report,
            self.release(infohash),
            self.at_unix,
            age.as_secs(),
            age > stale_after,
        )
    }
}

/// The latest report of every agent, and which agents reported since the
/// fleet task last looked.
///
/// Lock order: `map` before `changed`; neither is held across an await.
#[derive(Default)]
pub struct Agents {
    map: Mutex<HashMap<String, Entry>>,
    /// Names of the agents that reported since [`Agents::take_changed`].
    changed: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agents").finish_non_exhaustive()
    }
}

impl Agents {
    /// Records a validated report (its infohashes are stored lowercase).
    pub fn record(&self, mut report: AgentReport) -> Result<(), ReportError> {
        for r in &mut report.releases {
            r.infohash.make_ascii_lowercase();
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_AGENTS && !map.contains_key(&report.name) {
            return Err(ReportError::Full(MAX_AGENTS));
        }
        let now = release::unix_now();
        let old = map.get(&report.name);
        let complete_since = report
            .releases
            .iter()
            .filter(|r| fleet::is_complete(&r.state))
            .map(|r| {
                let since = old
                    .and_then(|e| e.complete_since(&r.infohash))
                    .unwrap_or(now);
                (r.infohash.clone(), since)
            })
            .collect();
        let name = report.name.clone();
        map.insert(
            name.clone(),
            Entry {
                report,
                at: Instant::now(),
                at_unix: now,
                complete_since,
            },
        );
        drop(map);
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name);
        Ok(())
    }

    /// The names of the agents that reported since the last call.
    pub fn take_changed(&self) -> HashSet<String> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many agents have reported.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// No agent has reported.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fleet summary of each release `(infohash hex, published_at,
    /// origin bytes)`, in one pass over the agents.
    pub fn summaries(&self, stale_after: Duration, releases: &[fleet::Release]) -> Vec<Summary> {
        let index: HashMap<&str, usize> = releases
            .iter()
            .enumerate()
            .map(|(i, r)| (r.infohash.as_str(), i))
            .collect();
        let mut b: Vec<SummaryBuilder> =
            releases.iter().map(|_| SummaryBuilder::default()).collect();
        let mut seen = vec![false; releases.len()];
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // One pass over each report (not one search per release): this runs
        // every second over the whole fleet.
        for e in map.values() {
            let stale = e.stale(stale_after);
            seen.fill(false);
            for r in &e.report.releases {
                if let Some(&i) = index.get(r.infohash.as_str())
                    && !std::mem::replace(&mut seen[i], true)
                {
                    let since = if fleet::is_complete(&r.state) {
                        e.complete_since(&r.infohash)
                    } else {
                        None
                    };
                    b[i].add(Some(r), stale, since);
                }
            }
            for (b, seen) in b.iter_mut().zip(&seen) {
                if !seen {
                    b.add(None, stale, None);
                }
            }
        }
        drop(map);
        b.into_iter()
            .zip(releases)
            .map(|(b, r)| b.finish(r.published_at, r.origin_bytes))
            .collect()
    }

    /// The releases (lowercase hex) that the latest reports of `names` mention.
    pub fn releases_of(&self, names: &HashSet<String>) -> HashSet<String> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        names
            .iter()
            .filter_map(|n| map.get(n))
            .flat_map(|e| e.report.releases.iter().map(|r| r.infohash.clone()))
            .collect()
    }

    /// The rows of one release (hex) for the agents `names`, problems
    /// first, then by name.
    pub fn rows(
        &self,
        stale_after: Duration,
        infohash: &str,
        names: &HashSet<String>,
    ) -> Vec<AgentRow> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<AgentRow> = names
            .iter()
            .filter_map(|n| map.get(n))
            .map(|e| e.row(infohash, stale_after))
            .collect();
        drop(map);
        fleet::sort_rows(&mut rows);
        rows
    }

    /// One page of the rows of a release (hex): `limit` rows from
    /// `offset` in the order problems first, then by name; `problems`:
    /// only those. Returns the count of all matching rows too. Only the
    /// page's rows are built, so a page of a large fleet stays cheap.
    pub fn page(
        &self,
        stale_after: Duration,
        infohash: &str,
        problems: bool,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<AgentRow>) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<(bool, &str, &Entry)> = map
            .values()
            .map(|e| {
                let stale = e.stale(stale_after);
                (
                    fleet::is_problem(e.release(infohash), stale),
                    e.report.name.as_str(),
                    e,
                )
            })
            .filter(|(p, _, _)| !problems || *p)
            .collect();
        keys.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let rows = keys
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(_, _, e)| e.row(infohash, stale_after))
            .collect();
        (keys.len(), rows)
    }

    /// Every agent, by name.
    pub fn list(&self, stale_after: Duration) -> Vec<AgentView> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<AgentView> = map
            .values()
            .map(|e| AgentView {
                report: e.report.clone(),
                reported_at: e.at_unix,
                age_secs: e.at.elapsed().as_secs(),
                stale: e.at.elapsed() > stale_after,
            })
            .collect();
        v.sort_by(|a, b| a.report.name.cmp(&b.report.name));
        v
    }

    /// (agents, stale agents, per state of the newest release: count).
    pub fn summary(
        &self,
        stale_after: Duration,
        newest: Option<&str>,
    ) -> (usize, usize, HashMap<String, usize>) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let stale = map
            .values()
            .filter(|e| e.at.elapsed() > stale_after)
            .count();
        let mut states = HashMap::new();
        if let Some(ih) = newest {
            for e in map.values() {
                let state = e
                    .report
                    .releases
                    .iter()
                    .find(|r| r.infohash.eq_ignore_ascii_case(ih))
                    .map_or("unknown", |r| r.state.as_str());
                *states.entry(state.to_string()).or_insert(0) += 1;
            }
        }
        (map.len(), stale, states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use release::{HookReport, ReleaseReport};

    fn report(name: &str) -> AgentReport {
        AgentReport {
            name: name.into(),
            version: None,
            current: Some("app-1".into()),
            releases: vec![ReleaseReport {
                infohash: "ab".repeat(20),
                name: Some("app-1".into()),
                state: "installed".into(),
                progress: 1.0,
                download_rate: 0,
                upload_rate: 0,
                from_peers: 10,
                from_hub: 1,
                hook: Some(HookReport {
                    exit_code: Some(0),
                    output_tail: "x".repeat(10_000),
                }),
                error: None,
                switched_at_ms: None,
            }],
        }
    }

    #[test]
    fn reports_are_bounded_and_checked() {
        let r = report("web-01").validate().unwrap();
        assert_eq!(
            r.releases[0].hook.as_ref().unwrap().output_tail.len(),
            release::report::MAX_TEXT
        );
        assert!(report("../x").validate().is_err());
        let mut r = report("a");
        r.releases[0].progress = 2.0;
        assert!(r.validate().is_err());
        let mut r = report("a");
        r.releases[0].infohash = "zz".into();
        assert!(r.validate().is_err());
        let mut r = report("a");
        r.releases[0].state = "Bad State".into();
        assert!(r.validate().is_err());
    }

    #[test]
    fn the_latest_report_wins_and_old_ones_go_stale() {
        let a = Agents::default();
        a.record(report("b")).unwrap();
        let mut r = report("a");
        r.releases[0].state = "downloading".into();
        a.record(r).unwrap();
        a.record(report("a")).unwrap();
        let l = a.list(Duration::from_secs(60));
        assert_eq!(
            l.iter().map(|v| v.report.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(
            l.iter()
                .all(|v| !v.stale && v.report.releases[0].state == "installed")
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(a.list(Duration::from_millis(1)).iter().all(|v| v.stale));
        let (n, _, states) = a.summary(Duration::from_secs(60), Some(&"AB".repeat(20)));
        assert_eq!((n, states.get("installed").copied()), (2, Some(2)));
    }

    #[test]
    fn summaries_count_stale_agents_as_stale_and_remember_when_each_completed() {
        let a = Agents::default();
        let ih = "ab".repeat(20);
        let mut r = report("b");
        r.releases[0].state = "downloading".into();
        r.releases[0].infohash = ih.to_uppercase();
        a.record(r).unwrap();
        a.record(report("a")).unwrap();
        let first = a.map.lock().unwrap()["a"].complete_since(&ih).unwrap();
        a.record(report("a")).unwrap();
        assert_eq!(
            a.map.lock().unwrap()["a"].complete_since(&ih),
            Some(first),
            "a later report of the same state keeps the first time"
        );
        assert_eq!(a.take_changed().len(), 2);
        assert!(a.take_changed().is_empty());
        let rel = [fleet::Release {
            infohash: ih.clone(),
            published_at: first - 5,
            origin_bytes: 7,
        }];
        let s = &a.summaries(Duration::from_secs(60), &rel)[0];
        assert_eq!((s.installed, s.downloading, s.stale), (1, 1, 0));
        assert_eq!(s.time_to_full_secs, None);
        assert_eq!(s.delivered_bytes, 22);
        std::thread::sleep(Duration::from_millis(5));
        let s = &a.summaries(Duration::from_millis(1), &rel)[0];
        assert_eq!((s.installed, s.stale, s.time_to_full_secs), (0, 2, None));
        let (total, rows) = a.page(Duration::from_secs(60), &ih, false, 1, 5);
        assert_eq!((total, rows.len(), rows[0].name.as_str()), (2, 1, "b"));
        let (total, _) = a.page(Duration::from_secs(60), &ih, true, 0, 5);
        assert_eq!(total, 0, "no problems");
        let rows = a.rows(Duration::from_secs(60), &ih, &["a".to_string()].into());
        assert_eq!(rows.len(), 1);
        assert_eq!(a.releases_of(&["b".to_string()].into()), [ih].into());
    }
}
