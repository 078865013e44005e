use std::net::SocketAddr;
use std::path::PathBuf;
use tracker_proto::InfoHash;

/// Why the tracker cannot start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// A listener could not be bound.
    #[error("cannot bind {protocol} listener on {addr}")]
    Bind {
        /// `http` or `udp`.
        protocol: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A listener could not be set up for use.
    #[error("cannot set up {protocol} listener")]
    Listener {
        /// `http` or `udp`.
        protocol: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The allow-list file could not be read.
    #[error("cannot read allow list {path}")]
    AllowListRead {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The allow-list file has a line that is not an infohash.
    #[error("allow list {path} line {line}: {source}")]
    AllowListParse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        source: tracker_proto::ParseInfoHashError,
    },
    /// Closed mode needs some way to allow torrents.
    #[error("closed mode needs an allow list (set access.allow_list or use the in-process api)")]
    ClosedWithoutAllowList,
    /// The configuration contradicts itself.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A worker thread could not be started (e.g. the process's thread limit).
    #[error("cannot start {worker} thread")]
    Spawn {
        /// The worker's name.
        worker: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A worker thread or task stopped unexpectedly.
    #[error("{worker} stopped unexpectedly: {reason}")]
    WorkerFailed {
        /// The worker's name.
        worker: String,
        /// What happened.
        reason: String,
    },
}

/// Why an announce or scrape is refused. The `Display` text is what the
/// client sees as `failure reason` (HTTP) or error message (UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    /// Closed mode and the infohash is not allowed.
    #[error("unregistered torrent {0}: not in this tracker's allow list")]
    NotAllowed(InfoHash),
    /// The torrent cap is reached.
    #[error("tracker is full: cannot track new torrent {0}")]
    TooManyTorrents(InfoHash),
    /// The client's address exceeded its request rate.
    #[error("rate limited: too many requests from your address")]
    RateLimited,
}
