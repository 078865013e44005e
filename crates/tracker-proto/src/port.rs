use std::num::NonZeroU16;

/// A peer's listening port; port 0 is never valid in an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port(pub NonZeroU16);

impl Port {
    /// The port, if it is not zero.
    pub fn new(port: u16) -> Option<Self> {
        NonZeroU16::new(port).map(Self)
    }

    /// The port number.
    pub fn get(self) -> u16 {
        self.0.get()
    }
}
