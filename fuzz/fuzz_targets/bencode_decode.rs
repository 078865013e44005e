//! Bencode decoding never panics, and whatever decodes re-encodes to bytes
//! that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = bencode::decode(data) {
        let owned = v.to_owned();
        let again = bencode::encode(&owned);
        let back = bencode::decode(&again).expect("re-encoded bencode must decode");
        assert_eq!(back.to_owned(), owned);
    }
    let _ = bencode::decode_prefix(data);
});
