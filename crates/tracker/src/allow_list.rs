//! The allow list of a closed tracker.
//!
//! Two sources are merged: a file (one hex infohash per line, `#` starts a
//! comment), polled for changes and re-read when its size, mtime or inode
//! changes; and an in-process API ([`AllowList::allow`],
//! [`AllowList::disallow`]) for the hub, which registers a release's torrent
//! before announcing it. A file that fails to parse is not applied: the
//! previous list stays in force and the error is logged, so a half-written
//! file never empties the tracker.

use crate::TrackerError;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;
use tracker_proto::InfoHash;

/// Most bytes read from an allow-list file: over a million infohashes.
pub const MAX_ALLOW_LIST_BYTES: u64 = 64 << 20;

#[derive(Debug, Default)]
struct Sets {
    file: HashSet<InfoHash>,
    api: HashSet<InfoHash>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// Infohashes a closed tracker serves; see the module docs.
#[derive(Debug)]
pub struct AllowList {
    sets: RwLock<Sets>,
    path: Option<PathBuf>,
    stamp: Mutex<Option<FileStamp>>,
}

impl AllowList {
    /// An allow list fed by `path` (if any) and the API. Reads the file now.
    pub fn new(path: Option<PathBuf>) -> Result<Self, TrackerError> {
        let list = Self {
            sets: RwLock::new(Sets::default()),
            path,
            stamp: Mutex::new(None),
        };
        list.reload_if_changed()?;
        Ok(list)
    }

    /// Whether `info_hash` is allowed by the file or the API.
    pub fn contains(&self, info_hash: &InfoHash) -> bool {
        let s = self.sets.read().unwrap_or_else(|p| p.into_inner());
        s.api.contains(info_hash) || s.file.contains(info_hash)
    }

    /// Allows `info_hash` (API source). Returns whether it was new to the API set.
    pub fn allow(&self, info_hash: InfoHash) -> bool {
        self.sets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .api
            .insert(info_hash)
    }

    /// Removes `info_hash` from the API set (the file set is the file's).
    pub fn disallow(&self, info_hash: &InfoHash) -> bool {
        self.sets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .api
            .remove(info_hash)
    }

    /// Number of distinct allowed infohashes.
    pub fn len(&self) -> usize {
        let s = self.sets.read().unwrap_or_else(|p| p.into_inner());
        s.file.union(&s.api).count()
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file this list reads, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Re-reads the file if it changed since the last read. Returns whether
    /// the list was replaced. On error the previous list stays.
    pub fn reload_if_changed(&self) -> Result<bool, TrackerError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let read_err = |source| TrackerError::AllowListRead {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let stamp = FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: inode(&meta),
        };
        let mut last = self.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if *last == Some(stamp) {
            return Ok(false);
        }
        // Bounded: the path may name a device or a FIFO as well as a file.
        let bytes = metainfo::read_limited(path, MAX_ALLOW_LIST_BYTES).map_err(read_err)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            read_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            ))
        })?;
        let set = parse_allow_list(path, &text)?;
        self.sets.write().unwrap_or_else(|p| p.into_inner()).file = set;
        *last = Some(stamp);
        Ok(true)
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// Parses an allow-list file's text (one hex infohash per line, `#` starts
/// a comment, blank lines ignored); `path` names the file in the error.
pub fn parse_allow_list(path: &Path, text: &str) -> Result<HashSet<InfoHash>, TrackerError> {
    let mut set = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let ih = InfoHash::from_hex(line).map_err(|source| TrackerError::AllowListParse {
            path: path.to_owned(),
            line: i + 1,
            source,
        })?;
        set.insert(ih);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_api_merge() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("allow");
        std::fs::write(
            &p,
            format!(
                "# fleet\n{}\n\n{}  # two\n",
                "aa".repeat(20),
                "BB".repeat(20)
            ),
        )
        .unwrap();
        let l = AllowList::new(Some(p)).unwrap();
        assert!(l.contains(&InfoHash([0xaa; 20])));
        assert!(l.contains(&InfoHash([0xbb; 20])));
        assert!(!l.contains(&InfoHash([0xcc; 20])));
        assert!(l.allow(InfoHash([0xcc; 20])));
        assert!(l.contains(&InfoHash([0xcc; 20])));
        assert_eq!(l.len(), 3);
        assert!(l.disallow(&InfoHash([0xcc; 20])));
        assert!(!l.contains(&InfoHash([0xcc; 20])));
    }

    #[test]
    fn reload_on_change_and_keep_old_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("allow");
        std::fs::write(&p, "aa".repeat(20)).unwrap();
        let l = AllowList::new(Some(p.clone())).unwrap();
        assert!(!l.reload_if_changed().unwrap());
        std::fs::write(&p, format!("{}\n{}\n", "aa".repeat(20), "cc".repeat(20))).unwrap();
        assert!(l.reload_if_changed().unwrap());
        assert!(l.contains(&InfoHash([0xcc; 20])));
        std::fs::write(&p, "not a hash at all\n").unwrap();
        let err = l.reload_if_changed().unwrap_err();
        assert!(
            matches!(err, TrackerError::AllowListParse { line: 1, .. }),
            "{err}"
        );
        assert!(l.contains(&InfoHash([0xcc; 20])));
    }

    #[test]
    fn lines_must_be_hex_not_base32() {
        // The magnet form of [0xaa; 20]: `str::parse` takes it, the allow
        // list (like opentracker's whitelist) takes only hex.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("allow");
        std::fs::write(&p, "VKVKVKVKVKVKVKVKVKVKVKVKVKVKVKVK\n").unwrap();
        let err = AllowList::new(Some(p)).unwrap_err();
        assert!(
            matches!(
                err,
                TrackerError::AllowListParse {
                    line: 1,
                    source: tracker_proto::ParseInfoHashError::InvalidLength { len: 32 },
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("line 1: infohash must be 40 hex digits, got 32 characters"),
            "{err}"
        );
    }

    #[test]
    fn endless_device_is_read_only_to_the_limit() {
        let err = AllowList::new(Some("/dev/zero".into())).unwrap_err();
        assert!(matches!(err, TrackerError::AllowListRead { .. }), "{err}");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("limit of 64 MiB"), "{source}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = AllowList::new(Some("/nonexistent/anthill-allow".into())).unwrap_err();
        assert!(matches!(err, TrackerError::AllowListRead { .. }));
    }
}
