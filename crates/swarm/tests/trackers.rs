//! Peers found only through trackers: anthill's own tracker in-process on
//! loopback, once over HTTP and once over UDP (BEP 15).

mod common;

use std::net::SocketAddr;

use common::*;
use swarm::{AddTorrent, TorrentSource};
use tracker::{Listeners, Tracker, TrackerConfig};

async fn start_tracker() -> (SocketAddr, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut config = TrackerConfig::default();
    config.http.workers = 1;
    config.udp.workers = 1;
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let listeners = Listeners {
        http: Some(tracker::bind_tcp(lo).unwrap()),
        udp: Some(tracker::bind_udp(lo, 0).unwrap()),
    };
    let (http, udp) = (
        listeners.http_addr().unwrap(),
        listeners.udp_addr().unwrap(),
    );
    let t = Tracker::new(config).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(tracker::serve(t, listeners, async {
        let _ = rx.await;
    }));
    (http, udp, tx)
}

async fn swarm_via(url: String) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let m = single_file(&src, "t.bin", 2 * 1024 * 1024 + 5, 64 * 1024, 31);
    let seeder = session().await;
    let mut seed = AddTorrent::seed(m.clone(), &src);
    seed.trackers = vec![url.clone()];
    seeder.add_torrent(seed).await.unwrap();
    let mut sessions = Vec::new();
    let mut handles = Vec::new();
    for i in 0..2 {
        let l = session().await;
        let mut add = AddTorrent::download(
            TorrentSource::Metainfo(Box::new(m.clone())),
            tmp.path().join(format!("l{i}")),
        );
        add.trackers = vec![url.clone()];
        handles.push(l.add_torrent(add).await.unwrap());
        sessions.push(l);
    }
    for h in &handles {
        tokio::time::timeout(deadline(), h.wait_complete())
            .await
            .expect("timed out")
            .unwrap();
    }
    for i in 0..2 {
        assert_same_data(&m, &src, &tmp.path().join(format!("l{i}")));
    }
    for l in &sessions {
        l.shutdown().await;
    }
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_from_an_http_tracker() {
    let (http, _, _stop) = start_tracker().await;
    swarm_via(format!("http://{http}/announce")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_from_a_udp_tracker() {
    let (_, udp, _stop) = start_tracker().await;
    swarm_via(format!("udp://{udp}/announce")).await;
}
