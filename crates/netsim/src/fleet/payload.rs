//! The distributed file: pseudo-random bytes, and SHA-256 of copies.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

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
}
