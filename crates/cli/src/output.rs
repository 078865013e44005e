//! Where commands write. [`OutputFile::prepare`] is the one output check,
//! made before any work: it refuses to write over an input (however it is
//! named: another spelling, a symlink, a hard link) or into a directory
//! being shared, refuses to replace an existing file without `--force`, and
//! creates the temporary file the result is written to, so a missing or
//! read-only directory fails at once instead of after hashing. The result
//! replaces the target in one rename: never a half-written file.
//!
//! [`stdout`] is standard output that reports what Rust's would hide: a
//! closed stdout (std reopens it on `/dev/null`, and every write "succeeds").

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::shown;

/// A file about to be written; see the module docs.
pub(crate) struct OutputFile {
    path: PathBuf,
    target: Target,
}

enum Target {
    /// A temporary file next to the target, renamed over it at the end.
    Temp {
        file: tempfile::NamedTempFile,
        force: bool,
    },
    /// An existing device or FIFO (e.g. `/dev/stdout`): written to, never replaced.
    Special,
}

/// One input of a command, for [`OutputFile::prepare`] to protect.
pub(crate) struct Input<'a> {
    /// The path as given.
    pub(crate) path: &'a Path,
    /// What it is, for the message ("the file being shared").
    pub(crate) what: &'a str,
}

impl OutputFile {
    /// Checks `path` against `inputs` and its directory, before any work.
    pub(crate) fn prepare(path: &Path, inputs: &[Input<'_>], force: bool) -> anyhow::Result<Self> {
        let shown = shown::path(path);
        for input in inputs {
            refuse_input(path, input)?;
        }
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => bail!("{shown} is a directory; give a file name"),
            Ok(m) if !m.is_file() => {
                return Ok(Self {
                    path: path.to_path_buf(),
                    target: Target::Special,
                });
            }
            Ok(_) if !force => bail!(
                "{shown} already exists; choose another output file, or pass --force to replace it"
            ),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot write {shown}")),
        }
        let dir = parent(path);
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "cannot write {shown}: {} is not a directory",
                shown::path(dir)
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
                "cannot write {shown}: directory {} does not exist",
                shown::path(dir)
            ),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot write {shown}"));
            }
        }
        use std::os::unix::fs::PermissionsExt;
        let file = tempfile::Builder::new()
            .prefix(".anthill-")
            .suffix(".part")
            // The usual mode of a new file (0644 under the usual umask), not tempfile's 0600.
            .permissions(fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(strip_temp_path)
            .with_context(|| format!("cannot write {shown}"))?;
        Ok(Self {
            path: path.to_path_buf(),
            target: Target::Temp { file, force },
        })
    }

    /// Whether the target is an existing device or FIFO (never replaced).
    pub(crate) fn is_special(&self) -> bool {
        matches!(self.target, Target::Special)
    }

    /// Writes `bytes` and puts them in place.
    pub(crate) fn commit(self, bytes: &[u8]) -> anyhow::Result<()> {
        let shown = shown::path(&self.path);
        let context = || format!("cannot write {shown}");
        match self.target {
            Target::Special => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .with_context(context)?;
                f.write_all(bytes).with_context(context)?;
                f.flush().with_context(context)?;
            }
            Target::Temp { mut file, force } => {
                file.write_all(bytes).with_context(context)?;
                file.as_file().sync_all().with_context(context)?;
                let persisted = if force {
                    file.persist(&self.path)
                } else {
                    file.persist_noclobber(&self.path)
                };
                if let Err(e) = persisted {
                    if e.error.kind() == io::ErrorKind::AlreadyExists {
                        bail!("{shown} appeared while the torrent was being made; not replaced");
                    }
                    return Err(e.error).with_context(context);
                }
            }
        }
        Ok(())
    }
}

/// The directory `path` would be created in.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// tempfile adds "at path <the random temporary name>" to its errors; the
/// user named another path, which the context gives.
fn strip_temp_path(e: io::Error) -> io::Error {
    match e.get_ref().and_then(std::error::Error::source) {
        Some(inner) => io::Error::new(e.kind(), inner.to_string()),
        None => e,
    }
}

/// Refuses an output that is `input` itself or lies inside the directory
/// `input`. Paths are compared as the file system resolves them: the same
/// device and inode for a file, canonical paths for a directory.
fn refuse_input(output: &Path, input: &Input<'_>) -> anyhow::Result<()> {
    let Ok(in_meta) = fs::metadata(input.path) else {
        return Ok(()); // a missing input fails with its own message
    };
    let out_shown = shown::path(output);
    let in_shown = shown::path(input.path);
    if let Ok(out_meta) = fs::metadata(output) {
        if (out_meta.dev(), out_meta.ino()) == (in_meta.dev(), in_meta.ino()) {
            bail!(
                "{out_shown} is {in_shown}, {}; write the output to another file",
                input.what
            );
        }
    }
    if in_meta.is_dir() {
        let (Ok(root), Ok(dir)) = (
            fs::canonicalize(input.path),
            fs::canonicalize(parent(output)),
        ) else {
            return Ok(()); // a missing output directory is reported by prepare
        };
        if dir.starts_with(&root) {
            bail!(
                "{out_shown} would be written inside {}, {}; write it elsewhere with -o",
                shown::path(&root),
                input.what
            );
        }
    }
    Ok(())
}

