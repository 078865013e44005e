//! BEP 10 extension protocol and the extensions carried over it: BEP 9
//! metadata exchange (`ut_metadata`) and BEP 11 peer exchange (`ut_pex`).
//!
//! Extension message ids are chosen by the *receiver*: each side lists
//! `name -> id` in its extended handshake (`m`), and the other side must use
//! those ids when sending to it. So an incoming [`ExtendedMessage`] carries
//! one of the ids *we* advertised, and an outgoing one must use the id from
//! the peer's [`ExtendedHandshake`]. Id 0 is always the extended handshake.
//!
//! These payload parsers are lenient where the spec allows it (unknown keys
//! are ignored; a known key of the wrong type is treated as absent) and strict
//! where a wrong value would make us misbehave (a `ut_metadata` message without
//! a valid `piece`).

mod extended_handshake;
mod extension_error;
mod metadata_assembler;
mod metadata_error;
mod metadata_message;
mod pex;

use std::fmt;

use bytes::Bytes;

pub use extended_handshake::ExtendedHandshake;
pub use extension_error::ExtensionError;
pub use metadata_assembler::{MAX_METADATA_SIZE, MetadataAssembler};
pub use metadata_error::MetadataError;
pub use metadata_message::{METADATA_PIECE_LEN, MetadataMessage, MetadataPiece};
pub use pex::{MAX_PEX_PEERS, PexFlags, PexMessage, PexPeer};

/// Extension name of BEP 9 metadata exchange.
pub const UT_METADATA: &str = "ut_metadata";
/// Extension name of BEP 11 peer exchange.
pub const UT_PEX: &str = "ut_pex";

/// The id byte of an extension message (BEP 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ExtendedId(pub u8);

impl ExtendedId {
    /// Id 0: the extended handshake. In an `m` dictionary, 0 means "disabled".
    pub const HANDSHAKE: ExtendedId = ExtendedId(0);
}

impl fmt::Display for ExtendedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A BEP 10 `extended` message (peer wire id 20): extension id and raw payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedMessage {
    /// Which extension, in the receiver's numbering.
    pub id: ExtendedId,
    /// The extension's payload; a slice of the receive buffer when decoded.
    pub payload: Bytes,
}

impl ExtendedMessage {
    /// An extended message.
    pub fn new(id: ExtendedId, payload: impl Into<Bytes>) -> Self {
        Self {
            id,
            payload: payload.into(),
        }
    }
}
