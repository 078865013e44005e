use std::fmt;

/// The id byte of every message this crate knows (BEP 3, BEP 5, BEP 6, BEP 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageId {
    /// `choke` (BEP 3).
    Choke = 0,
    /// `unchoke` (BEP 3).
    Unchoke = 1,
    /// `interested` (BEP 3).
    Interested = 2,
    /// `not interested` (BEP 3).
    NotInterested = 3,
    /// `have` (BEP 3).
    Have = 4,
    /// `bitfield` (BEP 3).
    Bitfield = 5,
    /// `request` (BEP 3).
    Request = 6,
    /// `piece` (BEP 3).
    Piece = 7,
    /// `cancel` (BEP 3).
    Cancel = 8,
    /// `port` (BEP 5, DHT).
    Port = 9,
    /// `suggest piece` (BEP 6).
    SuggestPiece = 0x0d,
    /// `have all` (BEP 6).
    HaveAll = 0x0e,
    /// `have none` (BEP 6).
    HaveNone = 0x0f,
    /// `reject request` (BEP 6).
    RejectRequest = 0x10,
    /// `allowed fast` (BEP 6).
    AllowedFast = 0x11,
    /// `extended` (BEP 10).
    Extended = 20,
}

impl MessageId {
    /// The id for a known byte, `None` for anything else.
    pub const fn from_u8(id: u8) -> Option<Self> {
        use MessageId::*;
        Some(match id {
            0 => Choke,
            1 => Unchoke,
            2 => Interested,
            3 => NotInterested,
            4 => Have,
            5 => Bitfield,
            6 => Request,
            7 => Piece,
            8 => Cancel,
            9 => Port,
            0x0d => SuggestPiece,
            0x0e => HaveAll,
            0x0f => HaveNone,
            0x10 => RejectRequest,
            0x11 => AllowedFast,
            20 => Extended,
            _ => return None,
        })
    }

    /// The wire byte.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The spec's name, e.g. `"not interested"`.
    pub const fn name(self) -> &'static str {
        use MessageId::*;
        match self {
            Choke => "choke",
            Unchoke => "unchoke",
            Interested => "interested",
            NotInterested => "not interested",
            Have => "have",
            Bitfield => "bitfield",
            Request => "request",
            Piece => "piece",
            Cancel => "cancel",
            Port => "port",
            SuggestPiece => "suggest piece",
            HaveAll => "have all",
            HaveNone => "have none",
            RejectRequest => "reject request",
            AllowedFast => "allowed fast",
            Extended => "extended",
        }
    }

    /// Whether the message belongs to the BEP 6 fast extension, which may only
    /// be used when both handshakes set [`crate::Reserved::fast`].
    pub const fn is_fast_extension(self) -> bool {
        use MessageId::*;
        matches!(
            self,
            SuggestPiece | HaveAll | HaveNone | RejectRequest | AllowedFast
        )
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