/// Standard output for a command's result, or an error if it is closed.
pub(crate) fn stdout() -> io::Result<io::StdoutLock<'static>> {
    if stdout_closed() {
        return Err(io::Error::other("standard output is closed"));
    }
    Ok(io::stdout().lock())
}

/// Writes `bytes` to stdout and flushes, reporting every error.
pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = stdout().context("cannot write to standard output")?;
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// Refuses binary output (a torrent) to a terminal, where it would only
/// garble the screen. Checked before any work.
pub(crate) fn check_binary_stdout() -> anyhow::Result<()> {
    if io::stdout().is_terminal() {
        bail!("refusing to write a binary torrent to the terminal; redirect stdout or use -o FILE");
    }
    if stdout_closed() {
        bail!("cannot write to standard output: it is closed");
    }
    Ok(())
}

/// Rust's runtime reopens a closed stdout on `/dev/null` (read-write) before
/// `main`, so writes to it vanish without an error. A shell's `>/dev/null`
/// opens it write-only; read-write `/dev/null` on fd 1 means it was closed.
fn stdout_closed() -> bool {
    use rustix::fs::{FileType, OFlags, fcntl_getfl, fstat, stat};
    use std::os::fd::AsFd;
    let out = io::stdout();
    let fd = out.as_fd();
    let (Ok(st), Ok(null)) = (fstat(fd), stat("/dev/null")) else {
        return false;
    };
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
        && st.st_rdev == null.st_rdev
        && fcntl_getfl(fd).is_ok_and(|f| f & OFlags::RWMODE == OFlags::RDWR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(p: &Path) -> [Input<'_>; 1] {
        [Input {
            path: p,
            what: "the file being shared",
        }]
    }

    #[test]
    fn the_input_is_refused_however_it_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("notes.txt");
        fs::write(&f, b"keep me").unwrap();
        std::os::unix::fs::symlink(&f, dir.path().join("link")).unwrap();
        fs::hard_link(&f, dir.path().join("hard")).unwrap();
        let dotted = dir.path().join(".").join("notes.txt");
        for out in [
            f.clone(),
            dotted,
            dir.path().join("link"),
            dir.path().join("hard"),
        ] {
            for force in [false, true] {
                let err = OutputFile::prepare(&out, &shared(&f), force).err().unwrap();
                let text = err.to_string();
                assert!(text.contains("the file being shared"), "{text}");
                assert!(!text.contains("--force"), "{text}");
            }
        }
        assert_eq!(fs::read(&f).unwrap(), b"keep me");
    }

    #[test]
    fn inside_a_shared_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("sub")).unwrap();
        let input = [Input {
            path: &tree,
            what: "the tree being shared",
        }];
        for out in [
            tree.join("t.torrent"),
            tree.join("sub/../t.torrent"),
            tree.join("sub/t"),
        ] {
            assert!(OutputFile::prepare(&out, &input, true).is_err(), "{out:?}");
        }
        assert!(OutputFile::prepare(&dir.path().join("t.torrent"), &input, false).is_ok());
    }

    #[test]
    fn existing_file_needs_force_and_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.torrent");
        fs::write(&out, b"old").unwrap();
        let err = OutputFile::prepare(&out, &[], false).err().unwrap();
        assert!(err.to_string().contains("--force"), "{err}");
        OutputFile::prepare(&out, &[], true)
            .unwrap()
            .commit(b"new")
            .unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new");
        let mode = fs::metadata(&out).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_ne!(
            mode.mode() & 0o044,
            0,
            "readable like any new file: {:o}",
            mode.mode()
        );
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_missing_directory_fails_at_once() {
        let err = OutputFile::prepare(Path::new("/nonexistent/x.torrent"), &[], false)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "cannot write /nonexistent/x.torrent: directory /nonexistent does not exist"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = OutputFile::prepare(dir.path(), &[], true).err().unwrap();
        assert!(
            err.to_string()
                .ends_with("is a directory; give a file name"),
            "{err}"
        );
    }

    #[test]
    fn a_device_is_written_to_not_replaced() {
        let out = OutputFile::prepare(Path::new("/dev/null"), &[], false).unwrap();
        assert!(out.is_special());
        out.commit(b"x").unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}
