use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use metainfo::{Info, Infohash};
use sha1::{Digest, Sha1};

use crate::resume_error::{CorruptKind, ResumeError};
use crate::{FileFingerprint, PieceSet, Storage};

/// What a torrent's data looked like the last time it was saved: which
/// pieces were verified, and the fingerprint of every file at that moment.
///
/// Saved by [`crate::ResumeWriter`], consumed by [`crate::check_resume`].
/// The on-disk format is little-endian binary:
///
/// ```text
/// magic "ANTHRSM\0" | version u32 = 1 | infohash [20] | piece_length u64
/// | num_pieces u64 | num_files u64 | bitfield [ceil(num_pieces / 8)]
/// | num_files × (length u64, mtime_ns i64, ctime_ns i64, inode u64)
/// | SHA-1 of everything before [20]
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeState {
    /// The torrent.
    pub infohash: Infohash,
    /// Its piece length.
    pub piece_length: u64,
    /// Pieces that were verified and durably on disk when the state was
    /// saved; its length is the torrent's piece count.
    pub verified: PieceSet,
    /// One fingerprint per [`Info::files`] entry, pad files included.
    pub files: Vec<FileFingerprint>,
}

const MAGIC: [u8; 8] = *b"ANTHRSM\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 20 + 8 + 8 + 8;
const FILE_RECORD_LEN: usize = 32;
const CHECKSUM_LEN: usize = 20;
/// Largest state file accepted: far above the ~100 MiB needed by the
/// biggest torrent a 64 MiB `.torrent` can describe.
pub const MAX_STATE_FILE_SIZE: u64 = 256 << 20;

impl ResumeState {
    /// Captures the current fingerprint of every file of `storage`.
    pub fn capture(
        infohash: Infohash,
        storage: &(impl Storage + ?Sized),
        verified: PieceSet,
    ) -> Self {
        let info = storage.info();
        Self {
            infohash,
            piece_length: info.piece_length(),
            verified,
            files: (0..info.files().len())
                .map(|i| storage.fingerprint(i))
                .collect(),
        }
    }

    /// True if this state describes `info`'s layout (piece length, piece
    /// count and file count); the infohash is checked by [`ResumeState::load`].
    pub fn layout_matches(&self, info: &Info) -> bool {
        self.mismatch(info).is_none()
    }

