//! Sans-IO BitTorrent peer wire protocol for anthill.
//!
//! This crate turns bytes into typed messages and back, and does nothing
//! else: no sockets, no timers, no tokio. The peer engine (`anthill-swarm`)
//! drives it from its connection tasks; tests and fuzzers drive it directly.
//!
//! A connection goes through two phases:
//!
//! 1. **Handshake** (BEP 3): [`Handshake`] (68 bytes) with [`Reserved`]
//!    extension bits, parsed incrementally by [`HandshakeParser`].
//! 2. **Messages**: length-prefixed [`Message`]s, decoded by
//!    [`MessageDecoder`] under [`DecoderOptions`] limits and encoded by
//!    [`Message::encode`].
//!
//! On top of the message layer: [`Bitfield`] (the picker's piece sets),
//! [`allowed_fast_set`] (BEP 6), and the BEP 10 extension payloads
//! [`ExtendedHandshake`], [`MetadataMessage`] with [`MetadataAssembler`]
//! (BEP 9), and [`PexMessage`] (BEP 11).
//!
//! # Zero copy
//!
//! Block data never gets copied by this crate. The decoder owns a
//! [`bytes::BytesMut`] receive buffer that the engine reads the socket into;
//! a decoded `piece` message's data is a [`bytes::Bytes`] slice of that
//! buffer. For sending, [`piece_header`] / [`Message::encode_header`] produce
//! the header alone, so header and block go out with one vectored write.
//!
//! # Errors
//!
//! Every decoder returns a typed error ([`HandshakeError`], [`DecodeError`],
//! [`BitfieldError`], [`ExtensionError`], [`MetadataError`]) and never panics
//! on any input. A handshake or message-stream error means the peer is broken
//! or hostile: close the connection. Unknown message ids are not errors (see
//! [`Message::Unknown`]). This crate does not know which extensions were
//! negotiated; rejecting e.g. fast-extension messages from a peer that did
//! not set [`Reserved::fast`] is the engine's job ([`MessageId::is_fast_extension`]).
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use wire::*;
//!
//! // What a peer sends: handshake, bitfield, unchoke, one block.
//! let theirs = Handshake::new(Reserved::NONE.with_fast(true), Infohash([7; 20]), PeerId([1; 20]));
//! let mut stream = BytesMut::new();
//! theirs.encode(&mut stream);
//! Message::Bitfield(Bitfield::full(10).to_payload()).encode(&mut stream);
//! Message::Unchoke.encode(&mut stream);
//! let block = Piece { index: PieceIndex(3), offset: BlockOffset(0), data: vec![9; 16384].into() };
//! stream.extend_from_slice(&block.header());
//! stream.extend_from_slice(&block.data);
//!
//! // Our side.
//! let mut hs = HandshakeParser::new();
//! let got = hs.decode(&mut stream).unwrap().expect("complete");
//! assert!(got.reserved.fast());
//! let opts = DecoderOptions { piece_count: Some(10), ..Default::default() };
//! let mut dec = MessageDecoder::with_buffer(stream, opts);
//! let Some(Message::Bitfield(raw)) = dec.next_message().unwrap() else { panic!() };
//! let have = Bitfield::from_payload(&raw, 10).unwrap();
//! assert!(have.is_full());
//! assert_eq!(dec.next_message().unwrap(), Some(Message::Unchoke));
//! assert_eq!(dec.next_message().unwrap(), Some(Message::Piece(block)));
//! assert_eq!(dec.next_message().unwrap(), None);
//! ```

mod allowed_fast;
mod bitfield;
mod bitfield_error;
mod block;
mod convert;
mod decode_error;
mod decoder;
mod extended;
mod handshake;
mod handshake_error;
mod message;
mod message_id;
mod reserved;

#[cfg(test)]
mod proptests;

pub use allowed_fast::allowed_fast_set;
pub use bitfield::Bitfield;
pub use bitfield_error::BitfieldError;
pub use block::{BlockLength, BlockOffset, BlockRequest};
pub use decode_error::DecodeError;
pub use decoder::{DecoderOptions, MessageDecoder, decode_message};
pub use extended::{
    ExtendedHandshake, ExtendedId, ExtendedMessage, ExtensionError, MAX_METADATA_SIZE,
    MAX_PEX_PEERS, METADATA_PIECE_LEN, MetadataAssembler, MetadataError, MetadataMessage,
    MetadataPiece, PexFlags, PexMessage, PexPeer, UT_METADATA, UT_PEX,
};
pub use handshake::{Handshake, HandshakeParser};
pub use handshake_error::HandshakeError;
pub use message::{Message, PIECE_HEADER_LEN, Piece, piece_header};
pub use message_id::MessageId;
/// The torrent's v1 infohash, shared with `anthill-metainfo`.
pub use metainfo::Infohash;
/// The handshake's peer id, shared with `anthill-tracker-proto` (defined in
/// `anthill-metainfo`).
pub use metainfo::PeerId;
/// Piece index, shared with `anthill-storage` (defined in `anthill-metainfo`).
pub use metainfo::PieceIndex;
pub use reserved::Reserved;
