use std::collections::HashSet;

use bencode::{Dict, Encoder, Value};

use crate::MetainfoError as E;

/// Smallest piece length `torrent create` chooses (one request block).
pub const MIN_PIECE_LENGTH: u64 = 16 << 10;
/// Largest piece length accepted anywhere.
pub const MAX_PIECE_LENGTH: u64 = 256 << 20;
/// Largest total size accepted (1 PiB): beyond it a torrent is absurd, not big.
pub const MAX_TOTAL_LENGTH: u64 = 1 << 50;

/// BEP 47 file attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileAttr {
    /// `p`: a pad file; its bytes are zeros and never stored on disk.
    pub pad: bool,
    /// `x`: executable.
    pub executable: bool,
    /// `h`: hidden.
    pub hidden: bool,
    /// `l`: a symlink (see [`FileEntry::symlink_target`]).
    pub symlink: bool,
}

impl FileAttr {
    fn parse(s: &[u8]) -> Self {
        Self {
            pad: s.contains(&b'p'),
            executable: s.contains(&b'x'),
            hidden: s.contains(&b'h'),
            symlink: s.contains(&b'l'),
        }
    }
    fn encode(self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.executable, 'x'),
            (self.hidden, 'h'),
            (self.symlink, 'l'),
            (self.pad, 'p'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }
    fn is_empty(self) -> bool {
        self == Self::default()
    }
}

/// One file of a torrent, placed in the torrent's byte space.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileEntry {
    /// Components below the torrent name; empty for a single-file torrent.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the first byte in the torrent's concatenated byte space.
    pub offset: u64,
    /// BEP 47 attributes.
    pub attr: FileAttr,
    /// For symlinks (`l`), the target components relative to the torrent root.
    pub symlink_target: Option<Vec<String>>,
}

impl FileEntry {
    /// A regular file (offset is assigned when the [`Info`] is built).
    pub fn new(path: Vec<String>, length: u64) -> Self {
        Self {
            path,
            length,
            offset: 0,
            attr: FileAttr::default(),
            symlink_target: None,
        }
    }
    /// A BEP 47 pad file of `length` zero bytes, named `.pad/<length>` as libtorrent does.
    pub fn pad(length: u64) -> Self {
        Self {
            path: vec![".pad".into(), length.to_string()],
            length,
            offset: 0,
            attr: FileAttr {
                pad: true,
                ..FileAttr::default()
            },
            symlink_target: None,
        }
    }
    /// True for pad files, by attribute or by the legacy BitComet naming.
    pub fn is_pad(&self) -> bool {
        self.attr.pad
            || self
                .path
                .last()
                .is_some_and(|c| c.starts_with("_____padding_file_"))
    }
    /// The path joined with `/`, for display.
    pub fn display_path(&self) -> String {
        self.path.join("/")
    }
    /// One past the last byte in the torrent's byte space.
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// A part of a piece that lies in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceSpan {
    /// Index into [`Info::files`].
    pub file: usize,
    /// Offset inside that file.
    pub file_offset: u64,
    /// Offset inside the piece.
    pub piece_offset: u64,
    /// Bytes in this span.
    pub len: u64,
}

/// The `info` dictionary: what the infohash identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    name: String,
    piece_length: u64,
    pieces: Vec<[u8; 20]>,
    files: Vec<FileEntry>,
    multi_file: bool,
    private: bool,
    source: Option<String>,
    total_length: u64,
}

impl Info {
    /// A single-file info; call [`Info::validate`] before trusting it.
    pub fn single(name: &str, piece_length: u64, pieces: Vec<[u8; 20]>, length: u64) -> Self {
        let mut f = FileEntry::new(Vec::new(), length);
        f.offset = 0;
        Self {
            name: name.to_string(),
            piece_length,
            pieces,
            files: vec![f],
            multi_file: false,
            private: false,
            source: None,
            total_length: length,
        }
    }

    /// A multi-file info (offsets are computed here); call [`Info::validate`] before trusting it.
    pub fn multi(
        name: &str,
        piece_length: u64,
        pieces: Vec<[u8; 20]>,
        mut files: Vec<FileEntry>,
    ) -> Self {
        let mut offset = 0u64;
        for f in &mut files {
            f.offset = offset;
            offset = offset.saturating_add(f.length);
        }
        Self {
            name: name.to_string(),
            piece_length,
            pieces,
            files,
            multi_file: true,
            private: false,
            source: None,
            total_length: offset,
        }
    }

