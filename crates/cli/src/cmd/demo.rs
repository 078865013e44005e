//! `anthill demo`: the main job on embedded defaults, with nothing to set up.
//!
//! For now it generates a small release tree, creates its torrent, shows it,
//! verifies the data, proves a flipped byte is caught, and prints a summary.
//! Later it becomes a local demo fleet (hub, tracker and agents).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use metainfo::{CreateOptions, FileStatus, HashOptions, Magnet, Metainfo, TorrentPlan};

use crate::bytes::Bytes;
use crate::cmd::torrent::{show, verify};

/// Arguments of `anthill demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Work in this directory (created if needed, kept afterwards) instead of a
    /// temporary one that is removed at the end. The demo writes DIR/sample-release
    /// and DIR/sample-release.torrent; it replaces them only if an earlier demo
    /// made them, and otherwise refuses to start.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

const NAME: &str = "sample-release";
/// Left in `--dir` by a demo: what is there was made by a demo and may be replaced.
const MARKER: &str = ".anthill-demo";
const TRACKER: &str = "http://127.0.0.1:6969/announce";

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let temp;
        let dir = match &self.dir {
            Some(d) => {
                std::fs::create_dir_all(d)
                    .with_context(|| format!("cannot create {}", d.display()))?;
                d.clone()
            }
            None => {
                temp = tempfile::Builder::new()
                    .prefix("anthill-demo-")
                    .tempdir()
                    .context("cannot create a temporary directory")?;
                temp.path().to_path_buf()
            }
        };
        let mut out = crate::output::stdout()?;
        let started = Instant::now();

        let root = dir.join(NAME);
        let torrent_path = dir.join(format!("{NAME}.torrent"));
        clear_earlier_demo(&dir, &root, &torrent_path)?;
        std::fs::write(
            dir.join(MARKER),
            "written by `anthill demo`: sample-release and sample-release.torrent here are its own\n",
        )
        .with_context(|| format!("cannot write {}", dir.join(MARKER).display()))?;
        let (files, bytes) = sample_tree(&root)?;
        writeln!(
            out,
            "== 1. generated {} ({files} files, {}) in {}",
            NAME,
            Bytes(bytes),
            crate::shown::path(&dir)
        )?;

        let plan = TorrentPlan::new(&root, &CreateOptions::default())?;
        let info = plan.hash(&HashOptions::default(), &())?;
        let torrent = Metainfo::new(info)
            .with_announce(vec![vec![TRACKER.to_string()]])
            .with_created_by(Some(format!("anthill {} demo", env!("CARGO_PKG_VERSION"))));
        std::fs::write(&torrent_path, torrent.to_bytes())
            .with_context(|| format!("cannot write {}", torrent_path.display()))?;
        writeln!(
            out,
            "== 2. created {} (aligned: every file starts on a piece boundary)",
            crate::shown::path(&torrent_path)
        )?;

        let torrent = crate::cmd::torrent::load(&torrent_path)?;
        writeln!(out, "== 3. anthill torrent show {NAME}.torrent")?;
        show::print_human(
            &torrent,
            &mut out,
            8,
            &format!(" (anthill torrent show {NAME}.torrent lists them all)"),
        )?;

        writeln!(
            out,
            "== 4. anthill torrent verify {NAME}.torrent --path {}",
            crate::shown::path(&dir)
        )?;
        let t = Instant::now();
        let report = verify::run_verify(&torrent, &dir, 0)?;
        verify::print_report(&torrent, &report, &dir, t.elapsed().as_secs_f64(), &mut out)?;
        anyhow::ensure!(report.is_ok(), "the freshly created data did not verify");

        let victim = root.join("data/blob.bin");
        flip_byte(&victim, 1_500_000)?;
        writeln!(
            out,
            "== 5. flipped one byte of {NAME}/data/blob.bin; verifying again"
        )?;
        let t = Instant::now();
        let report = verify::run_verify(&torrent, &dir, 0)?;
        verify::print_report(&torrent, &report, &dir, t.elapsed().as_secs_f64(), &mut out)?;
        let caught = report.bad_pieces.len() == 1
            && report
                .problems()
                .map(|f| (f.path.as_str(), &f.status))
                .eq([(
                    format!("{NAME}/data/blob.bin").as_str(),
                    &FileStatus::Corrupt,
                )]);
        anyhow::ensure!(caught, "the flipped byte was not reported as one bad piece");
        flip_byte(&victim, 1_500_000)?;

        writeln!(out, "== 6. magnet link")?;
        writeln!(out, "{}", Magnet::from_metainfo(&torrent))?;
        writeln!(
            out,
            "demo ok: {} in {} files, infohash {}, {} pieces; corruption caught; {:.2} s",
            Bytes(bytes),
            files,
            torrent.infohash(),
            torrent.info().num_pieces(),
            started.elapsed().as_secs_f64()
        )?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Removes what an earlier demo left in `dir`; refuses to touch
