//! Access modes, limits, expiry, locality and shutdown, in process.

mod common;

use common::*;
use std::time::Duration;
use tracker::{AccessMode, HumanDuration, TrackerConfig};
use tracker_proto::InfoHash;

fn pid(n: u8) -> [u8; 20] {
    [n; 20]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_mode_file_reload_and_api() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("allow");
    std::fs::write(&list, "# nothing yet\n").unwrap();
    let mut c = TrackerConfig::default();
    c.access.mode = AccessMode::Closed;
    c.access.allow_list = Some(list.clone());
    c.access.reload_interval = "50ms".parse().unwrap();
    let t = TestTracker::start(c).await;

    let (_, body) = http_get(t.http, &announce_path([1; 20], pid(1), 6001, 5, "")).await;
    let reason = failure_reason(&body).unwrap();
    assert!(reason.starts_with("unregistered torrent 0101"), "{reason}");

    // The hub's in-process API.
    t.tracker.allow_list().allow(InfoHash([1; 20]));
    let (_, body) = http_get(t.http, &announce_path([1; 20], pid(1), 6001, 5, "")).await;
    assert_eq!(failure_reason(&body), None);

    // The file, reloaded on change.
    std::fs::write(&list, format!("{}\n", "02".repeat(20))).unwrap();
    let tr = t.tracker.clone();
    assert!(eventually(Duration::from_secs(5), || tr.is_allowed(&InfoHash([2; 20]))).await);
    let (_, body) = http_get(t.http, &announce_path([2; 20], pid(1), 6001, 5, "")).await;
    assert_eq!(failure_reason(&body), None);
    // Scrape of a disallowed torrent lists nothing.
    let (_, body) = http_get(t.http, &format!("/scrape?info_hash={}", enc(&[3; 20]))).await;
    assert_eq!(body, b"d5:filesdee");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_stops_a_flood() {
    let mut c = TrackerConfig::default();
    c.rate_limit.per_second = 1;
    c.rate_limit.burst = 3;
    let t = TestTracker::start(c).await;
    for i in 0..3 {
        let (_, body) = http_get(t.http, &announce_path([1; 20], pid(i), 6001, 5, "")).await;
        assert_eq!(failure_reason(&body), None);
    }
    let (_, body) = http_get(t.http, &announce_path([1; 20], pid(9), 6001, 5, "")).await;
    assert_eq!(
        failure_reason(&body).as_deref(),
        Some("rate limited: too many requests from your address")
    );
    // UDP shares the bucket: even connect gets no answer now.
    let u = udp_client(t.udp).await;
    assert!(
        udp_exchange(&u, &[0u8; 16], Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torrent_and_peer_caps() {
    let mut c = TrackerConfig::default();
    c.swarm.max_torrents = 1;
    c.swarm.max_peers_per_torrent = 2;
    let t = TestTracker::start(c).await;
    for i in 0..4 {
        let (_, body) = http_get(
            t.http,
            &announce_path([1; 20], pid(i), 6001 + u16::from(i), 5, ""),
        )
        .await;
        assert_eq!(failure_reason(&body), None, "a full swarm still answers");
    }
    assert_eq!(t.tracker.stats(10).peers, 2);
    let (_, body) = http_get(t.http, &announce_path([2; 20], pid(1), 6001, 5, "")).await;
    let reason = failure_reason(&body).unwrap();
    assert!(reason.starts_with("tracker is full"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_expire_after_the_configured_intervals() {
    let mut c = TrackerConfig::default();
    c.announce.interval = HumanDuration::secs(1);
    c.announce.expire_after_intervals = 1;
    c.swarm.cleanup_interval = "100ms".parse().unwrap();
    let t = TestTracker::start(c).await;
    http_get(t.http, &announce_path([1; 20], pid(1), 6001, 5, "")).await;
    assert_eq!(t.tracker.stats(10).peers, 1);
    let tr = t.tracker.clone();
    assert!(eventually(Duration::from_secs(10), || tr.stats(10).peers == 0).await);
    // Open mode drops the empty torrent as well.
    assert!(eventually(Duration::from_secs(5), || tr.stats(10).torrents == 0).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_ip_is_used_only_when_trusted() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    http_get(
        t.http,
        &announce_path([1; 20], pid(1), 6001, 5, "&ip=10.9.8.7"),
    )
    .await;
    let s = t.tracker.torrent_stats(&InfoHash([1; 20]), 10).unwrap();
    assert_eq!(s.peers[0].ip.to_string(), "127.0.0.1");

    let mut c = TrackerConfig::default();
    c.access.trust_ip_param = true;
    let t = TestTracker::start(c).await;
    http_get(
        t.http,
        &announce_path([1; 20], pid(1), 6001, 5, "&ip=10.9.8.7"),
    )
    .await;
    let s = t.tracker.torrent_stats(&InfoHash([1; 20]), 10).unwrap();
    assert_eq!(s.peers[0].ip.to_string(), "10.9.8.7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_subnet_peers_come_first() {
    let mut c = TrackerConfig::default();
    c.access.trust_ip_param = true;
    c.swarm.prefer_subnet_v4 = Some(24);
    let t = TestTracker::start(c).await;
    // 20 peers in rack 10.0.1.0/24 and 20 in rack 10.0.2.0/24.
    for i in 0..40u8 {
        let rack = 1 + i / 20;
        let path = announce_path(
            [1; 20],
            pid(i),
            6000,
            5,
            &format!("&ip=10.0.{rack}.{}", 10 + i),
        );
        http_get(t.http, &path).await;
    }
    for _ in 0..5 {
        let path = announce_path([1; 20], pid(200), 6000, 5, "&ip=10.0.2.200&numwant=25");
        let (_, body) = http_get(t.http, &path).await;
        let peers = bytes(&bdecode(&body), "peers").to_vec();
        assert_eq!(peers.len(), 25 * 6);
        let racks: Vec<u8> = peers.chunks(6).map(|p| p[2]).collect();
        assert!(racks[..20].iter().all(|&r| r == 2), "{racks:?}");
        assert!(racks[20..].iter().all(|&r| r == 1), "{racks:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locality_groups_from_config() {
    let mut c = TrackerConfig::default();
    c.access.trust_ip_param = true;
    c.swarm.locality_groups = vec!["10.1.0.0/16".parse().unwrap()];
    let t = TestTracker::start(c).await;
    for i in 0..30u8 {
        let ip = if i % 3 == 0 {
            format!("10.1.{i}.1")
        } else {
            format!("10.2.{i}.1")
        };
        http_get(
            t.http,
            &announce_path([1; 20], pid(i), 6000, 5, &format!("&ip={ip}")),
        )
        .await;
    }
    let (_, body) = http_get(
        t.http,
        &announce_path([1; 20], pid(99), 6000, 5, "&ip=10.1.99.9&numwant=15"),
    )
    .await;
    let peers = bytes(&bdecode(&body), "peers").to_vec();
    let second: Vec<u8> = peers.chunks(6).map(|p| p[1]).collect();
    assert_eq!(second.len(), 15);
    assert!(second[..10].iter().all(|&o| o == 1), "{second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_graceful() {
    // An idle keep-alive connection must not hold shutdown up: it could for
    // an hour, and the stop is given a minute (a hang guard, not a speed
    // limit).
    let mut c = TrackerConfig::default();
    c.http.keep_alive_timeout = "1h".parse().unwrap();
    c.http.request_timeout = "1h".parse().unwrap();
    let t = TestTracker::start(c).await;
    let http = t.http;
    http_get(http, &announce_path([1; 20], pid(1), 6001, 5, "")).await;
    let _idle = tokio::net::TcpStream::connect(http).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), t.stop())
        .await
        .expect("an idle connection held the shutdown up")
        .unwrap();
    assert!(tokio::net::TcpStream::connect(http).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ip_header_is_trusted_only_when_configured() {
    let path = announce_path([1; 20], pid(1), 6001, 5, "");
    let req = format!("GET {path} HTTP/1.1\r\nX-Real-IP: 10.20.30.40\r\nConnection: close\r\n\r\n");
    let t = TestTracker::start(TrackerConfig::default()).await;
    http_raw(t.http, req.as_bytes()).await;
    let s = t.tracker.torrent_stats(&InfoHash([1; 20]), 10).unwrap();
    assert_eq!(s.peers[0].ip.to_string(), "127.0.0.1");

    let mut c = TrackerConfig::default();
    c.http.client_ip_header = Some("x-real-ip".into());
    let t = TestTracker::start(c).await;
    http_raw(t.http, req.as_bytes()).await;
    let s = t.tracker.torrent_stats(&InfoHash([1; 20]), 10).unwrap();
    assert_eq!(s.peers[0].ip.to_string(), "10.20.30.40");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_refused_by_caps_are_counted() {
    let mut c = TrackerConfig::default();
    c.swarm.max_peers = 1;
    let t = TestTracker::start(c).await;
    for i in 0..3 {
        http_get(t.http, &announce_path([1; 20], pid(i), 6001, 5, "")).await;
    }
    let (_, body) = http_get(t.http, "/metrics").await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("anthill_tracker_peers_not_stored_total 2"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_each_with_its_own_socket_serve_everyone() {
    use tracker_proto::udp::{AnnounceRequest, Request, Response, TransactionId};
    use tracker_proto::{AnnounceEvent, ByteCount, PeerId, PeerKey, Port};
    let t =
        TestTracker::start_with(TrackerConfig::default(), "127.0.0.1:0".parse().unwrap(), 3).await;
    // Many client sockets, so the kernel spreads them over the workers.
    for i in 0..24u8 {
        let c = udp_client(t.udp).await;
        let cid = udp_connect(&c).await;
        let mut req = Vec::new();
        Request::Announce(AnnounceRequest {
            connection_id: cid,
            transaction_id: TransactionId(u32::from(i)),
            announce: tracker_proto::AnnounceRequest {
                info_hash: InfoHash([7; 20]),
                peer_id: PeerId([i; 20]),
                port: Port::new(7000 + u16::from(i)).unwrap(),
                uploaded: ByteCount(0),
                downloaded: ByteCount(0),
                left: ByteCount(1),
                event: AnnounceEvent::Started,
                numwant: None,
                key: Some(PeerKey(1)),
                ip: None,
                compact: true,
                no_peer_id: true,
                tracker_id: None,
            },
        })
        .write_into(&mut req);
        let resp = udp_exchange(&c, &req, Duration::from_secs(5))
            .await
            .expect("no announce response");
        assert!(
            matches!(Response::parse(&resp, false), Some(Response::Announce(_))),
            "{resp:?}"
        );
    }
    for i in 0..24u8 {
        let (head, body) =
            http_get(t.http, &announce_path([7; 20], pid(100 + i), 8000, 1, "")).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(failure_reason(&body), None);
    }
    let s = t.tracker.torrent_stats(&InfoHash([7; 20]), 100).unwrap();
    assert_eq!(s.peers.len(), 48);
    t.stop().await.unwrap();
}
