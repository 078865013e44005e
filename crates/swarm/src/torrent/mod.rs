//! A torrent: a synchronous core that decides (`core.rs`) under a thin
//! tokio shell that does the I/O (`shell.rs`).
//!
//! Peer tasks, timers and handles talk to the shell through one bounded
//! channel of [`Event`](crate::event::Event)s; it hands each to the core as an
//! [`Input`](core::Input) with the time, performs the core's outputs, and
//! answers peer tasks through their bounded command channels with `try_send`
//! (it never waits on a peer, so a stalled peer cannot stall the torrent; a
//! peer whose queue overflows is dropped). Everything that decides —
//! picker, choker, super-seeder, bans — runs in the core on inputs:
//! interest and unchokes change the moment a bitfield, HAVE or verified
//! piece makes them change; the timer is only a backstop. Hashing, writing,
//! resume saves and opening the data run on the blocking pool and come back
//! as inputs, so no peer of the torrent waits on them. See `ENGINE.md`
//! beside this file.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metainfo::{Info, Metainfo};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use wire::{PeerId, PieceIndex};

use crate::TorrentError;
use crate::event::Event;
use crate::prefill::Prefill;
use crate::rate::RateLimiter;
use crate::session::SessionShared;
use storage::{
    FileStorage, FileStorageOptions, OpenMode, ResumeError, ResumeOptions, ResumeState,
    ResumeWriter, Storage, StorageError,
};

mod core;
mod shell;
#[cfg(test)]
mod tests_core;

pub(crate) use shell::{Actor, ActorInit};

/// Where a torrent's data comes from and goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorrentMode {
    /// Seed existing data (read-only; see [`storage::OpenMode::Seed`]).
    Seed,
    /// Download, then keep seeding until removed.
    Download,
}

/// Coarse state of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentState {
    /// Waiting for the info dictionary from peers (magnet link).
    FetchingMetadata,
    /// The metadata arrived from peers; the caller's prefill runs and the
    /// data on disk is checked before downloading starts.
    Checking,
    /// Downloading.
    Downloading,
    /// Complete and verified; uploading.
    Seeding,
    /// Paused by a handle.
    Paused,
    /// Stopped after an error (e.g. disk full); see [`TorrentError`].
    Failed(TorrentError),
    /// Stopped.
    Stopped,
}

impl TorrentState {
    /// The state's name without its details: `FetchingMetadata`,
    /// `Checking`, `Downloading`, `Seeding`, `Paused`, `Failed`, `Stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FetchingMetadata => "FetchingMetadata",
            Self::Checking => "Checking",
            Self::Downloading => "Downloading",
            Self::Seeding => "Seeding",
            Self::Paused => "Paused",
            Self::Failed(_) => "Failed",
            Self::Stopped => "Stopped",
        }
    }
}

/// A snapshot of a torrent's progress; see [`crate::TorrentHandle::progress`]
/// and [`crate::TorrentHandle::watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentProgress {
    /// State.
    pub state: TorrentState,
    /// Torrent name, once known.
    pub name: Option<String>,
    /// Verified pieces.
    pub pieces_have: u32,
    /// Pieces in the torrent (0 until the metadata is known).
    pub pieces_total: u32,
    /// Real bytes of verified pieces (BEP 47 pad bytes not counted).
    pub bytes_have: u64,
    /// Size of the torrent's real data, pad bytes not counted (0 until known).
    pub bytes_total: u64,
    /// Payload bytes received from peers in this session.
    pub downloaded: u64,
    /// Payload bytes sent to peers in this session.
    pub uploaded: u64,
    /// Bytes of the info dictionary sent to peers (BEP 9 metadata) in this
    /// session: what serving the torrent's metadata cost.
    pub metadata_uploaded: u64,
    /// Of `downloaded`, the bytes from the origin: web seeds and peers at
    /// the addresses of [`AddTorrent::origin`](crate::AddTorrent).
    pub downloaded_origin: u64,
    /// Connected peers.
    pub peers: usize,
    /// Download rate over the last seconds, bytes/s.
    pub download_rate: u64,
    /// Upload rate over the last seconds, bytes/s.
    pub upload_rate: u64,
    /// Pieces that failed their hash check.
    pub hash_failures: u32,
    /// Peers banned for bad data.
    pub banned: u32,
    /// Failed saves of the resume state (each is also a `warn!` log for a
    /// download). The torrent goes on; a restart then rehashes the data the
    /// state would have vouched for.
    pub resume_errors: u64,
    /// The latest of those failures ([`TorrentError::ResumeSave`]).
    pub last_resume_error: Option<TorrentError>,
}

