//! Why a torrent stopped, or what went wrong beside it.
//!
//! One enum for everything a caller can see go wrong with a running torrent:
//! the state [`TorrentState::Failed`](crate::TorrentState), the event
//! [`TorrentEvent::Error`](crate::TorrentEvent), the result of
//! [`TorrentHandle::wait_complete`](crate::TorrentHandle) and the last
//! resume-save failure in [`TorrentProgress`](crate::TorrentProgress).
//!
//! Each message names what happened and quotes its cause once (the cause is
//! also its `source()`, so a chain printer that skips repeated text, as the
//! CLI's does, prints it once too). The sources sit behind `Arc`, so the
//! error is `Clone` and can live in progress snapshots sent on a `watch`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use storage::{ResumeError, StorageError};

use crate::webseed::WebSeedError;

/// What went wrong with a torrent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TorrentError {
    /// A verified piece could not be written (disk full, I/O error, a file
    /// removed under us); the torrent stops.
    #[error("cannot store piece {piece}: {source}")]
    Storage {
        /// The piece.
        piece: u32,
        /// The storage error (it names the file).
        source: Arc<StorageError>,
    },
    /// The data directory could not be opened once the metadata of a magnet
    /// link arrived; the torrent stops.
    #[error("cannot open the data in {}: {source}", dir.display())]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// The storage error.
        source: Arc<StorageError>,
    },
    /// The info dictionary from peers matched the infohash but is not a
    /// valid torrent; the torrent stops.
    #[error("the metadata received from peers is not a valid torrent: {source}")]
    InvalidMetadata {
        /// Why it is invalid.
        source: Arc<metainfo::MetainfoError>,
    },
    /// Saving the resume state failed. The torrent goes on (a restart
    /// rehashes what the state would have spared); see
    /// [`TorrentProgress::resume_errors`](crate::TorrentProgress).
    #[error(transparent)]
    ResumeSave(Arc<ResumeError>),
    /// A web seed failed too often in a row and was given up (BEP 19); the
    /// torrent goes on with its peers.
    #[error("web seed given up after {failures} failed fetches: {source}")]
    WebSeedGaveUp {
        /// Consecutive failures.
        failures: u32,
        /// The last failure (it names the URL).
        source: Arc<WebSeedError>,
    },
    /// No piece was verified for `after` (a caller's timeout, e.g. the
    /// agent's stall timeout).
    #[error(
        "no piece verified for {after:?} ({pieces_have} of {pieces_total} pieces, {peers} peers)"
    )]
    Stalled {
        /// How long nothing was verified.
        after: Duration,
        /// Verified pieces.
        pieces_have: u32,
        /// Pieces in the torrent.
        pieces_total: u32,
        /// Connected peers (web seeds included).
        peers: usize,
    },
    /// The torrent was stopped (session shutdown) before it completed.
    #[error("the torrent stopped")]
    Stopped,
    /// The torrent was removed from the session before it completed.
    #[error("the torrent was removed from the session")]
    Removed,
    /// An engine task panicked or an invariant broke. This is a bug.
    #[error("internal error (this is a bug, please report): {0}")]
    Bug(String),
}

impl TorrentError {
    /// Whether this is a [`TorrentError::Bug`].
    pub fn is_bug(&self) -> bool {
        matches!(self, Self::Bug(_))
    }
}

/// Errors compare by kind and message: their sources (I/O errors) cannot be
/// compared, and two failures that read the same are the same to a caller.
impl PartialEq for TorrentError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for TorrentError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// Every cause of `e`, outermost first.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut cur = e.source();
        while let Some(c) = cur {
            out.push(c.to_string());
            cur = c.source();
        }
        out
    }

    fn occurrences(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn a_storage_error_names_the_piece_and_the_file_once() {
        let e = TorrentError::Storage {
            piece: 7,
            source: Arc::new(StorageError::MissingFile {
                path: "/data/rel/a.bin".into(),
            }),
        };
        let s = e.to_string();
        assert_eq!(s, "cannot store piece 7: missing file /data/rel/a.bin");
        assert_eq!(occurrences(&s, "/data/rel/a.bin"), 1);
        // The source is kept for callers that walk the chain.
        assert_eq!(chain(&e).len(), 2);
        assert!(e.source().is_some());
    }

    #[test]
    fn an_open_error_names_the_directory_and_the_cause_once() {
        let e = TorrentError::Open {
            dir: "/data".into(),
            source: Arc::new(StorageError::MissingFile {
                path: "/data/rel".into(),
            }),
        };
        let s = e.to_string();
        assert_eq!(s, "cannot open the data in /data: missing file /data/rel");
        assert_eq!(occurrences(&s, "missing file"), 1);
    }

    #[test]
    fn a_resume_save_error_is_its_cause_not_a_restatement() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let io_text = io.to_string();
        let e = TorrentError::ResumeSave(Arc::new(ResumeError::Io {
            op: "create",
            path: "/d/.anthill/x.resume".into(),
            source: io,
        }));
        let s = e.to_string();
        assert_eq!(
            s,
            format!("cannot create resume state /d/.anthill/x.resume: {io_text}")
        );
        assert_eq!(occurrences(&s, "resume state"), 1);
        assert_eq!(occurrences(&s, &io_text), 1);
    }

    #[test]
    fn a_web_seed_error_names_the_url_once() {
        let e = TorrentError::WebSeedGaveUp {
            failures: 5,
            source: Arc::new(WebSeedError::Status {
                url: "http://h/rel".into(),
                status: 404,
            }),
        };
        let s = e.to_string();
        assert_eq!(
            s,
            "web seed given up after 5 failed fetches: http://h/rel: HTTP status 404"
        );
        assert_eq!(occurrences(&s, "http://h/rel"), 1);
    }

    #[test]
    fn a_bug_says_so() {
        let e = TorrentError::Bug("the hash task of piece 3 panicked".into());
        assert!(e.is_bug());
        assert!(e.to_string().contains("this is a bug"));
    }

    #[test]
    fn errors_compare_by_what_they_say() {
        let a = TorrentError::Storage {
            piece: 1,
            source: Arc::new(StorageError::MissingFile { path: "/x".into() }),
        };
        assert_eq!(a, a.clone());
        assert_ne!(a, TorrentError::Stopped);
        assert_ne!(TorrentError::Stopped, TorrentError::Removed);
    }
}
