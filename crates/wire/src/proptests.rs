//! Property tests: encode/decode round trips for every message type and
//! payload, "never panics on arbitrary bytes in any chunking" for every
//! parser, and model checks of [`Bitfield`] against a `Vec<bool>`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bencode::OwnedValue;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use crate::*;

// ---------- strategies ----------

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn arb_block() -> impl Strategy<Value = BlockRequest> {
    (any::<u32>(), any::<u32>(), any::<u32>())
        .prop_map(|(p, o, l)| BlockRequest::new(PieceIndex(p), BlockOffset(o), BlockLength(l)))
}

fn arb_piece_index() -> impl Strategy<Value = PieceIndex> {
    any::<u32>().prop_map(PieceIndex)
}

/// Every [`Message`] variant, with payloads within the default limits.
fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        arb_piece_index().prop_map(Message::Have),
        arb_bytes(64).prop_map(Message::Bitfield),
        arb_block().prop_map(Message::Request),
        (arb_piece_index(), any::<u32>(), arb_bytes(300)).prop_map(|(index, o, data)| {
            Message::Piece(Piece {
                index,
                offset: BlockOffset(o),
                data,
            })
        }),
        arb_block().prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        arb_piece_index().prop_map(Message::SuggestPiece),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        arb_block().prop_map(Message::RejectRequest),
        arb_piece_index().prop_map(Message::AllowedFast),
        (any::<u8>(), arb_bytes(100))
            .prop_map(|(id, p)| Message::Extended(ExtendedMessage::new(ExtendedId(id), p))),
        (
            any::<u8>().prop_filter("unknown id", |id| MessageId::from_u8(*id).is_none()),
            arb_bytes(100)
        )
            .prop_map(|(id, payload)| Message::Unknown { id, payload }),
    ]
}

fn arb_options() -> impl Strategy<Value = DecoderOptions> {
    (
        0u32..64,
        0u32..64,
        0u32..64,
        0u32..64,
        proptest::option::of(0u32..400),
    )
        .prop_map(|(b, f, e, u, n)| DecoderOptions {
            max_block_len: b,
            max_bitfield_len: f,
            max_extended_len: e,
            max_unknown_len: u,
            piece_count: n,
        })
}

/// Splits `data` at the given (relative) cut points.
fn chunks<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    for c in cuts {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(c % (rest.len() + 1));
        out.push(a);
        rest = b;
    }
    out.push(rest);
    out
}

/// Bytes that look like a message stream: plausible length prefixes and ids
/// followed by random payloads, so the fuzz reaches past the limit checks.
fn arb_framed_noise() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        (
            0u32..40,
            prop_oneof![0u8..=20, any::<u8>()],
            proptest::collection::vec(any::<u8>(), 0..40),
        ),
        0..8,
    )
    .prop_map(|frames| {
        let mut out = Vec::new();
        for (len, id, payload) in frames {
            out.extend_from_slice(&len.to_be_bytes());
            out.push(id);
            out.extend_from_slice(&payload);
        }
        out
    })
}

fn arb_socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, p)| SocketAddr::from((Ipv4Addr::from(ip), p))),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, p)| SocketAddr::from((Ipv6Addr::from(ip), p))),
    ]
}

fn arb_extended_handshake() -> impl Strategy<Value = ExtendedHandshake> {
    (
        proptest::collection::btree_map("[a-z_]{1,12}", any::<u8>().prop_map(ExtendedId), 0..6),
        proptest::option::of(".{0,20}"),
        proptest::option::of(1u16..),
        proptest::option::of(any::<u32>()),
        proptest::option::of(0u64..=i64::MAX as u64),
        proptest::option::of(prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from)
        ]),
        proptest::option::of(any::<[u8; 4]>().prop_map(Ipv4Addr::from)),
        proptest::option::of(any::<[u8; 16]>().prop_map(Ipv6Addr::from)),
    )
        .prop_map(
            |(
                extensions,
                client,
                listen_port,
                request_queue,
                metadata_size,
                your_ip,
                ipv4,
                ipv6,
            )| {
                ExtendedHandshake {
                    extensions,
                    client,
                    listen_port,
                    request_queue,
                    metadata_size,
                    your_ip,
                    ipv4,
                    ipv6,
                }
            },
        )
}

