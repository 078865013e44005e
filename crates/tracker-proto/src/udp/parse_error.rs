use super::{ConnectionId, TransactionId};

/// Why a UDP packet is rejected.
///
/// Only [`ParseError::Sendable`] may be answered, and only after the server
/// has checked its connection id: answering anything else would let a
/// spoofed source address turn the tracker into a reflector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The packet carries a connection id and transaction id, so an error
    /// response can be addressed; `message` is safe to send.
    #[error("{message}")]
    Sendable {
        /// The connection id the packet carried (to be validated first).
        connection_id: ConnectionId,
        /// Echoed in the error response.
        transaction_id: TransactionId,
        /// The reason, sent as the error message.
        message: &'static str,
    },
    /// Shorter than the 16 bytes every request has.
    #[error("packet of {len} bytes is too short")]
    TooShort {
        /// Packet length.
        len: usize,
    },
    /// A connect request without the BEP 15 magic number.
    #[error("connect request with wrong protocol id")]
    BadProtocolId,
    /// An action number this tracker does not know.
    #[error("unknown action {action}")]
    UnknownAction {
        /// The action field.
        action: u32,
    },
}
