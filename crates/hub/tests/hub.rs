//! The hub end to end, in process: publishing, every rejection, retention,
//! restarts, foreign torrents, the event stream and every HTTP endpoint.

mod common;

use std::time::Duration;

use common::*;
use metainfo::Metainfo;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_tree_is_moved_signed_seeded_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let h = start(&tmp.path().join("hub")).await;
    let src = tmp.path().join("app-1.0");
    make_tree(&src, 1);
    // Dropped as a plain directory (no marker): published once it settles.
    std::fs::rename(&src, h.dir.join("incoming/app-1.0")).unwrap();
    let r = published(h.addr, "app-1.0").await;
    assert_eq!(r["seq"], 1);
    assert_eq!(r["file_count"], 22);
    assert_eq!(r["signed"], true);
    assert!(
        !h.dir.join("incoming/app-1.0").exists(),
        "moved out of incoming/"
    );
    assert!(h.dir.join("releases/app-1.0/bin/app").exists());

    // The .torrent: trackers, web seed, source, data matches.
    let (status, head, torrent) = get(h.addr, "/torrents/app-1.0.torrent", &[]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("application/x-bittorrent")
    );
    let m = Metainfo::from_bytes(&torrent).unwrap();
    assert_eq!(m.infohash().to_hex(), r["infohash"].as_str().unwrap());
    let base = h.hub.url().to_string();
    assert_eq!(m.announce_tiers()[0], vec![format!("{base}/announce")]);
    assert!(m.announce_tiers()[1][0].starts_with("udp://127.0.0.1:"));
    assert_eq!(m.web_seeds(), [format!("{base}/webseed/")]);
    assert_eq!(
        m.info().source(),
        Some(format!("anthill-hub-{}", h.hub.key_id()).as_str())
    );
    let report = metainfo::verify(
        m.info(),
        &h.dir.join("releases"),
        &metainfo::HashOptions::default(),
        &(),
    )
    .unwrap();
    assert!(report.is_ok());

    // The manifest verifies with the hub's public key and names the release.
    let (_, _, pubkey) = get(h.addr, "/hub.pub", &[]);
    let key = release::PublicKey::parse(std::str::from_utf8(&pubkey).unwrap()).unwrap();
    let (_, _, json) = get(h.addr, "/manifests/app-1.0.json", &[]);
    let (_, _, sig) = get(h.addr, "/manifests/app-1.0.json.minisig", &[]);
    let manifest = key
        .verify_manifest(&json, std::str::from_utf8(&sig).unwrap())
        .unwrap();
    assert_eq!((manifest.seq, manifest.name.as_str()), (1, "app-1.0"));
    assert_eq!(manifest.infohash, m.infohash());
    assert_eq!(
        manifest.total_size,
        300_000 + (0..20u64).map(|i| 100 + i * 37).sum::<u64>()
    );
    // The index lists it and expires in a week.
    let (_, _, ij) = get(h.addr, "/index.json", &[]);
    let (_, _, is) = get(h.addr, "/index.json.minisig", &[]);
    let index = key
        .verify_index(&ij, std::str::from_utf8(&is).unwrap())
        .unwrap();
    assert_eq!(index.releases.len(), 1);
    assert_eq!(
        index.expires_at - index.issued_at,
        release::INDEX_VALIDITY_SECS
    );

    // The same files are in public/ for any web server to mirror.
    assert_eq!(
        std::fs::read(h.dir.join("public/torrents/app-1.0.torrent")).unwrap(),
        torrent
    );
    assert_eq!(
        std::fs::read(h.dir.join("public/manifests/app-1.0.json")).unwrap(),
        json
    );

    // The feed.
    let (status, head, feed) = get(h.addr, "/feed.xml", &[]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("application/rss+xml; charset=utf-8")
    );
    let feed = String::from_utf8(feed).unwrap();
    assert!(feed.contains(&format!(
        "<guid isPermaLink=\"false\">urn:btih:{}</guid>",
        m.infohash().to_hex()
    )));
    assert!(feed.contains(&format!(
        "url=\"{base}/torrents/app-1.0.torrent\" length=\"{}\" type=\"application/x-bittorrent\"",
        torrent.len()
    )));

    // The hub seeds it: a download from its seeder completes and matches.
    let peers = h.hub.peer_addrs();
    let session = swarm::Session::new(swarm::SessionOptions {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let out = tmp.path().join("dl");
    let mut add =
        swarm::AddTorrent::download(swarm::TorrentSource::Metainfo(Box::new(m.clone())), &out);
    add.peers = peers;
    let handle = session.add_torrent(add).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), handle.wait_complete())
        .await
        .unwrap()
        .unwrap();
    session.shutdown().await;
    assert_eq!(
        std::fs::read(out.join("app-1.0/bin/app")).unwrap(),
        std::fs::read(h.dir.join("releases/app-1.0/bin/app")).unwrap()
    );
    h.hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bad_entry_is_rejected_with_its_reason_and_nothing_else_is_touched() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let h = start(&tmp.path().join("hub")).await;
    let inc = h.dir.join("incoming");
    // A good release first: nothing below may touch it.
    let good = tmp.path().join("good-1");
    make_tree(&good, 2);
    drop_ready(&h.dir, &good);
    published(h.addr, "good-1").await;

    std::fs::create_dir(inc.join("has-link")).unwrap();
    std::fs::write(inc.join("has-link/a"), b"x").unwrap();
    symlink("/etc/passwd", inc.join("has-link/b")).unwrap();
    symlink("/etc", inc.join("is-link")).unwrap();
    std::fs::create_dir(inc.join("empty-tree")).unwrap();
    std::fs::create_dir(inc.join("bad name")).unwrap();
    std::fs::write(inc.join("bad name/a"), b"x").unwrap();
    std::fs::create_dir(inc.join("has-fifo")).unwrap();
    std::fs::write(inc.join("has-fifo/a"), b"x").unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        inc.join("has-fifo/p"),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let dup = tmp.path().join("good-1");
    make_tree(&dup, 3);
    std::fs::rename(&dup, inc.join("good-1")).unwrap();
    let nonutf8 = std::ffi::OsStr::new(unsafe_free_non_utf8());
    std::fs::write(inc.join(nonutf8), b"x").unwrap();

    let cases = [
        ("has-link", "symbolic link"),
        ("is-link", "symbolic link"),
        ("empty-tree", "empty"),
        ("bad name", "contains ' '"),
        ("has-fifo", "not a regular file"),
        ("good-1", "already published (seq 1)"),
    ];
    for (name, why) in cases {
        let reason = rejected(h.addr, name).await;
        assert!(reason.contains(why), "{name}: {reason}");
        let moved = h
            .dir
            .join("rejected")
            .join(if name == "good-1" { "good-1" } else { name });
        assert!(
            std::fs::symlink_metadata(&moved).is_ok(),
            "{name} moved to rejected/"
        );
        let reason_file = std::fs::read_to_string(format!("{}.reason", moved.display())).unwrap();
        assert!(reason_file.contains(why), "{name}: {reason_file}");
    }
    let reason = rejected(h.addr, &nonutf8.to_string_lossy()).await;
    assert!(reason.contains("UTF-8"), "{reason}");
    // Nothing is left in incoming/ but the hub's own markers, the good
    // release is intact and still the only one.
    let left: Vec<_> = std::fs::read_dir(&inc)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let v = get_json(h.addr, "/api/releases");
    assert_eq!(v["releases"].as_array().unwrap().len(), 1);
    assert_eq!(v["rejected_total"], 7);
    let m =
        Metainfo::from_bytes(&std::fs::read(h.dir.join("public/torrents/good-1.torrent")).unwrap())
            .unwrap();
    assert!(
        metainfo::verify(
            m.info(),
            &h.dir.join("releases"),
            &metainfo::HashOptions::default(),
            &()
        )
        .unwrap()
        .is_ok()
    );
    let (_, _, metrics) = get(h.addr, "/metrics", &[]);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("anthill_hub_rejected_total 7"),
        "{metrics}"
    );
    assert!(metrics.contains("anthill_hub_releases 1"));
    h.hub.stop().await.unwrap();
}

