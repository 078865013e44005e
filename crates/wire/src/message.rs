use bytes::{BufMut, Bytes, BytesMut};

use crate::{BlockLength, BlockOffset, BlockRequest, ExtendedMessage, MessageId, PieceIndex};

/// One peer wire message (BEP 3 plus BEP 5 `port`, BEP 6 and BEP 10).
///
/// Bulk payloads are [`Bytes`]: the decoder hands out slices of its receive
/// buffer without copying, and the encoder can write them separately
/// ([`Message::encode_header`]) so the engine sends header and payload with
/// one vectored write.
///
/// Unknown message ids are not an error: they decode to [`Message::Unknown`]
/// (still subject to the length limits) and the engine is expected to ignore
/// them, as mainstream clients do. That keeps us compatible with peers that
/// speak extensions we do not (BEP 52 hash messages, vendor messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Zero-length message, sent to keep an idle connection open.
    KeepAlive,
    /// The sender will not serve our requests.
    Choke,
    /// The sender will serve our requests.
    Unchoke,
    /// The sender wants pieces we have.
    Interested,
    /// The sender wants nothing from us.
    NotInterested,
    /// The sender completed a piece.
    Have(PieceIndex),
    /// The raw bitfield payload. Its length and spare bits can only be checked
    /// against the piece count: see [`crate::Bitfield::from_payload`] and
    /// [`crate::DecoderOptions::piece_count`].
    Bitfield(Bytes),
    /// Asks for a block.
    Request(BlockRequest),
    /// A block of data.
    Piece(Piece),
    /// Withdraws a request.
    Cancel(BlockRequest),
    /// The sender's DHT port (BEP 5).
    Port(u16),
    /// BEP 6: the sender suggests downloading this piece.
    SuggestPiece(PieceIndex),
    /// BEP 6: the sender has every piece (instead of a bitfield).
    HaveAll,
    /// BEP 6: the sender has no piece (instead of a bitfield).
    HaveNone,
    /// BEP 6: the sender will not serve this request.
    RejectRequest(BlockRequest),
    /// BEP 6: we may request this piece even while choked.
    AllowedFast(PieceIndex),
    /// BEP 10: an extension message (id 0 is the extended handshake).
    Extended(ExtendedMessage),
    /// A message id this crate does not know; the engine should ignore it.
    Unknown {
        /// The id byte.
        id: u8,
        /// Everything after the id byte.
        payload: Bytes,
    },
}

/// A block of piece data (message id 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The piece the block belongs to.
    pub index: PieceIndex,
    /// Where the block starts inside the piece.
    pub offset: BlockOffset,
    /// The block itself; a slice of the receive buffer when decoded.
    pub data: Bytes,
}

/// Length of a `piece` message's header: length prefix, id, index, begin.
pub const PIECE_HEADER_LEN: usize = 13;

/// The 13-byte header of a `piece` message carrying `len` bytes of data.
///
/// Send it followed by the block data (e.g. `write_vectored`); together they
/// form exactly what [`Message::encode`] would write, without copying the block.
///
/// ```
/// use wire::{piece_header, BlockLength, BlockOffset, PieceIndex};
/// let h = piece_header(PieceIndex(1), BlockOffset(0x4000), BlockLength(0x4000));
/// assert_eq!(h, [0, 0, 0x40, 9, 7, 0, 0, 0, 1, 0, 0, 0x40, 0]);
/// ```
///
/// # Panics
///
/// If `len` is within 9 bytes of `u32::MAX` (no frame could carry it; a bug
/// in the caller, not something a peer can cause).
pub fn piece_header(index: PieceIndex, offset: BlockOffset, len: BlockLength) -> [u8; 13] {
    let frame = len
        .0
        .checked_add(9)
        .expect("bug: piece block longer than a frame can carry");
    let mut h = [0u8; PIECE_HEADER_LEN];
    h[0..4].copy_from_slice(&frame.to_be_bytes());
    h[4] = MessageId::Piece.as_u8();
    h[5..9].copy_from_slice(&index.0.to_be_bytes());
    h[9..13].copy_from_slice(&offset.0.to_be_bytes());
    h
}

impl Piece {
    /// The block this message answers, for matching against our requests.
    pub fn block(&self) -> BlockRequest {
        BlockRequest {
            piece: self.index,
            offset: self.offset,
            length: BlockLength(crate::convert::u32_saturating(self.data.len())),
        }
    }

    /// The 13-byte header to send before [`Piece::data`]; see [`piece_header`].
    ///
    /// # Panics
    ///
    /// If the data is longer than a frame can carry (about 4 GiB).
    pub fn header(&self) -> [u8; PIECE_HEADER_LEN] {
        piece_header(self.index, self.offset, self.block_len_checked())
    }

    fn block_len_checked(&self) -> BlockLength {
        BlockLength(u32::try_from(self.data.len()).expect("bug: piece block longer than 4 GiB"))
    }
}

impl Message {
    /// The id byte, `None` for keep-alive.
    pub fn id(&self) -> Option<u8> {
        use Message::*;
        let id = match self {
            KeepAlive => return None,
            Choke => MessageId::Choke,
            Unchoke => MessageId::Unchoke,
            Interested => MessageId::Interested,
            NotInterested => MessageId::NotInterested,
            Have(_) => MessageId::Have,
            Bitfield(_) => MessageId::Bitfield,
            Request(_) => MessageId::Request,
            Piece(_) => MessageId::Piece,
            Cancel(_) => MessageId::Cancel,
            Port(_) => MessageId::Port,
            SuggestPiece(_) => MessageId::SuggestPiece,
            HaveAll => MessageId::HaveAll,
            HaveNone => MessageId::HaveNone,
            RejectRequest(_) => MessageId::RejectRequest,
            AllowedFast(_) => MessageId::AllowedFast,
            Extended(_) => MessageId::Extended,
            Unknown { id, .. } => return Some(*id),
        };
        Some(id.as_u8())
    }

