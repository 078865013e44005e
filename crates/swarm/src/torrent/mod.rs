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
use std::sync::Arc;

use crate::TorrentError;
use storage::StorageError;

pub(crate) use crate::context::TorrentShared;
pub(crate) use crate::open::{Loaded, load_storage};

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