    /// Sets the BEP 27 private flag.
    pub fn with_private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// Sets the `source` key (changes the infohash; used to separate swarms).
    pub fn with_source(mut self, source: Option<String>) -> Self {
        self.source = source;
        self
    }

    /// Sets the BEP 47 attributes of a single-file torrent's file (ignored for multi-file).
    pub fn with_single_attr(mut self, attr: FileAttr) -> Self {
        if !self.multi_file {
            if let Some(f) = self.files.first_mut() {
                f.attr = attr;
            }
        }
        self
    }

    /// Replaces the piece hashes (used by creators that hash after laying out files).
    pub fn with_pieces(mut self, pieces: Vec<[u8; 20]>) -> Self {
        self.pieces = pieces;
        self
    }

    /// Top-level name: the file name, or the directory name of a multi-file torrent.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Bytes per piece (the last piece may be shorter).
    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }
    /// Number of pieces.
    pub fn num_pieces(&self) -> usize {
        self.pieces.len()
    }
    /// SHA-1 of every piece.
    pub fn pieces(&self) -> &[[u8; 20]] {
        &self.pieces
    }
    /// The files in torrent order, pad files included.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }
    /// True when the torrent has a `files` list (data lives under a directory named [`Info::name`]).
    pub fn is_multi_file(&self) -> bool {
        self.multi_file
    }
    /// BEP 27 private flag.
    pub fn is_private(&self) -> bool {
        self.private
    }
    /// The `source` key.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    /// Sum of all file lengths, pad files included.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }
    /// Bytes of content: the sum of the lengths of the files that are not
    /// BEP 47 pad files. This is the size to show a user and a magnet's `xl`.
    pub fn content_length(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| !f.is_pad())
            .map(|f| f.length)
            .sum()
    }
    /// Length of piece `index` (the last one may be short); 0 past the end.
    pub fn piece_size(&self, index: usize) -> u64 {
        let start = (index as u64).saturating_mul(self.piece_length);
        self.total_length
            .saturating_sub(start)
            .min(self.piece_length)
    }
    /// Relative path of a file below the download directory (`name` or `name/components`).
    pub fn file_relative_path(&self, file: &FileEntry) -> std::path::PathBuf {
        let mut p = std::path::PathBuf::from(&self.name);
        for c in &file.path {
            p.push(c);
        }
        p
    }

    /// The file ranges piece `index` covers, in order; zero-length files are skipped.
    pub fn piece_spans(&self, index: usize) -> impl Iterator<Item = PieceSpan> + '_ {
        let start = (index as u64).saturating_mul(self.piece_length);
        let end = start + self.piece_size(index);
        // first file whose end is past `start`
        let first = self.files.partition_point(|f| f.end() <= start);
        self.files[first..]
            .iter()
            .enumerate()
            .take_while(move |(_, f)| f.offset < end)
            .filter(|(_, f)| f.length > 0)
            .map(move |(i, f)| {
                let s = start.max(f.offset);
                let e = end.min(f.end());
                PieceSpan {
                    file: first + i,
                    file_offset: s - f.offset,
                    piece_offset: s - start,
                    len: e - s,
                }
            })
    }

    /// The range of pieces that overlap file `file` (empty for zero-length files).
    pub fn file_pieces(&self, file: usize) -> std::ops::Range<usize> {
        let Some(f) = self.files.get(file) else {
            return 0..0;
        };
        if f.length == 0 || self.piece_length == 0 {
            return 0..0;
        }
        let first = f.offset / self.piece_length;
        let last = (f.end() - 1) / self.piece_length;
        usize::try_from(first).unwrap_or(usize::MAX)
            ..usize::try_from(last + 1).unwrap_or(usize::MAX)
    }

    /// Checks every invariant [`crate::Metainfo::from_bytes`] promises.
    pub fn validate(&self) -> Result<(), E> {
        check_component(&self.name, &self.name)?;
        if self.piece_length == 0 || self.piece_length > MAX_PIECE_LENGTH {
            return Err(E::BadSize {
                what: "piece length",
                value: i64::try_from(self.piece_length).unwrap_or(i64::MAX),
            });
        }
        if self.total_length > MAX_TOTAL_LENGTH {
            return Err(E::BadSize {
                what: "total length",
                value: i64::try_from(self.total_length).unwrap_or(i64::MAX),
            });
        }
        if self.multi_file {
            if self.files.is_empty() {
                return Err(E::BadFileList("`files` is empty"));
            }
            let mut paths: HashSet<&[String]> = HashSet::new();
            let mut dirs: HashSet<&[String]> = HashSet::new();
            for f in &self.files {
                if f.path.is_empty() {
                    return Err(E::BadFileList("a file has an empty path"));
                }
                let shown = f.display_path();
                for c in &f.path {
                    check_component(c, &shown)?;
                }
                if let Some(t) = &f.symlink_target {
                    for c in t {
                        check_component(c, &shown)?;
                    }
                }
                if f.is_pad() {
                    continue; // never on disk; creators reuse `.pad/N`
                }
                for i in 1..f.path.len() {
                    dirs.insert(&f.path[..i]);
                }
                if !paths.insert(&f.path) {
                    return Err(E::DuplicatePath(shown));
                }
            }
            if let Some(p) = paths.iter().find(|p| dirs.contains(*p)) {
                return Err(E::DuplicatePath(p.join("/")));
            }
        }
        let expected = self.total_length.div_ceil(self.piece_length);
        if self.pieces.len() as u64 != expected {
            return Err(E::PieceCountMismatch {
                actual: self.pieces.len(),
                expected,
                total: self.total_length,
            });
        }
        Ok(())
    }

    /// Parses and validates an `info` dictionary.
    pub(crate) fn parse(v: &Value<'_>) -> Result<Self, E> {
        let d = v.dict().ok_or(E::NotADict("info"))?;
        let name = utf8_field(d, b"name", b"name.utf-8", "name")?.ok_or(E::Missing("name"))?;
        let piece_length =
            nonneg(d, b"piece length", "piece length")?.ok_or(E::Missing("piece length"))?;
        let pieces_raw = match d.get(b"pieces") {
            Some(p) => p.bytes().ok_or(E::WrongType {
                key: "pieces",
                expected: "string",
            })?,
            None if d.get(b"meta version").and_then(Value::int) == Some(2) => {
                return Err(E::V2Only);
            }
            None => return Err(E::Missing("pieces")),
        };
        if pieces_raw.len() % 20 != 0 {
            return Err(E::BadPiecesLength(pieces_raw.len()));
        }
        let pieces = pieces_raw
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();
        let private = d.get(b"private").and_then(Value::int) == Some(1);
        let source = match d.get(b"source") {
            Some(s) => Some(s.str().map(str::to_string).ok_or(E::WrongType {
                key: "source",
                expected: "UTF-8 string",
            })?),
            None => None,
        };
        let info = match (d.get(b"length"), d.get(b"files")) {
            (Some(_), None) => {
                let length = nonneg(d, b"length", "length")?.ok_or(E::Missing("length"))?;
                let mut info = Info::single(&name, piece_length, pieces, length);
                info.files[0].attr = attr(d);
                info
            }
            (None, Some(files)) => {
                let list = files.list().ok_or(E::WrongType {
                    key: "files",
                    expected: "list",
                })?;
                let mut entries = Vec::with_capacity(list.len());
                for f in list {
                    entries.push(parse_file(f)?);
                }
                Info::multi(&name, piece_length, pieces, entries)
            }
            _ => return Err(E::AmbiguousLayout),
        };
        let info = info.with_private(private).with_source(source);
        info.validate()?;
        Ok(info)
    }

    /// Canonical bencoding of this `info` dictionary.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.dict(|d| {
            let single_attr = (!self.multi_file)
                .then(|| self.files[0].attr)
                .filter(|a| !a.is_empty());
            if let Some(a) = single_attr {
                d.key("attr").str(&a.encode());
            }
            if self.multi_file {
                d.key("files").list(|l| {
                    for f in &self.files {
                        l.dict(|fd| {
                            if !f.attr.is_empty() {
                                fd.key("attr").str(&f.attr.encode());
                            }
                            fd.key("length").int(to_i64(f.length));
                            fd.key("path").list(|p| {
                                for c in &f.path {
                                    p.str(c);
                                }
                            });
                            if let Some(t) = &f.symlink_target {
                                fd.key("symlink path").list(|p| {
                                    for c in t {
                                        p.str(c);
                                    }
                                });
                            }
                        });
                    }
                });
            } else {
                d.key("length").int(to_i64(self.total_length));
            }
            d.key("name").str(&self.name);
            d.key("piece length").int(to_i64(self.piece_length));
            d.key("pieces").bytes(&self.pieces.concat());
            if self.private {
                d.key("private").int(1);
            }
            if let Some(s) = &self.source {
                d.key("source").str(s);
            }
        });
        e.finish()
    }
}