    fn mismatch(&self, info: &Info) -> Option<&'static str> {
        if self.piece_length != info.piece_length() {
            Some("piece length")
        } else if self.verified.len() != info.num_pieces() {
            Some("piece count")
        } else if self.files.len() != info.files().len() {
            Some("file count")
        } else {
            None
        }
    }

    /// The encoded file contents.
    pub fn encode(&self) -> Vec<u8> {
        let bits = self.verified.as_bytes();
        let mut out = Vec::with_capacity(
            HEADER_LEN + bits.len() + self.files.len() * FILE_RECORD_LEN + CHECKSUM_LEN,
        );
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(self.infohash.as_bytes());
        out.extend_from_slice(&self.piece_length.to_le_bytes());
        out.extend_from_slice(&to_u64(self.verified.len()).to_le_bytes());
        out.extend_from_slice(&to_u64(self.files.len()).to_le_bytes());
        out.extend_from_slice(bits);
        for f in &self.files {
            out.extend_from_slice(&f.length.to_le_bytes());
            out.extend_from_slice(&f.mtime_ns.to_le_bytes());
            out.extend_from_slice(&f.ctime_ns.to_le_bytes());
            out.extend_from_slice(&f.inode.to_le_bytes());
        }
        let sum = Sha1::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Decodes file contents; never panics, allocates at most about the input size.
    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptKind> {
        if to_u64(bytes.len()) > MAX_STATE_FILE_SIZE {
            return Err(CorruptKind::TooLarge(to_u64(bytes.len())));
        }
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(CorruptKind::Truncated);
        }
        let mut r = Reader(bytes);
        if r.take::<8>() != Some(MAGIC) {
            return Err(CorruptKind::BadMagic);
        }
        let version = r.u32();
        if version != VERSION {
            return Err(CorruptKind::UnsupportedVersion(version));
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if Sha1::digest(body).as_slice() != sum {
            return Err(CorruptKind::BadChecksum);
        }
        let infohash = Infohash(r.take::<20>().unwrap_or_default());
        let piece_length = r.u64();
        let num_pieces = r.u64();
        let num_files = r.u64();
        let bits_len = num_pieces.div_ceil(8);
        let expected = num_files
            .checked_mul(to_u64(FILE_RECORD_LEN))
            .and_then(|f| f.checked_add(bits_len))
            .and_then(|v| v.checked_add(to_u64(HEADER_LEN + CHECKSUM_LEN)))
            .unwrap_or(u64::MAX);
        if expected != to_u64(bytes.len()) {
            return Err(CorruptKind::BadLength {
                expected,
                actual: to_u64(bytes.len()),
            });
        }
        // Both counts are now bounded by the input length.
        let num_pieces = usize::try_from(num_pieces).map_err(|_| CorruptKind::Truncated)?;
        let bits_len = usize::try_from(bits_len).map_err(|_| CorruptKind::Truncated)?;
        let bits = r.slice(bits_len).ok_or(CorruptKind::Truncated)?;
        let verified = PieceSet::from_bytes(bits, num_pieces).map_err(CorruptKind::BadBitfield)?;
        let files = (0..num_files)
            .map(|_| FileFingerprint {
                length: r.u64(),
                mtime_ns: r.i64(),
                ctime_ns: r.i64(),
                inode: r.u64(),
            })
            .collect();
        Ok(Self {
            infohash,
            piece_length,
            verified,
            files,
        })
    }

    /// Writes the state to `path` atomically: a temporary file beside it is
    /// written and `fsync`ed, renamed over `path`, then the directory is
    /// `fsync`ed. A crash at any point leaves either the old or the new state.
    pub fn save(&self, path: &Path) -> Result<(), ResumeError> {
        crate::atomic_file::write_atomic(path, &self.encode()).map_err(|e| io_err("write", path, e))
    }

    /// Reads and decodes `path`, with a typed error for every failure.
    pub fn read(path: &Path) -> Result<Self, ResumeError> {
        let file = File::open(path).map_err(|e| io_err("open", path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_STATE_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_err("read", path, e))?;
        Self::decode(&bytes).map_err(|kind| ResumeError::Corrupt {
            path: path.to_path_buf(),
            kind,
        })
    }

    /// Reads `path` and checks it belongs to `infohash` with `info`'s layout.
    pub fn read_for(path: &Path, infohash: Infohash, info: &Info) -> Result<Self, ResumeError> {
        let state = Self::read(path)?;
        let what = if state.infohash != infohash {
            Some("infohash")
        } else {
            state.mismatch(info)
        };
        match what {
            Some(what) => Err(ResumeError::Mismatch {
                path: path.to_path_buf(),
                what,
            }),
            None => Ok(state),
        }
    }

    /// Like [`ResumeState::read_for`], but any problem is logged and treated
    /// as "no state" (a full recheck follows): a damaged state file must
    /// never stop a torrent from starting.
    pub fn load(path: &Path, infohash: Infohash, info: &Info) -> Option<Self> {
        match Self::read_for(path, infohash, info) {
            Ok(s) => Some(s),
            Err(ResumeError::Io { ref source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(path = %path.display(), "no resume state");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "ignoring resume state; all pieces will be rechecked");
                None
            }
        }
    }
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> ResumeError {
    ResumeError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn to_u64(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// A cursor over bytes whose total length was checked up front; reads past
/// the end yield zeros rather than panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn slice(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take().unwrap_or_default())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take().unwrap_or_default())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take().unwrap_or_default())
    }
}
