//! Per-address token buckets.
//!
//! Addresses are IPv4 addresses or IPv6 /64 networks (one host usually owns
//! a whole /64). The table is sharded and bounded: when a shard is full,
//! buckets that have refilled completely are forgotten (they carry no
//! information), and if it is still full the request is allowed untracked,
//! so a flood of spoofed sources cannot grow memory or lock out real
//! clients. UDP floods with spoofed sources are handled by connection ids,
//! not by this limiter.

use crate::config::RateLimitConfig;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

const SHARDS: usize = 32;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

/// Decision of [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateDecision {
    /// Go ahead.
    Allow,
    /// Table full, allowed without tracking.
    AllowUntracked,
    /// Over the limit.
    Deny,
}

/// Sharded token buckets; see the module docs.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    enabled: bool,
    per_ms: f64,
    burst: f64,
    max_per_shard: usize,
    shards: Box<[Mutex<HashMap<u128, Bucket>>]>,
}

fn key_of(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6) & !u128::from(u64::MAX),
    }
}

impl RateLimiter {
    pub(crate) fn new(c: &RateLimitConfig) -> Self {
        Self {
            enabled: c.enabled,
            per_ms: lossy_f64(u64::from(c.per_second)) / 1000.0,
            burst: lossy_f64(u64::from(c.burst)),
            max_per_shard: (c.max_tracked / SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes one token for `ip` at `now_ms` (tracker clock, milliseconds).
    pub(crate) fn check(&self, ip: IpAddr, now_ms: u64) -> RateDecision {
        if !self.enabled {
            return RateDecision::Allow;
        }
        let key = key_of(ip);
        let shard_idx = usize::try_from((key ^ (key >> 64)) % SHARDS as u128).unwrap_or(0);
        let mut shard = match self.shards[shard_idx].lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !shard.contains_key(&key) && shard.len() >= self.max_per_shard {
            let (per_ms, burst) = (self.per_ms, self.burst);
            shard.retain(|_, b| b.tokens + elapsed(now_ms, b.last_ms) * per_ms < burst);
            if shard.len() >= self.max_per_shard {
                return RateDecision::AllowUntracked;
            }
        }
        let b = shard.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last_ms: now_ms,
        });
        b.tokens = (b.tokens + elapsed(now_ms, b.last_ms) * self.per_ms).min(self.burst);
        b.last_ms = now_ms;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            RateDecision::Allow
        } else {
            RateDecision::Deny
        }
    }
}

fn elapsed(now: u64, then: u64) -> f64 {
    lossy_f64(now.saturating_sub(then))
}

/// `v` as a float; values above 2^53 lose precision, which no rate needs.
fn lossy_f64(v: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let f = v as f64;
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32, max_tracked: usize) -> RateLimiter {
        RateLimiter::new(&RateLimitConfig {
            enabled: true,
            per_second,
            burst,
            max_tracked,
        })
    }

    #[test]
    fn burst_then_deny_then_refill() {
        let l = limiter(10, 5, 1000);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(l.check(ip, 0), RateDecision::Allow);
        }
        assert_eq!(l.check(ip, 0), RateDecision::Deny);
        assert_eq!(l.check(ip, 100), RateDecision::Allow);
        assert_eq!(l.check(ip, 100), RateDecision::Deny);
        // Another address is unaffected.
        assert_eq!(
            l.check("10.0.0.2".parse().unwrap(), 100),
            RateDecision::Allow
        );
    }

    #[test]
    fn ipv6_shares_a_bucket_per_64() {
        let l = limiter(1, 1, 1000);
        assert_eq!(l.check("fd00::1".parse().unwrap(), 0), RateDecision::Allow);
        assert_eq!(l.check("fd00::2".parse().unwrap(), 0), RateDecision::Deny);
        assert_eq!(
            l.check("fd00:0:0:1::1".parse().unwrap(), 0),
            RateDecision::Allow
        );
    }

    #[test]
    fn full_table_allows_untracked() {
        let l = limiter(1, 1, SHARDS);
        let mut untracked = 0;
        for i in 0..200u32 {
            let ip = IpAddr::V4(i.into());
            if l.check(ip, 0) == RateDecision::AllowUntracked {
                untracked += 1;
            }
        }
        assert!(untracked > 0);
    }

    #[test]
    fn full_table_forgets_refilled_buckets() {
        let l = limiter(1000, 1, SHARDS);
        for i in 0..200u32 {
            let _ = l.check(IpAddr::V4(i.into()), 0);
        }
        // After a second every bucket is full again and can be dropped.
        assert_eq!(
            l.check("10.9.9.9".parse().unwrap(), 1000),
            RateDecision::Allow
        );
    }

    #[test]
    fn disabled_always_allows() {
        let l = RateLimiter::new(&RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        });
        for _ in 0..100_000 {
            assert_eq!(l.check("10.0.0.1".parse().unwrap(), 0), RateDecision::Allow);
        }
    }
}
