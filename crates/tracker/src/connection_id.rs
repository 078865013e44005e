//! BEP 15 connection ids.
//!
//! Threat model: a UDP source address can be forged, so without a
//! handshake an attacker could make the tracker send announce responses
//! (bigger than the request) to a victim. The connection id proves the
//! requester received our connect response at that address. It is
//! `SipHash-2-4(secret, client ip ‖ time bucket)`, with a 128-bit random
//! secret made at start-up and a one-minute bucket; ids of the current and
//! the previous bucket are accepted, so an id lives between 60 and 120
//! seconds, and nothing needs to be stored per client. Forging one means
//! guessing a 64-bit keyed hash: at a million guesses per second that takes
//! ~300 000 years on average, and every guess costs the attacker a packet
//! that gets no answer. The port is not hashed, so a client may announce
//! from another socket than it connected from (some do).

use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::IpAddr;
use tracker_proto::udp::ConnectionId;

/// Seconds per time bucket.
const BUCKET_SECS: u32 = 60;

/// Makes and checks connection ids; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionIdValidator {
    key: [u8; 16],
}

impl ConnectionIdValidator {
    /// A validator with a fresh random secret.
    pub(crate) fn new() -> Self {
        let mut key = [0u8; 16];
        if getrandom::fill(&mut key).is_err() {
            // No OS randomness: fall back to std's randomly keyed hasher,
            // which is seeded from the same source through another path.
            use std::hash::BuildHasher;
            let s = std::collections::hash_map::RandomState::new();
            key[..8].copy_from_slice(&s.hash_one(1u8).to_le_bytes());
            key[8..].copy_from_slice(&s.hash_one(2u8).to_le_bytes());
        }
        Self { key }
    }

    fn hash(&self, ip: IpAddr, bucket: u32) -> ConnectionId {
        let mut h = SipHasher24::new_with_key(&self.key);
        match ip.to_canonical() {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.write_u32(bucket);
        ConnectionId(h.finish())
    }

    /// The id for `ip` at `now_secs` (seconds on the tracker's clock).
    pub(crate) fn make(&self, ip: IpAddr, now_secs: u32) -> ConnectionId {
        self.hash(ip, now_secs / BUCKET_SECS)
    }

    /// Whether `id` was made for `ip` within the last one to two minutes.
    pub(crate) fn check(&self, id: ConnectionId, ip: IpAddr, now_secs: u32) -> bool {
        let bucket = now_secs / BUCKET_SECS;
        id == self.hash(ip, bucket) || (bucket > 0 && id == self.hash(ip, bucket - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn valid_for_one_to_two_minutes() {
        let v = ConnectionIdValidator::new();
        let id = v.make(ip("10.0.0.1"), 119);
        assert!(v.check(id, ip("10.0.0.1"), 119));
        assert!(v.check(id, ip("10.0.0.1"), 179));
        assert!(!v.check(id, ip("10.0.0.1"), 180));
    }

    #[test]
    fn bound_to_address() {
        let v = ConnectionIdValidator::new();
        let id = v.make(ip("10.0.0.1"), 0);
        assert!(!v.check(id, ip("10.0.0.2"), 0));
        assert!(v.check(id, ip("::ffff:10.0.0.1"), 0));
    }

    #[test]
    fn secret_differs_per_tracker() {
        let a = ConnectionIdValidator::new();
        let b = ConnectionIdValidator::new();
        assert_ne!(a.make(ip("10.0.0.1"), 0), b.make(ip("10.0.0.1"), 0));
    }
}
