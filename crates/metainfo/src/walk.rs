//! Lists the files a torrent is created from.
//!
//! The order must not depend on the machine: `read_dir` order differs between
//! filesystems, so entries are sorted by their path components compared as
//! bytes (`a/b` before `a.txt`, because `a` < `a.txt`). Anything that would
//! make the torrent silently differ from the tree is an error naming the
//! path: symbolic links, special files, unreadable entries and names that
//! are not UTF-8. Empty directories have no place in a torrent and vanish.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::CreateError as E;
use crate::info::check_component;

/// One regular file found by [`walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceFile {
    /// Components below the root; empty when the root itself is the file.
    pub(crate) path: Vec<String>,
    /// Where it is on disk.
    pub(crate) disk: PathBuf,
    /// Length in bytes when listed.
    pub(crate) length: u64,
    /// Modification time when listed (to detect changes during hashing).
    pub(crate) modified: Option<SystemTime>,
    /// Any execute bit is set.
    pub(crate) executable: bool,
}

/// What `root` turned out to be.
#[derive(Debug)]
pub(crate) enum Tree {
    /// A single file.
    File(SourceFile),
    /// A directory and its files, sorted.
    Dir(Vec<SourceFile>),
}

/// Lists `root` (a file or a directory, which may itself be a symlink that is
/// followed because the user named it).
pub(crate) fn walk(root: &Path) -> Result<Tree, E> {
    let meta = fs::metadata(root).map_err(|e| io(root, e))?;
    if meta.is_file() {
        return Ok(Tree::File(source_file(root, Vec::new(), &meta)?));
    }
    if !meta.is_dir() {
        return Err(E::NotRegular {
            path: root.to_path_buf(),
        });
    }
    let mut files = Vec::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let disk = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| E::NonUtf8Name { path: disk.clone() })?;
            check_name(&name, &disk)?;
            let mut path = prefix.clone();
            path.push(name);
            let kind = entry.file_type().map_err(|e| io(&disk, e))?;
            if kind.is_symlink() {
                return Err(E::Symlink { path: disk });
            } else if kind.is_dir() {
                stack.push((disk, path));
            } else if kind.is_file() {
                let meta = entry.metadata().map_err(|e| io(&disk, e))?;
                files.push(source_file(&disk, path, &meta)?);
            } else {
                return Err(E::NotRegular { path: disk });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Tree::Dir(files))
}

fn source_file(disk: &Path, path: Vec<String>, meta: &fs::Metadata) -> Result<SourceFile, E> {
    // Opening now turns an unreadable file into an error before any hashing.
    File::open(disk).map_err(|e| io(disk, e))?;
    Ok(SourceFile {
        path,
        disk: disk.to_path_buf(),
        length: meta.len(),
        modified: meta.modified().ok(),
        executable: meta.permissions().mode() & 0o111 != 0,
    })
}

/// Checks a listed file is still the one that was hashed.
pub(crate) fn unchanged(f: &SourceFile) -> Result<(), E> {
    let meta = fs::metadata(&f.disk).map_err(|e| io(&f.disk, e))?;
    if meta.len() != f.length || meta.modified().ok() != f.modified {
        return Err(E::Changed {
            path: f.disk.clone(),
        });
    }
    Ok(())
}

/// Rejects a name a torrent cannot carry, naming the file on disk.
pub(crate) fn check_name(name: &str, disk: &Path) -> Result<(), E> {
    check_component(name, name).map_err(|e| E::BadName {
        path: disk.to_path_buf(),
        reason: match e {
            crate::MetainfoError::UnsafePath { reason, .. } => reason,
            _ => "not allowed in a torrent",
        },
    })
}

pub(crate) fn io(path: &Path, source: std::io::Error) -> E {
    E::Io {
        path: path.to_path_buf(),
        source,
    }
}
