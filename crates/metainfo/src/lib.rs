//! BitTorrent v1 metainfo for anthill: `.torrent` files and magnet links.
//!
//! [`Metainfo::from_bytes`] parses a torrent as a security boundary: every
//! path component is checked (no `..`, no absolute paths, no separators, no
//! empty or `.` components, no duplicates or file/directory clashes), the
//! piece count must match the lengths, and sizes are bounded. The
//! [`Infohash`] is SHA-1 over the raw `info` bytes exactly as they appear in
//! the file, so hybrid (BEP 52) torrents load through their v1 part with the
//! same v1 infohash libtorrent and qBittorrent compute.
//!
//! Supported: BEP 3 single/multi-file, BEP 12 announce-list, BEP 19
//! url-list, BEP 27 private, BEP 47 pad files and attributes (`p`, `x`, `h`,
//! `l` with `symlink path`), and the `source` key.
//!
//! [`Info`] lays the files out in one byte space ([`FileEntry::offset`]) and
//! answers which file ranges a piece covers ([`Info::piece_spans`]); storage,
//! verification and creation all build on that.
//!
//! Two small identifiers live here because every layer above needs them:
//! [`PieceIndex`] (wire messages and storage) and [`PeerId`] (the wire
//! handshake and tracker announces). `wire`, `storage` and `tracker-proto`
//! re-export them.
//!
//! Creating and verifying are synchronous and use every core:
//! [`TorrentPlan`] lists a file or directory (deterministic order; symlinks,
//! special files and non-UTF-8 names are errors) and lays it out with BEP 47
//! pad files so each file starts on a piece boundary; [`hash_pieces`] is the
//! parallel SHA-1 piece hasher behind it, reading through any
//! [`PieceSource`]; [`verify()`] checks data in a download directory and
//! reports missing, short, long and corrupt files.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use metainfo::{CreateOptions, HashOptions, Metainfo, TorrentPlan, verify};
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("release"))?;
//! std::fs::write(dir.path().join("release/app.bin"), vec![7u8; 100_000])?;
//! std::fs::write(dir.path().join("release/notes.txt"), b"hello")?;
//!
//! let plan = TorrentPlan::new(&dir.path().join("release"), &CreateOptions::default())?;
//! let info = plan.hash(&HashOptions::default(), &())?;
//! assert_eq!(info.files()[0].display_path(), "app.bin");
//! assert!(info.files()[1].is_pad()); // notes.txt starts on a piece boundary
//! let torrent = Metainfo::new(info);
//!
//! let report = verify(torrent.info(), dir.path(), &HashOptions::default(), &())?;
//! assert!(report.is_ok());
//! # Ok(()) }
//! ```
//!
//! ```
//! use metainfo::{Info, FileEntry, Metainfo};
//! let info = Info::single("hello.txt", 16384, vec![[0u8; 20]], 5);
//! let torrent = Metainfo::new(info).with_announce(vec![vec!["http://t/announce".into()]]);
//! let bytes = torrent.to_bytes();
//! let back = Metainfo::from_bytes(&bytes).unwrap();
//! assert_eq!(back.infohash(), torrent.infohash());
//! assert_eq!(back.info().total_length(), 5);
//! ```

mod byte_size;
mod create;
mod create_error;
mod disk_source;
mod error;
mod hasher;
mod info;
mod infohash;
mod magnet;
mod peer_id;
mod percent;
mod piece_index;
mod piece_length;
mod read_limited;
mod torrent;
mod verify;
mod walk;

pub use byte_size::{ByteSize, SizeSyntaxError, parse_size};
pub use create::{CreateOptions, TorrentPlan, create};
pub use create_error::CreateError;
pub use disk_source::{DiskCursor, DiskSource};
pub use error::MetainfoError;
pub use hasher::{
    HashOptions, HashProgress, PieceHash, PieceSource, hash_piece_ranges, hash_pieces, piece_count,
};
pub use info::{FileAttr, FileEntry, Info, MAX_PIECE_LENGTH, MIN_PIECE_LENGTH, PieceSpan};
pub use infohash::{Infohash, InfohashParseError, ParseInfoHashError};
pub use magnet::{Magnet, MagnetError};
pub use peer_id::PeerId;
pub use percent::{URL_UNRESERVED, url_encode};
pub use piece_index::PieceIndex;
pub use piece_length::{
    AUTO_TARGET_MAX_PIECES, MAX_AUTO_PIECE_LENGTH, PieceLength, PieceLengthError,
};
pub use read_limited::{read_limited, read_to_limit};
pub use torrent::Metainfo;
pub use verify::{FileReport, FileStatus, VerifyReport, verify};

/// Largest `.torrent` file we agree to read (bytes). Real torrents of
/// multi-terabyte datasets stay well below this.
pub const MAX_TORRENT_FILE_SIZE: usize = 64 << 20;

#[cfg(test)]
mod create_tests;
#[cfg(test)]
mod tests;