/// A file name that is not UTF-8 (bytes 0xff 0xfe), built without unsafe code.
fn unsafe_free_non_utf8() -> &'static std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b"bad-\xff\xfe")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_entry_still_being_written_waits_until_it_settles() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(&tmp.path().join("hub"));
    c.settle = tracker::HumanDuration(Duration::from_millis(1500));
    let h = start_with(c).await;
    let dir = h.dir.join("incoming/slow-1");
    std::fs::create_dir(&dir).unwrap();
    // Keep writing for a while: nothing may be published meanwhile.
    for i in 0..15 {
        std::fs::write(dir.join(format!("part{i}")), vec![i as u8; 1000]).unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let v = get_json(h.addr, "/api/releases");
        assert!(
            v["releases"].as_array().unwrap().is_empty(),
            "published while still changing"
        );
    }
    let r = published(h.addr, "slow-1").await;
    assert_eq!(r["file_count"], 15, "every part written is in the release");
    h.hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn releases_past_keep_leave_the_feed_and_the_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(&tmp.path().join("hub"));
    c.keep = 2;
    let h = start_with(c).await;
    for i in 1..=3u8 {
        let src = tmp.path().join(format!("r-{i}"));
        make_tree(&src, i);
        drop_ready(&h.dir, &src);
        published(h.addr, &format!("r-{i}")).await;
    }
    wait_for(30, "r-1 to be retired", || {
        let v = get_json(h.addr, "/api/releases");
        (v["releases"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    wait_for(30, "r-1's data to be deleted", || {
        (!h.dir.join("releases/r-1").exists()).then_some(())
    })
    .await;
    let v = get_json(h.addr, "/api/releases");
    let seqs: Vec<_> = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 2]);
    assert!(!h.dir.join("public/torrents/r-1.torrent").exists());
    assert!(h.dir.join("releases/r-2").exists() && h.dir.join("releases/r-3").exists());
    let (_, _, feed) = get(h.addr, "/feed.xml", &[]);
    let feed = String::from_utf8(feed).unwrap();
    assert!(!feed.contains("r-1") && feed.contains("r-3"));
    // The retired name stays taken, and seqs never repeat.
    let again = tmp.path().join("r-1");
    make_tree(&again, 9);
    drop_ready(&h.dir, &again);
    assert!(rejected(h.addr, "r-1").await.contains("already published"));
    let next = tmp.path().join("r-4");
    make_tree(&next, 4);
    drop_ready(&h.dir, &next);
    assert_eq!(published(h.addr, "r-4").await["seq"], 4);
    h.hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_serves_the_same_feed_and_seqs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hub");
    let h = start(&dir).await;
    for i in 1..=2u8 {
        let src = tmp.path().join(format!("v{i}"));
        make_tree(&src, i);
        drop_ready(&h.dir, &src);
        published(h.addr, &format!("v{i}")).await;
    }
    let (_, head, feed) = get(h.addr, "/feed.xml", &[]);
    let etag = header(&head, "etag").unwrap().to_string();
    let index = std::fs::read(dir.join("public/index.json")).unwrap();
    let key = h.hub.key_id().to_string();
    let addr = h.addr;
    h.hub.stop().await.unwrap();

    // Same address: the URLs in the feed stay the same.
    let mut c = config(&dir);
    c.listen = addr;
    let h = start_with(c).await;
    assert_eq!(h.hub.key_id(), key, "the key is kept");
    let (_, head2, feed2) = get(h.addr, "/feed.xml", &[]);
    assert!(
        feed2 == feed,
        "not the same feed:\n{}\n{}",
        String::from_utf8_lossy(&feed),
        String::from_utf8_lossy(&feed2)
    );
    assert_eq!(header(&head2, "etag").unwrap(), etag);
    assert_eq!(
        std::fs::read(dir.join("public/index.json")).unwrap(),
        index,
        "index not re-signed without a change"
    );
    // Conditional GETs: 304 by ETag and by date.
    let (status, _, body) = get(h.addr, "/feed.xml", &[("If-None-Match", &etag)]);
    assert_eq!((status, body.len()), (304, 0));
    let lm = header(&head2, "last-modified").unwrap().to_string();
    assert_eq!(
        get(h.addr, "/feed.xml", &[("If-Modified-Since", &lm)]).0,
        304
    );
    assert_eq!(
        get(h.addr, "/feed.xml", &[("If-None-Match", "\"other\"")]).0,
        200
    );
    // Seeding resumed.
    let v = wait_for(30, "seeding to resume", || {
        let v = get_json(h.addr, "/api/releases");
        v["releases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["seeding"].is_object())
            .then_some(v)
    })
    .await;
    assert_eq!(v["releases"][0]["seq"], 2);
    // Two hubs on one directory: the second is refused.
    let l = hub::Listeners::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let second = hub::Hub::start(config(&dir), l).await;
    assert!(
        matches!(second, Err(hub::HubError::Locked { .. })),
        "{second:?}"
    );
    h.hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn foreign_torrents_are_listed_and_tracked() {
    let tmp = tempfile::tempdir().unwrap();
    let h = start(&tmp.path().join("hub")).await;
    let data = tmp.path().join("other.bin");
    std::fs::write(&data, vec![5u8; 70_000]).unwrap();
    let info = metainfo::create(&data, &metainfo::CreateOptions::default()).unwrap();
    let m = Metainfo::new(info).with_announce(vec![vec![format!("{}/announce", h.hub.url())]]);
    std::fs::write(h.dir.join("torrents/other.torrent"), m.to_bytes()).unwrap();
    std::fs::write(h.dir.join("torrents/broken.torrent"), b"d4:infoi1ee").unwrap();
    let v = wait_for(30, "the foreign torrent to be listed", || {
        let v = get_json(h.addr, "/api/releases");
        (!v["foreign"].as_array()?.is_empty()).then_some(v)
    })
    .await;
    assert_eq!(
        v["foreign"].as_array().unwrap().len(),
        1,
        "the broken one is skipped"
    );
    assert_eq!(v["foreign"][0]["infohash"], m.infohash().to_hex());
    let (status, _, body) = get(h.addr, "/foreign/other.torrent", &[]);
    assert_eq!((status, body), (200, m.to_bytes()));
    let (_, _, feed) = get(h.addr, "/feed.xml", &[]);
    assert!(
        String::from_utf8(feed)
            .unwrap()
            .contains(&format!("{}/foreign/other.torrent", h.hub.url()))
    );
    // The embedded tracker serves it, and refuses unknown infohashes.
    let q = |ih: &[u8; 20]| {
        let enc: String = ih.iter().map(|b| format!("%{b:02x}")).collect();
        format!(
            "/announce?info_hash={enc}&peer_id=-XX0001-aaaaaaaaaaaa&port=7000&uploaded=0&downloaded=0&left=10&compact=1"
        )
    };
    let (status, _, body) = get(h.addr, &q(&m.infohash().0), &[]);
    assert_eq!(status, 200);
    assert!(
        !String::from_utf8_lossy(&body).contains("failure"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (_, _, body) = get(h.addr, &q(&[9; 20]), &[]);
    assert!(String::from_utf8_lossy(&body).contains("failure reason"));
    // Removed from torrents/: gone from the feed.
    std::fs::remove_file(h.dir.join("torrents/other.torrent")).unwrap();
    wait_for(30, "the foreign torrent to leave", || {
        get_json(h.addr, "/api/releases")["foreign"]
            .as_array()?
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(get(h.addr, "/foreign/other.torrent", &[]).0, 404);
    h.hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_announce_publishes_and_the_web_seed_serves_ranges() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let h = start(&tmp.path().join("hub")).await;
    let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut lines = tokio::io::BufReader::new(s).lines();
    let mut next_data = async || loop {
        let l = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        if let Some(d) = l.strip_prefix("data: ") {
            return serde_json::from_str::<serde_json::Value>(d).unwrap();
        }
    };
    let hello = next_data().await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["newest_seq"], 0);
    let src = tmp.path().join("live-1");
    make_tree(&src, 7);
    drop_ready(&h.dir, &src);
    let ev = next_data().await;
    assert_eq!(
        (ev["type"].as_str(), ev["name"].as_str(), ev["seq"].as_u64()),
        (Some("published"), Some("live-1"), Some(1))
    );
    assert!(
        ev["torrent_url"]
            .as_str()
            .unwrap()
            .ends_with("/torrents/live-1.torrent")
    );
    std::fs::create_dir(h.dir.join("incoming/bad name")).unwrap();
    let ev = next_data().await;
    assert_eq!(ev["type"], "rejected");

    // BEP 19: ranges of a file of a published release; nothing else.
    let (status, _, body) = get(
        h.addr,
        "/webseed/live-1/bin/app",
        &[("Range", "bytes=10-19")],
    );
    assert_eq!(status, 206);
    assert_eq!(
        body,
        std::fs::read(h.dir.join("releases/live-1/bin/app")).unwrap()[10..20]
    );
    assert_eq!(get(h.addr, "/webseed/.anthill/x", &[]).0, 404);
    assert_eq!(get(h.addr, "/webseed/live-1/../../hub.db", &[]).0, 404);
    assert_eq!(get(h.addr, "/webseed/unknown/x", &[]).0, 404);
    assert_eq!(get(h.addr, "/api/releases/live-1", &[]).0, 200);
    assert_eq!(get(h.addr, "/api/releases/nope", &[]).0, 404);
    let (status, _, page) = get(h.addr, "/", &[]);
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("live-1") && page.contains("bad name"),
        "{page}"
    );
    assert_eq!(get(h.addr, "/releases/live-1", &[]).0, 200);
    h.hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_report_and_the_hub_keeps_the_latest_of_each() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(&tmp.path().join("hub"));
    c.agent_stale_after = tracker::HumanDuration(Duration::from_secs(3600));
    let h = start_with(c).await;
    let src = tmp.path().join("app-1");
    make_tree(&src, 1);
    drop_ready(&h.dir, &src);
    let ih = published(h.addr, "app-1").await["infohash"]
        .as_str()
        .unwrap()
        .to_string();
    let report = |name: &str, state: &str, progress: f64| {
        serde_json::json!({
            "name": name, "current": "app-1",
            "releases": [{"infohash": ih, "name": "app-1", "state": state, "progress": progress,
                          "from_peers": 900, "from_hub": 100, "hook": {"exit_code": 0, "output_tail": "ok"}}]
        })
        .to_string()
    };
    assert_eq!(
        post(
            h.addr,
            "/api/agents/report",
            report("web-01", "downloading", 0.5).as_bytes()
        )
        .0,
        204
    );
    assert_eq!(
        post(
            h.addr,
            "/api/agents/report",
            report("web-02", "installed", 1.0).as_bytes()
        )
        .0,
        204
    );
    assert_eq!(
        post(
            h.addr,
            "/api/agents/report",
            report("web-01", "installed", 1.0).as_bytes()
        )
        .0,
        204
    );
    let v = get_json(h.addr, "/api/agents");
    let agents = v["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2);
    assert_eq!(agents[0]["name"], "web-01");
    assert_eq!(
        agents[0]["releases"][0]["state"], "installed",
        "the latest report wins"
    );
    assert_eq!(agents[0]["stale"], false);
    let (_, _, metrics) = get(h.addr, "/metrics", &[]);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("anthill_hub_agents 2"), "{metrics}");
    assert!(
        metrics.contains("anthill_hub_agents_newest_release{state=\"installed\"} 2"),
        "{metrics}"
    );
    // Hostile reports are refused and change nothing.
    assert_eq!(post(h.addr, "/api/agents/report", b"{not json").0, 400);
    assert_eq!(
        post(
            h.addr,
            "/api/agents/report",
            report("../evil", "installed", 1.0).as_bytes()
        )
        .0,
        400
    );
    assert_eq!(
        post(
            h.addr,
            "/api/agents/report",
            report("web-03", "installed", 7.0).as_bytes()
        )
        .0,
        400
    );
    let huge = format!(
        "{{\"name\":\"big\",\"current\":\"{}\"}}",
        "x".repeat(100_000)
    );
    assert_eq!(post(h.addr, "/api/agents/report", huge.as_bytes()).0, 413);
    assert_eq!(
        get_json(h.addr, "/api/agents")["agents"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    h.hub.stop().await.unwrap();
}
