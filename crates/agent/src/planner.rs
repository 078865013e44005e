//! The agent's decisions, as plain functions over (state, event): which
//! releases to take, the install state machine, and what a restart does in
//! each state. No I/O here; `lib.rs` carries the decisions out. The states
//! and their on-disk forms are written down in `STATE.md`.

use std::collections::HashSet;

use metainfo::Infohash;

/// A release learnt from a feed or an event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its infohash.
    pub infohash: Infohash,
    /// Title in the feed (the release name for a hub).
    pub name: String,
    /// The hub's sequence number, for anthill releases.
    pub seq: Option<u64>,
    /// Publication time, unix seconds (0 if unknown).
    pub published: i64,
    /// Where its `.torrent` is (empty for a magnet-only item).
    pub torrent_url: String,
    /// Its magnet link (may be empty).
    pub magnet: String,
    /// Signed manifest URL (anthill releases).
    pub manifest_url: Option<String>,
    /// Manifest signature URL (anthill releases).
    pub signature_url: Option<String>,
    /// Content bytes as the feed states them (0 if unknown).
    pub content_length: u64,
    /// The feed URL it came from (its index is beside it).
    pub feed: String,
}

/// Where a release is in its life; stored as [`State::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Learnt; trust not checked yet.
    Seen,
    /// Accepted; its data is coming into `staging/<infohash>/`.
    Downloading,
    /// Every piece verified, still in staging.
    Verified,
    /// Renamed into `releases/NAME` and seeded; `current` not switched yet.
    Installed,
    /// `current` names it; its hook has not started.
    Activating,
    /// Its hook was started (recorded before the spawn: never run twice).
    HookRunning,
    /// The current release.
    Active,
    /// Was active; a newer release is current now. Still on disk, seeded.
    Retired,
    /// Deleted from disk (past `keep`).
    Removed,
    /// A step failed; retried after a backoff.
    Failed,
    /// Refused by the trust rules; never downloaded.
    Refused,
    /// Not taken (first start without backfill, or superseded).
    Skipped,
}

impl State {
    /// Every state.
    pub const ALL: [State; 12] = [
        State::Seen,
        State::Downloading,
        State::Verified,
        State::Installed,
        State::Activating,
        State::HookRunning,
        State::Active,
        State::Retired,
        State::Removed,
        State::Failed,
        State::Refused,
        State::Skipped,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Seen => "seen",
            State::Downloading => "downloading",
            State::Verified => "verified",
            State::Installed => "installed",
            State::Activating => "activating",
            State::HookRunning => "hook_running",
            State::Active => "active",
            State::Retired => "retired",
            State::Removed => "removed",
            State::Failed => "failed",
            State::Refused => "refused",
            State::Skipped => "skipped",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The release's data is complete under `releases/` (seed it).
    pub fn on_disk(self) -> bool {
        matches!(
            self,
            State::Installed
                | State::Activating
                | State::HookRunning
                | State::Active
                | State::Retired
        )
    }

    /// Still has work to do (the pipeline picks these up).
    pub fn pending(self) -> bool {
        matches!(
            self,
            State::Seen
                | State::Downloading
                | State::Verified
                | State::Installed
                | State::Activating
                | State::HookRunning
        )
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Trust rules passed (or no trust is configured).
    Admitted,
    /// Trust rules refused it (before the download, or when the torrent
    /// obtained is not the signed one).
    Refused,
    /// A step failed.
    Failed,
    /// A failed release's backoff is over; `admitted` tells whether trust
    /// had accepted it before (its seq is then already recorded).
    RetryDue {
        /// Trust accepted it before the failure.
        admitted: bool,
    },
    /// Every piece is verified.
    Complete,
    /// Renamed into `releases/`.
    Moved,
    /// `current` now names it.
    Switched,
    /// The hook was started.
    HookStarted,
    /// The hook ended, or there is none, or a restart interrupted it.
    HookDone,
    /// Another release became current.
    Superseded,
    /// A release learnt after this one became current while this one was
    /// still waiting (failed, or not admitted yet): installing it later would
    /// take the fleet back, so it is skipped.
    Overtaken,
    /// Deleted from disk.
    Pruned,
}

/// An event that does not apply in a state: a bug in the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event:?} does not apply to a release in state {from}")]
pub struct InvalidTransition {
    /// The state.
    pub from: State,
    /// The event.
    pub event: Event,
}

/// The install state machine.
pub fn transition(from: State, event: &Event) -> Result<State, InvalidTransition> {
    use State as S;
    let to = match (from, event) {
        (S::Seen, Event::Admitted) => S::Downloading,
        (S::Seen | S::Downloading, Event::Refused) => S::Refused,
        (S::Seen | S::Downloading | S::Verified | S::Installed, Event::Failed) => S::Failed,
        (S::Failed, Event::RetryDue { admitted: false }) => S::Seen,
        (S::Failed, Event::RetryDue { admitted: true }) => S::Downloading,
        (S::Downloading, Event::Complete) => S::Verified,
        (S::Verified, Event::Moved) => S::Installed,
        (S::Installed, Event::Switched) => S::Activating,
        (S::Activating, Event::HookStarted) => S::HookRunning,
        (S::Activating | S::HookRunning, Event::HookDone) => S::Active,
        (S::Active | S::Activating | S::HookRunning, Event::Superseded) => S::Retired,
        (S::Seen | S::Failed, Event::Overtaken) => S::Skipped,
        (S::Installed | S::Retired, Event::Pruned) => S::Removed,
        _ => {
            return Err(InvalidTransition {
                from,
                event: event.clone(),
            });
        }
    };
    Ok(to)
}

/// What a (re)started agent does with a release found in `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Check trust, then download.
    Check,
    /// Download into staging (verified pieces are kept by the engine's
    /// resume state: nothing verified is fetched again).
    Download,
    /// Rename the verified data into `releases/` (or notice it was).
    Move,
    /// Switch `current` to it (idempotent).
    Switch,
    /// Run its hook.
    RunHook,
    /// Its hook was started before the stop: record that, never rerun it.
    HookInterrupted,
    /// Nothing to do but seed it.
    Seed,
    /// Retry when its backoff is over.
    RetryLater,
    /// Nothing (refused, skipped, removed).
    Nothing,
}

/// The one rule per state for a restart.
pub fn on_restart(state: State) -> Resume {
    match state {
        State::Seen => Resume::Check,
        State::Downloading => Resume::Download,
        State::Verified => Resume::Move,
        State::Installed => Resume::Switch,
        State::Activating => Resume::RunHook,
        State::HookRunning => Resume::HookInterrupted,
        State::Active | State::Retired => Resume::Seed,
        State::Failed => Resume::RetryLater,
        State::Refused | State::Skipped | State::Removed => Resume::Nothing,
    }
}

/// Whether a newly learnt release is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Take it (check trust, download).
    Take,
    /// Record it as skipped, with the reason.
    Skip(String),
}

