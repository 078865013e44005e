use crate::MessageId;

/// Why a peer's message stream was rejected. The connection must be closed.
///
/// `len` is always the value of the 4-byte length prefix (id byte plus
/// payload). Limits are checked as soon as the prefix and id byte arrive, so
/// an absurd length is rejected before its payload is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The length prefix exceeds the largest message any id may have.
    #[error("message length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// The length prefix.
        len: u32,
        /// [`crate::DecoderOptions::max_frame_len`].
        max: u32,
    },
    /// The length prefix exceeds the limit for this id (see
    /// [`crate::DecoderOptions`]); `id` may be an unknown id.
    #[error("message id {id} with length {len} exceeds its limit of {max} bytes")]
    PayloadTooLong {
        /// The id byte.
        id: u8,
        /// The length prefix.
        len: u32,
        /// The limit for this id.
        max: u32,
    },
    /// A fixed-size message (e.g. `have`, `request`) with the wrong length.
    #[error("{id} message must have length {expected}, got {len}")]
    WrongLength {
        /// The message.
        id: MessageId,
        /// The length prefix.
        len: u32,
        /// The only valid length prefix.
        expected: u32,
    },
    /// A variable-size message too short for its header (`piece` < 9, `extended` < 2).
    #[error("{id} message must have length at least {min}, got {len}")]
    TooShort {
        /// The message.
        id: MessageId,
        /// The length prefix.
        len: u32,
        /// The shortest valid length prefix.
        min: u32,
    },
    /// A bitfield whose size does not match the piece count
    /// ([`crate::DecoderOptions::piece_count`]).
    #[error("bitfield of {len} bytes, but {piece_count} pieces need {expected}")]
    BitfieldLength {
        /// Payload bytes received.
        len: u32,
        /// Payload bytes required.
        expected: u32,
        /// The torrent's piece count.
        piece_count: u32,
    },
}
