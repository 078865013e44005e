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
//! ```
//! use metainfo::{Info, FileEntry, Metainfo};
//! let info = Info::single("hello.txt", 16384, vec![[0u8; 20]], 5);
//! let torrent = Metainfo::new(info).with_announce(vec![vec!["http://t/announce".into()]]);
//! let bytes = torrent.to_bytes();
//! let back = Metainfo::from_bytes(&bytes).unwrap();
//! assert_eq!(back.infohash(), torrent.infohash());
//! assert_eq!(back.info().total_length(), 5);
//! ```

mod error;
mod info;
mod infohash;
mod magnet;
mod torrent;

pub use error::MetainfoError;
pub use info::{FileAttr, FileEntry, Info, MAX_PIECE_LENGTH, MIN_PIECE_LENGTH, PieceSpan};
pub use infohash::Infohash;
pub use magnet::{Magnet, MagnetError};
pub use torrent::Metainfo;

/// Largest `.torrent` file we agree to read (bytes). Real torrents of
/// multi-terabyte datasets stay well below this.
pub const MAX_TORRENT_FILE_SIZE: usize = 64 << 20;

#[cfg(test)]
mod tests;
