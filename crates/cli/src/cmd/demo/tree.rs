//! The demo's generated releases: a tree of mixed file sizes (a big data
//! file, an executable, empty files, many small ones) and a small change
//! of it, deterministic so that two runs publish the same bytes.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Fills `buf` with the xorshift stream of `seed`.
fn fill(buf: &mut [u8], seed: u64) {
    let mut x = seed | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

fn write_file(path: &Path, len: u64, seed: u64) -> anyhow::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    let mut f = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    let mut s = seed;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        fill(&mut buf[..n], s);
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        f.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", path.display()))?;
        left -= n as u64;
    }
    f.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// What a generated tree holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeStats {
    pub(crate) files: usize,
    pub(crate) bytes: u64,
}

/// The big file every release has; the delta changes one MiB of it.
pub(crate) const BIG: &str = "data/assets.pak";

/// Writes release 1 of about `size` bytes at `root`.
pub(crate) fn generate(root: &Path, size: u64) -> anyhow::Result<TreeStats> {
    let files = (size / (128 << 10)).clamp(8, 2000) as usize;
    let big = size / 4;
    let app = (size / 32).max(1);
    let rest = size.saturating_sub(big + app);
    // Small, medium and large files in a 70/25/5 mix, scaled to `rest`.
    let others = files - 4;
    let mut r = 0x5eed_u64;
    let weights: Vec<u64> = (0..others)
        .map(|_| {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let class = r % 100;
            let base = if class < 70 {
                1
            } else if class < 95 {
                8
            } else {
                64
            };
            base * 1000 + (r >> 32) % (base * 500)
        })
        .collect();
    let total_w: u64 = weights.iter().sum();
    let mut bytes = 0;
    write_file(&root.join(BIG), big, 1)?;
    bytes += big;
    let bin = root.join("bin/app");
    write_file(&bin, app, 2)?;
    bytes += app;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", bin.display()))?;
    }
    for p in ["var/empty.log", "etc/app.d/.keep"] {
        write_file(&root.join(p), 0, 0)?;
    }
    for (i, w) in weights.iter().enumerate() {
        let len = (u128::from(rest) * u128::from(*w) / u128::from(total_w)) as u64;
        write_file(&root.join(small_path(i)), len, 100 + i as u64)?;
        bytes += len;
    }
    Ok(TreeStats { files, bytes })
}

fn small_path(i: usize) -> String {
    format!("share/mod{:02}/part{:03}/file{i:04}.dat", i % 20, i % 97)
}

/// Writes a release that is one file of `size` bytes at `path`.
pub(crate) fn generate_file(path: &Path, size: u64) -> anyhow::Result<TreeStats> {
    write_file(path, size, 3)?;
    Ok(TreeStats {
        files: 1,
        bytes: size,
    })
}

/// What [`change`] changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change {
    /// Files rewritten whole.
    pub(crate) files: usize,
    /// Bytes that differ from release 1 (rewritten files plus the MiB).
    pub(crate) bytes: u64,
}

/// Makes release 2 at `to` from release 1 at `from`: 1 % of the small
/// files (at least one, at most 20) rewritten and one MiB of [`BIG`]
/// overwritten in place.
pub(crate) fn change(from: &Path, to: &Path, stats: TreeStats) -> anyhow::Result<Change> {
    if stats.files == 1 {
        std::fs::copy(from, to).with_context(|| format!("cannot copy {}", from.display()))?;
        let bytes = overwrite_mib(to)?;
        return Ok(Change { files: 0, bytes });
    }
    copy_tree(from, to)?;
    let others = stats.files - 4;
    let n = (others / 100).clamp(1, 20);
    let mut bytes = 0;
    for k in 0..n {
        let i = k * others / n;
        let p = to.join(small_path(i));
        let len = std::fs::metadata(&p)
            .with_context(|| format!("cannot read {}", p.display()))?
            .len();
        write_file(&p, len, 9000 + i as u64)?;
        bytes += len;
    }
    bytes += overwrite_mib(&to.join(BIG))?;
    Ok(Change { files: n, bytes })
}

/// Overwrites one MiB a third into `big`; returns the bytes changed.
fn overwrite_mib(big: &Path) -> anyhow::Result<u64> {
    let len = std::fs::metadata(big)
        .with_context(|| format!("cannot read {}", big.display()))?
        .len();
    let region = (1u64 << 20).min(len);
    if region > 0 {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(big)
            .with_context(|| format!("cannot open {}", big.display()))?;
        f.seek(SeekFrom::Start(len / 3))
            .with_context(|| format!("cannot seek {}", big.display()))?;
        let mut buf = vec![0u8; region as usize];
        fill(&mut buf, 77);
        f.write_all(&buf)
            .with_context(|| format!("cannot write {}", big.display()))?;
    }
    Ok(region)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let e = e.with_context(|| format!("cannot list {}", from.display()))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_have_the_asked_size_mix_and_a_bounded_change() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        let s = generate(&a, 4 << 20).unwrap();
        assert_eq!(s.files, 32);
        assert!(
            s.bytes > (4 << 20) - 4096 && s.bytes <= 4 << 20,
            "{}",
            s.bytes
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(a.join("bin/app")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(std::fs::metadata(a.join("var/empty.log")).unwrap().len(), 0);
        let b = tmp.path().join("b");
        let c = change(&a, &b, s).unwrap();
        assert_eq!(c.files, 1);
        assert!(c.bytes >= 1 << 20 && c.bytes < 2 << 20, "{}", c.bytes);
        assert_ne!(
            std::fs::read(a.join(BIG)).unwrap(),
            std::fs::read(b.join(BIG)).unwrap()
        );
        assert_eq!(
            std::fs::read(a.join("bin/app")).unwrap(),
            std::fs::read(b.join("bin/app")).unwrap()
        );
        // Deterministic.
        let s2 = generate(&tmp.path().join("a2"), 4 << 20).unwrap();
        assert_eq!(s2.bytes, s.bytes);
        assert_eq!(
            std::fs::read(a.join(BIG)).unwrap(),
            std::fs::read(tmp.path().join("a2").join(BIG)).unwrap()
        );
    }
}
