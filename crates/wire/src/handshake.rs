use bytes::{Buf, BufMut, BytesMut};

use crate::{HandshakeError, Infohash, PeerId, Reserved};

/// The BEP 3 handshake: `<19>"BitTorrent protocol"<reserved:8><infohash:20><peer id:20>`.
///
/// ```
/// use wire::{Handshake, HandshakeParser, Infohash, PeerId, Reserved};
/// let ours = Handshake::new(Reserved::NONE.with_fast(true), Infohash([1; 20]), PeerId([2; 20]));
/// let bytes = ours.to_bytes();
///
/// // The remote's handshake may arrive in pieces.
/// let mut p = HandshakeParser::new();
/// assert_eq!(p.feed(&bytes[..30]).unwrap(), 30);
/// assert!(p.handshake().is_none());
/// assert_eq!(p.feed(&bytes[30..]).unwrap(), 38);
/// assert_eq!(p.handshake(), Some(ours));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// Extension bits.
    pub reserved: Reserved,
    /// The torrent this connection is about.
    pub info_hash: Infohash,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// Length of a handshake on the wire.
    pub const LEN: usize = 68;
    /// The protocol string.
    pub const PROTOCOL: &'static [u8; 19] = b"BitTorrent protocol";
    /// Offset of the infohash (the reserved bytes end here).
    const INFO_HASH_AT: usize = 28;
    /// Offset of the peer id (the infohash ends here).
    const PEER_ID_AT: usize = 48;

    /// A handshake with the given fields.
    pub const fn new(reserved: Reserved, info_hash: Infohash, peer_id: PeerId) -> Self {
        Self {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// The 68 wire bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(Self::PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved.0);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    /// Appends the wire bytes to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(&self.to_bytes());
    }
}

/// Incremental handshake parser: feed it bytes as they arrive.
///
/// It validates the protocol string byte by byte, so a peer speaking
/// something else is rejected on its first wrong byte. After 48 bytes the
/// reserved bits and infohash are available ([`HandshakeParser::info_hash`]),
/// which lets an accepting peer pick the torrent and answer before the peer id
/// arrives. It never consumes more than the 68 handshake bytes: whatever
/// follows in the same read belongs to the message stream.
#[derive(Debug, Clone)]
pub struct HandshakeParser {
    buf: [u8; Handshake::LEN],
    filled: usize,
}

impl Default for HandshakeParser {
    fn default() -> Self {
        Self::new()
    }
}

impl HandshakeParser {
    /// A parser that has seen nothing yet.
    pub const fn new() -> Self {
        Self {
            buf: [0; Handshake::LEN],
            filled: 0,
        }
    }

