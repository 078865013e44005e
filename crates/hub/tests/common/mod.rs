//! Helpers for the hub's in-process tests: a hub on loopback ports in a
//! temporary directory, a raw HTTP GET, and waiting for conditions.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct TestHub {
    pub hub: hub::Hub,
    pub dir: PathBuf,
    pub addr: SocketAddr,
}

pub fn config(dir: &Path) -> hub::HubConfig {
    hub::HubConfig {
        dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        peer_listen: vec!["127.0.0.1:0".parse().unwrap()],
        settle: tracker::HumanDuration(Duration::from_millis(300)),
        rescan_interval: tracker::HumanDuration(Duration::from_millis(200)),
        ..hub::HubConfig::default()
    }
}

pub async fn start(dir: &Path) -> TestHub {
    start_with(config(dir)).await
}

pub async fn start_with(config: hub::HubConfig) -> TestHub {
    let listeners = hub::Listeners::bind(config.listen).expect("bind");
    let addr = listeners.http_addr().unwrap();
    let dir = config.dir.clone();
    let hub = hub::Hub::start(config, listeners)
        .await
        .expect("hub starts");
    TestHub { hub, dir, addr }
}

/// A raw HTTP/1.0 GET; returns status, head and body.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, buf[split + 4..].to_vec())
}

pub fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, head, body) = get(addr, path, &[]);
    assert_eq!(status, 200, "{path}: {head}");
    serde_json::from_slice(&body).expect("json")
}

pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub async fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the API lists a release called `name`; returns its JSON.
pub async fn published(addr: SocketAddr, name: &str) -> serde_json::Value {
    let name = name.to_string();
    wait_for(60, &format!("{name} to be published"), move || {
        let v = get_json(addr, "/api/releases");
        v["releases"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == name.as_str())
            .cloned()
    })
    .await
}

/// Waits until the API lists a rejection of `name`; returns its reason.
pub async fn rejected(addr: SocketAddr, name: &str) -> String {
    let name = name.to_string();
    wait_for(60, &format!("{name} to be rejected"), move || {
        let v = get_json(addr, "/api/releases");
        v["rejected"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == name.as_str())
            .map(|r| r["reason"].as_str().unwrap_or("").to_string())
    })
    .await
}

/// A release tree: nested directories, an executable, an empty file, some
/// small files and one bigger one.
pub fn make_tree(root: &Path, seed: u8) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("share/doc")).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i as u8) ^ seed).collect();
    std::fs::write(root.join("bin/app"), &big).unwrap();
    std::fs::set_permissions(root.join("bin/app"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    for i in 0..20u8 {
        std::fs::write(
            root.join(format!("share/doc/f{i}.txt")),
            vec![seed.wrapping_add(i); 100 + usize::from(i) * 37],
        )
        .unwrap();
    }
}

/// Moves `src` into the hub's drop folder and marks it ready, as `anthill
/// publish` does.
pub fn drop_ready(hub_dir: &Path, src: &Path) {
    let name = src.file_name().unwrap().to_str().unwrap();
    let layout = hub::Layout::new(hub_dir);
    std::fs::rename(src, layout.incoming().join(name)).unwrap();
    std::fs::write(layout.ready_marker(name), b"").unwrap();
}

/// A raw HTTP/1.0 POST of a JSON body; returns status and body.
pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, buf.get(split + 4..).unwrap_or_default().to_vec())
}
