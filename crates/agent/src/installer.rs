//! The agent directory on disk, and the steps that change it: moving a
//! verified release from staging into `releases/`, switching `current`,
//! running the hook, deleting old releases. Each step is atomic (one
//! rename, then an fsync of the directory) and can be repeated after a
//! crash with the same result.
//!
//! ```text
//! DIR/agent.db                 state (SQLite)
//! DIR/agent.lock               held by the running agent
//! DIR/staging/<infohash>/      downloads in progress: the engine's data directory
//!                              (its resume state in staging/<infohash>/.anthill/)
//! DIR/torrents/<infohash>.torrent  the torrent of every accepted release
//! DIR/releases/NAME            complete, verified releases (seeded from here)
//! DIR/current -> releases/NAME the active release (a symlink, replaced by rename)
//! DIR/trash/                   trees being deleted
//! ```

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use metainfo::Infohash;
use tokio::io::AsyncReadExt;

/// Paths below the agent's directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// Creates the directories.
    pub fn create(&self) -> std::io::Result<()> {
        for d in [
            self.staging_root(),
            self.torrents(),
            self.releases(),
            self.trash(),
        ] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }
    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The database.
    pub fn database(&self) -> PathBuf {
        self.root.join("agent.db")
    }
    /// The lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("agent.lock")
    }
    /// All downloads.
    pub fn staging_root(&self) -> PathBuf {
        self.root.join("staging")
    }
    /// One download's data directory.
    pub fn staging(&self, ih: &Infohash) -> PathBuf {
        self.staging_root().join(ih.to_hex())
    }
    /// Saved torrents.
    pub fn torrents(&self) -> PathBuf {
        self.root.join("torrents")
    }
    /// One saved torrent.
    pub fn torrent(&self, ih: &Infohash) -> PathBuf {
        self.torrents().join(format!("{}.torrent", ih.to_hex()))
    }
    /// Installed releases (the seeding data directory).
    pub fn releases(&self) -> PathBuf {
        self.root.join("releases")
    }
    /// One installed release.
    pub fn release(&self, name: &str) -> PathBuf {
        self.releases().join(name)
    }
    /// The `current` symlink.
    pub fn current(&self) -> PathBuf {
        self.root.join("current")
    }
    /// Trees being deleted.
    pub fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// The release `current` names, if any.
    pub fn read_current(&self) -> Option<String> {
        let target = std::fs::read_link(self.current()).ok()?;
        target
            .strip_prefix("releases")
            .ok()
            .and_then(|p| p.to_str())
            .map(str::to_string)
    }

    /// Moves the verified data of `ih` (the torrent's top entry `name`)
    /// into `releases/name`. Repeating it after it happened is a no-op.
    pub fn move_into_releases(&self, ih: &Infohash, name: &str) -> std::io::Result<PathBuf> {
        let src = self.staging(ih).join(name);
        let dst = self.release(name);
        let src_there = src.symlink_metadata().is_ok();
        let dst_there = dst.symlink_metadata().is_ok();
        match (src_there, dst_there) {
            (true, false) => {
                std::fs::rename(&src, &dst)?;
                storage::sync_dir(&self.releases())?;
            }
            (false, true) => {} // moved before a crash
            (true, true) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists already (another release of the same name)",
                        dst.display()
                    ),
                ));
            }
            (false, false) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("neither {} nor {} exists", src.display(), dst.display()),
                ));
            }
        }
        self.keep_resume_state(ih)?;
        self.delete(&self.staging(ih))?;
        Ok(dst)
    }

    /// Moves the engine's resume state of the finished download from
    /// staging to where seeding from `releases/` looks for it, so the
    /// seeder trusts the pieces verified during the download instead of
    /// hashing the whole release again before `current` is switched. The
    /// state names files by inode, size, mtime and ctime; renaming the
    /// release's directory changes none of those of the files in it (a
    /// file that did change is hashed again: the state is only a hint the
    /// storage crate checks). A missing state only costs that hashing.
    fn keep_resume_state(&self, ih: &Infohash) -> std::io::Result<()> {
        let from = swarm::resume_path(&self.staging(ih), ih);
        if from.symlink_metadata().is_err() {
            return Ok(());
        }
        let to = swarm::resume_path(&self.releases(), ih);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&from, &to)?;
            storage::sync_dir(dir)?;
        }
        Ok(())
    }

    /// Points `current` at `releases/name`: a new symlink renamed over the
    /// old one, then the directory synced. Idempotent.
    pub fn switch_current(&self, name: &str) -> std::io::Result<()> {
        let tmp = self.root.join(".current.new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(Path::new("releases").join(name), &tmp)?;
        std::fs::rename(&tmp, self.current())?;
        storage::sync_dir(&self.root)
    }

    /// Deletes a file or tree: renamed into `trash/` first (so a crash never
    /// leaves half a release where a release is expected), then removed.
    pub fn delete(&self, path: &Path) -> std::io::Result<()> {
        let Ok(meta) = path.symlink_metadata() else {
            return Ok(());
        };
        let unique = format!(
            "{}.{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let t = self.trash().join(unique);
        std::fs::rename(path, &t)?;
        if meta.is_dir() {
            std::fs::remove_dir_all(&t)
        } else {
            std::fs::remove_file(&t)
        }
    }

    /// Empties `trash/` and deletes staging directories not in `keep`.
    pub fn clean(&self, keep: &HashSet<Infohash>) -> std::io::Result<()> {
        for e in std::fs::read_dir(self.trash())? {
            let p = e?.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        for e in std::fs::read_dir(self.staging_root())? {
            let e = e?;
            let name = e.file_name();
            let ours = name
                .to_str()
                .and_then(|n| Infohash::from_hex(n).ok())
                .is_some_and(|ih| keep.contains(&ih));
            if !ours {
                tracing::info!(path = %e.path().display(), "deleting a staging leftover");
                self.delete(&e.path())?;
            }
        }
        Ok(())
    }
}

/// Free bytes for an unprivileged writer on the file system of `path`.
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(path)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    /// "exit 0", "exit 3", "killed by signal 9", "timed out after 5s", "cannot run: …".
    pub status: String,
    /// The last bytes of its stdout and stderr.
    pub output: String,
    /// Exit status 0.
    pub success: bool,
}

/// Bytes of output kept.
const OUTPUT_TAIL: usize = 4096;

/// Runs `sh -c cmd` in its own process group with `env`, no stdin, for at
/// most `timeout` (then the whole group is killed).
pub async fn run_hook(
    cmd: &str,
    env: &[(&str, String)],
    cwd: &Path,
    timeout: Duration,
) -> HookOutcome {
    let mut c = tokio::process::Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => {
            return HookOutcome {
                status: format!("cannot run: {e}"),
                output: String::new(),
                success: false,
            };
        }
    };
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let collect = async {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let ra = async {
            if let Some(o) = out.as_mut() {
                let _ = read_tail(o, &mut a).await;
            }
        };
        let rb = async {
            if let Some(o) = err.as_mut() {
                let _ = read_tail(o, &mut b).await;
            }
        };
        tokio::join!(ra, rb);
        a.extend_from_slice(&b);
        a
    };
    let pid = child.id();
    let run = async {
        let (output, status) = tokio::join!(collect, child.wait());
        (output, status)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((output, status)) => {
            let (status, success) = match status {
                Ok(s) if s.success() => ("exit 0".to_string(), true),
                Ok(s) => match s.code() {
                    Some(c) => (format!("exit {c}"), false),
                    None => (format!("ended by {s}"), false),
                },
                Err(e) => (format!("cannot wait: {e}"), false),
            };
            HookOutcome {
                status,
                output: tail(&output),
                success,
            }
        }
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            HookOutcome {
                status: format!("timed out after {timeout:?}; killed"),
                output: String::new(),
                success: false,
            }
        }
    }
}