impl Default for TorrentProgress {
    /// A torrent whose metadata is not known yet.
    fn default() -> Self {
        Self {
            state: TorrentState::FetchingMetadata,
            name: None,
            pieces_have: 0,
            pieces_total: 0,
            bytes_have: 0,
            bytes_total: 0,
            downloaded: 0,
            uploaded: 0,
            metadata_uploaded: 0,
            downloaded_origin: 0,
            peers: 0,
            download_rate: 0,
            upload_rate: 0,
            hash_failures: 0,
            banned: 0,
            resume_errors: 0,
            last_resume_error: None,
        }
    }
}

/// Something that happened to a torrent; see [`crate::TorrentHandle::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentEvent {
    /// The info dictionary arrived and matched the infohash.
    MetadataReceived,
    /// A piece was verified and stored.
    PieceVerified(u32),
    /// Every piece is verified and stored.
    Complete,
    /// A peer was banned for sending data that failed the hash check.
    PeerBanned(SocketAddr),
    /// A banned peer was refused: its address offered again (not dialled),
    /// or its connection (by address or peer id).
    BannedPeerRefused(SocketAddr),
    /// A web seed was given up ([`TorrentError::WebSeedGaveUp`]); the
    /// torrent goes on.
    WebSeedGaveUp(TorrentError),
    /// The torrent stopped with an error.
    Error(TorrentError),
}

/// State shared by the actor and its peer tasks (read-mostly).
pub(crate) struct TorrentShared {
    pub(crate) infohash: wire::Infohash,
    pub(crate) peer_id: PeerId,
    pub(crate) events: mpsc::Sender<Event>,
    store: OnceLock<Arc<dyn Storage>>,
    /// The torrent's metainfo, once known (from the start, or from peers).
    pub(crate) metainfo: OnceLock<Arc<Metainfo>>,
    piece_count: AtomicU32,
    /// Per-torrent limits.
    pub(crate) up: RateLimiter,
    pub(crate) down: RateLimiter,
    pub(crate) session: Arc<SessionShared>,
    pub(crate) cancel: CancellationToken,
}

impl std::fmt::Debug for TorrentShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorrentShared")
            .field("infohash", &self.infohash)
            .field("piece_count", &self.piece_count())
            .finish_non_exhaustive()
    }
}

impl TorrentShared {
    pub(crate) fn new(
        infohash: wire::Infohash,
        events: mpsc::Sender<Event>,
        session: Arc<SessionShared>,
        cancel: CancellationToken,
        limits: (crate::Rate, crate::Rate),
    ) -> Self {
        Self {
            infohash,
            peer_id: session.peer_id,
            events,
            store: OnceLock::new(),
            metainfo: OnceLock::new(),
            piece_count: AtomicU32::new(0),
            up: RateLimiter::new(limits.0),
            down: RateLimiter::new(limits.1),
            session,
            cancel,
        }
    }
    /// Publishes the metadata and storage to peer tasks and web seeds.
    fn install(&self, metainfo: Arc<Metainfo>, store: Arc<FileStorage>, pieces: u32) {
        let _ = self.store.set(store as Arc<dyn Storage>);
        let _ = self.metainfo.set(metainfo);
        self.piece_count.store(pieces, Ordering::Relaxed);
    }
    pub(crate) fn store(&self) -> Option<Arc<dyn Storage>> {
        self.store.get().cloned()
    }
    pub(crate) fn piece_count(&self) -> u32 {
        self.piece_count.load(Ordering::Relaxed)
    }
}

/// Opened storage and the verified pieces found in it.
pub(crate) struct Loaded {
    pub(crate) metainfo: Arc<Metainfo>,
    pub(crate) info: Arc<Info>,
    pub(crate) store: Arc<FileStorage>,
    pub(crate) resume: Arc<ResumeWriter>,
    pub(crate) have: Vec<bool>,
    /// The save at the end of the load failed.
    pub(crate) resume_error: Option<ResumeError>,
    /// Opened to seed only: the directory may well be read-only, so a
    /// failed resume save is no news worth a warning.
    pub(crate) seed_only: bool,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("name", &self.info.name())
            .field("verified", &self.have.iter().filter(|h| **h).count())
            .field("resume_error", &self.resume_error)
            .field("seed_only", &self.seed_only)
            .finish_non_exhaustive()
    }
}

