//! The hub's errors.

use std::path::PathBuf;

/// Why the hub cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A file-system operation on the hub directory failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another hub runs on the same directory.
    #[error("another hub is running on {} (it holds {})", dir.display(), lock.display())]
    Locked {
        /// The hub directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The state database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The key could not be read or made.
    #[error("hub key {}: {source}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: release::KeyError,
    },
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(#[from] release::SignatureError),
    /// The listeners could not be bound.
    #[error("cannot listen on {addr} ({protocol}): {source}")]
    Listen {
        /// "http" or "udp".
        protocol: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The public URL is not usable.
    #[error("invalid public URL {url:?}: {reason}")]
    PublicUrl {
        /// As given.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The embedded tracker failed.
    #[error(transparent)]
    Tracker(#[from] tracker::TrackerError),
    /// The seeding engine failed.
    #[error(transparent)]
    Engine(#[from] swarm::SwarmError),
    /// A task panicked. This is a bug.
    #[error("internal error (this is a bug, please report): {0}")]
    Bug(String),
}

pub(crate) fn io(
    op: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> HubError {
    let path = path.to_path_buf();
    move |source| HubError::Io { op, path, source }
}