fn arb_metadata_message() -> impl Strategy<Value = MetadataMessage> {
    prop_oneof![
        any::<u32>().prop_map(|p| MetadataMessage::Request(MetadataPiece(p))),
        any::<u32>().prop_map(|p| MetadataMessage::Reject(MetadataPiece(p))),
        (
            any::<u32>(),
            0u64..=i64::MAX as u64,
            arb_bytes(METADATA_PIECE_LEN + 1)
        )
            .prop_map(|(p, total_size, data)| MetadataMessage::Data {
                piece: MetadataPiece(p),
                total_size,
                data
            }),
    ]
}

fn arb_pex() -> impl Strategy<Value = PexMessage> {
    (
        proptest::collection::vec((arb_socket_addr(), any::<u8>()), 0..30),
        proptest::collection::vec(arb_socket_addr(), 0..30),
    )
        .prop_map(|(added, dropped)| {
            let mut added: Vec<PexPeer> = added
                .into_iter()
                .map(|(addr, f)| PexPeer {
                    addr,
                    flags: PexFlags(f),
                })
                .collect();
            let mut dropped = dropped;
            // parse order: IPv4 entries, then IPv6
            added.sort_by_key(|p| p.addr.is_ipv6());
            dropped.sort_by_key(|a| a.is_ipv6());
            PexMessage { added, dropped }
        })
}

/// Bencode trees that use the keys our extension parsers look for, with
/// values of every type, to exercise the lenient field handling.
fn arb_bencode() -> impl Strategy<Value = OwnedValue> {
    let key = prop_oneof![
        Just(b"m".to_vec()),
        Just(b"v".to_vec()),
        Just(b"p".to_vec()),
        Just(b"reqq".to_vec()),
        Just(b"metadata_size".to_vec()),
        Just(b"yourip".to_vec()),
        Just(b"ipv4".to_vec()),
        Just(b"ipv6".to_vec()),
        Just(b"msg_type".to_vec()),
        Just(b"piece".to_vec()),
        Just(b"total_size".to_vec()),
        Just(b"added".to_vec()),
        Just(b"added.f".to_vec()),
        Just(b"added6".to_vec()),
        Just(b"dropped".to_vec()),
        Just(b"dropped6".to_vec()),
        Just(b"ut_metadata".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    let leaf = prop_oneof![
        prop_oneof![any::<i64>(), -3i64..300].prop_map(OwnedValue::Int),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(OwnedValue::List),
            proptest::collection::btree_map(key.clone(), inner, 0..6).prop_map(OwnedValue::Dict),
        ]
    })
}

