//! Token-bucket bandwidth limits.
//!
//! A [`RateLimiter`] hands out bytes at a fixed rate with a small burst.
//! Callers take what they need at once and then sleep off the debt, so a
//! large write is never split and the average rate is exact. A rate of 0
//! means unlimited and costs one atomic load.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A byte rate in bytes per second; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate(pub u64);

impl Rate {
    /// No limit.
    pub const UNLIMITED: Rate = Rate(0);

    /// Parses `10M`, `512k`, `1.5G`, `100000` (bytes per second; binary
    /// multiples: k = 1024, see [`metainfo::parse_size`]) and `0` (unlimited).
    pub fn parse(s: &str) -> Result<Rate, String> {
        metainfo::parse_size(s)
            .map(Rate)
            .map_err(|_| format!("invalid rate {s:?} (e.g. 10M, 512k, 0 for unlimited)"))
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket; see the module docs.
#[derive(Debug)]
pub struct RateLimiter {
    rate: AtomicU64,
    bucket: Mutex<Bucket>,
}

impl RateLimiter {
    /// A limiter at `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate: AtomicU64::new(rate.0),
            bucket: Mutex::new(Bucket {
                tokens: 0.0,
                last: Instant::now(),
            }),
        }
    }

    /// Changes the rate.
    pub fn set_rate(&self, rate: Rate) {
        self.rate.store(rate.0, Ordering::Relaxed);
    }

    /// The configured rate.
    pub fn rate(&self) -> Rate {
        Rate(self.rate.load(Ordering::Relaxed))
    }

    /// How long to wait after taking `n` bytes now (zero if within budget).
    fn take(&self, n: u64) -> Duration {
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return Duration::ZERO;
        }
        let rate = rate as f64;
        let burst = (rate / 10.0).max(64.0 * 1024.0);
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.tokens -= n as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate)
        }
    }

    /// Takes `n` bytes, sleeping as long as the limit requires.
    pub async fn acquire(&self, n: u64) {
        let wait = self.take(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Acquires `n` bytes from every limiter in `chain` (torrent, then global).
pub(crate) async fn acquire_all(chain: &[&RateLimiter], n: u64) {
    let wait = chain.iter().map(|l| l.take(n)).max().unwrap_or_default();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(Rate::parse("0"), Ok(Rate(0)));
        assert_eq!(Rate::parse("10M"), Ok(Rate(10 << 20)));
        assert_eq!(Rate::parse("512k"), Ok(Rate(512 << 10)));
        assert_eq!(Rate::parse("1.5G"), Ok(Rate(3 << 29)));
        assert_eq!(Rate::parse("1234"), Ok(Rate(1234)));
        assert!(Rate::parse("x").is_err());
        assert!(Rate::parse("5Q").is_err());
        assert!(Rate::parse("-1M").is_err());
    }

    #[test]
    fn debt_turns_into_wait() {
        let l = RateLimiter::new(Rate(1 << 20));
        assert!(l.take(1).is_zero() || l.take(1) < Duration::from_millis(1));
        let w = l.take(2 << 20);
        assert!(
            w > Duration::from_millis(1500) && w < Duration::from_millis(2100),
            "{w:?}"
        );
        let u = RateLimiter::new(Rate::UNLIMITED);
        assert!(u.take(u64::MAX).is_zero());
    }
}
