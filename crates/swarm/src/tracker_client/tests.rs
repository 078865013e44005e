use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn params() -> AnnounceParams {
    AnnounceParams {
        infohash: [0xab; 20],
        peer_id: *b"-AH0100-abcdefghijkl",
        port: 6881,
        uploaded: 1,
        downloaded: 2,
        left: 3,
        event: AnnounceEvent::Started,
        numwant: Some(50),
        key: 7,
    }
}

/// Serves one HTTP connection with `reply`, returning the request head it saw.
async fn http_once(reply: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/announce", l.local_addr().unwrap());
    let h = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(&reply).await.unwrap();
        String::from_utf8_lossy(&got).into_owned()
    });
    (url, h)
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn http_compact_announce() {
    let body = b"d8:completei5e10:incompletei2e8:intervali900e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50e";
    let (url, h) = http_once(ok(body)).await;
    let mut c = TrackerClient::new(vec![vec![url.clone()]], TrackerClientOptions::default());
    let (used, r) = c.announce(&params()).await.unwrap();
    assert_eq!(used, url);
    assert_eq!(
        r.peers,
        vec![
            "127.0.0.1:6881".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap()
        ]
    );
    assert_eq!(r.interval, Duration::from_secs(900));
    assert_eq!((r.seeders, r.leechers), (Some(5), Some(2)));
    let req = h.await.unwrap();
    assert!(req.starts_with("GET /announce?info_hash=%AB%AB"), "{req}");
    assert!(
        req.contains("&event=started") && req.contains("&compact=1") && req.contains("&numwant=50")
    );
    assert!(req.contains("peer_id=-AH0100-abcdefghijkl"), "{req}");
}

#[tokio::test]
async fn http_dictionary_peers_ipv6_and_tracker_id() {
    let mut e = bencode::Encoder::new();
    e.dict(|d| {
        d.key("interval").int(60);
        d.key("peers").list(|l| {
            l.dict(|p| {
                p.key("ip").str("::1");
                p.key("peer id").bytes(&[1; 20]);
                p.key("port").int(7000);
            });
            l.dict(|p| {
                p.key("ip").str("not an ip");
                p.key("port").int(1);
            });
        });
        d.key("peers6")
            .bytes(&[[0u8; 15].as_slice(), &[1, 0x1b, 0x58]].concat());
        d.key("tracker id").str("T1");
    });
    let (url, _h) = http_once(ok(&e.finish())).await;
    let mut c = TrackerClient::new(vec![vec![url.clone()]], TrackerClientOptions::default());
    let r = c.announce_one(&url, &params()).await.unwrap();
    assert_eq!(
        r.peers,
        vec!["[::1]:7000".parse().unwrap(), "[::1]:7000".parse().unwrap()]
    );
    assert_eq!(c.tracker_ids.get(&url).map(String::as_str), Some("T1"));
}

