use std::path::PathBuf;

use crate::MetainfoError;

/// Why a torrent could not be created from files on disk (or its data not read).
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A file or directory could not be inspected, listed, opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A symbolic link inside the tree; links are not followed.
    #[error(
        "{} is a symbolic link; links are not followed (replace it with the file it points to, or remove it)",
        path.display()
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A socket, FIFO or device inside the tree.
    #[error("{} is not a regular file or directory", path.display())]
    NotRegular {
        /// The entry.
        path: PathBuf,
    },
    /// A name that is not valid UTF-8 (torrent paths are UTF-8).
    #[error("file name is not valid UTF-8: {} (rename it)", path.display())]
    NonUtf8Name {
        /// The entry, shown lossily.
        path: PathBuf,
    },
    /// A name a torrent cannot carry safely (e.g. it contains a backslash or is too long).
    #[error("unusable file name {}: {reason}", path.display())]
    BadName {
        /// The entry.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The torrent name given explicitly (`--name`) cannot be carried safely.
    #[error("invalid torrent name {name:?}: {reason}")]
    BadTorrentName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The path has no last component to name the torrent after (e.g. `/`).
    #[error("cannot name a torrent after {}; give a name explicitly", path.display())]
    NoName {
        /// The path given.
        path: PathBuf,
    },
    /// Zero bytes of data: clients (libtorrent, Transmission) refuse such torrents.
    #[error(
        "{} holds no data (0 bytes); a torrent must describe at least one byte",
        path.display()
    )]
    Empty {
        /// The path given.
        path: PathBuf,
    },
    /// A top-level `.pad` directory would clash with BEP 47 pad files.
    #[error(
        "{} uses the name `.pad`, reserved for pad files in aligned torrents (rename it or turn alignment off)",
        path.display()
    )]
    ReservedName {
        /// The entry.
        path: PathBuf,
    },
    /// A file changed size or modification time between listing and hashing.
    #[error("{} changed while it was being hashed", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The result did not pass validation (e.g. it would be too large to read back).
    #[error("invalid torrent: {0}")]
    Invalid(#[from] MetainfoError),
    /// An internal invariant did not hold.
    #[error("internal error: {0} (this is a bug, please report it)")]
    Bug(&'static str),
}
