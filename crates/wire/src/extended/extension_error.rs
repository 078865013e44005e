/// Why an extension payload (BEP 10 handshake, BEP 9, BEP 11) was rejected.
///
/// The peer sent something unusable; dropping the message is enough, but
/// engines usually also drop peers that keep doing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// The payload does not start with valid bencode.
    #[error("{what}: {source}")]
    Bencode {
        /// Which message.
        what: &'static str,
        /// The bencode error.
        source: bencode::DecodeError,
    },
    /// The payload is bencode, but not a dictionary.
    #[error("{what}: payload is not a dictionary")]
    NotADict {
        /// Which message.
        what: &'static str,
    },
    /// A required field is missing or has the wrong type or range.
    #[error("{what}: missing or invalid `{field}`")]
    InvalidField {
        /// Which message.
        what: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A `ut_metadata` message with a `msg_type` other than 0, 1, 2.
    #[error("ut_metadata: unknown msg_type {0}")]
    UnknownMetadataType(i64),
    /// A `ut_metadata` data message carrying more than 16 KiB.
    #[error("ut_metadata: data piece of {len} bytes exceeds 16384")]
    MetadataPieceTooLong {
        /// Bytes after the dictionary.
        len: usize,
    },
    /// A compact peer list whose length is not a multiple of the entry size.
    #[error("ut_pex: `{field}` is {len} bytes, not a multiple of {entry}")]
    CompactLength {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// 6 for IPv4, 18 for IPv6.
        entry: usize,
    },
}
