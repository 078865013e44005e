//! BEP 15 over UDP, in process, on port 0.

mod common;

use common::*;
use std::time::Duration;
use tracker::{AccessMode, TrackerConfig};
use tracker_proto::udp::{
    AnnounceRequest, ConnectionId, Request, Response, ScrapeRequest, TransactionId,
};
use tracker_proto::{AnnounceEvent, ByteCount, InfoHash, PeerId, PeerKey, Port};

fn announce(
    cid: ConnectionId,
    ih: [u8; 20],
    id: u8,
    port: u16,
    left: u64,
    event: AnnounceEvent,
) -> Vec<u8> {
    let mut b = Vec::new();
    Request::Announce(AnnounceRequest {
        connection_id: cid,
        transaction_id: TransactionId(1000 + u32::from(id)),
        announce: tracker_proto::AnnounceRequest {
            info_hash: InfoHash(ih),
            peer_id: PeerId([id; 20]),
            port: Port::new(port).unwrap(),
            uploaded: ByteCount(0),
            downloaded: ByteCount(0),
            left: ByteCount(left),
            event,
            numwant: None,
            key: Some(PeerKey(u32::from(id))),
            ip: None,
            compact: true,
            no_peer_id: true,
            tracker_id: None,
        },
    })
    .write_into(&mut b);
    b
}

const WAIT: Duration = Duration::from_secs(5);
const SILENCE: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_announce_scrape() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    let a = udp_client(t.udp).await;
    let cid = udp_connect(&a).await;
    let r = udp_exchange(
        &a,
        &announce(cid, [1; 20], 1, 6001, 0, AnnounceEvent::Started),
        WAIT,
    )
    .await
    .unwrap();
    match Response::parse(&r, false) {
        Some(Response::Announce(x)) => {
            assert_eq!(x.transaction_id, TransactionId(1001));
            assert_eq!((x.seeders, x.leechers, x.interval), (1, 0, 120));
            assert!(x.peers.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let b = udp_client(t.udp).await;
    let cid_b = udp_connect(&b).await;
    let r = udp_exchange(
        &b,
        &announce(cid_b, [1; 20], 2, 6002, 10, AnnounceEvent::Started),
        WAIT,
    )
    .await
    .unwrap();
    match Response::parse(&r, false) {
        Some(Response::Announce(x)) => {
            assert_eq!((x.seeders, x.leechers), (1, 1));
            assert_eq!(x.peers, vec!["127.0.0.1:6001".parse().unwrap()]);
        }
        other => panic!("{other:?}"),
    }
    let mut req = Vec::new();
    Request::Scrape(ScrapeRequest {
        connection_id: cid_b,
        transaction_id: TransactionId(5),
        info_hashes: vec![InfoHash([1; 20]), InfoHash([2; 20])],
    })
    .write_into(&mut req);
    let r = udp_exchange(&b, &req, WAIT).await.unwrap();
    match Response::parse(&r, false) {
        Some(Response::Scrape(s)) => {
            assert_eq!(s.stats.len(), 2);
            assert_eq!((s.stats[0].seeders, s.stats[0].leechers), (1, 1));
            assert_eq!(s.stats[1], tracker_proto::SwarmStats::default());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_announce_gets_18_byte_peers() {
    let t = TestTracker::start_on(TrackerConfig::default(), "[::1]:0".parse().unwrap()).await;
    let a = udp_client(t.udp).await;
    let cid = udp_connect(&a).await;
    udp_exchange(
        &a,
        &announce(cid, [1; 20], 1, 6001, 5, AnnounceEvent::None),
        WAIT,
    )
    .await
    .unwrap();
    let r = udp_exchange(
        &a,
        &announce(cid, [1; 20], 2, 6002, 5, AnnounceEvent::None),
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(r.len(), 20 + 18);
    match Response::parse(&r, true) {
        Some(Response::Announce(x)) => assert_eq!(x.peers, vec!["[::1]:6001".parse().unwrap()]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_connection_id_gets_no_answer() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    let a = udp_client(t.udp).await;
    let real = udp_connect(&a).await;
    let forged = ConnectionId(real.0 ^ 1);
    assert!(
        udp_exchange(
            &a,
            &announce(forged, [1; 20], 1, 6001, 0, AnnounceEvent::None),
            SILENCE
        )
        .await
        .is_none()
    );
    let mut req = Vec::new();
    Request::Scrape(ScrapeRequest {
        connection_id: forged,
        transaction_id: TransactionId(5),
        info_hashes: vec![InfoHash([1; 20])],
    })
    .write_into(&mut req);
    assert!(udp_exchange(&a, &req, SILENCE).await.is_none());
    // A malformed announce with a forged id gets no error either.
    let mut bad = announce(forged, [1; 20], 1, 6001, 0, AnnounceEvent::None);
    bad.truncate(50);
    assert!(udp_exchange(&a, &bad, SILENCE).await.is_none());
    let stats = t.tracker.stats(10);
    assert_eq!(stats.peers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconnected_requests_are_never_amplified() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    let a = udp_client(t.udp).await;
    let mut rng_state = 0x1234_5678_u32;
    for len in [0usize, 1, 15, 16, 17, 98, 200, 1400] {
        let pkt: Vec<u8> = (0..len)
            .map(|_| {
                rng_state = rng_state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                rng_state.to_be_bytes()[0]
            })
            .collect();
        if let Some(r) = udp_exchange(&a, &pkt, Duration::from_millis(100)).await {
            assert!(
                r.len() <= 16 && r.len() <= pkt.len().max(16),
                "{len}-byte packet got {} bytes",
                r.len()
            );
        }
    }
    // The only answer an unconnected client can get is the 16-byte connect response.
    let cid = udp_connect(&a).await;
    assert_ne!(cid.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendable_errors_are_sent_after_a_valid_connection_id() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    let a = udp_client(t.udp).await;
    let cid = udp_connect(&a).await;
    let mut bad = announce(cid, [1; 20], 1, 6001, 0, AnnounceEvent::None);
    bad.truncate(60);
    let r = udp_exchange(&a, &bad, WAIT).await.unwrap();
    match Response::parse(&r, false) {
        Some(Response::Error(e)) => assert_eq!(e.message, "announce packet too short"),
        other => panic!("{other:?}"),
    }
    assert!(r.len() <= bad.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_tracker_refuses_unknown_torrents_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("allow");
    std::fs::write(&list, format!("{}\n", "01".repeat(20))).unwrap();
    let mut c = TrackerConfig::default();
    c.access.mode = AccessMode::Closed;
    c.access.allow_list = Some(list);
    let t = TestTracker::start(c).await;
    let a = udp_client(t.udp).await;
    let cid = udp_connect(&a).await;
    let r = udp_exchange(
        &a,
        &announce(cid, [2; 20], 1, 6001, 0, AnnounceEvent::None),
        WAIT,
    )
    .await
    .unwrap();
    match Response::parse(&r, false) {
        Some(Response::Error(e)) => assert!(
            e.message.contains("not in this tracker's allow list"),
            "{}",
            e.message
        ),
        other => panic!("{other:?}"),
    }
    let r = udp_exchange(
        &a,
        &announce(cid, [1; 20], 1, 6001, 0, AnnounceEvent::None),
        WAIT,
    )
    .await
    .unwrap();
    assert!(matches!(
        Response::parse(&r, false),
        Some(Response::Announce(_))
    ));
}