/// Oldest first: by seq when both have one, else by publication time.
fn older_first(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    match (a.seq, b.seq) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => a.published.cmp(&b.published),
    }
}

/// Decides, for a batch learnt from one feed read or event, which of the
/// releases not `known` yet to take, oldest first. On the very first start
/// only the newest is taken unless `backfill`; later, a batch with several
/// new releases (the agent was away) takes the newest and skips the ones it
/// supersedes. Duplicates within the batch count once.
pub fn admit(
    first_start: bool,
    backfill: bool,
    known: &HashSet<Infohash>,
    batch: &[Candidate],
) -> Vec<(Candidate, Admission)> {
    let mut seen = HashSet::new();
    let mut new: Vec<Candidate> = batch
        .iter()
        .filter(|c| !known.contains(&c.infohash) && seen.insert(c.infohash))
        .cloned()
        .collect();
    // A stable sort keeps feed order (newest first) for equal keys; reverse
    // that first so ties end up oldest first too.
    new.reverse();
    new.sort_by(older_first);
    let Some(newest) = new.last().map(|c| c.infohash) else {
        return Vec::new();
    };
    let take_all = first_start && backfill;
    new.into_iter()
        .map(|c| {
            let a = if take_all || c.infohash == newest {
                Admission::Take
            } else if first_start {
                Admission::Skip(
                    "first start: only the newest release is installed (--backfill takes all)"
                        .into(),
                )
            } else {
                Admission::Skip("superseded by a newer release learnt at the same time".into())
            };
            (c, a)
        })
        .collect()
}

/// Which installed releases to delete: all but the newest `keep` of
/// `installed` (oldest first), never `current` nor `previous`.
pub fn prune<'a>(
    installed: &'a [(Infohash, String)],
    keep: usize,
    current: Option<&str>,
    previous: Option<&str>,
) -> Vec<&'a (Infohash, String)> {
    let mut excess = installed.len().saturating_sub(keep);
    let mut out = Vec::new();
    for r in installed {
        if excess == 0 {
            break;
        }
        if Some(r.1.as_str()) == current || Some(r.1.as_str()) == previous {
            continue;
        }
        out.push(r);
        excess -= 1;
    }
    out
}

