//! In-process swarms on 127.0.0.1: seeders and leechers in one test process.

mod common;

use common::*;
use swarm::{AddTorrent, TorrentSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_seeder_three_leechers() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let m = single_file(&src, "data.bin", 3 * 1024 * 1024 + 12345, 64 * 1024, 1);
    let seeder = session().await;
    let sh = seeder
        .add_torrent(AddTorrent::seed(m.clone(), &src))
        .await
        .unwrap();
    assert_eq!(sh.progress().pieces_have, sh.progress().pieces_total);
    let mut leechers = Vec::new();
    for _ in 0..3 {
        leechers.push(session().await);
    }
    let addrs: Vec<_> = leechers.iter().map(addr).collect();
    let mut handles = Vec::new();
    for (i, l) in leechers.iter().enumerate() {
        let mut add = AddTorrent::download(
            TorrentSource::Metainfo(Box::new(m.clone())),
            tmp.path().join(format!("l{i}")),
        );
        add.peers.push(addr(&seeder));
        add.peers
            .extend(addrs.iter().copied().filter(|a| *a != addr(l)));
        handles.push(l.add_torrent(add).await.unwrap());
    }
    for h in &handles {
        tokio::time::timeout(deadline(), h.wait_complete())
            .await
            .expect("timed out")
            .unwrap();
    }
    for i in 0..3 {
        assert_same_data(&m, &src, &tmp.path().join(format!("l{i}")));
    }
    let up = sh.progress().uploaded;
    let total = m.info().total_length();
    eprintln!("origin uploaded {:.2} copies", up as f64 / total as f64);
    for l in &leechers {
        l.shutdown().await;
    }
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_download_fetches_metadata_from_peers() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let files: Vec<(String, usize)> = (0..5)
        .map(|i| (format!("dir{}/f{i}.bin", i % 2), 100_000 + i * 7777))
        .collect();
    let m = multi_file(&src, "release", &files, 32 * 1024, 7);
    let seeder = session().await;
    seeder
        .add_torrent(AddTorrent::seed(m.clone(), &src))
        .await
        .unwrap();
    let magnet = metainfo::Magnet {
        infohash: m.infohash(),
        peers: vec![addr(&seeder).to_string()],
        ..Default::default()
    };
    let leecher = session().await;
    let out = tmp.path().join("out");
    let h = leecher
        .add_torrent(AddTorrent::download(
            TorrentSource::Magnet(Box::new(magnet)),
            &out,
        ))
        .await
        .unwrap();
    tokio::time::timeout(deadline(), h.wait_complete())
        .await
        .expect("timed out")
        .unwrap();
    assert_same_data(&m, &src, &out);
    assert_eq!(h.progress().name.as_deref(), Some("release"));
    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_small_files() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let files: Vec<(String, usize)> = (0..3000)
        .map(|i| {
            (
                format!("d{}/e{}/file{i}.txt", i % 7, i % 13),
                200 + (i * 37) % 3000,
            )
        })
        .collect();
    let m = multi_file(&src, "many", &files, 16 * 1024, 11);
    assert_eq!(m.info().files().len(), 3000);
    let seeder = session().await;
    seeder
        .add_torrent(AddTorrent::seed(m.clone(), &src))
        .await
        .unwrap();
    let leecher = session().await;
    let out = tmp.path().join("out");
    let mut add = AddTorrent::download(TorrentSource::Metainfo(Box::new(m.clone())), &out);
    add.peers.push(addr(&seeder));
    let h = leecher.add_torrent(add).await.unwrap();
    tokio::time::timeout(deadline(), h.wait_complete())
        .await
        .expect("timed out")
        .unwrap();
    assert_same_data(&m, &src, &out);
    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leechers_find_each_other_through_pex() {
    use std::time::Duration;
    use swarm::{Rate, Session, SessionOptions};
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let m = single_file(&src, "data.bin", 4 * 1024 * 1024, 64 * 1024, 9);
    let fast_pex = SessionOptions {
        pex_interval: Duration::from_millis(300),
        ..opts()
    };
    let seeder = Session::new(SessionOptions {
        upload_rate: Rate(2 << 20),
        ..fast_pex.clone()
    })
    .await
    .unwrap();
    let mut seed = AddTorrent::seed(m.clone(), &src);
    seed.super_seed = false;
    seeder.add_torrent(seed).await.unwrap();
    let mut handles = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..3 {
        let l = Session::new(fast_pex.clone()).await.unwrap();
        let mut add = AddTorrent::download(
            TorrentSource::Metainfo(Box::new(m.clone())),
            tmp.path().join(format!("l{i}")),
        );
        add.peers.push(addr(&seeder));
        handles.push(l.add_torrent(add).await.unwrap());
        sessions.push(l);
    }
    // Only the seeder was given; PEX must introduce the leechers to each other.
    let start = std::time::Instant::now();
    while !handles.iter().all(|h| h.progress().peers >= 3) {
        assert!(
            start.elapsed() < deadline(),
            "peers: {:?}",
            handles
                .iter()
                .map(|h| h.progress().peers)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seeder.set_upload_rate(Rate::UNLIMITED);
    for h in &handles {
        tokio::time::timeout(deadline(), h.wait_complete())
            .await
            .expect("timed out")
            .unwrap();
    }
    for l in &sessions {
        l.shutdown().await;
    }
    seeder.shutdown().await;
}
