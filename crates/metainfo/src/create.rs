//! Creating a torrent from a file or a directory.
//!
//! Two steps, so a caller can size a progress bar before the long one:
//! [`TorrentPlan::new`] lists the files ([`crate::walk`] rules: deterministic
//! order, errors instead of silent skips) and lays them out; then
//! [`TorrentPlan::hash`] hashes every piece in parallel and returns the
//! finished, validated [`Info`].
//!
//! Multi-file torrents are aligned by default: a BEP 47 pad file (zeros,
//! never stored) goes before every non-empty file that would otherwise start
//! inside a piece, so each file starts on a piece boundary and its pieces
//! depend on nothing but its own bytes. The next release's torrent then shares
//! the piece hashes of every unchanged file, and an agent can reuse them. No
//! pad ever follows the last file, and empty files get none (they have no
//! pieces). The piece length is chosen from the data size, not the padded
//! size, so a tree of many small files gets more pieces than the usual
//! 1 000–2 000: at most one per file plus the data's own.

use std::path::{Path, PathBuf};

use crate::disk_source::DiskSource;
use crate::hasher::{HashOptions, HashProgress, hash_pieces, piece_count};
use crate::info::check_component;
use crate::walk::{SourceFile, Tree, check_name, unchanged, walk};
use crate::{CreateError, FileAttr, FileEntry, Info, PieceLength};

/// How to create a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// Piece length; `None` picks one with [`PieceLength::auto`].
    pub piece_length: Option<PieceLength>,
    /// Insert BEP 47 pad files so every file starts on a piece boundary
    /// (multi-file torrents only). On by default.
    pub align: bool,
    /// Set the BEP 27 private flag.
    pub private: bool,
    /// The `source` key (part of the infohash; separates otherwise identical swarms).
    pub source: Option<String>,
    /// Torrent name; defaults to the last component of the path.
    pub name: Option<String>,
    /// With `align`, files smaller than this many thousandths of the piece
    /// length are packed after the previous file instead of aligned (0:
    /// align every file, the default). A tree of many tiny files then
    /// needs little padding, while every file big enough to matter still
    /// keeps its own pieces. When the piece length is chosen automatically
    /// it is also halved (down to 16 KiB) while padding would add more than
    /// a quarter to the data.
    pub pack_below_per_mille: u32,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self {
            piece_length: None,
            align: true,
            private: false,
            source: None,
            name: None,
            pack_below_per_mille: 0,
        }
    }
}

/// A torrent laid out but not hashed yet.
#[derive(Debug, Clone)]
pub struct TorrentPlan {
    /// The layout; its piece list is empty until [`TorrentPlan::hash`].
    info: Info,
    /// Where each entry of `info.files()` is read from (`None` for pads).
    source: DiskSource,
    /// The files as listed, to check they did not change while hashed.
    listed: Vec<SourceFile>,
    /// Bytes of real data (pad files excluded).
    data_length: u64,
}

impl TorrentPlan {
    /// Lists `root` and lays out its files.
    pub fn new(root: &Path, options: &CreateOptions) -> Result<Self, CreateError> {
        let name = match &options.name {
            Some(n) => {
                // A name given explicitly is the one to complain about, not the path.
                check_component(n, n).map_err(|e| CreateError::BadTorrentName {
                    name: n.chars().take(300).collect(),
                    reason: match e {
                        crate::MetainfoError::UnsafePath { reason, .. } => reason,
                        _ => "not allowed in a torrent",
                    },
                })?;
                n.clone()
            }
            None => {
                let n = default_name(root)?;
                check_name(&n, root)?;
                n
            }
        };
        let tree = walk(root)?;
        let listed = match &tree {
            Tree::File(f) => vec![f.clone()],
            Tree::Dir(files) => files.clone(),
        };
        let data_length: u64 = listed.iter().map(|f| f.length).sum();
        if data_length == 0 {
            return Err(CreateError::Empty {
                path: root.to_path_buf(),
            });
        }
        let piece_length = match (options.piece_length, &tree) {
            (Some(l), _) => l.get(),
            (None, Tree::Dir(files)) if options.align && options.pack_below_per_mille > 0 => {
                packed_piece_length(files, data_length, options.pack_below_per_mille)
            }
            (None, _) => PieceLength::auto(data_length).get(),
        };
        let (info, paths) = match tree {
            Tree::File(f) => {
                let mut info = Info::single(&name, piece_length, Vec::new(), f.length);
                if f.executable {
                    info = info.with_single_attr(FileAttr {
                        executable: true,
                        ..FileAttr::default()
                    });
                }
                (info, vec![Some(f.disk)])
            }
            Tree::Dir(files) => {
                if options.align {
                    if let Some(f) = files
                        .iter()
                        .find(|f| f.path.first().is_some_and(|c| c == ".pad"))
                    {
                        return Err(CreateError::ReservedName {
                            path: f.disk.clone(),
                        });
                    }
                }
                let pack_below = pack_threshold(piece_length, options.pack_below_per_mille);
                let (entries, paths) = layout(files, piece_length, options.align, pack_below);
                (Info::multi(&name, piece_length, Vec::new(), entries), paths)
            }
        };
        let info = info
            .with_private(options.private)
            .with_source(options.source.clone());
        Ok(Self {
            info,
            source: DiskSource::new(paths, true),
            listed,
            data_length,
        })
    }

