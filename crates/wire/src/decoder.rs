use bytes::{Buf, BytesMut};

use crate::convert::{be_u32, usize_from};
use crate::{
    BlockLength, BlockOffset, BlockRequest, DecodeError, ExtendedId, ExtendedMessage, Message,
    MessageId, Piece, PieceIndex,
};

/// Limits applied by [`MessageDecoder`]. All lengths are payload bytes
/// (after the id byte, and for `piece` after index and offset).
///
/// ```
/// let opts = wire::DecoderOptions {
///     max_extended_len: 32 * 1024,
///     max_unknown_len: 1024,
///     piece_count: Some(1313),
///     ..Default::default()
/// };
/// // a length prefix above this is rejected before the id byte arrives
/// assert_eq!(opts.max_frame_len(), 32 * 1024 + 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderOptions {
    /// Largest block accepted in a `piece` message. We only receive blocks we
    /// asked for, so this is the engine's request size. Default 16 KiB.
    pub max_block_len: u32,
    /// Largest `bitfield` payload while the piece count is unknown (downloads
    /// started from a magnet link). Default 131072 bytes, i.e. 1,048,576
    /// pieces, more than a 16 MiB info dictionary can describe.
    pub max_bitfield_len: u32,
    /// Largest `extended` payload (after the extended id byte). BEP 9 data
    /// messages are 16 KiB plus a small dictionary; extended handshakes and PEX
    /// are a few KiB. Default 128 KiB.
    pub max_extended_len: u32,
    /// Largest payload of a message with an unknown id. Default 128 KiB.
    pub max_unknown_len: u32,
    /// The torrent's piece count, once known. When set, a `bitfield` must be
    /// exactly `ceil(piece_count / 8)` bytes. Spare bits are checked by
    /// [`crate::Bitfield::from_payload`], which needs the count as well.
    pub piece_count: Option<u32>,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        Self {
            max_block_len: 16 * 1024,
            max_bitfield_len: 128 * 1024,
            max_extended_len: 128 * 1024,
            max_unknown_len: 128 * 1024,
            piece_count: None,
        }
    }
}

/// Allowed values of the length prefix for one id.
enum FrameRule {
    Exact(u32),
    Range { min: u32, max: u32 },
}

impl DecoderOptions {
    /// The bitfield payload size the piece count requires, if known.
    fn exact_bitfield_len(&self) -> Option<u32> {
        self.piece_count.map(|n| n.div_ceil(8))
    }

    fn rule(&self, id: u8) -> FrameRule {
        use FrameRule::*;
        match MessageId::from_u8(id) {
            Some(id) => match id {
                MessageId::Choke
                | MessageId::Unchoke
                | MessageId::Interested
                | MessageId::NotInterested
                | MessageId::HaveAll
                | MessageId::HaveNone => Exact(1),
                MessageId::Have | MessageId::SuggestPiece | MessageId::AllowedFast => Exact(5),
                MessageId::Request | MessageId::Cancel | MessageId::RejectRequest => Exact(13),
                MessageId::Port => Exact(3),
                MessageId::Bitfield => Range {
                    min: 1,
                    max: self
                        .exact_bitfield_len()
                        .unwrap_or(self.max_bitfield_len)
                        .saturating_add(1),
                },
                MessageId::Piece => Range {
                    min: 9,
                    max: self.max_block_len.saturating_add(9),
                },
                MessageId::Extended => Range {
                    min: 2,
                    max: self.max_extended_len.saturating_add(2),
                },
            },
            None => Range {
                min: 1,
                max: self.max_unknown_len.saturating_add(1),
            },
        }
    }

    /// The largest length prefix any message may have under these options;
    /// anything above is rejected from the first four bytes.
    pub fn max_frame_len(&self) -> u32 {
        let bitfield = self.exact_bitfield_len().unwrap_or(self.max_bitfield_len);
        [
            self.max_block_len.saturating_add(9),
            bitfield.saturating_add(1),
            self.max_extended_len.saturating_add(2),
            self.max_unknown_len.saturating_add(1),
            13,
        ]
        .into_iter()
        .max()
        .unwrap_or(13)
    }

