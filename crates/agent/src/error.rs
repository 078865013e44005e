//! The agent's errors.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the agent cannot start or run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Invalid settings.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file-system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another agent runs on the directory.
    #[error("another agent is running on {} (it holds {})", dir.display(), lock.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A `--trust` key is unusable.
    #[error("cannot use trusted key {key:?}: {source}")]
    Key {
        /// The key or file as given.
        key: String,
        /// Why.
        source: release::KeyError,
    },
    /// A `--ca` file is unusable.
    #[error(transparent)]
    Ca(#[from] crate::http::CaError),
    /// The state database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The engine failed.
    #[error(transparent)]
    Swarm(#[from] swarm::SwarmError),
    /// The HTTP client could not be made.
    #[error(transparent)]
    Http(#[from] crate::http::FetchError),
    /// The status listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A task panicked: a bug.
    #[error("internal error (this is a bug): {0}")]
    Bug(String),
}

/// `map_err` helper for I/O on a path.
pub(crate) fn io(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> AgentError {
    let path = path.into();
    move |source| AgentError::Io { op, path, source }
}
