//! BEP 10 / 9 / 11 payload parsers on arbitrary bytes. Whatever parses must
//! survive an encode/parse round trip unchanged; metadata pieces are fed to an
//! assembler sized from the message.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wire::{ExtendedHandshake, Infohash, MetadataAssembler, MetadataMessage, PexMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = ExtendedHandshake::parse(data) {
        assert_eq!(ExtendedHandshake::parse(&h.to_bytes()), Ok(h));
    }
    if let Ok(p) = PexMessage::parse(data) {
        assert_eq!(PexMessage::parse(&p.to_bytes()), Ok(p));
    }
    let payload = Bytes::copy_from_slice(data);
    if let Ok(m) = MetadataMessage::parse(&payload) {
        assert_eq!(MetadataMessage::parse(&m.to_bytes()), Ok(m.clone()));
        if let MetadataMessage::Data {
            piece,
            total_size,
            data,
        } = m
            && let Ok(mut a) = MetadataAssembler::new(Infohash([0; 20]), total_size)
            && let Ok(true) = a.insert(piece, total_size, data)
        {
            assert!(a.finish().is_err(), "all-zero infohash cannot match");
        }
    }
});