#[tokio::test]
async fn http_failure_reason_is_reported() {
    let (url, _h) = http_once(ok(b"d14:failure reason11:not allowede")).await;
    let mut c = TrackerClient::new(vec![vec![url.clone()]], TrackerClientOptions::default());
    match c.announce_one(&url, &params()).await {
        Err(TrackerClientError::Failure { reason, .. }) => assert_eq!(reason, "not allowed"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn http_malformed_bodies_are_errors() {
    for body in [
        &b"garbage"[..],
        b"d5:peers3:abce",
        b"d8:intervali5e5:peers5:abcdee",
        b"le",
    ] {
        let (url, _h) = http_once(ok(body)).await;
        let mut c = TrackerClient::new(vec![vec![url.clone()]], TrackerClientOptions::default());
        assert!(
            matches!(
                c.announce_one(&url, &params()).await,
                Err(TrackerClientError::Malformed { .. })
            ),
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn http_error_status_and_oversize() {
    let (url, _h) = http_once(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    let mut c = TrackerClient::new(vec![vec![url.clone()]], TrackerClientOptions::default());
    assert!(matches!(
        c.announce_one(&url, &params()).await,
        Err(TrackerClientError::Http(HttpError::Status(500)))
    ));
    let (url, _h) =
        http_once(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n".to_vec()).await;
    assert!(matches!(
        c.announce_one(&url, &params()).await,
        Err(TrackerClientError::Http(HttpError::TooLarge(_)))
    ));
}

#[tokio::test]
async fn http_chunked_body() {
    let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nd8:in\r\nf\r\ntervali100e5:pe\r\n6\r\ners0:e\r\n0\r\n\r\n".to_vec();
    let (url, _h) = http_once(reply).await;
    let mut c = TrackerClient::new(vec![vec![url.clone()]], TrackerClientOptions::default());
    let r = c.announce_one(&url, &params()).await.unwrap();
    assert_eq!(r.interval, Duration::from_secs(100));
}

#[tokio::test]
async fn tiers_fall_through_and_promote() {
    let dead = "http://127.0.0.1:1/announce".to_string();
    let (url, _h) = http_once(ok(b"d8:intervali60e5:peers0:e")).await;
    let mut c = TrackerClient::new(
        vec![
            vec![dead.clone(), url.clone()],
            vec!["udp://127.0.0.1:1".into()],
        ],
        TrackerClientOptions::default(),
    );
    let (used, _) = c.announce(&params()).await.unwrap();
    assert_eq!(used, url);
    assert_eq!(c.tiers[0], vec![url, dead]);
}

#[tokio::test]
async fn unsupported_scheme() {
    let mut c = TrackerClient::new(
        vec![vec!["wss://x/".into()]],
        TrackerClientOptions::default(),
    );
    assert!(matches!(
        c.announce(&params()).await,
        Err(TrackerClientError::AllFailed(_))
    ));
    let mut none = TrackerClient::new(vec![], TrackerClientOptions::default());
    assert!(matches!(
        none.announce(&params()).await,
        Err(TrackerClientError::NoTrackers)
    ));
}

/// A fake BEP 15 tracker answering connect then announce; ignores the first
/// announce datagram to exercise retransmission and sends a stray reply first.
async fn udp_tracker(error: Option<&'static str>) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let url = format!("udp://{}/announce", sock.local_addr().unwrap());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let mut announces = 0;
        loop {
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            let req = udp::Request::parse(&buf[..n]).unwrap();
            let mut out = Vec::new();
            match req {
                udp::Request::Connect(c) => udp::Response::Connect {
                    transaction_id: c.transaction_id,
                    connection_id: ConnectionId(42),
                }
                .write_into(&mut out),
                udp::Request::Announce(a) => {
                    announces += 1;
                    if announces == 1 {
                        continue;
                    }
                    assert_eq!(a.connection_id, ConnectionId(42));
                    assert_eq!(a.announce.port.get(), 6881);
                    let mut stray = Vec::new();
                    udp::Response::Connect {
                        transaction_id: TransactionId(a.transaction_id.0 ^ 1),
                        connection_id: ConnectionId(1),
                    }
                    .write_into(&mut stray);
                    sock.send_to(&stray, from).await.unwrap();
                    match error {
                        Some(m) => udp::Response::Error(udp::ErrorResponse {
                            transaction_id: a.transaction_id,
                            message: m.into(),
                        })
                        .write_into(&mut out),
                        None => udp::Response::Announce(udp::AnnounceResponse {
                            transaction_id: a.transaction_id,
                            interval: 120,
                            leechers: 3,
                            seeders: 1,
                            peers: vec!["127.0.0.2:7001".parse().unwrap()],
                        })
                        .write_into(&mut out),
                    }
                }
                udp::Request::Scrape(_) => continue,
            }
            sock.send_to(&out, from).await.unwrap();
        }
    });
    url
}

fn fast() -> TrackerClientOptions {
    TrackerClientOptions {
        udp_initial_timeout: Duration::from_millis(200),
        ..TrackerClientOptions::default()
    }
}

#[tokio::test]
async fn udp_announce_with_retransmit_and_stray_reply() {
    let url = udp_tracker(None).await;
    let mut c = TrackerClient::new(vec![vec![url.clone()]], fast());
    let r = c.announce_one(&url, &params()).await.unwrap();
    assert_eq!(r.peers, vec!["127.0.0.2:7001".parse().unwrap()]);
    assert_eq!(r.interval, Duration::from_secs(120));
    assert_eq!((r.seeders, r.leechers), (Some(1), Some(3)));
    assert!(c.udp_ids.contains_key(&url), "connection id is cached");
}

#[tokio::test]
async fn udp_error_reply_is_a_failure() {
    let url = udp_tracker(Some("torrent not allowed")).await;
    let mut c = TrackerClient::new(vec![vec![url.clone()]], fast());
    match c.announce_one(&url, &params()).await {
        Err(TrackerClientError::Failure { reason, .. }) => {
            assert_eq!(reason, "torrent not allowed")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !c.udp_ids.contains_key(&url),
        "connection id dropped after an error"
    );
}

#[tokio::test]
async fn udp_silence_times_out() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let url = format!("udp://{}", sock.local_addr().unwrap());
    let mut c = TrackerClient::new(
        vec![vec![url.clone()]],
        TrackerClientOptions {
            udp_initial_timeout: Duration::from_millis(50),
            udp_attempts: 2,
            ..TrackerClientOptions::default()
        },
    );
    assert!(matches!(
        c.announce_one(&url, &params()).await,
        Err(TrackerClientError::Timeout(_))
    ));
    drop(sock);
}
