/// Why a torrent was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetainfoError {
    /// The file is not valid bencode.
    #[error("not a torrent file: {0}")]
    Bencode(#[from] bencode::DecodeError),
    /// The file is larger than [`crate::MAX_TORRENT_FILE_SIZE`].
    #[error("torrent file is too large ({size} bytes, limit {limit})")]
    TooLarge {
        /// Size seen.
        size: usize,
        /// Limit applied.
        limit: usize,
    },
    /// The top level or `info` is not a dictionary.
    #[error("{0} is not a dictionary")]
    NotADict(&'static str),
    /// A required key is absent.
    #[error("missing key `{0}`")]
    Missing(&'static str),
    /// A key has the wrong bencode type.
    #[error("key `{key}` should be a {expected}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A name or path component is not UTF-8.
    #[error("file name is not valid UTF-8: {0:?}")]
    NonUtf8Name(String),
    /// A name or path component could escape the download directory or is otherwise unsafe.
    #[error("unsafe path component {component:?} in {path:?}: {reason}")]
    UnsafePath {
        /// The offending component.
        component: String,
        /// The whole path, for context.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A multi-file torrent with an empty `files` list or a path with no components.
    #[error("{0}")]
    BadFileList(&'static str),
    /// Two files with the same path, or a file that is also a directory.
    #[error("duplicate path {0:?}")]
    DuplicatePath(String),
    /// A negative or absurdly large size.
    #[error("invalid {what}: {value}")]
    BadSize {
        /// Which size.
        what: &'static str,
        /// The value.
        value: i64,
    },
    /// `pieces` is not a multiple of 20 bytes.
    #[error("`pieces` length {0} is not a multiple of 20")]
    BadPiecesLength(usize),
    /// The piece count does not match the total length.
    #[error(
        "piece count {actual} does not match total length {total} (expected {expected} pieces)"
    )]
    PieceCountMismatch {
        /// Pieces in the file.
        actual: usize,
        /// Pieces implied by the lengths.
        expected: u64,
        /// Total length in bytes.
        total: u64,
    },
    /// Both `length` and `files`, or neither.
    #[error("info must have exactly one of `length` and `files`")]
    AmbiguousLayout,
    /// A BEP 52 torrent without a v1 part.
    #[error("v2-only torrents are not supported (no v1 `pieces`); create a hybrid torrent instead")]
    V2Only,
}
