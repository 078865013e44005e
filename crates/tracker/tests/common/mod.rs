//! Helpers shared by the tracker's integration tests: an in-process tracker
//! on port 0, and tiny raw HTTP and UDP clients.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tracker::{Listeners, Tracker, TrackerConfig};
use tracker_proto::http::percent_encode;
use tracker_proto::udp::{ConnectRequest, ConnectionId, Request, Response, TransactionId};

/// A tracker serving on loopback until dropped (or `stop`ped).
pub struct TestTracker {
    pub tracker: Tracker,
    pub http: SocketAddr,
    pub udp: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<Result<(), tracker::TrackerError>>>,
}

impl TestTracker {
    pub async fn start(config: TrackerConfig) -> Self {
        Self::start_on(config, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(config: TrackerConfig, addr: SocketAddr) -> Self {
        Self::start_with(config, addr, 1).await
    }

    /// With `workers` HTTP and UDP worker threads (each its own socket).
    pub async fn start_with(mut config: TrackerConfig, addr: SocketAddr, workers: usize) -> Self {
        config.http.workers = workers;
        config.udp.workers = workers;
        let listeners = Listeners {
            http: Some(tracker::bind_tcp(addr).unwrap()),
            udp: Some(tracker::bind_udp(addr, 0).unwrap()),
        };
        let http = listeners.http_addr().unwrap();
        let udp = listeners.udp_addr().unwrap();
        let tracker = Tracker::new(config).unwrap();
        let (tx, rx) = oneshot::channel();
        let t = tracker.clone();
        let task = tokio::spawn(async move {
            tracker::serve(t, listeners, async {
                let _ = rx.await;
            })
            .await
        });
        Self {
            tracker,
            http,
            udp,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) -> Result<(), tracker::TrackerError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("tracker did not stop in time")
            .expect("tracker task panicked")
    }
}

impl Drop for TestTracker {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Sends raw bytes, returns (status line + headers, body).
pub async fn http_raw(addr: SocketAddr, request: &[u8]) -> (String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .expect("http response timed out")
        .unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    (
        String::from_utf8_lossy(&buf[..split]).into_owned(),
        buf[split + 4..].to_vec(),
    )
}

pub async fn http_get(addr: SocketAddr, path: &str) -> (String, Vec<u8>) {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

pub fn enc(b: &[u8]) -> String {
    let mut s = String::new();
    percent_encode(b, &mut s);
    s
}

pub fn announce_path(ih: [u8; 20], pid: [u8; 20], port: u16, left: u64, extra: &str) -> String {
    format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}{extra}",
        enc(&ih),
        enc(&pid)
    )
}

/// Decodes a bencoded body and returns it as an owned value.
pub fn bdecode(body: &[u8]) -> bencode::OwnedValue {
    bencode::decode(body)
        .unwrap_or_else(|e| panic!("bad bencode {e}: {}", String::from_utf8_lossy(body)))
        .to_owned()
}

pub fn dict_get<'a>(v: &'a bencode::OwnedValue, key: &str) -> Option<&'a bencode::OwnedValue> {
    match v {
        bencode::OwnedValue::Dict(d) => d.get(key.as_bytes()),
        _ => None,
    }
}

pub fn int(v: &bencode::OwnedValue, key: &str) -> i64 {
    match dict_get(v, key) {
        Some(bencode::OwnedValue::Int(i)) => *i,
        other => panic!("{key} is not an int: {other:?} in {v:?}"),
    }
}

pub fn bytes<'a>(v: &'a bencode::OwnedValue, key: &str) -> &'a [u8] {
    match dict_get(v, key) {
        Some(bencode::OwnedValue::Bytes(b)) => b,
        other => panic!("{key} is not a string: {other:?} in {v:?}"),
    }
}

pub fn failure_reason(body: &[u8]) -> Option<String> {
    let v = bdecode(body);
    dict_get(&v, "failure reason").map(|r| match r {
        bencode::OwnedValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("failure reason is not a string: {other:?}"),
    })
}

/// A UDP client socket connected to the tracker.
pub async fn udp_client(target: SocketAddr) -> tokio::net::UdpSocket {
    let bind: SocketAddr = if target.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
    .parse()
    .unwrap();
    let s = tokio::net::UdpSocket::bind(bind).await.unwrap();
    s.connect(target).await.unwrap();
    s
}

/// Sends `req` and waits up to `wait` for one datagram.
pub async fn udp_exchange(
    s: &tokio::net::UdpSocket,
    req: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    s.send(req).await.unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(wait, s.recv(&mut buf)).await {
        Ok(Ok(n)) => {
            buf.truncate(n);
            Some(buf)
        }
        _ => None,
    }
}

pub async fn udp_connect(s: &tokio::net::UdpSocket) -> ConnectionId {
    let mut req = Vec::new();
    Request::Connect(ConnectRequest {
        transaction_id: TransactionId(77),
    })
    .write_into(&mut req);
    let resp = udp_exchange(s, &req, Duration::from_secs(5))
        .await
        .expect("no connect response");
    assert_eq!(resp.len(), 16);
    match Response::parse(&resp, false) {
        Some(Response::Connect {
            transaction_id,
            connection_id,
        }) => {
            assert_eq!(transaction_id, TransactionId(77));
            connection_id
        }
        other => panic!("not a connect response: {other:?}"),
    }
}

/// Polls `f` every 20 ms until it is true or `limit` passes.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}