    /// Checks the length prefix of a message with id `id`.
    fn check(&self, id: u8, len: u32) -> Result<(), DecodeError> {
        match (self.rule(id), MessageId::from_u8(id)) {
            (FrameRule::Exact(expected), Some(mid)) if len != expected => {
                Err(DecodeError::WrongLength {
                    id: mid,
                    len,
                    expected,
                })
            }
            (FrameRule::Range { min, .. }, Some(mid)) if len < min => {
                Err(DecodeError::TooShort { id: mid, len, min })
            }
            (FrameRule::Range { max, .. }, _) if len > max => {
                Err(DecodeError::PayloadTooLong { id, len, max })
            }
            _ => Ok(()),
        }
    }
}

/// Decodes one message from the front of `src`, removing its bytes.
///
/// Returns `Ok(None)` when `src` does not yet hold a complete message; in that
/// case it reserves room for the rest of the message, so the next read can
/// fill it. Bulk payloads (`piece` data, `bitfield`, `extended`) are split off
/// `src` without copying. On error nothing is consumed and the connection
/// must be closed.
///
/// This is the function form of [`MessageDecoder::next_message`], for callers
/// that own their buffer (for example a `tokio_util::codec::Decoder`).
pub fn decode_message(
    src: &mut BytesMut,
    opts: &DecoderOptions,
) -> Result<Option<Message>, DecodeError> {
    if src.len() < 4 {
        return Ok(None);
    }
    let len = be_u32(src, 0);
    if len == 0 {
        src.advance(4);
        return Ok(Some(Message::KeepAlive));
    }
    let max = opts.max_frame_len();
    if len > max {
        return Err(DecodeError::TooLong { len, max });
    }
    let Some(&id) = src.get(4) else {
        return Ok(None);
    };
    if let Some(BitfieldCheck {
        len,
        expected,
        piece_count,
    }) = bitfield_mismatch(opts, id, len)
    {
        return Err(DecodeError::BitfieldLength {
            len,
            expected,
            piece_count,
        });
    }
    opts.check(id, len)?;
    let total = 4 + usize_from(len);
    if src.len() < total {
        src.reserve(total - src.len());
        return Ok(None);
    }
    let msg = match MessageId::from_u8(id) {
        None => {
            let mut frame = src.split_to(total);
            frame.advance(5);
            Message::Unknown {
                id,
                payload: frame.freeze(),
            }
        }
        Some(mid) => {
            use MessageId as M;
            let body = &src[5..total];
            let small = match mid {
                M::Choke => Some(Message::Choke),
                M::Unchoke => Some(Message::Unchoke),
                M::Interested => Some(Message::Interested),
                M::NotInterested => Some(Message::NotInterested),
                M::HaveAll => Some(Message::HaveAll),
                M::HaveNone => Some(Message::HaveNone),
                M::Have => Some(Message::Have(PieceIndex(be_u32(body, 0)))),
                M::SuggestPiece => Some(Message::SuggestPiece(PieceIndex(be_u32(body, 0)))),
                M::AllowedFast => Some(Message::AllowedFast(PieceIndex(be_u32(body, 0)))),
                M::Port => Some(Message::Port(u16::from_be_bytes([body[0], body[1]]))),
                M::Request => Some(Message::Request(block(body))),
                M::Cancel => Some(Message::Cancel(block(body))),
                M::RejectRequest => Some(Message::RejectRequest(block(body))),
                M::Bitfield | M::Piece | M::Extended => None,
            };
            match small {
                Some(m) => {
                    src.advance(total);
                    m
                }
                None => {
                    let mut frame = src.split_to(total);
                    frame.advance(5);
                    match mid {
                        M::Piece => {
                            let index = PieceIndex(be_u32(&frame, 0));
                            let offset = BlockOffset(be_u32(&frame, 4));
                            frame.advance(8);
                            Message::Piece(Piece {
                                index,
                                offset,
                                data: frame.freeze(),
                            })
                        }
                        M::Extended => {
                            let ext = ExtendedId(frame[0]);
                            frame.advance(1);
                            Message::Extended(ExtendedMessage {
                                id: ext,
                                payload: frame.freeze(),
                            })
                        }
                        _ => Message::Bitfield(frame.freeze()),
                    }
                }
            }
        }
    };
    Ok(Some(msg))
}