    /// The layout: name, piece length, files with pad files; no piece hashes yet.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// Bytes of real data (without pad files).
    pub fn data_length(&self) -> u64 {
        self.data_length
    }

    /// Number of real files (without pad files).
    pub fn file_count(&self) -> usize {
        self.listed.len()
    }

    /// Number of pieces the torrent will have.
    pub fn piece_count(&self) -> usize {
        piece_count(&self.info)
    }

    /// Bytes the hasher will process, pad bytes included (for progress bars).
    pub fn total_length(&self) -> u64 {
        self.info.total_length()
    }

    /// Hashes every piece and returns the finished, validated info.
    pub fn hash(
        &self,
        options: &HashOptions,
        progress: &dyn HashProgress,
    ) -> Result<Info, CreateError> {
        let hashes = hash_pieces(
            &self.info,
            0..self.piece_count(),
            &self.source,
            options,
            progress,
        )?;
        for f in &self.listed {
            unchanged(f)?;
        }
        let pieces = hashes
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or(CreateError::Bug("a piece was not hashed"))?;
        let info = self.info.clone().with_pieces(pieces);
        info.validate()?;
        Ok(info)
    }
}

/// Lists, lays out and hashes `root` in one call, with default hashing options.
pub fn create(root: &Path, options: &CreateOptions) -> Result<Info, CreateError> {
    TorrentPlan::new(root, options)?.hash(&HashOptions::default(), &())
}

/// The torrent name for `root`: its last component (`.` and `..` resolved).
fn default_name(root: &Path) -> Result<String, CreateError> {
    let no_name = || CreateError::NoName {
        path: root.to_path_buf(),
    };
    let resolved;
    let last = match root.file_name() {
        Some(n) => n,
        None => {
            resolved = std::fs::canonicalize(root).map_err(|e| crate::walk::io(root, e))?;
            resolved.file_name().ok_or_else(no_name)?
        }
    };
    last.to_str()
        .map(str::to_string)
        .ok_or_else(|| CreateError::NonUtf8Name {
            path: root.to_path_buf(),
        })
}

/// Files shorter than this are packed rather than aligned.
fn pack_threshold(piece_length: u64, per_mille: u32) -> u64 {
    piece_length.saturating_mul(u64::from(per_mille)) / 1000
}

/// Padding bytes the aligned layout of `files` adds.
fn padding(files: &[SourceFile], piece_length: u64, pack_below: u64) -> u64 {
    let (mut offset, mut pad) = (0u64, 0u64);
    for f in files {
        let misaligned = offset % piece_length;
        if f.length > 0 && f.length >= pack_below && misaligned != 0 {
            pad += piece_length - misaligned;
            offset += piece_length - misaligned;
        }
        offset += f.length;
    }
    pad
}

/// The automatic piece length, halved (not below 16 KiB) while padding
/// would add more than a quarter to the data.
fn packed_piece_length(files: &[SourceFile], data_length: u64, per_mille: u32) -> u64 {
    let mut pl = PieceLength::auto(data_length).get();
    while pl > crate::MIN_PIECE_LENGTH
        && padding(files, pl, pack_threshold(pl, per_mille)) > data_length / 4
    {
        pl /= 2;
    }
    pl
}

