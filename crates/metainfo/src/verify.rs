//! Checking data on disk against a torrent, without ever modifying it.
//!
//! Every file is first looked at (`stat`) to give it a size status; then every
//! piece is hashed in parallel with a lenient [`DiskSource`], so bytes of
//! missing or short files count as unavailable instead of stopping the check.
//! A piece is bad when it is unavailable or its hash differs. A file whose size
//! is right is *corrupt* when a piece overlapping it hashed to the wrong value;
//! a piece that was merely unavailable (a neighbour is missing) does not make
//! a correct file corrupt. Files are opened read-only; pad files are never
//! looked for (Transmission writes them out, libtorrent does not).

use std::fs;
use std::path::Path;

use crate::disk_source::DiskSource;
use crate::hasher::{HashOptions, HashProgress, hash_pieces};
use crate::{CreateError, Info};

/// What was found for one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileStatus {
    /// Right size and every piece overlapping it that could be checked is good.
    Ok,
    /// Not there.
    Missing,
    /// There, but a directory or another non-file.
    NotAFile,
    /// There, but it could not be opened.
    Unreadable {
        /// The OS error.
        error: String,
    },
    /// Shorter than the torrent says.
    Short {
        /// Its length on disk.
        actual: u64,
    },
    /// Longer than the torrent says (the extra bytes are ignored).
    Long {
        /// Its length on disk.
        actual: u64,
    },
    /// Right size, wrong contents.
    Corrupt,
}

/// One non-pad file of the torrent and what was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileReport {
    /// Index into [`Info::files`].
    pub index: usize,
    /// Path relative to the download directory (starts with the torrent name).
    pub path: String,
    /// Length the torrent gives it.
    pub length: u64,
    /// What was found.
    #[serde(flatten)]
    pub status: FileStatus,
    /// Bad pieces overlapping it (unavailable or mismatched).
    pub bad_pieces: usize,
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Every non-pad file, in torrent order.
    pub files: Vec<FileReport>,
    /// Pieces in the torrent.
    pub pieces: usize,
    /// Indexes of bad pieces, ascending.
    pub bad_pieces: Vec<usize>,
}

impl VerifyReport {
    /// True when every file is [`FileStatus::Ok`] and every piece is good.
    pub fn is_ok(&self) -> bool {
        self.bad_pieces.is_empty() && self.files.iter().all(|f| f.status == FileStatus::Ok)
    }

    /// The files that are not [`FileStatus::Ok`].
    pub fn problems(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.status != FileStatus::Ok)
    }
}

/// Verifies the data of `info` found in `dir` (`dir/<name>` is the file or
/// the top directory). Fails only if `dir` itself cannot be read.
pub fn verify(
    info: &Info,
    dir: &Path,
    options: &HashOptions,
    progress: &dyn HashProgress,
) -> Result<VerifyReport, CreateError> {
    let meta = fs::metadata(dir).map_err(|e| crate::walk::io(dir, e))?;
    if !meta.is_dir() {
        return Err(CreateError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let mut source = DiskSource::in_download_dir(info, dir);
    let mut files = Vec::new();
    for (index, f) in info.files().iter().enumerate() {
        if f.is_pad() {
            continue;
        }
        let Some(path) = source.path(index) else {
            continue;
        };
        let status = size_status(path, f.length);
        if matches!(
            status,
            FileStatus::Missing | FileStatus::NotAFile | FileStatus::Unreadable { .. }
        ) {
            source.forget(index);
        }
        files.push(FileReport {
            index,
            path: info.file_relative_path(f).to_string_lossy().into_owned(),
            length: f.length,
            status,
            bad_pieces: 0,
        });
    }
    let hashes = hash_pieces(info, 0..info.num_pieces(), &source, options, progress)?;
    let mut bad_pieces = Vec::new();
    let mut mismatched = vec![false; info.num_pieces()];
    for (i, (got, want)) in hashes.iter().zip(info.pieces()).enumerate() {
        match got {
            Some(h) if h == want => {}
            Some(_) => {
                mismatched[i] = true;
                bad_pieces.push(i);
            }
            None => bad_pieces.push(i),
        }
    }
    // A layout with fewer hashable pieces than hashes listed cannot pass validation;
    // count any such gap as bad rather than trusting it.
    bad_pieces.extend(hashes.len()..info.num_pieces());
    let is_bad = |p: usize| bad_pieces.binary_search(&p).is_ok();
    for r in &mut files {
        let range = info.file_pieces(r.index);
        r.bad_pieces = range.clone().filter(|&p| is_bad(p)).count();
        if r.status == FileStatus::Ok && range.into_iter().any(|p| mismatched.get(p) == Some(&true))
        {
            r.status = FileStatus::Corrupt;
        }
    }
    Ok(VerifyReport {
        files,
        pieces: info.num_pieces(),
        bad_pieces,
    })
}

fn size_status(path: &Path, expected: u64) -> FileStatus {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return FileStatus::Missing;
        }
        Err(e) => {
            return FileStatus::Unreadable {
                error: e.to_string(),
            };
        }
    };
    if !meta.is_file() {
        return FileStatus::NotAFile;
    }
    if let Err(e) = fs::File::open(path) {
        return FileStatus::Unreadable {
            error: e.to_string(),
        };
    }
    match meta.len() {
        n if n < expected => FileStatus::Short { actual: n },
        n if n > expected => FileStatus::Long { actual: n },
        _ => FileStatus::Ok,
    }
}
