/// Why a peer's handshake was rejected. The connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The first byte (protocol string length) is not 19. A peer speaking
    /// another protocol (HTTP, an encrypted BitTorrent stream) ends up here.
    #[error("protocol string length is {0}, expected 19")]
    WrongProtocolLength(u8),
    /// The protocol string is not `BitTorrent protocol`; `received` holds the
    /// bytes seen so far (the mismatch is reported as soon as it arrives).
    #[error("protocol string is \"{}\", expected \"BitTorrent protocol\"", received.escape_ascii())]
    WrongProtocol {
        /// The protocol-string bytes received up to and including the first wrong one.
        received: Vec<u8>,
    },
}
