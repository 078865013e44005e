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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use release::{AgentReport, ReportError};
use serde::Serialize;

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
}

/// The latest report of every agent.
#[derive(Default)]
pub struct Agents {
    map: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agents").finish_non_exhaustive()
    }
}

impl Agents {
    /// Records a validated report.
    pub fn record(&self, report: AgentReport) -> Result<(), ReportError> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_AGENTS && !map.contains_key(&report.name) {
            return Err(ReportError::Full(MAX_AGENTS));
        }
        map.insert(
            report.name.clone(),
            Entry {
                report,
                at: Instant::now(),
                at_unix: release::unix_now(),
            },
        );
        Ok(())
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
}
