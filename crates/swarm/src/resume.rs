//! Resume state: which pieces are verified on disk, saved atomically.
//!
//! The file is `DIR/.anthill/<infohash>.resume`, a bencoded dictionary with
//! the verified-piece bitfield and a fingerprint (length, mtime) of every data
//! file taken when it was saved. On start, pieces that lie only in files whose
//! fingerprint is unchanged are trusted without hashing; pieces touching a
//! changed file are rehashed. That keeps a restart after `kill -9` cheap
//! (unchanged complete files are not reread) and safe: the engine sets a bit
//! only after the piece was written, so a bit never claims data that is not
//! there, and a file modified behind our back is rechecked.
//!
//! Writes go to a temporary file that is synced and renamed over the old one,
//! so a crash leaves either the old or the new state, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use metainfo::{Info, Infohash};

use crate::disk::{FileStore, check_pieces};

/// Fingerprint of a data file: (length, mtime in ns); `None` if absent.
pub(crate) type Fingerprint = Option<(u64, u64)>;

/// Where the resume state of `infohash` lives for data under `dir`.
pub fn resume_path(dir: &Path, infohash: &Infohash) -> PathBuf {
    dir.join(".anthill")
        .join(format!("{}.resume", infohash.to_hex()))
}

pub(crate) fn fingerprint(path: &Path) -> Fingerprint {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Some((m.len(), mtime))
}

/// Saved state: the piece bitfield (BEP 3 layout) and per-file fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResumeState {
    pub(crate) pieces: Vec<bool>,
    pub(crate) files: Vec<Fingerprint>,
}

impl ResumeState {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bits = vec![0u8; self.pieces.len().div_ceil(8)];
        for (i, h) in self.pieces.iter().enumerate() {
            if *h {
                bits[i / 8] |= 0x80 >> (i % 8);
            }
        }
        let mut e = bencode::Encoder::new();
        e.dict(|d| {
            d.key("files").list(|l| {
                for f in &self.files {
                    let (len, mtime) = f.unwrap_or((u64::MAX, 0));
                    l.list(|x| {
                        x.int(i64::try_from(len).unwrap_or(-1));
                        x.int(i64::try_from(mtime).unwrap_or(-1));
                    });
                }
            });
            d.key("num pieces")
                .int(i64::try_from(self.pieces.len()).unwrap_or(-1));
            d.key("pieces").bytes(&bits);
            d.key("version").int(1);
        });
        e.finish()
    }

    pub(crate) fn decode(bytes: &[u8], num_pieces: usize, num_files: usize) -> Option<Self> {
        let v = bencode::decode(bytes).ok()?;
        let d = v.dict()?;
        if d.get(b"version")?.int()? != 1 {
            return None;
        }
        if usize::try_from(d.get(b"num pieces")?.int()?).ok()? != num_pieces {
            return None;
        }
        let bits = d.get(b"pieces")?.bytes()?;
        if bits.len() != num_pieces.div_ceil(8) {
            return None;
        }
        let pieces = (0..num_pieces)
            .map(|i| bits[i / 8] & (0x80 >> (i % 8)) != 0)
            .collect();
        let list = d.get(b"files")?.list()?;
        if list.len() != num_files {
            return None;
        }
        let mut files = Vec::with_capacity(num_files);
        for f in list {
            let pair = f.list()?;
            let (len, mtime) = (pair.first()?.int()?, pair.get(1)?.int()?);
            files.push(match (u64::try_from(len), u64::try_from(mtime)) {
                (Ok(l), Ok(m)) => Some((l, m)),
                _ => None,
            });
        }
        Some(Self { pieces, files })
    }
}

/// Saves `pieces` for the data in `store` atomically to `path`.
pub(crate) fn save(path: &Path, store: &FileStore, pieces: Vec<bool>) -> std::io::Result<()> {
    // Fingerprints are taken after the bitfield snapshot: a piece written in
    // between only makes its file look changed (rehash), never the reverse.
    let files = (0..store.info().files().len())
        .map(|i| fingerprint(store.path(i)))
        .collect();
    let state = ResumeState { pieces, files };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("resume.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&state.encode())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Works out which pieces are verified on disk: trusts the resume state for
/// pieces in unchanged files and hashes the rest (only where data may exist).
pub(crate) fn initial_have(
    store: &FileStore,
    resume: Option<ResumeState>,
    threads: usize,
) -> Vec<bool> {
    let info: &Info = store.info();
    let n = info.num_pieces();
    let current: Vec<Fingerprint> = (0..info.files().len())
        .map(|i| {
            if info.files()[i].is_pad() {
                None
            } else {
                fingerprint(store.path(i))
            }
        })
        .collect();
    let mut have = vec![false; n];
    let mut trusted = vec![false; n];
    if let Some(r) = resume {
        for p in 0..n {
            let unchanged = info
                .piece_spans(p)
                .filter(|s| !info.files()[s.file].is_pad())
                .all(|s| current[s.file].is_some() && current[s.file] == r.files[s.file]);
            if unchanged {
                trusted[p] = true;
                have[p] = r.pieces[p];
            }
        }
    }
    let checked = check_pieces(store, &|p| !trusted[p as usize], threads);
    for p in 0..n {
        if !trusted[p] {
            have[p] = checked[p];
        }
    }
    have
}

/// Reads and parses the resume file, if any and if it matches the torrent.
pub(crate) fn load(path: &Path, info: &Info) -> Option<ResumeState> {
    let bytes = std::fs::read(path).ok()?;
    ResumeState::decode(&bytes, info.num_pieces(), info.files().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let s = ResumeState {
            pieces: vec![true, false, true, true, false, false, false, false, true],
            files: vec![Some((10, 20)), None],
        };
        let b = s.encode();
        assert_eq!(ResumeState::decode(&b, 9, 2), Some(s));
        assert_eq!(ResumeState::decode(&b, 8, 2), None);
        assert_eq!(ResumeState::decode(&b, 9, 3), None);
        assert_eq!(ResumeState::decode(b"garbage", 9, 2), None);
    }
}
