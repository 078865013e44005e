use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::hasher::PieceSource;
use crate::walk::io;
use crate::{CreateError, Info};

/// A [`PieceSource`] over plain files, opened read-only.
///
/// Strict sources (for creating a torrent) fail on any open or read error and
/// on a file that is shorter than listed. Lenient sources (for verifying
/// data) report such bytes as unavailable, so the pieces covering them come
/// out as `None`, and never fail.
#[derive(Debug, Clone)]
pub struct DiskSource {
    /// Path of each entry of [`Info::files`]; `None` for pad files and for
    /// files known to be absent.
    paths: Vec<Option<PathBuf>>,
    strict: bool,
}

impl DiskSource {
    /// A source reading file `i` of the torrent from `paths[i]`.
    pub fn new(paths: Vec<Option<PathBuf>>, strict: bool) -> Self {
        Self { paths, strict }
    }

    /// A lenient source for a torrent's data found in `dir`, the convention
    /// used everywhere: `dir/<name>` for a single file, `dir/<name>/<path…>`
    /// for a multi-file torrent.
    pub fn in_download_dir(info: &Info, dir: &std::path::Path) -> Self {
        let paths = info
            .files()
            .iter()
            .map(|f| (!f.is_pad()).then(|| dir.join(info.file_relative_path(f))))
            .collect();
        Self::new(paths, false)
    }

    /// Path of file `i`, if it is read from disk.
    pub fn path(&self, file: usize) -> Option<&PathBuf> {
        self.paths.get(file).and_then(Option::as_ref)
    }

    /// Stops reading file `i` (it is known to be missing); its bytes become unavailable.
    pub fn forget(&mut self, file: usize) {
        if let Some(p) = self.paths.get_mut(file) {
            *p = None;
        }
    }
}

/// The file a worker read last, kept open for its next read.
#[derive(Debug, Default)]
pub struct DiskCursor(Option<(usize, File)>);

impl PieceSource for DiskSource {
    type Cursor = DiskCursor;
    type Error = CreateError;

    fn cursor(&self) -> DiskCursor {
        DiskCursor::default()
    }

    fn read_at(
        &self,
        cursor: &mut DiskCursor,
        file: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, CreateError> {
        let Some(path) = self.path(file) else {
            return if self.strict {
                Err(CreateError::Bug("asked to read a file that has no path"))
            } else {
                Ok(0)
            };
        };
        if cursor.0.as_ref().is_none_or(|(open, _)| *open != file) {
            cursor.0 = None;
            match File::open(path) {
                Ok(f) => cursor.0 = Some((file, f)),
                Err(e) if self.strict => return Err(io(path, e)),
                Err(_) => return Ok(0),
            }
        }
        let Some((_, f)) = &cursor.0 else {
            return Err(CreateError::Bug("cursor lost its file"));
        };
        let mut done = 0;
        while done < buf.len() {
            match f.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if self.strict => return Err(io(path, e)),
                Err(_) => break,
            }
        }
        if self.strict && done < buf.len() {
            return Err(CreateError::Changed { path: path.clone() });
        }
        Ok(done)
    }
}
