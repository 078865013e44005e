//! The distributed file: pseudo-random bytes, and SHA-256 of copies.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::FleetError;

const CHUNK: usize = 1 << 20;

/// Writes `size` pseudo-random bytes (xorshift64*, seeded) to `path`; returns their SHA-256.
pub(crate) fn write_random(path: &Path, size: u64, seed: u64) -> Result<[u8; 32], FleetError> {
    let file = File::create(path).map_err(|e| FleetError::io(path, e))?;
    let mut w = BufWriter::with_capacity(CHUNK, file);
    let mut hasher = Sha256::new();
    // xorshift64* must not start at zero.
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    if state == 0 {
        state = 1;
    }
    let mut buf = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        for word in buf[..n].chunks_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let x = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            word.copy_from_slice(&x[..word.len()]);
        }
        hasher.update(&buf[..n]);
        w.write_all(&buf[..n])
            .map_err(|e| FleetError::io(path, e))?;
        left -= n as u64;
    }
    w.flush().map_err(|e| FleetError::io(path, e))?;
    Ok(hasher.finalize().into())
}

/// One file of a generated tree: its path below the root, length, SHA-256.
pub(crate) type TreeFile = (PathBuf, u64, [u8; 32]);

/// Writes a release-like tree of `files` files totalling about `size`
/// bytes below `root`: log-normal sizes (median 35 KiB, 90th percentile
/// 230 KiB, as measured on real release trees), scaled so they add up to
/// `size`, in nested directories. Returns every file, in order.
pub(crate) fn write_tree(
    root: &Path,
    size: u64,
    files: u32,
    seed: u64,
) -> Result<Vec<TreeFile>, FleetError> {
    let files = files.max(1);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    // Box-Muller; sigma from the 90th percentile: ln(230/35) / 1.2816.
    let sigma = (230.0f64 / 35.0).ln() / 1.2816;
    let raw: Vec<f64> = (0..files)
        .map(|_| {
            let (u1, u2) = (uniform().max(1e-12), uniform());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            35.0 * 1024.0 * (sigma * z).exp()
        })
        .collect();
    let scale = size as f64 / raw.iter().sum::<f64>();
    let mut lens: Vec<u64> = raw.iter().map(|r| (r * scale).max(1.0) as u64).collect();
    // The rounding goes to the last file, so the total is exact.
    let sum: u64 = lens.iter().sum();
    if let Some(last) = lens.last_mut() {
        *last = (*last + size).saturating_sub(sum).max(1);
    }
    let mut out = Vec::with_capacity(lens.len());
    for (i, len) in lens.into_iter().enumerate() {
        let rel = PathBuf::from(format!("d{:02}/s{:02}/f{i:05}.dat", i % 23, i % 7));
        let path = root.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| FleetError::io(dir, e))?;
        }
        let digest = write_random(&path, len, seed.wrapping_add(i as u64 + 1))?;
        out.push((rel, len, digest));
    }
    Ok(out)
}

/// The length and SHA-256 of the file at `path`.
pub(crate) fn sha256_file(path: &Path) -> Result<(u64, [u8; 32]), FleetError> {
    let mut f = File::open(path).map_err(|e| FleetError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| FleetError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_hash_matches_reread_hash_and_seeds_differ() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let ha = write_random(&a, 3 * CHUNK as u64 + 5, 7).unwrap();
        let hb = write_random(&b, 3 * CHUNK as u64 + 5, 8).unwrap();
        assert_ne!(ha, hb);
        assert_eq!(sha256_file(&a).unwrap(), (3 * CHUNK as u64 + 5, ha));
        let empty = dir.path().join("e");
        let he = write_random(&empty, 0, 7).unwrap();
        assert_eq!(
            hex::encode(he),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_tree_adds_up_to_its_size_with_mixed_file_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_tree(dir.path(), 20 << 20, 200, 3).unwrap();
        assert_eq!(files.len(), 200);
        assert_eq!(files.iter().map(|f| f.1).sum::<u64>(), 20 << 20);
        let mut lens: Vec<u64> = files.iter().map(|f| f.1).collect();
        lens.sort_unstable();
        // Mixed: the biggest file is many times the median.
        assert!(lens[199] > 8 * lens[100], "{lens:?}");
        for (rel, len, digest) in &files {
            assert_eq!(sha256_file(&dir.path().join(rel)).unwrap(), (*len, *digest));
        }
    }
}
