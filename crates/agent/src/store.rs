//! The agent's state in SQLite (`DIR/agent.db`), one row per infohash.
//!
//! Every state change is one transaction with `synchronous = FULL`, so a
//! change the agent acted on is durable before the next step starts (the
//! hook's start is committed before the hook is spawned). Transitions go
//! through [`crate::planner::transition`]; an invalid one is a bug and an
//! error, never a silent overwrite.

use std::collections::HashSet;
use std::path::Path;

use metainfo::Infohash;
use rusqlite::{Connection, OptionalExtension, params};

use crate::planner::{Candidate, Event, InvalidTransition, State, transition};
use crate::trust::History;

/// A database error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("agent database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored value is not what this build writes.
    #[error("agent database: corrupt row for {infohash}: {what}")]
    Corrupt {
        /// The row.
        infohash: String,
        /// What is wrong.
        what: String,
    },
    /// A transition the state machine does not allow.
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    /// No such release.
    #[error("agent database: no release {0}")]
    Missing(Infohash),
}

impl StoreError {
    /// The database could not be written because its disk is full or
    /// failing: nothing was committed, and the same step may succeed later.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode;
        matches!(
            self,
            StoreError::Sql(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::CannotOpen)
        )
    }
}

/// One release as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Key.
    pub infohash: Infohash,
    /// Release name (the feed title until the torrent or manifest says).
    pub name: String,
    /// Hub seq (signed for trusted releases).
    pub seq: Option<u64>,
    /// Key id that signed it (trusted releases).
    pub key_id: Option<String>,
    /// Feed URL it came from.
    pub feed: String,
    /// `.torrent` URL.
    pub torrent_url: String,
    /// Magnet link.
    pub magnet: String,
    /// Manifest URL.
    pub manifest_url: Option<String>,
    /// Signature URL.
    pub signature_url: Option<String>,
    /// Content bytes (manifest or feed; 0 if unknown).
    pub total_size: u64,
    /// State.
    pub state: State,
    /// Why it failed, was refused or skipped.
    pub reason: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When a failed release is retried (unix seconds).
    pub retry_at: Option<i64>,
    /// The release `current` named before this one was switched in.
    pub previous: Option<String>,
    /// The hook's outcome.
    pub hook_status: Option<String>,
    /// The tail of the hook's output.
    pub hook_output: Option<String>,
    /// When it was learnt.
    pub learnt_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// The database.
