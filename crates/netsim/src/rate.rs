use std::fmt;
use std::time::Duration;

/// A link rate in bits per second (SI: 1 Mbit/s = 1 000 000 bit/s, as `tc` counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u64);

impl Rate {
    /// A rate of `bits` bits per second.
    pub const fn from_bits_per_sec(bits: u64) -> Self {
        Self(bits)
    }

    /// A rate of `mbit` megabits (10^6 bits) per second.
    pub const fn from_mbit(mbit: u32) -> Self {
        // u32::MAX * 10^6 fits in u64.
        Self(mbit as u64 * 1_000_000)
    }

    /// Bits per second.
    pub const fn bits_per_sec(self) -> u64 {
        self.0
    }

    /// How long `bytes` take at this rate, with no overhead; `Duration::MAX` for a zero rate.
    pub fn transfer_time(self, bytes: u64) -> Duration {
        if self.0 == 0 {
            return Duration::MAX;
        }
        let bits = u128::from(bytes) * 8;
        let nanos = bits * 1_000_000_000 / u128::from(self.0);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The sum of two rates (saturating).
    pub const fn saturating_add(self, other: Rate) -> Rate {
        Rate(self.0.saturating_add(other.0))
    }

    /// This rate times `n` (saturating).
    pub const fn saturating_mul(self, n: u64) -> Rate {
        Rate(self.0.saturating_mul(n))
    }

    /// The argument `tc` takes for this rate.
    pub(crate) fn tc_arg(self) -> String {
        format!("{}bit", self.0)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1_000_000 == 0 {
            write!(f, "{} Mbit/s", self.0 / 1_000_000)
        } else {
            write!(f, "{} bit/s", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_time_of_256_mib_at_100_mbit() {
        let t = Rate::from_mbit(100).transfer_time(256 << 20);
        assert_eq!(t, Duration::from_nanos(21_474_836_480));
    }

    #[test]
    fn zero_rate_takes_forever() {
        assert_eq!(Rate::from_mbit(0).transfer_time(1), Duration::MAX);
    }

    #[test]
    fn display_and_tc_arg() {
        assert_eq!(Rate::from_mbit(50).to_string(), "50 Mbit/s");
        assert_eq!(Rate::from_bits_per_sec(1500).to_string(), "1500 bit/s");
        assert_eq!(Rate::from_mbit(50).tc_arg(), "50000000bit");
    }
}
