use super::*;
use crate::{AnnounceEvent, ByteCount, InfoHash, PeerId, PeerKey, Port, SwarmStats};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

fn announce_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    Request::Announce(AnnounceRequest {
        connection_id: ConnectionId(7),
        transaction_id: TransactionId(9),
        announce: crate::AnnounceRequest {
            info_hash: InfoHash([1; 20]),
            peer_id: PeerId([2; 20]),
            port: Port::new(6881).unwrap(),
            uploaded: ByteCount(3),
            downloaded: ByteCount(4),
            left: ByteCount(5),
            event: AnnounceEvent::Started,
            numwant: Some(10),
            key: Some(PeerKey(11)),
            ip: None,
            compact: true,
            no_peer_id: true,
            tracker_id: None,
        },
    })
    .write_into(&mut b);
    b
}

#[test]
fn announce_is_98_bytes_and_parses() {
    let b = announce_bytes();
    assert_eq!(b.len(), 98);
    let Ok(Request::Announce(a)) = Request::parse(&b) else {
        panic!("not an announce");
    };
    assert_eq!(a.connection_id, ConnectionId(7));
    assert_eq!(a.announce.left, ByteCount(5));
    assert_eq!(a.announce.numwant, Some(10));
}

#[test]
fn bep41_options_are_ignored() {
    let mut b = announce_bytes();
    b.extend_from_slice(&[2, 5, b'/', b'a', b'n', b'n', b'o']);
    assert!(matches!(Request::parse(&b), Ok(Request::Announce(_))));
}

#[test]
fn too_short() {
    assert_eq!(
        Request::parse(&[0; 15]),
        Err(ParseError::TooShort { len: 15 })
    );
}

#[test]
fn bad_protocol_id() {
    let mut b = vec![0u8; 16];
    b[0] = 1;
    assert_eq!(Request::parse(&b), Err(ParseError::BadProtocolId));
}

#[test]
fn unknown_action() {
    let mut b = vec![0u8; 16];
    b[11] = 9;
    assert_eq!(
        Request::parse(&b),
        Err(ParseError::UnknownAction { action: 9 })
    );
}

#[test]
fn short_announce_is_sendable() {
    let b = announce_bytes();
    assert!(matches!(
        Request::parse(&b[..97]),
        Err(ParseError::Sendable {
            connection_id: ConnectionId(7),
            transaction_id: TransactionId(9),
            ..
        })
    ));
}

#[test]
fn bad_event_and_port_are_sendable() {
    let mut b = announce_bytes();
    b[83] = 4;
    assert!(
        matches!(Request::parse(&b), Err(ParseError::Sendable { message, .. }) if message == "invalid event")
    );
    let mut b = announce_bytes();
    b[96] = 0;
    b[97] = 0;
    assert!(
        matches!(Request::parse(&b), Err(ParseError::Sendable { message, .. }) if message == "invalid port")
    );
}

#[test]
fn claimed_ip_is_parsed() {
    let mut b = announce_bytes();
    b[84..88].copy_from_slice(&[10, 0, 0, 1]);
    let Ok(Request::Announce(a)) = Request::parse(&b) else {
        panic!("not an announce");
    };
    assert_eq!(a.announce.ip, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
}

#[test]
fn scrape_bounds() {
    let mut b = vec![0u8; 16];
    b[11] = 2;
    assert!(matches!(
        Request::parse(&b),
        Err(ParseError::Sendable { .. })
    ));
    b.extend_from_slice(&[0; 19]);
    assert!(matches!(
        Request::parse(&b),
        Err(ParseError::Sendable { .. })
    ));
    b.push(0);
    assert!(matches!(Request::parse(&b), Ok(Request::Scrape(s)) if s.info_hashes.len() == 1));
    b.extend(std::iter::repeat_n(0u8, 20 * MAX_SCRAPE_INFO_HASHES));
    assert!(
        matches!(Request::parse(&b), Err(ParseError::Sendable { message, .. }) if message.contains("too many"))
    );
}

#[test]
fn connect_response_is_16_bytes() {
    let mut b = Vec::new();
    Response::Connect {
        transaction_id: TransactionId(1),
        connection_id: ConnectionId(2),
    }
    .write_into(&mut b);
    assert_eq!(b.len(), 16);
}

#[test]
fn mixed_family_peers_are_never_mixed() {
    let mut b = Vec::new();
    let peers: Vec<SocketAddr> = vec!["1.2.3.4:5".parse().unwrap(), "[::1]:5".parse().unwrap()];
    Response::Announce(AnnounceResponse {
        transaction_id: TransactionId(1),
        interval: 1,
        leechers: 1,
        seeders: 1,
        peers,
    })
    .write_into(&mut b);
    assert_eq!(b.len(), 20 + 6);
}

fn arb_announce() -> impl Strategy<Value = Request> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<[u8; 20]>(),
        any::<[u8; 20]>(),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        0u32..4,
        any::<u32>(),
        any::<u32>(),
        proptest::option::of(0u32..=i32::MAX.unsigned_abs()),
        1u16..,
    )
        .prop_map(|(c, t, ih, pid, (u, d, l), ev, ip, key, numwant, port)| {
            Request::Announce(AnnounceRequest {
                connection_id: ConnectionId(c),
                transaction_id: TransactionId(t),
                announce: crate::AnnounceRequest {
                    info_hash: InfoHash(ih),
                    peer_id: PeerId(pid),
                    port: Port::new(port).unwrap_or(Port::new(1).unwrap_or_else(|| unreachable!())),
                    uploaded: ByteCount(u),
                    downloaded: ByteCount(d),
                    left: ByteCount(l),
                    event: AnnounceEvent::from_udp(ev).unwrap_or_default(),
                    numwant,
                    key: Some(PeerKey(key)),
                    ip: (ip != 0).then(|| IpAddr::V4(Ipv4Addr::from(ip))),
                    compact: true,
                    no_peer_id: true,
                    tracker_id: None,
                },
            })
        })
}

fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        any::<u32>().prop_map(|t| Request::Connect(ConnectRequest {
            transaction_id: TransactionId(t)
        })),
        arb_announce(),
        (
            any::<u64>(),
            any::<u32>(),
            proptest::collection::vec(any::<[u8; 20]>(), 1..=74)
        )
            .prop_map(|(c, t, v)| Request::Scrape(ScrapeRequest {
                connection_id: ConnectionId(c),
                transaction_id: TransactionId(t),
                info_hashes: v.into_iter().map(InfoHash).collect(),
            })),
    ]
}

fn arb_response() -> impl Strategy<Value = (Response, bool)> {
    prop_oneof![
        (any::<u32>(), any::<u64>()).prop_map(|(t, c)| (
            Response::Connect {
                transaction_id: TransactionId(t),
                connection_id: ConnectionId(c)
            },
            false
        )),
        (
            any::<u32>(),
            any::<[u32; 3]>(),
            proptest::collection::vec(any::<([u8; 4], u16)>(), 0..50)
        )
            .prop_map(|(t, n, peers)| (
                Response::Announce(AnnounceResponse {
                    transaction_id: TransactionId(t),
                    interval: n[0],
                    leechers: n[1],
                    seeders: n[2],
                    peers: peers
                        .into_iter()
                        .map(|(ip, port)| SocketAddr::from((Ipv4Addr::from(ip), port)))
                        .collect(),
                }),
                false
            )),
        (
            any::<u32>(),
            proptest::collection::vec(any::<([u8; 16], u16)>(), 1..20)
        )
            .prop_map(|(t, peers)| (
                Response::Announce(AnnounceResponse {
                    transaction_id: TransactionId(t),
                    interval: 1,
                    leechers: 2,
                    seeders: 3,
                    peers: peers
                        .into_iter()
                        .map(|(ip, port)| SocketAddr::from((std::net::Ipv6Addr::from(ip), port)))
                        .collect(),
                }),
                true
            )),
        (
            any::<u32>(),
            proptest::collection::vec(any::<[u32; 3]>(), 0..74)
        )
            .prop_map(|(t, s)| (
                Response::Scrape(ScrapeResponse {
                    transaction_id: TransactionId(t),
                    stats: s
                        .into_iter()
                        .map(|[a, b, c]| SwarmStats {
                            seeders: a,
                            completed: b,
                            leechers: c
                        })
                        .collect(),
                }),
                false
            )),
        (any::<u32>(), "[a-z ]{0,40}").prop_map(|(t, m)| (
            Response::Error(ErrorResponse {
                transaction_id: TransactionId(t),
                message: m
            }),
            false
        )),
    ]
}

proptest! {
    #[test]
    fn request_round_trip(req in arb_request()) {
        let mut b = Vec::new();
        req.write_into(&mut b);
        prop_assert_eq!(Request::parse(&b), Ok(req));
    }

    #[test]
    fn response_round_trip((resp, v6) in arb_response()) {
        let mut b = Vec::new();
        resp.write_into(&mut b);
        prop_assert_eq!(Response::parse(&b, v6), Some(resp));
    }

    #[test]
    fn request_parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Request::parse(&b);
    }

    #[test]
    fn response_parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..256), v6: bool) {
        let _ = Response::parse(&b, v6);
    }
}
