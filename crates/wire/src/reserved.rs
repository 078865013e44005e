use std::fmt;

/// The 8 reserved bytes of the handshake, which advertise protocol extensions.
///
/// Only the bits this crate knows get typed accessors; all other bits are kept
/// verbatim so a handshake round-trips exactly.
///
/// | bit                         | byte | mask   | spec   |
/// |-----------------------------|------|--------|--------|
/// | extension protocol          | 5    | `0x10` | BEP 10 |
/// | fast extension              | 7    | `0x04` | BEP 6  |
/// | DHT                         | 7    | `0x01` | BEP 5  |
///
/// ```
/// use wire::Reserved;
/// let r = Reserved::NONE.with_extension_protocol(true).with_fast(true);
/// assert!(r.fast() && r.extension_protocol() && !r.dht());
/// assert_eq!(r.0, [0, 0, 0, 0, 0, 0x10, 0, 0x04]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reserved(pub [u8; 8]);

const EXTENSION_PROTOCOL: (usize, u8) = (5, 0x10);
const FAST: (usize, u8) = (7, 0x04);
const DHT: (usize, u8) = (7, 0x01);

impl Reserved {
    /// No extension bits set.
    pub const NONE: Reserved = Reserved([0; 8]);

    /// Wraps raw bytes.
    pub const fn new(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }
    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    const fn bit(&self, (byte, mask): (usize, u8)) -> bool {
        self.0[byte] & mask != 0
    }

    const fn with_bit(mut self, (byte, mask): (usize, u8), on: bool) -> Self {
        if on {
            self.0[byte] |= mask;
        } else {
            self.0[byte] &= !mask;
        }
        self
    }

    /// BEP 10 extension protocol (byte 5, `0x10`).
    pub const fn extension_protocol(&self) -> bool {
        self.bit(EXTENSION_PROTOCOL)
    }
    /// BEP 6 fast extension (byte 7, `0x04`).
    pub const fn fast(&self) -> bool {
        self.bit(FAST)
    }
    /// BEP 5 DHT (byte 7, `0x01`); the peer will send a `port` message.
    pub const fn dht(&self) -> bool {
        self.bit(DHT)
    }
    /// Sets or clears the BEP 10 bit.
    pub const fn with_extension_protocol(self, on: bool) -> Self {
        self.with_bit(EXTENSION_PROTOCOL, on)
    }
    /// Sets or clears the BEP 6 bit.
    pub const fn with_fast(self, on: bool) -> Self {
        self.with_bit(FAST, on)
    }
    /// Sets or clears the DHT bit.
    pub const fn with_dht(self, on: bool) -> Self {
        self.with_bit(DHT, on)
    }
    /// The extensions both sides advertise: the bitwise AND. Use it to decide
    /// what the connection may use (e.g. fast-extension messages are only legal
    /// when `a.common(b).fast()`).
    pub const fn common(self, other: Reserved) -> Reserved {
        let mut out = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            out[i] = self.0[i] & other.0[i];
            i += 1;
        }
        Reserved(out)
    }
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reserved(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(
            f,
            "; ext={} fast={} dht={})",
            self.extension_protocol(),
            self.fast(),
            self.dht()
        )
    }
}
