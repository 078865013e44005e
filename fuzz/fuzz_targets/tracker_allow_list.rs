//! The closed tracker's allow-list file parser never panics, and a list it
//! accepts, written back one lower-case infohash a line, parses to the same
//! set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(set) = tracker::parse_allow_list(Path::new("allow"), text) {
        assert!(set.len() <= text.len() / 40);
        let written: String = set.iter().map(|ih| format!("{}\n", ih.to_hex())).collect();
        let back = tracker::parse_allow_list(Path::new("allow"), &written)
            .expect("a written allow list must parse");
        assert_eq!(back, set);
    }
});
