//! The hub's state in SQLite: every release by name (its state, seq,
//! infohash, the exact `.torrent`, manifest and signature bytes), every
//! rejection, and a few settings. `public/` is a function of this database
//! (and of `torrents/`): after any crash it is rewritten from here.
//!
//! SQLite commits are atomic and durable (`synchronous=FULL` in WAL mode),
//! so each state change of a release is one transaction. See `PUBLISH.md`
//! for the states and what a restart does with each.

use std::path::Path;

use metainfo::Infohash;
use release::ReleaseName;
use rusqlite::{Connection, OptionalExtension, params};

/// The `meta` key of [`Store::served_seq`].
const SERVED_SEQ: &str = "served_seq";

/// A database error, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("hub database: cannot {op}: {source}")]
pub struct StoreError {
    op: &'static str,
    source: rusqlite::Error,
}

fn err(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError { op, source }
}

/// Where a release is in the publish pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseState {
    /// Being moved from `incoming/` to `releases/`.
    Moving,
    /// In `releases/`; torrent not yet recorded.
    Moved,
    /// In the feed and seeded.
    Published,
    /// Past `keep`: out of the feed, data deleted. The name stays taken.
    Retired,
}

impl ReleaseState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Moving => "moving",
            Self::Moved => "moved",
            Self::Published => "published",
            Self::Retired => "retired",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "moving" => Self::Moving,
            "moved" => Self::Moved,
            "published" => Self::Published,
            "retired" => Self::Retired,
            _ => return None,
        })
    }
}

/// A published (or retired) release as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// Sequence number.
    pub seq: u64,
    /// Name.
    pub name: ReleaseName,
    /// Infohash.
    pub infohash: Infohash,
    /// Content bytes.
    pub total_size: u64,
    /// Files (pads excluded).
    pub file_count: u64,
    /// Piece length.
    pub piece_length: u64,
    /// Piece count.
    pub pieces: u64,
    /// Unix seconds.
    pub published_at: i64,
    /// The `.torrent` file.
    pub torrent: Vec<u8>,
    /// The manifest JSON.
    pub manifest: Vec<u8>,
    /// Its minisign signature.
    pub signature: String,
    /// Published or retired.
    pub state: ReleaseState,
}

/// A refused entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// The entry's name as found (lossy UTF-8).
    pub name: String,
    /// Why.
    pub reason: String,
    /// Unix seconds.
    pub at: i64,
    /// Where the entry went (`rejected/…`), if it could be moved.
    pub moved_to: Option<String>,
}

/// What a published release is stored with.
pub struct NewRelease<'a> {
    /// Infohash.
    pub infohash: Infohash,
    /// Content bytes.
    pub total_size: u64,
    /// Files.
    pub file_count: u64,
    /// Piece length.
    pub piece_length: u64,
    /// Pieces.
    pub pieces: u64,
    /// Unix seconds.
    pub published_at: i64,
    /// `.torrent` bytes.
    pub torrent: &'a [u8],
}

/// The database.
pub struct Store {
    conn: Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    seq INTEGER UNIQUE,
    infohash TEXT,
    total_size INTEGER,
    file_count INTEGER,
    piece_length INTEGER,
    pieces INTEGER,
    torrent BLOB,
    manifest BLOB,
    signature TEXT,
    arrived_at INTEGER NOT NULL,
    published_at INTEGER,
    retired_at INTEGER
);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL,
    moved_to TEXT
);
";

impl Store {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(err("open the database"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err("set WAL mode"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err("set synchronous mode"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err("set the busy timeout"))?;
        conn.execute_batch(SCHEMA)
            .map_err(err("create the schema"))?;
        Ok(Self { conn })
    }

    /// Opens an existing database read-only (for `anthill publish`).
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err("open the database"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err("set the busy timeout"))?;
        Ok(Self { conn })
    }

    /// A setting.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(err("read a setting"))
    }