    /// Consumes bytes from the front of `input` and returns how many it took
    /// (at most the number still missing; 0 once complete).
    ///
    /// After an error the connection must be closed; the parser keeps
    /// returning the same error.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        self.check()?;
        let take = input.len().min(Handshake::LEN - self.filled);
        let start = self.filled;
        self.buf[start..start + take].copy_from_slice(&input[..take]);
        self.filled += take;
        self.check()?;
        Ok(take)
    }

    /// Feeds from `src`, advancing it past the bytes used, and returns the
    /// handshake once complete. Bytes after the handshake stay in `src`, ready
    /// for [`crate::MessageDecoder::with_buffer`].
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Handshake>, HandshakeError> {
        let used = self.feed(src)?;
        src.advance(used);
        Ok(self.handshake())
    }

    /// Validates the protocol-string bytes received so far.
    fn check(&self) -> Result<(), HandshakeError> {
        if self.filled == 0 {
            return Ok(());
        }
        if self.buf[0] != 19 {
            return Err(HandshakeError::WrongProtocolLength(self.buf[0]));
        }
        let seen = &self.buf[1..self.filled.min(20)];
        if let Some(bad) = seen
            .iter()
            .zip(Handshake::PROTOCOL)
            .position(|(a, b)| a != b)
        {
            return Err(HandshakeError::WrongProtocol {
                received: seen[..=bad].to_vec(),
            });
        }
        Ok(())
    }

    /// Bytes received so far (at most 68).
    pub const fn received(&self) -> usize {
        self.filled
    }

    /// True once all 68 bytes arrived and the protocol string is right.
    pub fn is_complete(&self) -> bool {
        self.filled == Handshake::LEN && self.check().is_ok()
    }

    /// The reserved bits, once the first 28 bytes arrived (`None` after an error).
    pub fn reserved(&self) -> Option<Reserved> {
        if self.filled < Handshake::INFO_HASH_AT || self.check().is_err() {
            return None;
        }
        let mut r = [0u8; 8];
        r.copy_from_slice(&self.buf[20..Handshake::INFO_HASH_AT]);
        Some(Reserved(r))
    }

    /// The infohash, once the first 48 bytes arrived (`None` after an error).
    pub fn info_hash(&self) -> Option<Infohash> {
        if self.filled < Handshake::PEER_ID_AT || self.check().is_err() {
            return None;
        }
        let mut h = [0u8; 20];
        h.copy_from_slice(&self.buf[Handshake::INFO_HASH_AT..Handshake::PEER_ID_AT]);
        Some(Infohash(h))
    }

    /// The whole handshake, once complete (`None` after an error).
    pub fn handshake(&self) -> Option<Handshake> {
        if !self.is_complete() {
            return None;
        }
        let mut id = [0u8; 20];
        id.copy_from_slice(&self.buf[Handshake::PEER_ID_AT..]);
        Some(Handshake {
            reserved: self.reserved()?,
            info_hash: self.info_hash()?,
            peer_id: PeerId(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake::new(
            Reserved::NONE.with_extension_protocol(true).with_dht(true),
            Infohash([0xaa; 20]),
            PeerId(*b"-AH0100-abcdefghijkl"),
        )
    }

    #[test]
    fn layout_matches_bep3() {
        let b = sample().to_bytes();
        assert_eq!(b[0], 19);
        assert_eq!(&b[1..20], b"BitTorrent protocol");
        assert_eq!(&b[20..28], &[0, 0, 0, 0, 0, 0x10, 0, 0x01]);
        assert_eq!(&b[28..48], &[0xaa; 20]);
        assert_eq!(&b[48..68], b"-AH0100-abcdefghijkl");
    }

    #[test]
    fn byte_by_byte() {
        let b = sample().to_bytes();
        let mut p = HandshakeParser::new();
        for (i, byte) in b.iter().enumerate() {
            assert_eq!(p.info_hash().is_some(), i >= 48);
            assert_eq!(p.feed(&[*byte]).unwrap(), 1);
        }
        assert_eq!(p.handshake(), Some(sample()));
        assert_eq!(p.feed(b"more").unwrap(), 0);
    }

    #[test]
    fn leaves_trailing_bytes_in_buffer() {
        let mut src = BytesMut::new();
        sample().encode(&mut src);
        src.extend_from_slice(&[0, 0, 0, 1, 2]);
        let mut p = HandshakeParser::new();
        assert_eq!(p.decode(&mut src).unwrap(), Some(sample()));
        assert_eq!(&src[..], &[0, 0, 0, 1, 2]);
    }

    #[test]
    fn info_hash_before_peer_id() {
        let b = sample().to_bytes();
        let mut p = HandshakeParser::new();
        p.feed(&b[..48]).unwrap();
        assert_eq!(p.info_hash(), Some(Infohash([0xaa; 20])));
        assert_eq!(p.reserved(), Some(sample().reserved));
        assert_eq!(p.handshake(), None);
    }

    #[test]
    fn rejects_wrong_length_byte() {
        let mut p = HandshakeParser::new();
        assert_eq!(
            p.feed(b"GET / HTTP/1.1\r\n"),
            Err(HandshakeError::WrongProtocolLength(b'G'))
        );
        // stays failed
        assert_eq!(p.feed(b"x"), Err(HandshakeError::WrongProtocolLength(b'G')));
    }

    #[test]
    fn rejects_wrong_protocol_string_early() {
        let mut p = HandshakeParser::new();
        assert_eq!(p.feed(b"\x13BitTor").unwrap(), 7);
        assert_eq!(
            p.feed(b"ment"),
            Err(HandshakeError::WrongProtocol {
                received: b"BitTorm".to_vec()
            })
        );
    }

    #[test]
    fn nothing_is_returned_after_an_error() {
        let mut b = sample().to_bytes();
        b[19] = b'L';
        let mut p = HandshakeParser::new();
        assert!(p.feed(&b).is_err());
        assert_eq!(p.handshake(), None);
        assert_eq!(p.info_hash(), None);
        assert_eq!(p.reserved(), None);
        assert!(!p.is_complete());
    }

    #[test]
    fn rejects_case_difference() {
        let mut b = sample().to_bytes();
        b[1] = b'b';
        assert_eq!(
            HandshakeParser::new().feed(&b),
            Err(HandshakeError::WrongProtocol {
                received: b"b".to_vec()
            })
        );
    }

    #[test]
    fn error_message_is_readable() {
        let e = HandshakeError::WrongProtocol {
            received: b"Bit\x00".to_vec(),
        };
        assert_eq!(
            e.to_string(),
            "protocol string is \"Bit\\x00\", expected \"BitTorrent protocol\""
        );
    }
}
