//! HTTP announce and scrape, in process, on port 0.

mod common;

use common::*;
use std::time::Duration;
use tracker::TrackerConfig;

const IH: [u8; 20] = *b"\x00\x01\x02%&=+ \xff\xfeabcdefghij";

fn pid(n: u8) -> [u8; 20] {
    let mut p = *b"-AH0001-000000000000";
    p[19] = b'0' + n;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_announce_returns_other_peers() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    let (head, body) = http_get(
        t.http,
        &announce_path(IH, pid(1), 6001, 0, "&event=started"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let v = bdecode(&body);
    assert_eq!(int(&v, "complete"), 1);
    assert_eq!(int(&v, "incomplete"), 0);
    assert_eq!(int(&v, "interval"), 120);
    assert_eq!(int(&v, "min interval"), 30);
    assert_eq!(bytes(&v, "peers"), b"");
    assert_eq!(bytes(&v, "tracker id"), b"anthill");

    let (_, body) = http_get(
        t.http,
        &announce_path(
            IH,
            pid(2),
            6002,
            100,
            "&compact=1&key=abc&trackerid=anthill",
        ),
    )
    .await;
    let v = bdecode(&body);
    assert_eq!((int(&v, "complete"), int(&v, "incomplete")), (1, 1));
    assert_eq!(bytes(&v, "peers"), &[127, 0, 0, 1, 0x17, 0x71]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictionary_form_with_and_without_peer_ids() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    http_get(t.http, &announce_path(IH, pid(1), 6001, 5, "")).await;
    let (_, body) = http_get(t.http, &announce_path(IH, pid(2), 6002, 5, "&compact=0")).await;
    let v = bdecode(&body);
    let Some(bencode::OwnedValue::List(peers)) = dict_get(&v, "peers") else {
        panic!("peers is not a list: {v:?}");
    };
    assert_eq!(peers.len(), 1);
    assert_eq!(bytes(&peers[0], "ip"), b"127.0.0.1");
    assert_eq!(int(&peers[0], "port"), 6001);
    assert_eq!(bytes(&peers[0], "peer id"), &pid(1));

    let (_, body) = http_get(
        t.http,
        &announce_path(IH, pid(2), 6002, 5, "&compact=0&no_peer_id=1"),
    )
    .await;
    let v = bdecode(&body);
    let Some(bencode::OwnedValue::List(peers)) = dict_get(&v, "peers") else {
        panic!("peers is not a list");
    };
    assert!(dict_get(&peers[0], "peer id").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_peers_come_in_peers6() {
    let t = TestTracker::start_on(TrackerConfig::default(), "[::1]:0".parse().unwrap()).await;
    http_get(t.http, &announce_path(IH, pid(1), 6001, 5, "")).await;
    let (_, body) = http_get(t.http, &announce_path(IH, pid(2), 6002, 5, "")).await;
    let v = bdecode(&body);
    assert_eq!(bytes(&v, "peers"), b"");
    let p6 = bytes(&v, "peers6");
    assert_eq!(p6.len(), 18);
    assert_eq!(&p6[..16], &std::net::Ipv6Addr::LOCALHOST.octets());
    assert_eq!(&p6[16..], &6001u16.to_be_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numwant_limits_peers_and_seeders_get_no_seeders() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    for i in 0..6u8 {
        let left = if i < 3 { 0 } else { 9 };
        http_get(
            t.http,
            &announce_path(IH, pid(i), 7000 + u16::from(i), left, ""),
        )
        .await;
    }
    let (_, body) = http_get(t.http, &announce_path(IH, pid(9), 7009, 9, "&numwant=2")).await;
    assert_eq!(bytes(&bdecode(&body), "peers").len(), 2 * 6);
    // A seeder is only told about the 3 leechers (and the new leecher 9).
    let (_, body) = http_get(t.http, &announce_path(IH, pid(0), 7000, 0, "")).await;
    let peers = bytes(&bdecode(&body), "peers").to_vec();
    assert_eq!(peers.len(), 4 * 6);
    for p in peers.chunks(6) {
        let port = u16::from_be_bytes([p[4], p[5]]);
        assert!(port >= 7003, "seeder got seeder on port {port}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_removes_and_completed_counts() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    http_get(
        t.http,
        &announce_path(IH, pid(1), 6001, 5, "&event=started"),
    )
    .await;
    http_get(
        t.http,
        &announce_path(IH, pid(1), 6001, 0, "&event=completed"),
    )
    .await;
    let (_, body) = http_get(t.http, &announce_path(IH, pid(2), 6002, 5, "")).await;
    let v = bdecode(&body);
    assert_eq!((int(&v, "complete"), int(&v, "incomplete")), (1, 1));
    http_get(
        t.http,
        &announce_path(IH, pid(1), 6001, 0, "&event=stopped"),
    )
    .await;
    let (_, body) = http_get(t.http, &format!("/scrape?info_hash={}", enc(&IH))).await;
    let v = bdecode(&body);
    let files = dict_get(&v, "files").unwrap();
    let f = dict_get(files, std::str::from_utf8(&IH).unwrap_or(""))
        .cloned()
        .unwrap_or_else(|| match files {
            bencode::OwnedValue::Dict(d) => d.get(&IH[..]).cloned().unwrap(),
            _ => panic!("files is not a dict"),
        });
    assert_eq!(int(&f, "complete"), 0);
    assert_eq!(int(&f, "incomplete"), 1);
    assert_eq!(int(&f, "downloaded"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_unknown_and_full_scrape() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    http_get(t.http, &announce_path(IH, pid(1), 6001, 5, "")).await;
    let (_, body) = http_get(t.http, &format!("/scrape?info_hash={}", enc(&[9; 20]))).await;
    assert_eq!(body, b"d5:filesdee");
    let (_, body) = http_get(t.http, "/scrape").await;
    assert_eq!(
        failure_reason(&body).as_deref(),
        Some("full scrape is disabled: pass info_hash")
    );

    let mut c = TrackerConfig::default();
    c.http.full_scrape = true;
    let t = TestTracker::start(c).await;
    http_get(t.http, &announce_path(IH, pid(1), 6001, 5, "")).await;
    http_get(t.http, &announce_path([3; 20], pid(1), 6001, 5, "")).await;
    let (_, body) = http_get(t.http, "/scrape").await;
    match dict_get(&bdecode(&body), "files") {
        Some(bencode::OwnedValue::Dict(d)) => assert_eq!(d.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_failures_are_bencoded_reasons() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    let cases = [
        (
            format!("/announce?peer_id={}&port=1", enc(&pid(1))),
            "missing parameter info_hash",
        ),
        (
            format!("/announce?info_hash=abc&peer_id={}&port=1", enc(&pid(1))),
            "invalid parameter info_hash",
        ),
        (
            announce_path(IH, pid(1), 6001, 5, "&event=bogus"),
            "invalid parameter event",
        ),
        (
            announce_path(IH, pid(1), 6001, 5, "&port=2"),
            "duplicate parameter port",
        ),
        (
            format!("/announce?info_hash=%zz{}&peer_id=x&port=1", &enc(&IH)[3..]),
            "bad percent-encoding in parameter info_hash",
        ),
    ];
    for (path, reason) in cases {
        let (head, body) = http_get(t.http, &path).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(failure_reason(&body).as_deref(), Some(reason), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_http_is_rejected() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    let (head, _) = http_raw(t.http, b"GARBAGE\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let (head, _) = http_raw(t.http, b"GET / HTTP/2.0\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 505"), "{head}");
    let (head, _) = http_raw(
        t.http,
        b"POST /announce HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    let (head, _) = http_raw(
        t.http,
        b"GET /announce HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let (head, _) = http_get(t.http, "/nope").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let long = format!("GET /announce?{} HTTP/1.1\r\n\r\n", "a".repeat(5000));
    let (head, _) = http_raw(t.http, long.as_bytes()).await;
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_serves_several_requests_on_one_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestTracker::start(TrackerConfig::default()).await;
    let mut s = tokio::net::TcpStream::connect(t.http).await.unwrap();
    let one = format!(
        "GET {} HTTP/1.1\r\nHost: t\r\n\r\n",
        announce_path(IH, pid(1), 6001, 5, "")
    );
    let last = format!(
        "GET {} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        announce_path(IH, pid(2), 6002, 5, "")
    );
    // Pipelined: both requests in one write.
    s.write_all(format!("{one}{last}").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_metrics() {
    let t = TestTracker::start(TrackerConfig::default()).await;
    let p1 = format!(
        "/announce?info_hash={}&peer_id={}&port=6001&uploaded=77&left=0&event=completed",
        enc(&IH),
        enc(&pid(1))
    );
    let p2 = format!(
        "/announce?info_hash={}&peer_id={}&port=6002&downloaded=55&left=1234",
        enc(&IH),
        enc(&pid(2))
    );
    for p in [p1, p2] {
        let (_, body) = http_get(t.http, &p).await;
        assert_eq!(failure_reason(&body), None);
    }
    let (head, body) = http_get(t.http, "/stats").await;
    assert!(head.contains("application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["torrents"], 1);
    assert_eq!(v["peers"], 2);
    assert_eq!(v["seeders"], 1);
    assert_eq!(v["completed"], 1);
    assert_eq!(v["requests"]["http_announces"], 2);
    let hex: String = IH.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v["torrent_list"][0]["info_hash"], hex.as_str());

    let (_, body) = http_get(t.http, &format!("/stats?info_hash={hex}")).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let peers = v["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    let p2 = peers.iter().find(|p| p["port"] == 6002).unwrap();
    assert_eq!(p2["left"], 1234);
    assert_eq!(p2["downloaded"], 55);
    assert_eq!(p2["client"], "-AH0001-");
    let p1 = peers.iter().find(|p| p["port"] == 6001).unwrap();
    assert_eq!(p1["uploaded"], 77);
    assert_eq!(p1["completed"], true);
    let (head, _) = http_get(t.http, &format!("/stats?info_hash={}", "00".repeat(20))).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    let (head, body) = http_get(t.http, "/metrics").await;
    assert!(head.contains("text/plain; version=0.0.4"));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("anthill_tracker_announces_total{protocol=\"http\"} 2"),
        "{text}"
    );
    assert!(text.contains("anthill_tracker_torrents 1"));
    assert!(text.contains(&format!(
        "anthill_tracker_torrent_completed_total{{info_hash=\"{hex}\"}} 1"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_head_is_cut_off_at_the_request_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = TrackerConfig::default();
    c.http.request_timeout = "500ms".parse().unwrap();
    let t = TestTracker::start(c).await;
    let mut s = tokio::net::TcpStream::connect(t.http).await.unwrap();
    // One byte every 100 ms never completes a head; each read alone is
    // quick. Trickled whole, the head takes 7 s, 14 request timeouts: a
    // server that only timed single reads would let it finish.
    let head = b"GET /announce?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut sent = 0;
    let mut closed = false;
    for b in head {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed && sent < head.len(),
        "the connection was not closed while the head trickled in ({sent} bytes sent)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_response_reaches_a_slow_reader_whole() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestTracker::start(TrackerConfig::default()).await;
    // 3000 torrents, announced over one pipelined keep-alive connection.
    let mut requests = String::new();
    for i in 0..3000u32 {
        let mut ih = [0u8; 20];
        ih[..4].copy_from_slice(&i.to_be_bytes());
        requests.push_str(&format!(
            "GET {} HTTP/1.1\r\nHost: t\r\n\r\n",
            announce_path(ih, pid(1), 6001, 5, "")
        ));
    }
    requests.push_str("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut s = tokio::net::TcpStream::connect(t.http).await.unwrap();
    let (mut rd, mut wr) = s.split();
    let mut sink = Vec::new();
    let (w, r) = tokio::join!(
        wr.write_all(requests.as_bytes()),
        tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut sink))
    );
    w.unwrap();
    r.unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sink)
            .matches("HTTP/1.1 200 OK")
            .count(),
        3001
    );

    // A reader with a tiny window that takes its time: the response cannot
    // fit the socket buffers and must be written as the window opens.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(t.http).await.unwrap();
    s.write_all(b"GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let read_all = async {
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() < 64 * 1024 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the response never ended");
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let body = &buf[split + 4..];
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(len > 200_000, "{len}");
    assert_eq!(body.len(), len);
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["torrents"], 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_at_once() {
    use tokio::io::AsyncReadExt;
    let mut c = TrackerConfig::default();
    c.http.max_connections = 2;
    let t = TestTracker::start(c).await;
    let a = tokio::net::TcpStream::connect(t.http).await.unwrap();
    let _b = tokio::net::TcpStream::connect(t.http).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = tokio::net::TcpStream::connect(t.http).await.unwrap();
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(3), over.read(&mut byte))
        .await
        .expect("a connection over the cap was kept open");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // Closing one frees its slot.
    drop(a);
    let mut text = String::new();
    // Every try made before the server saw the close is itself rejected.
    let mut tries = 0;
    assert!(
        eventually(Duration::from_secs(3), || {
            tries += 1;
            let http = t.http;
            text = std::thread::spawn(move || {
                use std::io::{Read, Write};
                let Ok(mut s) = std::net::TcpStream::connect(http) else {
                    return String::new();
                };
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                out
            })
            .join()
            .unwrap();
            text.starts_with("HTTP/1.1 200")
        })
        .await,
        "no slot freed: {text}"
    );
    let rejected = format!("anthill_tracker_http_connections_rejected_total {tries}");
    assert!(text.contains(&rejected), "{rejected} expected: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_a_request_in_flight_and_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestTracker::start(TrackerConfig::default()).await;
    let http = t.http;
    let path = announce_path(IH, pid(1), 6001, 5, "");
    let mut s = tokio::net::TcpStream::connect(http).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\n").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(t.stop());
    // The listener goes, the half-sent request is still answered.
    tokio::time::timeout(Duration::from_secs(30), async {
        while tokio::net::TcpStream::connect(http).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the listener was never closed");
    s.write_all(b"Host: t\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .expect("no response")
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("Connection: close"), "{text}");
    stopping.await.unwrap().unwrap();
}