pub struct Store {
    // A mutex only to make the store `Sync` (the core holds it across
    // awaits); there is one user, so it is never contended.
    db: std::sync::Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS releases (
    infohash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    seq INTEGER,
    key_id TEXT,
    feed TEXT NOT NULL,
    torrent_url TEXT NOT NULL,
    magnet TEXT NOT NULL,
    manifest_url TEXT,
    signature_url TEXT,
    total_size INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at INTEGER,
    previous TEXT,
    hook_status TEXT,
    hook_output TEXT,
    learnt_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ord INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_seq (key_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS index_seen (key_id TEXT PRIMARY KEY, issued_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
";

const COLUMNS: &str = "infohash, name, seq, key_id, feed, torrent_url, magnet, manifest_url, \
    signature_url, total_size, state, reason, attempts, retry_at, previous, hook_status, \
    hook_output, learnt_at, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, Record)> {
    let ih: String = r.get(0)?;
    let state: String = r.get(10)?;
    Ok((
        ih,
        state,
        Record {
            infohash: Infohash([0; 20]),
            name: r.get(1)?,
            seq: r.get::<_, Option<i64>>(2)?.map(|s| s as u64),
            key_id: r.get(3)?,
            feed: r.get(4)?,
            torrent_url: r.get(5)?,
            magnet: r.get(6)?,
            manifest_url: r.get(7)?,
            signature_url: r.get(8)?,
            total_size: r.get::<_, i64>(9)? as u64,
            state: State::Seen,
            reason: r.get(11)?,
            attempts: r.get::<_, i64>(12)? as u32,
            retry_at: r.get(13)?,
            previous: r.get(14)?,
            hook_status: r.get(15)?,
            hook_output: r.get(16)?,
            learnt_at: r.get(17)?,
            updated_at: r.get(18)?,
        },
    ))
}

fn finish(v: (String, String, Record)) -> Result<Record, StoreError> {
    let (ih, state, mut rec) = v;
    rec.infohash = Infohash::from_hex(&ih).map_err(|e| StoreError::Corrupt {
        infohash: ih.clone(),
        what: e.to_string(),
    })?;
    rec.state = State::parse(&state).ok_or_else(|| StoreError::Corrupt {
        infohash: ih,
        what: format!("unknown state {state:?}"),
    })?;
    Ok(rec)
}

/// What else changes together with a transition.
#[derive(Debug, Default, Clone)]
pub struct Change {
    /// New reason (failed, refused, skipped).
    pub reason: Option<String>,
    /// New name (from the torrent or manifest).
    pub name: Option<String>,
    /// Signed seq and key (trust accepted it).
    pub signed: Option<(u64, String, i64)>,
    /// Content size.
    pub total_size: Option<u64>,
    /// Previous current release.
    pub previous: Option<String>,
    /// Hook outcome and output tail.
    pub hook: Option<(String, String)>,
    /// Retry time (failed).
    pub retry_at: Option<i64>,
}

impl Store {
    /// Opens (creating) the database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        Ok(Self {
            db: std::sync::Mutex::new(db),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True until the first batch of releases was recorded.
    pub fn first_start(&self) -> Result<bool, StoreError> {
        Ok(self.meta("initialized")?.is_none())
    }

    /// A meta value.
    pub fn meta(&self, k: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT v FROM meta WHERE k = ?1", [k], |r| r.get(0))
            .optional()?)
    }

    /// Infohashes already recorded.
    pub fn known(&self) -> Result<HashSet<Infohash>, StoreError> {
        let db = self.conn();
        let mut st = db.prepare("SELECT infohash FROM releases")?;
        let hashes = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(hashes
            .iter()
            .filter_map(|h| Infohash::from_hex(h).ok())
            .collect())
    }

    /// Records newly learnt releases in one transaction, each `Seen` or
    /// `Skipped` (with its reason), and marks the agent initialized.
    pub fn learn(
        &mut self,
        batch: &[(Candidate, Option<String>)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut db = self.conn();
        let tx = db.transaction()?;
        {
            let mut ord: i64 =
                tx.query_row("SELECT COALESCE(MAX(ord), 0) FROM releases", [], |r| {
                    r.get(0)
                })?;
            let mut ins = tx.prepare(
                "INSERT OR IGNORE INTO releases (infohash, name, seq, feed, torrent_url, magnet, \
                 manifest_url, signature_url, total_size, state, reason, learnt_at, updated_at, ord) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13)",
            )?;
            for (c, skip) in batch {
                ord += 1;
                let state = if skip.is_some() {
                    State::Skipped
                } else {
                    State::Seen
                };
                ins.execute(params![
                    c.infohash.to_hex(),
                    c.name,
                    c.seq.map(|s| s as i64),
                    c.feed,
                    c.torrent_url,
                    c.magnet,
                    c.manifest_url,
                    c.signature_url,
                    c.content_length as i64,
                    state.as_str(),
                    skip,
                    now,
                    ord,
                ])?;
            }
        }
        tx.execute(
            "INSERT OR IGNORE INTO meta (k, v) VALUES ('initialized', ?1)",
            [now.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// One release.
    pub fn get(&self, ih: &Infohash) -> Result<Record, StoreError> {
        let v = self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM releases WHERE infohash = ?1"),
                [ih.to_hex()],
                row,
            )
            .optional()?
            .ok_or(StoreError::Missing(*ih))?;
        finish(v)
    }

    /// Releases matching `filter` in the order they were learnt.
    fn select(&self, filter: &str) -> Result<Vec<Record>, StoreError> {
        let db = self.conn();
        let mut st = db.prepare(&format!(
            "SELECT {COLUMNS} FROM releases {filter} ORDER BY ord"
        ))?;
        let rows = st.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(finish).collect()
    }

    /// Every release, in the order learnt.
    pub fn all(&self) -> Result<Vec<Record>, StoreError> {
        self.select("")
    }

    /// The next release with work to do, oldest first: pending ones, then
    /// failed ones whose retry time has come.
    pub fn next_work(&self, now: i64) -> Result<Option<Record>, StoreError> {
        let pending = self.select(
            "WHERE state IN ('seen','downloading','verified','installed','activating','hook_running')",
        )?;
        if let Some(r) = pending.into_iter().next() {
            return Ok(Some(r));
        }
        Ok(self
            .select(&format!("WHERE state = 'failed' AND retry_at <= {now}"))?
            .into_iter()
            .next())
    }

    /// The earliest retry time of a failed release.
    pub fn next_retry(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn().query_row(
            "SELECT MIN(retry_at) FROM releases WHERE state = 'failed'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The current release, if any (state activating, hook_running or active).
    pub fn current(&self) -> Result<Option<Record>, StoreError> {
        Ok(self
            .select("WHERE state IN ('activating','hook_running','active')")?
            .into_iter()
            .last())
    }

    /// Applies `event` to a release (with `change`), in one transaction.
    /// `Switched` also retires the release that was current.
    pub fn apply(
        &mut self,
        ih: &Infohash,
        event: Event,
        change: Change,
        now: i64,
    ) -> Result<Record, StoreError> {
        let rec = self.get(ih)?;
        let to = transition(rec.state, &event)?;
        let mut db = self.conn();
        let tx = db.transaction()?;
        let hex = ih.to_hex();
        if event == Event::Switched {
            tx.execute(
                "UPDATE releases SET state = 'retired', updated_at = ?1 \
                 WHERE state IN ('activating','hook_running','active') AND infohash != ?2",
                params![now, hex],
            )?;
            // Older releases still waiting (a failed one would be retried)
            // must not take `current` back later (Event::Overtaken).
            tx.execute(
                "UPDATE releases SET state = 'skipped', updated_at = ?1, \
                 reason = 'overtaken: ' || ?3 || ', learnt later, became current' \
                 WHERE state IN ('seen','failed') \
                 AND ord < (SELECT ord FROM releases WHERE infohash = ?2)",
                params![now, hex, rec.name],
            )?;
        }
        tx.execute(
            "UPDATE releases SET state = ?1, updated_at = ?2 WHERE infohash = ?3",
            params![to.as_str(), now, hex],
        )?;
        if let Some(r) = &change.reason {
            tx.execute(
                "UPDATE releases SET reason = ?1 WHERE infohash = ?2",
                params![r, hex],
            )?;
        }
        if let Some(n) = &change.name {
            tx.execute(
                "UPDATE releases SET name = ?1 WHERE infohash = ?2",
                params![n, hex],
            )?;
        }
        if let Some(s) = change.total_size {
            tx.execute(
                "UPDATE releases SET total_size = ?1 WHERE infohash = ?2",
                params![s as i64, hex],
            )?;
        }
        if let Some((seq, key, issued)) = &change.signed {
            tx.execute(
                "UPDATE releases SET seq = ?1, key_id = ?2 WHERE infohash = ?3",
                params![*seq as i64, key, hex],
            )?;
            tx.execute(
                "INSERT INTO key_seq (key_id, seq) VALUES (?1, ?2) \
                 ON CONFLICT(key_id) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                params![key, *seq as i64],
            )?;
            tx.execute(
                "INSERT INTO index_seen (key_id, issued_at) VALUES (?1, ?2) \
                 ON CONFLICT(key_id) DO UPDATE SET issued_at = MAX(issued_at, excluded.issued_at)",
                params![key, issued],
            )?;
        }
        if let Some(p) = &change.previous {
            tx.execute(
                "UPDATE releases SET previous = ?1 WHERE infohash = ?2",
                params![p, hex],
            )?;
        }
        if let Some((status, output)) = &change.hook {
            tx.execute(
                "UPDATE releases SET hook_status = ?1, hook_output = ?2 WHERE infohash = ?3",
                params![status, output, hex],
            )?;
        }
        match to {
            State::Failed => {
                tx.execute(
                    "UPDATE releases SET attempts = attempts + 1, retry_at = ?1 WHERE infohash = ?2",
                    params![change.retry_at.unwrap_or(now), hex],
                )?;
            }
            State::Active => {
                tx.execute(
                    "UPDATE releases SET reason = NULL, retry_at = NULL WHERE infohash = ?1",
                    [&hex],
                )?;
            }
            _ => {}
        }
        tx.commit()?;
        drop(db);
        self.get(ih)
    }

    /// What trust accepted before.
    pub fn history(&self) -> Result<History, StoreError> {
        let mut h = History::default();
        let db = self.conn();
        let mut st = db.prepare("SELECT key_id, seq FROM key_seq")?;
        for r in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (k, s) = r?;
            h.highest_seq.insert(k, s as u64);
        }
        let mut st = db.prepare("SELECT key_id, issued_at FROM index_seen")?;
        for r in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (k, s) = r?;
            h.newest_index.insert(k, s);
        }
        Ok(h)
    }

    /// Count of releases per state.
    pub fn counts(&self) -> Result<Vec<(State, u64)>, StoreError> {
        let mut out = Vec::new();
        for s in State::ALL {
            let n: i64 = self.conn().query_row(
                "SELECT COUNT(*) FROM releases WHERE state = ?1",
                [s.as_str()],
                |r| r.get(0),
            )?;
            out.push((s, n as u64));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(n: u8) -> Candidate {
        Candidate {
            infohash: Infohash([n; 20]),
            name: format!("r{n}"),
            seq: Some(u64::from(n)),
            published: 0,
            torrent_url: String::new(),
            magnet: String::new(),
            manifest_url: None,
            signature_url: None,
            content_length: 5,
            feed: "http://h/feed.xml".into(),
        }
    }

    #[test]
    fn records_survive_reopening_and_follow_the_state_machine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        let mut s = Store::open(&path).unwrap();
        assert!(s.first_start().unwrap());
        s.learn(&[(cand(1), Some("old".into())), (cand(2), None)], 10)
            .unwrap();
        assert!(!s.first_start().unwrap());
        // Learning again changes nothing.
        s.learn(&[(cand(2), Some("x".into()))], 11).unwrap();
        assert_eq!(s.get(&Infohash([2; 20])).unwrap().state, State::Seen);
        assert_eq!(s.next_work(0).unwrap().unwrap().name, "r2");
        let ih = Infohash([2; 20]);
        let signed = Change {
            signed: Some((2, "K".into(), 100)),
            ..Change::default()
        };
        s.apply(&ih, Event::Admitted, signed, 12).unwrap();
        assert!(
            s.apply(&ih, Event::Switched, Change::default(), 12)
                .is_err(),
            "not verified yet"
        );
        s.apply(
            &ih,
            Event::Failed,
            Change {
                reason: Some("net".into()),
                retry_at: Some(50),
                ..Change::default()
            },
            13,
        )
        .unwrap();
        assert_eq!(s.next_work(49).unwrap(), None);
        assert_eq!(s.next_retry().unwrap(), Some(50));
        let r = s.next_work(50).unwrap().unwrap();
        assert_eq!((r.attempts, r.reason.as_deref()), (1, Some("net")));
        drop(s);
        let mut s = Store::open(&path).unwrap();
        let h = s.history().unwrap();
        assert_eq!(h.highest_seq["K"], 2);
        assert_eq!(h.newest_index["K"], 100);
        for ev in [
            Event::RetryDue { admitted: true },
            Event::Complete,
            Event::Moved,
            Event::Switched,
        ] {
            s.apply(&ih, ev, Change::default(), 14).unwrap();
        }
        assert_eq!(s.current().unwrap().unwrap().infohash, ih);
        assert_eq!(s.known().unwrap().len(), 2);
    }

    #[test]
    fn a_waiting_older_release_is_skipped_once_a_newer_one_is_current() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("a.db")).unwrap();
        s.learn(&[(cand(1), None), (cand(2), None), (cand(3), None)], 1)
            .unwrap();
        let (old, new, later) = (Infohash([1; 20]), Infohash([2; 20]), Infohash([3; 20]));
        s.apply(&old, Event::Admitted, Change::default(), 2)
            .unwrap();
        s.apply(
            &old,
            Event::Failed,
            Change {
                reason: Some("not enough disk space".into()),
                retry_at: Some(100),
                ..Change::default()
            },
            2,
        )
        .unwrap();
        for ev in [
            Event::Admitted,
            Event::Complete,
            Event::Moved,
            Event::Switched,
        ] {
            s.apply(&new, ev, Change::default(), 3).unwrap();
        }
        let o = s.get(&old).unwrap();
        assert_eq!(o.state, State::Skipped, "a retry would take current back");
        assert!(o.reason.unwrap().contains("overtaken"));
        assert_eq!(s.next_work(1000).unwrap().unwrap().infohash, new);
        // A release learnt after the current one is still taken.
        assert_eq!(s.get(&later).unwrap().state, State::Seen);
    }

    #[test]
    fn switching_retires_the_old_current() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("a.db")).unwrap();
        s.learn(&[(cand(1), None), (cand(2), None)], 1).unwrap();
        for n in [1u8, 2] {
            let ih = Infohash([n; 20]);
            for ev in [
                Event::Admitted,
                Event::Complete,
                Event::Moved,
                Event::Switched,
                Event::HookDone,
            ] {
                s.apply(&ih, ev, Change::default(), 2).unwrap();
            }
        }
        assert_eq!(s.get(&Infohash([1; 20])).unwrap().state, State::Retired);
        assert_eq!(s.get(&Infohash([2; 20])).unwrap().state, State::Active);
        let counts = s.counts().unwrap();
        assert!(counts.contains(&(State::Active, 1)) && counts.contains(&(State::Retired, 1)));
    }
}