// ---------- properties ----------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn message_round_trip(m in arb_message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(bytes.len(), m.encoded_len());
        let mut buf = BytesMut::from(&bytes[..]);
        let opts = DecoderOptions { max_block_len: 1024, ..Default::default() };
        prop_assert_eq!(decode_message(&mut buf, &opts), Ok(Some(m.clone())));
        prop_assert!(buf.is_empty());
        // split encoding gives the same bytes
        let mut hdr = BytesMut::new();
        let mut split = match m.encode_header(&mut hdr) {
            Some(bulk) => { let mut v = hdr.to_vec(); v.extend_from_slice(bulk); v }
            None => hdr.to_vec(),
        };
        prop_assert_eq!(&split[..], &bytes[..]);
        if let Message::Piece(p) = &m {
            split.clear();
            split.extend_from_slice(&p.header());
            split.extend_from_slice(&p.data);
            prop_assert_eq!(&split[..], &bytes[..]);
        }
    }

    #[test]
    fn message_stream_in_any_chunking(
        msgs in proptest::collection::vec(arb_message(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut stream = BytesMut::new();
        for m in &msgs {
            m.encode(&mut stream);
        }
        let mut d = MessageDecoder::new(DecoderOptions { max_block_len: 1024, ..Default::default() });
        let mut out = Vec::new();
        for c in chunks(&stream, &cuts) {
            d.extend_from_slice(c);
            while let Some(m) = d.next_message().unwrap() {
                out.push(m);
            }
        }
        prop_assert_eq!(out, msgs);
        prop_assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn decoder_never_panics(
        data in prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), arb_framed_noise()],
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        opts in arb_options(),
    ) {
        let mut d = MessageDecoder::new(opts);
        'feed: for c in chunks(&data, &cuts) {
            d.extend_from_slice(c);
            loop {
                match d.next_message() {
                    Ok(Some(m)) => {
                        // everything decoded re-encodes to a frame within the limits
                        prop_assert!(m.encoded_len() <= 4 + opts.max_frame_len() as usize);
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }

    #[test]
    fn handshake_round_trip_in_any_chunking(
        reserved in any::<[u8; 8]>(),
        ih in any::<[u8; 20]>(),
        id in any::<[u8; 20]>(),
        trailing in proptest::collection::vec(any::<u8>(), 0..20),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let h = Handshake::new(Reserved(reserved), Infohash(ih), PeerId(id));
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(&trailing);
        let mut p = HandshakeParser::new();
        let mut consumed = 0;
        for c in chunks(&bytes, &cuts) {
            consumed += p.feed(c).unwrap();
        }
        prop_assert_eq!(consumed, Handshake::LEN);
        prop_assert_eq!(p.handshake(), Some(h));
    }

    #[test]
    fn handshake_parser_never_panics(
        data in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..100),
            // a correct prefix, then noise
            proptest::collection::vec(any::<u8>(), 0..80).prop_map(|mut v| {
                let mut b = b"\x13BitTorrent protocol".to_vec();
                let keep = v.len() % 21;
                b.truncate(keep);
                b.append(&mut v);
                b
            }),
        ],
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut p = HandshakeParser::new();
        let mut failed = false;
        for c in chunks(&data, &cuts) {
            if p.feed(c).is_err() {
                failed = true;
                break;
            }
        }
        let valid_prefix = data.len() >= 20 && &data[..20] == b"\x13BitTorrent protocol";
        if data.len() >= 20 {
            prop_assert_eq!(failed, !valid_prefix);
        }
        if let Some(h) = p.handshake() {
            prop_assert_eq!(&h.to_bytes()[..], &data[..68]);
        }
    }

    #[test]
    fn bitfield_matches_model(
        bits in proptest::collection::vec(any::<bool>(), 0..300),
        other in proptest::collection::vec(any::<bool>(), 0..300),
    ) {
        let build = |v: &[bool]| {
            let mut b = Bitfield::new(v.len() as u32);
            for (i, on) in v.iter().enumerate() {
                if *on { b.set(PieceIndex(i as u32)).unwrap(); }
            }
            b
        };
        let a = build(&bits);
        let o = build(&other);
        let ones: Vec<u32> = (0..bits.len() as u32).filter(|i| bits[*i as usize]).collect();
        let zeros: Vec<u32> = (0..bits.len() as u32).filter(|i| !bits[*i as usize]).collect();
        let other_has = |i: u32| other.get(i as usize).copied().unwrap_or(false);
        prop_assert_eq!(&a.iter_ones().map(|p| p.0).collect::<Vec<_>>()[..], &ones[..]);
        prop_assert_eq!(a.iter_zeros().map(|p| p.0).collect::<Vec<_>>(), zeros);
        prop_assert_eq!(a.count_ones() as usize, ones.len());
        let and_not: Vec<u32> = ones.iter().copied().filter(|i| !other_has(*i)).collect();
        prop_assert_eq!(&a.iter_and_not(&o).map(|p| p.0).collect::<Vec<_>>()[..], &and_not[..]);
        prop_assert_eq!(a.count_and_not(&o) as usize, and_not.len());
        prop_assert_eq!(a.any_and_not(&o), !and_not.is_empty());
        prop_assert_eq!(a.count_and(&o) as usize, ones.iter().filter(|i| other_has(**i)).count());
        let mut u = a.clone();
        u.union_with(&o);
        let union: Vec<u32> = (0..bits.len() as u32).filter(|i| bits[*i as usize] || other_has(*i)).collect();
        prop_assert_eq!(u.iter_ones().map(|p| p.0).collect::<Vec<_>>(), union);
        let mut s = a.clone();
        s.subtract(&o);
        prop_assert_eq!(s.iter_ones().map(|p| p.0).collect::<Vec<_>>(), and_not);
        let mut i = a.clone();
        i.intersect_with(&o);
        prop_assert_eq!(i.count_ones(), a.count_and(&o));
        // wire round trip
        for b in [&a, &u, &s, &i] {
            prop_assert_eq!(&Bitfield::from_payload(&b.to_payload(), b.len()).unwrap(), b);
        }
    }

    #[test]
    fn bitfield_from_payload_never_panics(
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        n in 0u32..400,
    ) {
        if let Ok(b) = Bitfield::from_payload(&payload, n) {
            prop_assert_eq!(&b.to_payload()[..], &payload[..]);
            prop_assert!(b.iter_ones().all(|p| p.0 < n));
        }
    }

    #[test]
    fn extended_handshake_round_trip(h in arb_extended_handshake()) {
        prop_assert_eq!(ExtendedHandshake::parse(&h.to_bytes()), Ok(h));
    }

    #[test]
    fn extension_parsers_never_panic(
        data in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            arb_bencode().prop_map(|v| bencode::encode(&v)),
            (arb_bencode(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(v, tail)| {
                let mut b = bencode::encode(&v);
                b.extend_from_slice(&tail);
                b
            }),
        ],
    ) {
        let _ = ExtendedHandshake::parse(&data);
        let _ = PexMessage::parse(&data);
        if let Ok(MetadataMessage::Data { data: piece, .. }) = MetadataMessage::parse(&Bytes::from(data)) {
            prop_assert!(piece.len() <= METADATA_PIECE_LEN);
        }
    }

    #[test]
    fn metadata_message_round_trip(m in arb_metadata_message()) {
        let bytes = m.to_bytes();
        match MetadataMessage::parse(&bytes) {
            Ok(parsed) => prop_assert_eq!(parsed, m),
            Err(e) => {
                // only the oversized data case may fail
                let is_oversized = matches!(&m, MetadataMessage::Data { data, .. } if data.len() > METADATA_PIECE_LEN);
                prop_assert!(is_oversized, "{e}");
            }
        }
    }

    #[test]
    fn pex_round_trip(m in arb_pex()) {
        prop_assert_eq!(PexMessage::parse(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn metadata_assembler_any_order(
        len in 1usize..70_000,
        seed in any::<u64>(),
    ) {
        use sha1::{Digest, Sha1};
        let data: Vec<u8> = (0..len).map(|i| (i as u64).wrapping_mul(seed | 1) as u8).collect();
        let h = Infohash(Sha1::digest(&data).into());
        let mut a = MetadataAssembler::new(h, len as u64).unwrap();
        let mut order: Vec<usize> = (0..a.piece_count() as usize).collect();
        order.sort_by_key(|i| (*i as u64).wrapping_mul(seed) % 97);
        let mut done = false;
        for i in order {
            let chunk = &data[i * METADATA_PIECE_LEN..((i + 1) * METADATA_PIECE_LEN).min(len)];
            done = a.insert(MetadataPiece(i as u32), len as u64, Bytes::copy_from_slice(chunk)).unwrap();
        }
        prop_assert!(done);
        prop_assert_eq!(a.finish().unwrap(), data);
    }

    #[test]
    fn allowed_fast_set_is_distinct_and_in_range(
        ip in any::<[u8; 4]>(),
        ih in any::<[u8; 20]>(),
        n in 0u32..2000,
        k in 0u32..20,
    ) {
        let s = allowed_fast_set(Ipv4Addr::from(ip), &Infohash(ih), n, k);
        prop_assert_eq!(s.len(), k.min(n) as usize);
        prop_assert!(s.iter().all(|p| p.0 < n));
        let distinct: std::collections::BTreeSet<_> = s.iter().collect();
        prop_assert_eq!(distinct.len(), s.len());
    }
}