/// Turns sorted files into torrent entries, inserting pad files when `align`
/// before each file of at least `pack_below` bytes that would start inside
/// a piece. Returns the entries and, for each, the disk path to read (`None`
/// for pads).
fn layout(
    files: Vec<SourceFile>,
    piece_length: u64,
    align: bool,
    pack_below: u64,
) -> (Vec<FileEntry>, Vec<Option<PathBuf>>) {
    let mut entries = Vec::with_capacity(files.len());
    let mut paths = Vec::with_capacity(files.len());
    let mut offset = 0u64;
    for f in files {
        let misaligned = offset % piece_length;
        if align && f.length > 0 && f.length >= pack_below && misaligned != 0 {
            let pad = piece_length - misaligned;
            entries.push(FileEntry::pad(pad));
            paths.push(None);
            offset += pad;
        }
        let mut entry = FileEntry::new(f.path, f.length);
        entry.attr.executable = f.executable;
        entries.push(entry);
        paths.push(Some(f.disk));
        offset += f.length;
    }
    (entries, paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(path: &str, length: u64) -> SourceFile {
        SourceFile {
            path: path.split('/').map(str::to_string).collect(),
            disk: PathBuf::from(path),
            length,
            modified: None,
            executable: false,
        }
    }

    fn shape(entries: &[FileEntry]) -> Vec<(String, u64, bool)> {
        entries
            .iter()
            .map(|e| (e.display_path(), e.length, e.is_pad()))
            .collect()
    }

    #[test]
    fn aligned_layout_pads_before_misaligned_files_only() {
        let files = vec![
            src("a", 10),
            src("b", 0),
            src("c", 16384),
            src("d", 1),
            src("e", 0),
        ];
        let (entries, paths) = layout(files, 16384, true, 0);
        assert_eq!(
            shape(&entries),
            vec![
                ("a".into(), 10, false),
                ("b".into(), 0, false),
                (".pad/16374".into(), 16374, true),
                ("c".into(), 16384, false),
                ("d".into(), 1, false),
                ("e".into(), 0, false),
            ]
        );
        assert_eq!(paths[2], None);
        let info = Info::multi("r", 16384, Vec::new(), entries);
        for f in info.files().iter().filter(|f| f.length > 0 && !f.is_pad()) {
            assert_eq!(f.offset % 16384, 0, "{}", f.display_path());
        }
        // no pad at the end: the last data file ends the byte space
        assert_eq!(info.total_length(), 2 * 16384 + 1);
    }

    #[test]
    fn small_files_are_packed_below_the_threshold() {
        let files = vec![src("a", 10), src("b", 100), src("c", 5000), src("d", 3)];
        let (entries, _) = layout(files, 16384, true, 4096);
        assert_eq!(
            shape(&entries),
            vec![
                ("a".into(), 10, false),
                ("b".into(), 100, false),
                (".pad/16274".into(), 16274, true),
                ("c".into(), 5000, false),
                ("d".into(), 3, false),
            ]
        );
    }

    #[test]
    fn packing_halves_the_piece_length_while_padding_is_large() {
        // 200 files of 40 KiB: auto picks 16 KiB for 8 MB... so use bigger
        // files whose padding at the automatic length exceeds a quarter.
        let files: Vec<_> = (0..100)
            .map(|i| src(&format!("f{i:03}"), 300_000))
            .collect();
        let data = 100 * 300_000;
        let auto = PieceLength::auto(data).get();
        let chosen = packed_piece_length(&files, data, 250);
        assert!(padding(&files, chosen, pack_threshold(chosen, 250)) <= data / 4);
        assert!(chosen <= auto);
        assert!(chosen >= crate::MIN_PIECE_LENGTH);
    }

    #[test]
    fn exact_multiples_need_no_pad() {
        let (entries, _) = layout(vec![src("a", 32768), src("b", 16384)], 16384, true, 0);
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn unaligned_layout_has_no_pads() {
        let (entries, _) = layout(vec![src("a", 10), src("b", 20)], 16384, false, 0);
        assert!(entries.iter().all(|e| !e.is_pad()));
    }
}
