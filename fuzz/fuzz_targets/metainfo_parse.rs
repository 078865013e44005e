//! Torrent parsing never panics; an accepted torrent re-encodes to one with
//! the same infohash and info, and its magnet link parses back. Magnet
//! parsing of arbitrary text never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metainfo::{Magnet, Metainfo};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Metainfo::from_bytes(data) {
        let back = Metainfo::from_bytes(&m.to_bytes()).expect("re-encoded torrent must parse");
        assert_eq!(back.infohash(), m.infohash());
        assert_eq!(back.info(), m.info());
        let link = Magnet::from_metainfo(&m).to_string();
        let parsed: Magnet = link.parse().expect("our magnet link must parse");
        assert_eq!(parsed.infohash, m.infohash());
        // layout queries stay in bounds for any accepted torrent
        for i in 0..m.info().num_pieces().min(64) {
            let covered: u64 = m.info().piece_spans(i).map(|s| s.len).sum();
            assert_eq!(covered, m.info().piece_size(i));
        }
    }
    let _ = Metainfo::from_info_bytes(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = s.parse::<Magnet>();
    }
});