fn to_i64(v: u64) -> i64 {
    // Lengths are validated against MAX_TOTAL_LENGTH (2^50), far below i64::MAX.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn attr(d: &Dict<'_>) -> FileAttr {
    d.get(b"attr")
        .and_then(Value::bytes)
        .map(FileAttr::parse)
        .unwrap_or_default()
}

fn parse_file(v: &Value<'_>) -> Result<FileEntry, E> {
    let d = v.dict().ok_or(E::WrongType {
        key: "files",
        expected: "list of dictionaries",
    })?;
    let length = nonneg(d, b"length", "length")?.ok_or(E::Missing("length"))?;
    let path = match d.get(b"path.utf-8").and_then(|p| utf8_list(p).ok()) {
        Some(p) => p,
        None => utf8_list(d.get(b"path").ok_or(E::Missing("path"))?)?,
    };
    let attr = attr(d);
    let symlink_target = if attr.symlink {
        Some(utf8_list(
            d.get(b"symlink path").ok_or(E::Missing("symlink path"))?,
        )?)
    } else {
        None
    };
    Ok(FileEntry {
        path,
        length,
        offset: 0,
        attr,
        symlink_target,
    })
}

fn utf8_list(v: &Value<'_>) -> Result<Vec<String>, E> {
    let list = v.list().ok_or(E::WrongType {
        key: "path",
        expected: "list of strings",
    })?;
    list.iter()
        .map(|c| {
            let b = c.bytes().ok_or(E::WrongType {
                key: "path",
                expected: "list of strings",
            })?;
            std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(|_| E::NonUtf8Name(String::from_utf8_lossy(b).into_owned()))
        })
        .collect()
}