/// What the hash-and-write task of `piece` reports to the actor: a storage
/// error or a panic (a bug: no peer is blamed, unlike `Ok(false)`, a hash
/// mismatch); `None` if the task was cancelled (the runtime shuts down).
fn piece_result(
    piece: u32,
    done: Result<(Result<bool, StorageError>, Vec<u8>), tokio::task::JoinError>,
) -> Option<(Result<bool, TorrentError>, Vec<u8>)> {
    match done {
        Ok((r, buf)) => Some((
            r.map_err(|e| TorrentError::Storage {
                piece,
                source: Arc::new(e),
            }),
            buf,
        )),
        Err(e) if e.is_panic() => Some((
            Err(TorrentError::Bug(format!(
                "the task hashing and writing piece {piece} panicked: {e}"
            ))),
            Vec::new(),
        )),
        Err(_) => None,
    }
}

/// Opens storage and finds the verified pieces: the saved resume state is
/// trusted for files whose fingerprint is unchanged, everything else is
/// hashed (`storage::check_resume`). A download's `prefill` runs first; the
/// pieces it wrote are hashed too, and count only if they verify.
pub(crate) fn load_storage(
    metainfo: Arc<Metainfo>,
    dir: &std::path::Path,
    mode: OpenMode,
    threads: usize,
    save_interval: Duration,
    prefill: Option<&Prefill>,
) -> Result<Loaded, StorageError> {
    let present = match (prefill, mode) {
        (Some(f), OpenMode::Download) => Some(f.run(&metainfo, dir)),
        _ => None,
    };
    let info = Arc::new(metainfo.info().clone());
    let store = Arc::new(FileStorage::open(
        Arc::clone(&info),
        dir,
        mode,
        FileStorageOptions::default(),
    )?);
    let infohash = metainfo.infohash();
    let path = crate::resume::resume_path(dir, &infohash);
    if let Some(parent) = path.parent() {
        // A read-only seed directory just means no state file.
        let _ = std::fs::create_dir_all(parent);
    }
    let saved = ResumeState::load(&path, infohash, &info);
    let mut verified = storage::check_resume(&*store, saved.as_ref(), threads, |_| {});
    if let Some(mut present) = present.filter(|p| p.len() == info.num_pieces()) {
        // Only what the resume state did not already give: with no state,
        // `check_resume` hashed everything on disk, prefilled pieces included.
        for p in verified.iter() {
            present.remove(p);
        }
        let asked = present.count();
        let hashed = storage::check_pieces(&*store, &present, threads, |_| {});
        if hashed.count() != asked {
            warn!(
                prefilled = asked,
                verified = hashed.count(),
                "some prefilled pieces do not verify; they will be downloaded"
            );
        }
        verified.union_with(&hashed);
    }
    let have = (0..info.num_pieces())
        .map(|i| verified.contains(PieceIndex(i as u32)))
        .collect();
    let resume = Arc::new(ResumeWriter::new(
        path,
        infohash,
        Arc::clone(&store) as Arc<dyn Storage>,
        verified,
        ResumeOptions {
            interval: save_interval,
            ..ResumeOptions::default()
        },
    ));
    // Record the check so the next start takes the fast path (a read-only
    // seed directory just means no state file: the actor records the error
    // quietly then).
    let resume_error = resume.save_now().err();
    Ok(Loaded {
        metainfo,
        info,
        store,
        resume,
        have,
        resume_error,
        seed_only: mode == OpenMode::Seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_hash_task_is_a_bug_not_a_hash_failure() {
        let done = tokio::task::spawn_blocking(|| -> (Result<bool, StorageError>, Vec<u8>) {
            panic!("injected panic in the hash task")
        })
        .await;
        let (result, _) = piece_result(3, done).expect("a panic is reported");
        let e = result.expect_err("a panic must not read as a hash mismatch (Ok(false))");
        assert!(e.is_bug(), "{e:?}");
        assert!(e.to_string().contains("piece 3"), "{e}");
    }

    #[tokio::test]
    async fn a_hash_mismatch_and_a_storage_error_keep_their_meaning() {
        let done = tokio::task::spawn_blocking(|| (Ok(false), vec![1u8])).await;
        let (result, buf) = piece_result(1, done).unwrap();
        assert_eq!(result, Ok(false));
        assert_eq!(buf, vec![1u8]);
        let done = tokio::task::spawn_blocking(|| {
            (
                Err(StorageError::MissingFile {
                    path: "/d/f".into(),
                }),
                Vec::new(),
            )
        })
        .await;
        let (result, _) = piece_result(2, done).unwrap();
        assert!(
            matches!(result, Err(TorrentError::Storage { piece: 2, .. })),
            "{result:?}"
        );
    }
}