/// Backoff before retry `attempt` (1-based): 2^attempt seconds from `base`,
/// capped at `max`.
pub fn backoff(
    base: std::time::Duration,
    attempt: u32,
    max: std::time::Duration,
) -> std::time::Duration {
    base.saturating_mul(1u32 << attempt.min(20)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cand(n: u8, seq: Option<u64>, published: i64) -> Candidate {
        Candidate {
            infohash: Infohash([n; 20]),
            name: format!("r{n}"),
            seq,
            published,
            torrent_url: format!("http://h/{n}.torrent"),
            magnet: String::new(),
            manifest_url: None,
            signature_url: None,
            content_length: 1,
            feed: "http://h/feed.xml".into(),
        }
    }

    #[test]
    fn the_happy_path_goes_through_every_state_in_order() {
        let mut s = State::Seen;
        for (ev, want) in [
            (Event::Admitted, State::Downloading),
            (Event::Complete, State::Verified),
            (Event::Moved, State::Installed),
            (Event::Switched, State::Activating),
            (Event::HookStarted, State::HookRunning),
            (Event::HookDone, State::Active),
            (Event::Superseded, State::Retired),
            (Event::Pruned, State::Removed),
        ] {
            s = transition(s, &ev).unwrap();
            assert_eq!(s, want);
        }
    }

    #[test]
    fn download_and_activation_are_separate_and_nothing_skips_ahead() {
        // Not verified: cannot be moved, switched or hooked.
        for ev in [
            Event::Moved,
            Event::Switched,
            Event::HookStarted,
            Event::HookDone,
        ] {
            assert!(transition(State::Downloading, &ev).is_err(), "{ev:?}");
            assert!(transition(State::Seen, &ev).is_err(), "{ev:?}");
        }
        // A refused or skipped release never moves again.
        for s in [State::Refused, State::Skipped, State::Removed] {
            for ev in [
                Event::Admitted,
                Event::Complete,
                Event::RetryDue { admitted: true },
                Event::Failed,
            ] {
                assert!(transition(s, &ev).is_err(), "{s} {ev:?}");
            }
        }
        // The hook starts once: a running hook cannot be started again.
        assert!(transition(State::HookRunning, &Event::HookStarted).is_err());
        // The current release is never pruned.
        assert!(transition(State::Active, &Event::Pruned).is_err());
        // Retries go back to where trust left them.
        assert_eq!(
            transition(State::Failed, &Event::RetryDue { admitted: false }),
            Ok(State::Seen)
        );
        assert_eq!(
            transition(State::Failed, &Event::RetryDue { admitted: true }),
            Ok(State::Downloading)
        );
    }

    #[test]
    fn every_state_has_a_restart_rule_and_a_stored_name() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            let r = on_restart(s);
            assert_eq!(
                s.pending(),
                !matches!(r, Resume::Seed | Resume::RetryLater | Resume::Nothing),
                "{s}"
            );
        }
        assert_eq!(on_restart(State::HookRunning), Resume::HookInterrupted);
        assert_eq!(on_restart(State::Downloading), Resume::Download);
        assert_eq!(State::parse("nope"), None);
    }

    #[test]
    fn first_start_takes_only_the_newest_unless_backfill() {
        let batch = vec![
            cand(3, Some(3), 30),
            cand(1, Some(1), 10),
            cand(2, Some(2), 20),
        ];
        let known = HashSet::new();
        let out = admit(true, false, &known, &batch);
        let names: Vec<_> = out
            .iter()
            .map(|(c, a)| (c.name.as_str(), matches!(a, Admission::Take)))
            .collect();
        assert_eq!(names, [("r1", false), ("r2", false), ("r3", true)]);
        let out = admit(true, true, &known, &batch);
        let names: Vec<_> = out
            .iter()
            .map(|(c, a)| (c.name.as_str(), matches!(a, Admission::Take)))
            .collect();
        assert_eq!(
            names,
            [("r1", true), ("r2", true), ("r3", true)],
            "backfill: all, oldest first"
        );
    }

    #[test]
    fn known_releases_are_never_taken_again() {
        let batch = vec![
            cand(3, Some(3), 30),
            cand(2, Some(2), 20),
            cand(3, Some(3), 30),
        ];
        let known: HashSet<_> = [Infohash([2; 20])].into();
        let out = admit(false, false, &known, &batch);
        assert_eq!(out.len(), 1, "duplicates count once");
        assert_eq!(out[0].1, Admission::Take);
        let known: HashSet<_> = [Infohash([2; 20]), Infohash([3; 20])].into();
        assert!(admit(false, false, &known, &batch).is_empty());
    }

    #[test]
    fn plain_feeds_order_by_publication_and_feed_order() {
        let batch = vec![cand(9, None, 0), cand(8, None, 0)];
        let out = admit(true, false, &HashSet::new(), &batch);
        // Feed order is newest first: 9 is the newest.
        assert_eq!(out.last().unwrap().0.name, "r9");
        assert_eq!(out.last().unwrap().1, Admission::Take);
        assert!(matches!(out[0].1, Admission::Skip(_)));
    }

    #[test]
    fn pruning_keeps_current_and_previous() {
        let rel: Vec<(Infohash, String)> = (1..=5)
            .map(|n| (Infohash([n; 20]), format!("r{n}")))
            .collect();
        let names =
            |v: Vec<&(Infohash, String)>| v.into_iter().map(|r| r.1.clone()).collect::<Vec<_>>();
        assert_eq!(names(prune(&rel, 3, Some("r5"), Some("r4"))), ["r1", "r2"]);
        // An old current and previous survive; others go instead.
        assert_eq!(names(prune(&rel, 3, Some("r1"), Some("r2"))), ["r3", "r4"]);
        assert!(prune(&rel, 5, None, None).is_empty());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_millis(500);
        assert_eq!(
            backoff(b, 1, Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff(b, 3, Duration::from_secs(60)),
            Duration::from_secs(4)
        );
        assert_eq!(
            backoff(b, 40, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }
}