    /// Sets a setting.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(err("write a setting"))
    }

    /// The newest seq the running hub serves: in its feed and API and
    /// seeded (0 before the first). `anthill publish` waits for it, since a
    /// release is recorded as published before it is served.
    pub fn served_seq(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta(SERVED_SEQ)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Records that releases up to `seq` are served.
    pub fn set_served_seq(&self, seq: u64) -> Result<(), StoreError> {
        self.set_meta(SERVED_SEQ, &seq.to_string())
    }

    /// The state and seq of the release called `name`, if any.
    pub fn state_of(&self, name: &str) -> Result<Option<(ReleaseState, Option<u64>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT state, seq FROM releases WHERE name = ?1",
                [name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .optional()
            .map_err(err("look up a release"))
            .map(|o| {
                o.and_then(|(s, seq)| {
                    Some((
                        ReleaseState::parse(&s)?,
                        seq.and_then(|n| u64::try_from(n).ok()),
                    ))
                })
            })
    }

    /// Records that `name` is being moved in (state `moving`).
    pub fn begin_move(&self, name: &ReleaseName, now: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO releases (name, state, arrived_at) VALUES (?1, 'moving', ?2)",
                params![name.as_str(), now],
            )
            .map(drop)
            .map_err(err("record a move"))
    }

    /// Sets the state of an unpublished release.
    pub fn set_state(&self, name: &str, state: ReleaseState) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE releases SET state = ?2 WHERE name = ?1",
                params![name, state.as_str()],
            )
            .map(drop)
            .map_err(err("update a release"))
    }

    /// Forgets an unpublished release (a move rolled back).
    pub fn forget(&self, name: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM releases WHERE name = ?1 AND state IN ('moving', 'moved')",
                [name],
            )
            .map(drop)
            .map_err(err("forget a release"))
    }

    /// Releases stuck in `moving` or `moved` (a crash mid-publish).
    pub fn unfinished(&self) -> Result<Vec<(String, ReleaseState)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT name, state FROM releases WHERE state IN ('moving', 'moved') ORDER BY arrived_at")
            .map_err(err("list unfinished releases"))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(err("list unfinished releases"))?;
        let mut out = Vec::new();
        for row in rows {
            let (n, s) = row.map_err(err("list unfinished releases"))?;
            if let Some(s) = ReleaseState::parse(&s) {
                out.push((n, s));
            }
        }
        Ok(out)
    }

    /// Publishes `name` in one transaction: takes the next seq, asks `sign`
    /// for the manifest and its signature, stores everything. Returns the seq.
    pub fn publish<E>(
        &mut self,
        name: &ReleaseName,
        new: &NewRelease<'_>,
        sign: impl FnOnce(u64) -> Result<(Vec<u8>, String), E>,
    ) -> Result<Result<u64, E>, StoreError> {
        let tx = self.conn.transaction().map_err(err("begin a publish"))?;
        let seq: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM releases", [], |r| {
                r.get(0)
            })
            .map_err(err("take a sequence number"))?;
        let seq_u = u64::try_from(seq).unwrap_or(0);
        let (manifest, signature) = match sign(seq_u) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let n = tx
            .execute(
                "UPDATE releases SET state = 'published', seq = ?2, infohash = ?3, total_size = ?4,
                    file_count = ?5, piece_length = ?6, pieces = ?7, torrent = ?8, manifest = ?9,
                    signature = ?10, published_at = ?11
                 WHERE name = ?1 AND state = 'moved'",
                params![
                    name.as_str(),
                    seq,
                    new.infohash.to_hex(),
                    i64::try_from(new.total_size).unwrap_or(i64::MAX),
                    i64::try_from(new.file_count).unwrap_or(i64::MAX),
                    i64::try_from(new.piece_length).unwrap_or(i64::MAX),
                    i64::try_from(new.pieces).unwrap_or(i64::MAX),
                    new.torrent,
                    manifest,
                    signature,
                    new.published_at,
                ],
            )
            .map_err(err("record a publish"))?;
        if n != 1 {
            return Err(StoreError {
                op: "record a publish",
                source: rusqlite::Error::QueryReturnedNoRows,
            });
        }
        tx.commit().map_err(err("commit a publish"))?;
        Ok(Ok(seq_u))
    }

    /// Marks a published release retired.
    pub fn retire(&self, name: &ReleaseName, now: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE releases SET state = 'retired', retired_at = ?2 WHERE name = ?1 AND state = 'published'",
                params![name.as_str(), now],
            )
            .map(drop)
            .map_err(err("retire a release"))
    }

    /// Published releases, highest seq first.
    pub fn published(&self) -> Result<Vec<ReleaseRecord>, StoreError> {
        self.records("WHERE state = 'published' ORDER BY seq DESC", [])
    }

    /// One release by name (published or retired).
    pub fn release(&self, name: &str) -> Result<Option<ReleaseRecord>, StoreError> {
        Ok(self
            .records("WHERE name = ?1 AND seq IS NOT NULL", [name])?
            .into_iter()
            .next())
    }

    fn records<P: rusqlite::Params>(
        &self,
        tail: &str,
        p: P,
    ) -> Result<Vec<ReleaseRecord>, StoreError> {
        let sql = format!(
            "SELECT seq, name, infohash, total_size, file_count, piece_length, pieces,
                    published_at, torrent, manifest, signature, state FROM releases {tail}"
        );
        let mut st = self.conn.prepare(&sql).map_err(err("list releases"))?;
        let rows = st
            .query_map(p, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    [
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                    ],
                    r.get::<_, i64>(7)?,
                    r.get::<_, Vec<u8>>(8)?,
                    r.get::<_, Vec<u8>>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, String>(11)?,
                ))
            })
            .map_err(err("list releases"))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, name, ih, n, at, torrent, manifest, signature, state) =
                row.map_err(err("list releases"))?;
            let (Ok(name), Ok(infohash), Some(state)) = (
                ReleaseName::new(&name),
                Infohash::from_hex(&ih),
                ReleaseState::parse(&state),
            ) else {
                continue;
            };
            let u = |v: i64| u64::try_from(v).unwrap_or(0);
            out.push(ReleaseRecord {
                seq: u(seq),
                name,
                infohash,
                total_size: u(n[0]),
                file_count: u(n[1]),
                piece_length: u(n[2]),
                pieces: u(n[3]),
                published_at: at,
                torrent,
                manifest,
                signature,
                state,
            });
        }
        Ok(out)
    }

    /// Records a rejection.
    pub fn reject(&self, r: &Rejection) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO rejections (name, reason, at, moved_to) VALUES (?1, ?2, ?3, ?4)",
                params![r.name, r.reason, r.at, r.moved_to],
            )
            .map(drop)
            .map_err(err("record a rejection"))
    }

    /// The latest `limit` rejections, newest first.
    pub fn rejections(&self, limit: usize) -> Result<Vec<Rejection>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT name, reason, at, moved_to FROM rejections ORDER BY id DESC LIMIT ?1")
            .map_err(err("list rejections"))?;
        let rows = st
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(Rejection {
                    name: r.get(0)?,
                    reason: r.get(1)?,
                    at: r.get(2)?,
                    moved_to: r.get(3)?,
                })
            })
            .map_err(err("list rejections"))?;
        rows.collect::<Result<_, _>>()
            .map_err(err("list rejections"))
    }

    /// Total rejections recorded.
    pub fn rejection_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM rejections", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(err("count rejections"))
    }

    /// Rejections of `name` recorded at or after `since` (unix seconds).
    pub fn rejection_since(&self, name: &str, since: i64) -> Result<Option<Rejection>, StoreError> {
        self.conn
            .query_row(
                "SELECT name, reason, at, moved_to FROM rejections WHERE name = ?1 AND at >= ?2 ORDER BY id DESC LIMIT 1",
                params![name, since],
                |r| {
                    Ok(Rejection {
                        name: r.get(0)?,
                        reason: r.get(1)?,
                        at: r.get(2)?,
                        moved_to: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(err("look up a rejection"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ReleaseName {
        ReleaseName::new(s).unwrap()
    }

    fn new(ih: u8) -> (Vec<u8>, Infohash) {
        (vec![ih; 10], Infohash([ih; 20]))
    }

    #[test]
    fn publish_assigns_increasing_seqs_and_keeps_the_bytes() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("db")).unwrap();
        for (i, n) in ["a", "b"].iter().enumerate() {
            s.begin_move(&name(n), 1).unwrap();
            assert_eq!(s.state_of(n).unwrap(), Some((ReleaseState::Moving, None)));
            s.set_state(n, ReleaseState::Moved).unwrap();
            let (t, ih) = new(i as u8);
            let seq = s
                .publish(
                    &name(n),
                    &NewRelease {
                        infohash: ih,
                        total_size: 5,
                        file_count: 1,
                        piece_length: 16384,
                        pieces: 1,
                        published_at: 10,
                        torrent: &t,
                    },
                    |seq| Ok::<_, ()>((format!("m{seq}").into_bytes(), format!("s{seq}"))),
                )
                .unwrap()
                .unwrap();
            assert_eq!(seq, i as u64 + 1);
        }
        let p = s.published().unwrap();
        assert_eq!(p.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(p[0].manifest, b"m2");
        s.retire(&name("a"), 20).unwrap();
        assert_eq!(s.published().unwrap().len(), 1);
        assert_eq!(
            s.state_of("a").unwrap(),
            Some((ReleaseState::Retired, Some(1)))
        );
        // a retired name keeps its seq: the next publish is 3
        drop(s);
        let mut s = Store::open(&d.path().join("db")).unwrap();
        s.begin_move(&name("c"), 1).unwrap();
        s.set_state("c", ReleaseState::Moved).unwrap();
        let (t, ih) = new(9);
        let nr = NewRelease {
            infohash: ih,
            total_size: 5,
            file_count: 1,
            piece_length: 16384,
            pieces: 1,
            published_at: 10,
            torrent: &t,
        };
        assert_eq!(
            s.publish(&name("c"), &nr, |_| Ok::<_, ()>((vec![], String::new())))
                .unwrap(),
            Ok(3)
        );
    }

    #[test]
    fn a_failed_signature_publishes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("db")).unwrap();
        s.begin_move(&name("a"), 1).unwrap();
        s.set_state("a", ReleaseState::Moved).unwrap();
        let (t, ih) = new(1);
        let nr = NewRelease {
            infohash: ih,
            total_size: 5,
            file_count: 1,
            piece_length: 16384,
            pieces: 1,
            published_at: 10,
            torrent: &t,
        };
        assert_eq!(
            s.publish(&name("a"), &nr, |_| Err::<(Vec<u8>, String), _>("no key"))
                .unwrap(),
            Err("no key")
        );
        assert_eq!(s.state_of("a").unwrap(), Some((ReleaseState::Moved, None)));
        assert_eq!(
            s.unfinished().unwrap(),
            vec![("a".to_string(), ReleaseState::Moved)]
        );
        s.forget("a").unwrap();
        assert_eq!(s.state_of("a").unwrap(), None);
    }

    #[test]
    fn rejections_are_listed_newest_first() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("db")).unwrap();
        for i in 0..3 {
            s.reject(&Rejection {
                name: format!("r{i}"),
                reason: "bad".into(),
                at: i,
                moved_to: None,
            })
            .unwrap();
        }
        assert_eq!(s.rejections(2).unwrap()[0].name, "r2");
        assert_eq!(s.rejection_count().unwrap(), 3);
        assert!(s.rejection_since("r1", 1).unwrap().is_some());
        assert!(s.rejection_since("r1", 2).unwrap().is_none());
        s.set_meta("k", "v").unwrap();
        s.set_meta("k", "w").unwrap();
        assert_eq!(s.meta("k").unwrap().as_deref(), Some("w"));
    }
}
