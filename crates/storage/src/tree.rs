//! Opening files below the data directory without ever following a link.
//!
//! Every open walks the relative path one component at a time with
//! `openat(O_NOFOLLOW)` from a directory descriptor held for the storage's
//! lifetime. A symbolic link anywhere below the data directory, planted
//! before or during the download, is therefore refused instead of followed,
//! and no path can resolve outside the directory. The data directory itself
//! may be a link: the user chose it. `O_NONBLOCK` keeps a FIFO planted in the
//! tree from blocking the open; the type check then rejects it.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::StorageError;

/// How a data file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    ReadWrite,
}

/// A file opened by [`open_beneath`].
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) len: u64,
    /// Device number (`st_dev`).
    pub(crate) dev: u64,
    /// True if this call created the file.
    pub(crate) created: bool,
}

/// Creation rules for [`open_beneath`]: create missing directories (0755)
/// and the file itself with `file_mode`; every directory that gained an entry
/// is pushed to `changed_dirs` so a later sync can make the entry durable.
pub(crate) struct Create<'a> {
    pub(crate) file_mode: u32,
    pub(crate) changed_dirs: &'a mut Vec<PathBuf>,
}

/// The plain-name components of a relative path, or `None` if any component
/// is `..`, `.`, a root or a prefix.
pub(crate) fn plain_components(rel: &Path) -> Option<Vec<&OsStr>> {
    let comps: Vec<&OsStr> = rel
        .components()
        .map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!comps.is_empty()).then_some(comps)
}

/// Opens the directory the storage lives in (following links: the user named it).
pub(crate) fn open_root(path: &Path) -> Result<OwnedFd, StorageError> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOTDIR => StorageError::UnexpectedFileType {
            path: path.to_path_buf(),
            expected: "a directory",
        },
        e => StorageError::io("open directory", path, e.into()),
    })
}

/// Opens `rel` below `root` (whose path is `root_path`, used for messages).
pub(crate) fn open_beneath(
    root: &OwnedFd,
    root_path: &Path,
    rel: &Path,
    access: Access,
    mut create: Option<Create<'_>>,
) -> Result<Opened, StorageError> {
    let full = root_path.join(rel);
    let comps = plain_components(rel).ok_or_else(|| StorageError::UnsafePath {
        path: rel.to_path_buf(),
    })?;
    let (name, dirs) = comps.split_last().ok_or_else(|| StorageError::UnsafePath {
        path: rel.to_path_buf(),
    })?;

    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut held: Option<OwnedFd> = None;
    let mut prefix = root_path.to_path_buf();
    for c in dirs {
        let parent = held.as_ref().map_or(root.as_fd(), AsFd::as_fd);
        let here = prefix.join(c);
        let fd = match rustix::fs::openat(parent, *c, dir_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => match create.as_mut() {
                Some(cr) => {
                    match rustix::fs::mkdirat(parent, *c, Mode::from(0o755)) {
                        Ok(()) => cr.changed_dirs.push(prefix.clone()),
                        Err(Errno::EXIST) => {}
                        Err(e) => {
                            return Err(StorageError::io("create directory", &here, e.into()));
                        }
                    }
                    rustix::fs::openat(parent, *c, dir_flags, Mode::empty())
                        .map_err(|e| classify(parent, c, &here, e, true))?
                }
                None => return Err(StorageError::MissingFile { path: full }),
            },
            Err(e) => return Err(classify(parent, c, &here, e, true)),
        };
        held = Some(fd);
        prefix = here;
    }

    let parent = held.as_ref().map_or(root.as_fd(), AsFd::as_fd);
    let flags = match access {
        Access::Read => OFlags::RDONLY,
        Access::ReadWrite => OFlags::RDWR,
    } | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::CLOEXEC;
    let (fd, created) = match rustix::fs::openat(parent, *name, flags, Mode::empty()) {
        Ok(fd) => (fd, false),
        Err(Errno::NOENT) => match create.as_mut() {
            Some(cr) => {
                let excl = flags | OFlags::CREATE | OFlags::EXCL;
                match rustix::fs::openat(parent, *name, excl, Mode::from(cr.file_mode)) {
                    Ok(fd) => {
                        cr.changed_dirs.push(prefix);
                        (fd, true)
                    }
                    Err(Errno::EXIST) => (
                        rustix::fs::openat(parent, *name, flags, Mode::empty())
                            .map_err(|e| classify(parent, name, &full, e, false))?,
                        false,
                    ),
                    Err(e) => return Err(classify(parent, name, &full, e, false)),
                }
            }
            None => return Err(StorageError::MissingFile { path: full }),
        },
        Err(e) => return Err(classify(parent, name, &full, e, false)),
    };
    let file = File::from(fd);
    let meta = file
        .metadata()
        .map_err(|e| StorageError::io("stat", &full, e))?;
    if !meta.file_type().is_file() {
        return Err(StorageError::UnexpectedFileType {
            path: full,
            expected: "a regular file",
        });
    }
    Ok(Opened {
        file,
        len: meta.len(),
        dev: meta.dev(),
        created,
    })
}

/// Turns a failed open into the most useful error: a link, the wrong kind
/// of file, or the raw I/O error.
fn classify(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    e: Errno,
    want_dir: bool,
) -> StorageError {
    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let ft = FileType::from_raw_mode(st.st_mode);
            if ft == FileType::Symlink {
                return StorageError::Symlink {
                    path: path.to_path_buf(),
                };
            }
            let is_dir = ft == FileType::Directory;
            if is_dir != want_dir || (!want_dir && ft != FileType::RegularFile) {
                return StorageError::UnexpectedFileType {
                    path: path.to_path_buf(),
                    expected: if want_dir {
                        "a directory"
                    } else {
                        "a regular file"
                    },
                };
            }
            StorageError::io("open", path, e.into())
        }
        Err(_) => StorageError::io("open", path, e.into()),
    }
}
