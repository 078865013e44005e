//! Peer message stream: arbitrary bytes in arbitrary chunk sizes under
//! arbitrary limits. Every decoded message must re-encode to bytes that decode
//! to the same message; bitfields and extension payloads are parsed further.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use wire::{
    Bitfield, DecoderOptions, ExtendedHandshake, Message, MessageDecoder, MetadataMessage,
    PexMessage, decode_message,
};

fuzz_target!(|data: &[u8]| {
    let [ctl, chunk, rest @ ..] = data else {
        return;
    };
    let opts = DecoderOptions {
        max_block_len: 1 << (ctl & 0x0f),
        piece_count: (ctl & 0x10 != 0).then_some(u32::from(*chunk) * 3),
        ..Default::default()
    };
    let chunk = usize::from(*chunk).max(1);
    let mut d = MessageDecoder::new(opts);
    for c in rest.chunks(chunk) {
        d.extend_from_slice(c);
        loop {
            match d.next_message() {
                Ok(Some(m)) => check(&m, &opts),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});

fn check(m: &Message, opts: &DecoderOptions) {
    let bytes = m.to_bytes();
    assert_eq!(bytes.len(), m.encoded_len());
    let mut again = BytesMut::from(&bytes[..]);
    assert_eq!(decode_message(&mut again, opts), Ok(Some(m.clone())));
    assert!(again.is_empty());
    match m {
        Message::Bitfield(raw) => {
            if let Some(n) = opts.piece_count
                && let Ok(b) = Bitfield::from_payload(raw, n)
            {
                assert_eq!(&b.to_payload(), raw);
                assert!(b.count_ones() <= n);
            }
        }
        Message::Extended(e) => {
            let _ = ExtendedHandshake::parse(&e.payload);
            let _ = PexMessage::parse(&e.payload);
            let _ = MetadataMessage::parse(&Bytes::clone(&e.payload));
        }
        _ => {}
    }
}