struct BitfieldCheck {
    len: u32,
    expected: u32,
    piece_count: u32,
}

/// A bitfield of the wrong size for a known piece count (too short as well as
/// too long).
fn bitfield_mismatch(opts: &DecoderOptions, id: u8, len: u32) -> Option<BitfieldCheck> {
    if id != MessageId::Bitfield.as_u8() {
        return None;
    }
    let piece_count = opts.piece_count?;
    let expected = piece_count.div_ceil(8);
    let payload = len - 1;
    (payload != expected).then_some(BitfieldCheck {
        len: payload,
        expected,
        piece_count,
    })
}

/// Reads index, begin, length. `body` holds at least 12 bytes (checked by the
/// frame rule).
fn block(body: &[u8]) -> BlockRequest {
    BlockRequest {
        piece: PieceIndex(be_u32(body, 0)),
        offset: BlockOffset(be_u32(body, 4)),
        length: BlockLength(be_u32(body, 8)),
    }
}

/// Streaming decoder for the message stream that follows the handshake.
///
/// It owns the receive buffer: read from the socket straight into
/// [`MessageDecoder::buffer_mut`] (e.g. `AsyncReadExt::read_buf`), then call
/// [`MessageDecoder::next_message`] until it returns `Ok(None)`.
///
/// For bulk transfer, start with a roomy buffer
/// (`with_buffer(BytesMut::with_capacity(256 * 1024), opts)`) and
/// `buffer_mut().reserve(64 * 1024)` before each read. `BytesMut` then
/// reclaims the space of consumed messages (once their `piece` data has been
/// dropped) and moves a partial message to the front only about once per
/// buffer length instead of once per read.
///
/// ```
/// use wire::{DecoderOptions, Message, MessageDecoder, PieceIndex};
/// let mut d = MessageDecoder::new(DecoderOptions::default());
/// d.extend_from_slice(&[0, 0, 0, 5, 4, 0, 0]);
/// assert_eq!(d.next_message().unwrap(), None); // incomplete
/// d.extend_from_slice(&[0, 9, 0, 0, 0, 0]);
/// assert_eq!(d.next_message().unwrap(), Some(Message::Have(PieceIndex(9))));
/// assert_eq!(d.next_message().unwrap(), Some(Message::KeepAlive));
/// assert_eq!(d.next_message().unwrap(), None);
/// ```
#[derive(Debug, Default)]
pub struct MessageDecoder {
    /// Received, not yet decoded bytes. Filled by the engine, drained here;
    /// decoded `piece` data are split off it and keep its allocation alive
    /// until the engine drops them.
    buf: BytesMut,
    opts: DecoderOptions,
}

impl MessageDecoder {
    /// A decoder with an empty buffer.
    pub fn new(opts: DecoderOptions) -> Self {
        Self {
            buf: BytesMut::new(),
            opts,
        }
    }

    /// A decoder that starts with `buf`, e.g. the bytes that arrived in the
    /// same read as the handshake.
    pub fn with_buffer(buf: BytesMut, opts: DecoderOptions) -> Self {
        Self { buf, opts }
    }

    /// The receive buffer, for reading from the socket into it directly.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Appends received bytes (copies them; prefer [`MessageDecoder::buffer_mut`]).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The limits in force.
    pub fn options(&self) -> &DecoderOptions {
        &self.opts
    }

    /// Sets the piece count once known (after BEP 9 metadata download), which
    /// makes the decoder require exact bitfield lengths.
    pub fn set_piece_count(&mut self, piece_count: u32) {
        self.opts.piece_count = Some(piece_count);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed. See
    /// [`decode_message`].
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        decode_message(&mut self.buf, &self.opts)
    }