async fn read_tail(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 2 * OUTPUT_TAIL {
            out.drain(..out.len() - OUTPUT_TAIL);
        }
    }
}

fn tail(b: &[u8]) -> String {
    let start = b.len().saturating_sub(OUTPUT_TAIL);
    String::from_utf8_lossy(&b[start..]).into_owned()
}

/// Reads at most `max` bytes of a file.
pub fn read_limited(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    std::fs::File::open(path)?.take(max).read_to_end(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_and_switching_are_repeatable() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        l.create().unwrap();
        let ih = Infohash([1; 20]);
        std::fs::create_dir_all(l.staging(&ih).join("app-1/sub")).unwrap();
        std::fs::write(l.staging(&ih).join("app-1/sub/f"), b"x").unwrap();
        let dst = l.move_into_releases(&ih, "app-1").unwrap();
        assert_eq!(std::fs::read(dst.join("sub/f")).unwrap(), b"x");
        assert!(!l.staging(&ih).exists());
        // After a crash the step is repeated: the data is there already.
        std::fs::create_dir_all(l.staging(&ih)).unwrap();
        l.move_into_releases(&ih, "app-1").unwrap();
        assert_eq!(l.read_current(), None);
        l.switch_current("app-1").unwrap();
        l.switch_current("app-1").unwrap();
        assert_eq!(l.read_current().as_deref(), Some("app-1"));
        assert_eq!(std::fs::read(l.current().join("sub/f")).unwrap(), b"x");
        // A second release of the same name does not overwrite the first.
        let ih2 = Infohash([2; 20]);
        std::fs::create_dir_all(l.staging(&ih2).join("app-1")).unwrap();
        assert!(l.move_into_releases(&ih2, "app-1").is_err());
        // Nothing at all is an error too.
        assert!(l.move_into_releases(&Infohash([3; 20]), "nope").is_err());
        l.clean(&HashSet::new()).unwrap();
        assert_eq!(std::fs::read_dir(l.staging_root()).unwrap().count(), 0);
        assert!(free_space(d.path()).unwrap() > 0);
    }

    /// The engine's resume state of a finished download still describes the
    /// files once the release is moved into `releases/`: the seeder trusts
    /// it and hashes nothing before `current` is switched.
    #[test]
    fn the_resume_state_follows_the_release_and_still_matches_its_files() {
        use std::sync::Arc;
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        l.create().unwrap();
        let src = d.path().join("src/app-1");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a.bin"), vec![7u8; 100_000]).unwrap();
        std::fs::write(src.join("sub/b.bin"), vec![9u8; 40_000]).unwrap();
        let info = Arc::new(metainfo::create(&src, &metainfo::CreateOptions::default()).unwrap());
        let m = metainfo::Metainfo::new((*info).clone());
        let ih = m.infohash();
        std::fs::create_dir_all(l.staging(&ih)).unwrap();
        std::fs::rename(&src, l.staging(&ih).join("app-1")).unwrap();
        let open = |dir: &Path| {
            storage::FileStorage::open(
                Arc::clone(&info),
                dir,
                storage::OpenMode::Seed,
                storage::FileStorageOptions::default(),
            )
            .unwrap()
        };
        let all = storage::PieceSet::full(info.num_pieces());
        let state = storage::ResumeState::capture(ih, &open(&l.staging(&ih)), all.clone());
        let at = swarm::resume_path(&l.staging(&ih), &ih);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        state.save(&at).unwrap();

        l.move_into_releases(&ih, "app-1").unwrap();
        assert!(!l.staging(&ih).exists());
        let moved = swarm::resume_path(&l.releases(), &ih);
        let saved = storage::ResumeState::load(&moved, ih, &info).expect("the state moved along");
        let hashed = std::sync::atomic::AtomicUsize::new(0);
        let have = storage::check_resume(&open(&l.releases()), Some(&saved), 1, |p| {
            hashed.fetch_max(p.checked, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(have, all, "every piece trusted");
        assert_eq!(hashed.into_inner(), 0, "nothing hashed again");
    }

    #[tokio::test]
    async fn hooks_report_status_output_and_time_out() {
        let d = tempfile::tempdir().unwrap();
        let env = [("ANTHILL_RELEASE", "app-2".to_string())];
        let ok = run_hook(
            "echo \"$ANTHILL_RELEASE\"; echo err >&2",
            &env,
            d.path(),
            Duration::from_secs(30),
        )
        .await;
        assert!(ok.success);
        assert_eq!(ok.status, "exit 0");
        assert_eq!(ok.output, "app-2\nerr\n");
        let bad = run_hook("exit 3", &env, d.path(), Duration::from_secs(30)).await;
        assert_eq!((bad.success, bad.status.as_str()), (false, "exit 3"));
        let slow = run_hook(
            "sleep 30 & wait",
            &env,
            d.path(),
            Duration::from_millis(200),
        )
        .await;
        assert!(!slow.success);
        assert!(slow.status.starts_with("timed out"), "{}", slow.status);
        let big = run_hook(
            "head -c 100000 /dev/zero | tr '\\0' a",
            &env,
            d.path(),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(big.output.len(), OUTPUT_TAIL);
    }
}