/// `sample-release` or its torrent if no demo made them (no marker).
fn clear_earlier_demo(dir: &Path, root: &Path, torrent: &Path) -> anyhow::Result<()> {
    let exists = |p: &Path| p.symlink_metadata().is_ok();
    if !exists(root) && !exists(torrent) {
        return Ok(());
    }
    if !dir.join(MARKER).is_file() {
        let found = [root, torrent]
            .into_iter()
            .filter(|p| exists(p))
            .map(crate::shown::path)
            .collect::<Vec<_>>()
            .join(" and ");
        anyhow::bail!(
            "refusing to replace {found}: not made by anthill demo (remove it, or pick another --dir)"
        );
    }
    if root.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(root)
            .with_context(|| format!("cannot clear {}", crate::shown::path(root)))?;
    } else if exists(root) {
        std::fs::remove_file(root)
            .with_context(|| format!("cannot clear {}", crate::shown::path(root)))?;
    }
    if exists(torrent) {
        std::fs::remove_file(torrent)
            .with_context(|| format!("cannot clear {}", crate::shown::path(torrent)))?;
    }
    Ok(())
}

/// Writes the sample release: nested directories, an executable, an empty
/// file, a file of exactly 1 MiB and many tiny files. Contents are
/// deterministic, so the infohash is the same on every run.
fn sample_tree(root: &Path) -> anyhow::Result<(usize, u64)> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "README.txt".into(),
            b"anthill demo release\nships to a fleet over BitTorrent\n".to_vec(),
        ),
        ("bin/tool".into(), rng.bytes((2 << 20) + 123)),
        ("data/blob.bin".into(), rng.bytes(3 << 20)),
        ("data/exact-1MiB.bin".into(), rng.bytes(1 << 20)),
        ("data/empty.dat".into(), Vec::new()),
        (
            "docs/deep/nested/dirs/notes.md".into(),
            b"# notes\n".to_vec(),
        ),
    ];
    for i in 0..300 {
        let len = 1 + usize::try_from(rng.next() % 200).unwrap_or(0);
        files.push((format!("assets/small/{i:04}.txt"), rng.bytes(len)));
    }
    let mut total = 0u64;
    for (path, data) in &files {
        let p = root.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&p, data).with_context(|| format!("cannot write {}", p.display()))?;
        total += data.len() as u64;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let tool = root.join("bin/tool");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot chmod {}", tool.display()))?;
    }
    Ok((files.len(), total))
}

fn flip_byte(path: &Path, at: usize) -> anyhow::Result<()> {
    let mut data =
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let b = data
        .get_mut(at)
        .with_context(|| format!("{} is too short", path.display()))?;
    *b ^= 0x01;
    std::fs::write(path, data).with_context(|| format!("cannot write {}", path.display()))
}

/// Deterministic filler bytes (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}