    /// Gives back the buffer (with any undecoded bytes).
    pub fn into_buffer(self) -> BytesMut {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn decode_all(bytes: &[u8], opts: DecoderOptions) -> Result<Vec<Message>, DecodeError> {
        let mut d = MessageDecoder::new(opts);
        d.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(m) = d.next_message()? {
            out.push(m);
        }
        Ok(out)
    }

    fn one(bytes: &[u8]) -> Result<Vec<Message>, DecodeError> {
        decode_all(bytes, DecoderOptions::default())
    }

    #[test]
    fn decodes_every_fixed_message() {
        let r = BlockRequest::new(PieceIndex(1), BlockOffset(2), BlockLength(3));
        let cases: Vec<(Vec<u8>, Message)> = vec![
            (vec![0, 0, 0, 0], Message::KeepAlive),
            (vec![0, 0, 0, 1, 0], Message::Choke),
            (vec![0, 0, 0, 1, 1], Message::Unchoke),
            (vec![0, 0, 0, 1, 2], Message::Interested),
            (vec![0, 0, 0, 1, 3], Message::NotInterested),
            (
                vec![0, 0, 0, 5, 4, 0, 0, 0, 7],
                Message::Have(PieceIndex(7)),
            ),
            (vec![0, 0, 0, 3, 9, 0x1a, 0xe1], Message::Port(6881)),
            (
                vec![0, 0, 0, 5, 0x0d, 0, 0, 0, 7],
                Message::SuggestPiece(PieceIndex(7)),
            ),
            (vec![0, 0, 0, 1, 0x0e], Message::HaveAll),
            (vec![0, 0, 0, 1, 0x0f], Message::HaveNone),
            (
                vec![0, 0, 0, 5, 0x11, 0, 0, 0, 7],
                Message::AllowedFast(PieceIndex(7)),
            ),
            (
                vec![0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
                Message::Request(r),
            ),
            (
                vec![0, 0, 0, 13, 8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
                Message::Cancel(r),
            ),
            (
                vec![0, 0, 0, 13, 0x10, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
                Message::RejectRequest(r),
            ),
        ];
        for (bytes, msg) in cases {
            assert_eq!(one(&bytes).unwrap(), vec![msg.clone()], "{bytes:?}");
            assert_eq!(msg.to_bytes().to_vec(), bytes);
        }
    }

    #[test]
    fn piece_data_is_a_slice_of_the_receive_buffer() {
        let mut d = MessageDecoder::default();
        let buf = d.buffer_mut();
        buf.extend_from_slice(&[0, 0, 0, 13, 7, 0, 0, 0, 1, 0, 0, 0x40, 0, 1, 2, 3, 4]);
        let base = buf.as_ptr() as usize;
        let Some(Message::Piece(p)) = d.next_message().unwrap() else {
            panic!("expected a piece");
        };
        assert_eq!(p.index, PieceIndex(1));
        assert_eq!(p.offset, BlockOffset(0x4000));
        assert_eq!(&p.data[..], &[1, 2, 3, 4]);
        assert_eq!(p.data.as_ptr() as usize, base + 13, "data was copied");
    }

    #[test]
    fn extended_and_unknown() {
        assert_eq!(
            one(&[0, 0, 0, 4, 20, 0, b'd', b'e']).unwrap(),
            vec![Message::Extended(ExtendedMessage {
                id: ExtendedId(0),
                payload: Bytes::from_static(b"de"),
            })]
        );
        assert_eq!(
            one(&[0, 0, 0, 3, 0x15, 9, 9]).unwrap(),
            vec![Message::Unknown {
                id: 0x15,
                payload: Bytes::from_static(&[9, 9]),
            }]
        );
    }

    #[test]
    fn incomplete_needs_more() {
        let bytes = Message::Have(PieceIndex(3)).to_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(one(&bytes[..cut]).unwrap(), vec![]);
        }
    }

    #[test]
    fn rejects_absurd_length_from_prefix_alone() {
        assert_eq!(
            one(&[0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::TooLong {
                len: u32::MAX,
                max: 128 * 1024 + 2
            })
        );
    }

    #[test]
    fn rejects_long_piece_before_payload_arrives() {
        // 16 KiB + 1 byte of block, only the header has arrived
        let len: u32 = 9 + 16 * 1024 + 1;
        let mut b = len.to_be_bytes().to_vec();
        b.push(7);
        assert_eq!(
            one(&b),
            Err(DecodeError::PayloadTooLong {
                id: 7,
                len,
                max: 9 + 16 * 1024
            })
        );
    }

    #[test]
    fn rejects_long_unknown() {
        let opts = DecoderOptions {
            max_unknown_len: 10,
            ..Default::default()
        };
        assert_eq!(
            decode_all(&[0, 0, 0, 12, 0x30], opts),
            Err(DecodeError::PayloadTooLong {
                id: 0x30,
                len: 12,
                max: 11
            })
        );
    }

    #[test]
    fn rejects_long_extended() {
        let opts = DecoderOptions {
            max_extended_len: 10,
            ..Default::default()
        };
        assert_eq!(
            decode_all(&[0, 0, 0, 13, 20], opts),
            Err(DecodeError::PayloadTooLong {
                id: 20,
                len: 13,
                max: 12
            })
        );
    }

    #[test]
    fn rejects_wrong_fixed_lengths() {
        for (id, good) in [
            (MessageId::Choke, 1),
            (MessageId::Unchoke, 1),
            (MessageId::Interested, 1),
            (MessageId::NotInterested, 1),
            (MessageId::Have, 5),
            (MessageId::Request, 13),
            (MessageId::Cancel, 13),
            (MessageId::Port, 3),
            (MessageId::SuggestPiece, 5),
            (MessageId::HaveAll, 1),
            (MessageId::HaveNone, 1),
            (MessageId::RejectRequest, 13),
            (MessageId::AllowedFast, 5),
        ] {
            for bad in [good - 1, good + 1] {
                if bad == 0 {
                    continue;
                }
                let mut b = u32::to_be_bytes(bad).to_vec();
                b.push(id.as_u8());
                assert_eq!(
                    one(&b),
                    Err(DecodeError::WrongLength {
                        id,
                        len: bad,
                        expected: good
                    }),
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn rejects_short_piece_and_extended() {
        assert_eq!(
            one(&[0, 0, 0, 8, 7]),
            Err(DecodeError::TooShort {
                id: MessageId::Piece,
                len: 8,
                min: 9
            })
        );
        assert_eq!(
            one(&[0, 0, 0, 1, 20]),
            Err(DecodeError::TooShort {
                id: MessageId::Extended,
                len: 1,
                min: 2
            })
        );
    }

    #[test]
    fn bitfield_length_checked_against_piece_count() {
        let opts = DecoderOptions {
            piece_count: Some(20),
            ..Default::default()
        };
        // 20 pieces need 3 bytes
        assert_eq!(
            decode_all(&[0, 0, 0, 3, 5, 0xff, 0xff], opts),
            Err(DecodeError::BitfieldLength {
                len: 2,
                expected: 3,
                piece_count: 20
            })
        );
        assert_eq!(
            decode_all(&[0, 0, 0, 5, 5], opts),
            Err(DecodeError::BitfieldLength {
                len: 4,
                expected: 3,
                piece_count: 20
            })
        );
        assert_eq!(
            decode_all(&[0, 0, 0, 4, 5, 1, 2, 3], opts).unwrap(),
            vec![Message::Bitfield(Bytes::from_static(&[1, 2, 3]))]
        );
    }

    #[test]
    fn bitfield_without_piece_count_is_bounded() {
        let opts = DecoderOptions {
            max_bitfield_len: 4,
            ..Default::default()
        };
        assert_eq!(
            decode_all(&[0, 0, 0, 6, 5], opts),
            Err(DecodeError::PayloadTooLong {
                id: 5,
                len: 6,
                max: 5
            })
        );
    }

    #[test]
    fn error_consumes_nothing_and_repeats() {
        let mut d = MessageDecoder::default();
        d.extend_from_slice(&[0, 0, 0, 2, 0]);
        let e = d.next_message().unwrap_err();
        assert_eq!(d.buffered(), 5);
        assert_eq!(d.next_message().unwrap_err(), e);
    }

    #[test]
    fn reserves_room_for_incomplete_message() {
        let mut d = MessageDecoder::default();
        d.extend_from_slice(&[0, 0, 0x40, 9, 7]);
        assert_eq!(d.next_message().unwrap(), None);
        assert!(d.buffer_mut().capacity() >= 0x4009 + 4);
    }

    #[test]
    fn set_piece_count_tightens_bitfield() {
        let mut d = MessageDecoder::default();
        d.set_piece_count(8);
        d.extend_from_slice(&[0, 0, 0, 3, 5, 0, 0]);
        assert_eq!(
            d.next_message(),
            Err(DecodeError::BitfieldLength {
                len: 2,
                expected: 1,
                piece_count: 8
            })
        );
    }
}
