use std::fmt;

/// What went wrong while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ended in the middle of a value.
    UnexpectedEof,
    /// A byte that cannot start or continue a value here.
    UnexpectedByte(u8),
    /// An integer with a leading zero, `-0`, an empty body or no digits.
    NonCanonicalInteger,
    /// An integer that does not fit in an `i64`.
    IntegerOverflow,
    /// A string length with a leading zero, or one longer than the input.
    BadStringLength,
    /// A dictionary key that is not a byte string.
    NonStringKey,
    /// The same key twice in one dictionary.
    DuplicateKey,
    /// Keys out of order while [`crate::Limits::require_sorted_keys`] is set.
    UnsortedKeys,
    /// Nesting deeper than [`crate::Limits::max_depth`].
    TooDeep,
    /// More values than [`crate::Limits::max_values`].
    TooManyValues,
    /// Bytes left after the value.
    TrailingBytes,
}

/// A decode failure and the byte offset where it was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Offset into the input.
    pub offset: usize,
}

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeErrorKind::*;
        let what = match self.kind {
            UnexpectedEof => "unexpected end of input".to_string(),
            UnexpectedByte(b) => format!("unexpected byte {:?}", char::from(b)),
            NonCanonicalInteger => "malformed integer".into(),
            IntegerOverflow => "integer out of range".into(),
            BadStringLength => "bad string length".into(),
            NonStringKey => "dictionary key is not a string".into(),
            DuplicateKey => "duplicate dictionary key".into(),
            UnsortedKeys => "dictionary keys out of order".into(),
            TooDeep => "nesting too deep".into(),
            TooManyValues => "too many values".into(),
            TrailingBytes => "trailing bytes after value".into(),
        };
        write!(f, "bencode: {what} at byte {}", self.offset)
    }
}
