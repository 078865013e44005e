//! Handshake parser: arbitrary bytes in arbitrary chunk sizes. A completed
//! handshake must re-encode to exactly the bytes it was parsed from, and the
//! parser must never take more than 68 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::{Handshake, HandshakeParser};

fuzz_target!(|data: &[u8]| {
    let [chunk, rest @ ..] = data else {
        return;
    };
    let mut p = HandshakeParser::new();
    let mut used = 0;
    for c in rest.chunks(usize::from(*chunk).max(1)) {
        match p.feed(c) {
            Ok(n) => used += n,
            Err(_) => {
                assert!(p.handshake().is_none());
                return;
            }
        }
    }
    assert!(used <= Handshake::LEN);
    if let Some(h) = p.handshake() {
        assert_eq!(&h.to_bytes()[..], &rest[..Handshake::LEN]);
        assert_eq!(p.info_hash(), Some(h.info_hash));
    }
});