    /// The bulk payload that [`Message::encode_header`] leaves out, if any.
    pub fn bulk(&self) -> Option<&Bytes> {
        match self {
            Message::Bitfield(b) => Some(b),
            Message::Piece(p) => Some(&p.data),
            Message::Extended(e) => Some(&e.payload),
            Message::Unknown { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// The value of the length prefix: id byte plus payload.
    fn frame_len(&self) -> usize {
        use Message::*;
        match self {
            KeepAlive => 0,
            Choke | Unchoke | Interested | NotInterested | HaveAll | HaveNone => 1,
            Have(_) | SuggestPiece(_) | AllowedFast(_) => 5,
            Request(_) | Cancel(_) | RejectRequest(_) => 13,
            Port(_) => 3,
            Bitfield(b) => 1 + b.len(),
            Piece(p) => 9 + p.data.len(),
            Extended(e) => 2 + e.payload.len(),
            Unknown { payload, .. } => 1 + payload.len(),
        }
    }

    /// Bytes [`Message::encode`] writes, including the 4-byte length prefix.
    pub fn encoded_len(&self) -> usize {
        4 + self.frame_len()
    }

    /// Appends the whole message to `dst`.
    ///
    /// # Panics
    ///
    /// If a payload is longer than a frame can carry (about 4 GiB): a bug in
    /// the caller, never caused by decoded input.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        if let Some(bulk) = self.encode_header(dst) {
            dst.put_slice(bulk);
        }
    }

    /// Appends everything except the bulk payload (piece data, bitfield,
    /// extended or unknown payload) and returns that payload, which the caller
    /// must send right after. This is the zero-copy path for `piece`.
    ///
    /// # Panics
    ///
    /// As [`Message::encode`].
    pub fn encode_header(&self, dst: &mut BytesMut) -> Option<&Bytes> {
        use Message::*;
        let frame = u32::try_from(self.frame_len()).expect("bug: message longer than 4 GiB");
        dst.put_u32(frame);
        // keep-alive is the bare length prefix
        let id = self.id()?;
        dst.put_u8(id);
        match self {
            KeepAlive | Choke | Unchoke | Interested | NotInterested | HaveAll | HaveNone => None,
            Have(i) | SuggestPiece(i) | AllowedFast(i) => {
                dst.put_u32(i.0);
                None
            }
            Request(r) | Cancel(r) | RejectRequest(r) => {
                dst.put_u32(r.piece.0);
                dst.put_u32(r.offset.0);
                dst.put_u32(r.length.0);
                None
            }
            Port(p) => {
                dst.put_u16(*p);
                None
            }
            Piece(p) => {
                dst.put_u32(p.index.0);
                dst.put_u32(p.offset.0);
                Some(&p.data)
            }
            Extended(e) => {
                dst.put_u8(e.id.0);
                Some(&e.payload)
            }
            Bitfield(b) => Some(b),
            Unknown { payload, .. } => Some(payload),
        }
    }

    /// The whole message as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut b);
        b.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExtendedId;

    fn enc(m: &Message) -> Vec<u8> {
        m.to_bytes().to_vec()
    }

    #[test]
    fn fixed_layouts() {
        assert_eq!(enc(&Message::KeepAlive), [0, 0, 0, 0]);
        assert_eq!(enc(&Message::Choke), [0, 0, 0, 1, 0]);
        assert_eq!(enc(&Message::NotInterested), [0, 0, 0, 1, 3]);
        assert_eq!(
            enc(&Message::Have(PieceIndex(258))),
            [0, 0, 0, 5, 4, 0, 0, 1, 2]
        );
        assert_eq!(enc(&Message::Port(6881)), [0, 0, 0, 3, 9, 0x1a, 0xe1]);
        assert_eq!(enc(&Message::HaveAll), [0, 0, 0, 1, 0x0e]);
        assert_eq!(
            enc(&Message::Request(BlockRequest::new(
                PieceIndex(1),
                BlockOffset(2),
                BlockLength(3)
            ))),
            [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
        );
        assert_eq!(
            enc(&Message::Extended(ExtendedMessage {
                id: ExtendedId(3),
                payload: Bytes::from_static(b"de"),
            })),
            [0, 0, 0, 4, 20, 3, b'd', b'e']
        );
    }

    #[test]
    fn piece_header_plus_data_equals_encode() {
        let p = Piece {
            index: PieceIndex(7),
            offset: BlockOffset(16384),
            data: Bytes::from(vec![0x5a; 100]),
        };
        let m = Message::Piece(p.clone());
        let mut split = p.header().to_vec();
        split.extend_from_slice(&p.data);
        assert_eq!(split, enc(&m));

        let mut hdr = BytesMut::new();
        let bulk = m.encode_header(&mut hdr).cloned();
        assert_eq!(&hdr[..], &p.header());
        assert_eq!(bulk, Some(p.data.clone()));
        assert_eq!(m.encoded_len(), 113);
    }
}