fn utf8_field(
    d: &Dict<'_>,
    key: &[u8],
    utf8_key: &[u8],
    name: &'static str,
) -> Result<Option<String>, E> {
    if let Some(s) = d.get(utf8_key).and_then(Value::str) {
        return Ok(Some(s.to_string()));
    }
    match d.get(key) {
        None => Ok(None),
        Some(v) => {
            let b = v.bytes().ok_or(E::WrongType {
                key: name,
                expected: "string",
            })?;
            std::str::from_utf8(b)
                .map(|s| Some(s.to_string()))
                .map_err(|_| E::NonUtf8Name(String::from_utf8_lossy(b).into_owned()))
        }
    }
}

fn nonneg(d: &Dict<'_>, key: &[u8], name: &'static str) -> Result<Option<u64>, E> {
    match d.get(key) {
        None => Ok(None),
        Some(v) => {
            let i = v.int().ok_or(E::WrongType {
                key: name,
                expected: "integer",
            })?;
            u64::try_from(i)
                .ok()
                .filter(|&u| u <= MAX_TOTAL_LENGTH)
                .map(Some)
                .ok_or(E::BadSize {
                    what: name,
                    value: i,
                })
        }
    }
}

/// Rejects any component that could leave the download directory or is ambiguous.
pub(crate) fn check_component(c: &str, path: &str) -> Result<(), E> {
    let reason = if c.is_empty() {
        "empty component"
    } else if c == "." || c == ".." {
        "relative component"
    } else if c.contains('/') || c.contains('\\') {
        "contains a path separator"
    } else if c.contains('\0') {
        "contains a NUL byte"
    } else if c.len() > 255 {
        "longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(E::UnsafePath {
        component: c.chars().take(300).collect(),
        path: path.chars().take(1000).collect(),
        reason,
    })
}
