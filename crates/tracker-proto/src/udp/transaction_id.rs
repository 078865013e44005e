/// The 32-bit id a client picks per request; the response echoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub u32);
