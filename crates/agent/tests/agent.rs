//! In-process tests: a real hub (and a plain static feed server) in the
//! same process, one or two agents, real HTTP, SSE and peer traffic on
//! loopback. Every wait is for a condition (with a generous bound so a
//! broken build fails instead of hanging).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent::{Agent, AgentConfig, Snapshot};
use tokio::sync::watch;

const BOUND: Duration = Duration::from_secs(120);

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = u64::from(seed) | 0x9e37_79b9_0000_0000;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

struct TestHub {
    hub: hub::Hub,
    dir: PathBuf,
    feed: String,
}

impl TestHub {
    async fn start(dir: &Path) -> Self {
        let config = hub::HubConfig {
            dir: dir.to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            public_url: None,
            peer_listen: vec!["127.0.0.1:0".parse().unwrap()],
            settle: tracker::HumanDuration(Duration::from_millis(200)),
            ..Default::default()
        };
        let listeners = hub::Listeners::bind(config.listen).unwrap();
        let hub = hub::Hub::start(config, listeners).await.unwrap();
        let feed = format!("{}/feed.xml", hub.url());
        Self {
            hub,
            dir: dir.to_path_buf(),
            feed,
        }
    }

    fn public_key(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("keys/hub.pub")).unwrap();
        release::PublicKey::parse(&text).unwrap().to_base64()
    }

    /// Drops a release tree into incoming/ with the publish marker, and
    /// waits until the hub's API lists it.
    async fn publish(&self, name: &str, seed: u8, size: usize) {
        let src = self.dir.with_extension(format!("src-{name}"));
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::write(src.join("bin/app"), bytes(size, seed)).unwrap();
        std::fs::write(src.join("VERSION"), name).unwrap();
        self.drop_in(name, &src).await;
    }

    /// Publishes a copy of the tree `src` (left in place) as `name`.
    async fn publish_tree(&self, name: &str, src: &Path) {
        let tmp = self.dir.with_extension(format!("copy-{name}"));
        copy_tree(src, &tmp);
        self.drop_in(name, &tmp).await;
    }

    /// Moves `entry` into incoming/ as `name` with the publish marker, and
    /// waits until the hub's API lists it.
    async fn drop_in(&self, name: &str, entry: &Path) {
        let layout = hub::Layout::new(&self.dir);
        std::fs::rename(entry, layout.incoming().join(name)).unwrap();
        storage::write_atomic(&layout.ready_marker(name), b"").unwrap();
        let client = agent::http::Client::new(Duration::from_secs(10)).unwrap();
        let url = format!("{}/api/releases/{name}", self.hub.url());
        tokio::time::timeout(BOUND, async {
            while client.get_body(&url, 1 << 20).await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the hub did not publish");
    }
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// Every file below `root` with its SHA-1, sorted by path.
fn checksums(root: &Path) -> Vec<(PathBuf, [u8; 20])> {
    use sha1::{Digest, Sha1};
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let b = std::fs::read(e.path()).unwrap();
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                out.push((rel, Sha1::digest(&b).into()));
            }
        }
    }
    out.sort();
    out
}

fn config(feeds: &[&str], dir: &Path) -> AgentConfig {
    AgentConfig {
        feeds: feeds.iter().map(|s| s.to_string()).collect(),
        dir: dir.to_path_buf(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        peer_listen: vec!["127.0.0.1:0".parse().unwrap()],
        metadata_timeout_secs: 3.0,
        max_backoff_secs: 2.0,
        ..Default::default()
    }
}

async fn wait_for(
    rx: &mut watch::Receiver<Snapshot>,
    what: &str,
    f: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let got = match tokio::time::timeout(BOUND, rx.wait_for(|s| f(s))).await {
        Ok(Ok(s)) => Some(s.clone()),
        _ => None,
    };
    got.unwrap_or_else(|| panic!("agent never reached: {what}\nlast: {:#?}", *rx.borrow()))
}

fn active(s: &Snapshot, name: &str) -> bool {
    s.current.as_deref() == Some(name) && s.release(name).is_some_and(|r| r.state == "active")
}

fn state<'a>(s: &'a Snapshot, name: &str) -> &'a str {
    s.release(name).map_or("-", |r| r.state.as_str())
}

fn hook_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_releases_install_once_switch_current_run_the_hook_and_survive_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub")).await;
    hub.publish("app-1", 1, 300_000).await;

    let dir = tmp.path().join("agent");
    let log = tmp.path().join("hook.log");
    let mut c = config(&[&hub.feed], &dir);
    c.trust = vec![hub.public_key()];
    // Only the event stream can make app-2 known in time: polls are an hour apart.
    c.poll_interval_secs = 3600.0;
    c.hook = Some(format!(
        "echo \"$ANTHILL_RELEASE|$ANTHILL_RELEASE_PATH|$ANTHILL_INFOHASH|$ANTHILL_PREVIOUS_RELEASE|$(cat \"$ANTHILL_RELEASE_PATH/VERSION\")\" >> {}",
        log.display()
    ));
    let a = Agent::start(c.clone()).await.unwrap();
    let mut rx = a.snapshot();
    let s = wait_for(&mut rx, "app-1 active", |s| active(s, "app-1")).await;
    let ih1 = s.release("app-1").unwrap().infohash.clone();
    assert_eq!(
        std::fs::read(dir.join("current/bin/app")).unwrap(),
        bytes(300_000, 1),
        "current names the complete release"
    );
    assert_eq!(
        std::fs::read_link(dir.join("current")).unwrap(),
        Path::new("releases/app-1")
    );
    let releases = dir.join("releases");
    assert_eq!(
        hook_lines(&log),
        [format!(
            "app-1|{}|{ih1}||app-1",
            releases.join("app-1").display()
        )]
    );

    // A second release replaces it, learnt from the event stream.
    hub.publish("app-2", 2, 200_000).await;
    let s = wait_for(&mut rx, "app-2 active", |s| active(s, "app-2")).await;
    let ih2 = s.release("app-2").unwrap().infohash.clone();
    assert_eq!(state(&s, "app-1"), "retired");
    assert_eq!(
        s.release("app-2").unwrap().previous.as_deref(),
        Some("app-1")
    );
    assert_eq!(
        s.release("app-2").unwrap().hook_status.as_deref(),
        Some("exit 0")
    );
    assert_eq!(
        hook_lines(&log)[1],
        format!(
            "app-2|{}|{ih2}|app-1|app-2",
            releases.join("app-2").display()
        )
    );
    assert_eq!(
        std::fs::read(dir.join("current/VERSION")).unwrap(),
        b"app-2"
    );

    // Status and metrics.
    let client = agent::http::Client::new(Duration::from_secs(10)).unwrap();
    let base = format!("http://{}", a.status_addr().unwrap());
    let status: serde_json::Value = serde_json::from_slice(
        &client
            .get_body(&format!("{base}/status"), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(status["current"], "app-2");
    assert_eq!(status["trusted_keys"], true);
    assert_eq!(status["feeds"][0]["events_connected"], true);
    let metrics = String::from_utf8(
        client
            .get_body(&format!("{base}/metrics"), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        metrics.contains("anthill_agent_releases{state=\"active\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("anthill_agent_current_seq 2"), "{metrics}");
    assert!(
        metrics.contains("anthill_agent_installs_total 2"),
        "{metrics}"
    );
    a.stop().await.unwrap();

    // A restart installs nothing again and runs no hook again; a third
    // release is taken as usual, and the oldest beyond keep = 2 is deleted.
    let mut c2 = c.clone();
    c2.keep = 2;
    let a = Agent::start(c2).await.unwrap();
    let mut rx = a.snapshot();
    wait_for(&mut rx, "restarted with app-2 current", |s| {
        active(s, "app-2")
    })
    .await;
    hub.publish("app-3", 3, 100_000).await;
    let s = wait_for(&mut rx, "app-3 active", |s| active(s, "app-3")).await;
    let lines = hook_lines(&log);
    assert_eq!(lines.len(), 3, "one hook run per install: {lines:?}");
    assert!(lines[2].starts_with("app-3|"));
    let s = if state(&s, "app-1") == "removed" {
        s
    } else {
        wait_for(&mut rx, "app-1 pruned", |s| state(s, "app-1") == "removed").await
    };
    assert_eq!(state(&s, "app-2"), "retired");
    assert!(!releases.join("app-1").exists(), "pruned past keep");
    assert!(
        releases.join("app-2").exists(),
        "the previous release is kept"
    );
    a.stop().await.unwrap();
    hub.hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_tampered_and_replayed_releases_are_refused_and_never_downloaded() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub")).await;
    hub.publish("rel-1", 1, 50_000).await;

    // Trusting another key: refused, nothing installed.
    let other = release::SigningKey::generate()
        .unwrap()
        .public_key()
        .to_base64();
    let mut c = config(&[&hub.feed], &tmp.path().join("a1"));
    c.trust = vec![other];
    let a = Agent::start(c).await.unwrap();
    let mut rx = a.snapshot();
    let s = wait_for(&mut rx, "rel-1 refused", |s| state(s, "rel-1") == "refused").await;
    let reason = s.release("rel-1").unwrap().reason.clone().unwrap();
    assert!(reason.contains("not trusted"), "{reason}");
    assert_eq!(s.current, None);
    assert_eq!(
        std::fs::read_dir(tmp.path().join("a1/releases"))
            .unwrap()
            .count(),
        0
    );
    a.stop().await.unwrap();

    // A tampered manifest signature: refused.
    let sig = hub.dir.join("public/manifests/rel-1.json.minisig");
    let text = std::fs::read_to_string(&sig).unwrap();
    std::fs::write(&sig, text.replace("seq=1", "seq=7")).unwrap();
    let mut c = config(&[&hub.feed], &tmp.path().join("a2"));
    c.trust = vec![hub.public_key()];
    let a = Agent::start(c).await.unwrap();
    let mut rx = a.snapshot();
    let s = wait_for(&mut rx, "tampered rel-1 refused", |s| {
        state(s, "rel-1") == "refused"
    })
    .await;
    let reason = s.release("rel-1").unwrap().reason.clone().unwrap();
    assert!(reason.contains("bad manifest"), "{reason}");
    assert!(!tmp.path().join("a2/current").exists());
    a.stop().await.unwrap();
    std::fs::write(&sig, text).unwrap();

    // A replay: a second hub with the same key serves an older seq than
    // one the agent accepted already.
    hub.publish("rel-2", 2, 50_000).await;
    let twin_dir = tmp.path().join("twin");
    std::fs::create_dir_all(twin_dir.join("keys")).unwrap();
    std::fs::copy(hub.dir.join("keys/hub.key"), twin_dir.join("keys/hub.key")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            twin_dir.join("keys/hub.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let twin = TestHub::start(&twin_dir).await;
    twin.publish("old-1", 9, 50_000).await;
    assert_eq!(twin.public_key(), hub.public_key());

    let dir = tmp.path().join("a3");
    let mut c = config(&[&hub.feed], &dir);
    c.trust = vec![hub.public_key()];
    let a = Agent::start(c.clone()).await.unwrap();
    let mut rx = a.snapshot();
    let s = wait_for(&mut rx, "rel-2 active", |s| active(s, "rel-2")).await;
    assert_eq!(
        state(&s, "rel-1"),
        "skipped",
        "first start takes only the newest"
    );
    a.stop().await.unwrap();
    c.feeds.push(twin.feed.clone());
    let a = Agent::start(c).await.unwrap();
    let mut rx = a.snapshot();
    let s = wait_for(&mut rx, "old-1 refused", |s| state(s, "old-1") == "refused").await;
    let reason = s.release("old-1").unwrap().reason.clone().unwrap();
    assert!(reason.contains("replay"), "{reason}");
    assert_eq!(s.current.as_deref(), Some("rel-2"));
    assert!(!dir.join("releases/old-1").exists());
    a.stop().await.unwrap();
    twin.hub.stop().await.unwrap();
    hub.hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_and_backfill_takes_every_release_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub")).await;
    hub.publish("v1", 1, 100_000).await;
    hub.publish("v2", 2, 100_000).await;
    let log = tmp.path().join("hook.log");
    let mut c = config(
        &[&hub.feed, &hub.feed.replace("127.0.0.1", "localhost")],
        &tmp.path().join("b1"),
    );
    c.trust = vec![hub.public_key()];
    c.backfill = true;
    c.hook = Some(format!("echo \"$ANTHILL_RELEASE\" >> {}", log.display()));
    let a1 = Agent::start(c).await.unwrap();
    let mut rx1 = a1.snapshot();
    wait_for(&mut rx1, "v2 active", |s| active(s, "v2")).await;
    assert_eq!(
        hook_lines(&log),
        ["v1", "v2"],
        "backfill: every release, oldest first, once (two mirrors)"
    );

    let c2 = config(&[&hub.feed], &tmp.path().join("b2"));
    let a2 = Agent::start(c2).await.unwrap();
    let mut rx2 = a2.snapshot();
    let s = wait_for(&mut rx2, "v2 active on the second agent", |s| {
        active(s, "v2")
    })
    .await;
    assert_eq!(state(&s, "v1"), "skipped");
    a2.stop().await.unwrap();
    a1.stop().await.unwrap();
    hub.hub.stop().await.unwrap();
}

/// A plain feed of torrents, as another server would serve it: no
/// infohash in the feed (the `.torrent` tells), data from a BEP 19 web seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_static_feed_of_torrents_installs_without_trust() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let data = site.join("data/plain-1");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.bin"), bytes(70_000, 7)).unwrap();
    std::fs::write(data.join("b.txt"), b"hello").unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let info = metainfo::create(&data, &metainfo::CreateOptions::default()).unwrap();
    let m = metainfo::Metainfo::new(info).with_web_seeds(vec![format!("http://{addr}/data/")]);
    std::fs::create_dir_all(site.join("t")).unwrap();
    std::fs::write(site.join("t/plain-1.torrent"), m.to_bytes()).unwrap();
    std::fs::write(
        site.join("feed.xml"),
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>plain</title>\
             <item><title>a news item</title><link>http://{addr}/news</link></item>\
             <item><title>plain-1</title><link>http://{addr}/t/plain-1.torrent</link></item>\
             </channel></rss>"
        ),
    )
    .unwrap();
    let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(&site));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tmp.path().join("agent");
    let a = Agent::start(config(&[&format!("http://{addr}/feed.xml")], &dir))
        .await
        .unwrap();
    let mut rx = a.snapshot();
    let s = wait_for(&mut rx, "plain-1 active", |s| active(s, "plain-1")).await;
    assert_eq!(
        s.release("plain-1").unwrap().infohash,
        m.infohash().to_hex()
    );
    assert_eq!(s.release("plain-1").unwrap().seq, None);
    assert_eq!(
        std::fs::read(dir.join("current/a.bin")).unwrap(),
        bytes(70_000, 7)
    );
    assert_eq!(std::fs::read(dir.join("current/b.txt")).unwrap(), b"hello");
    a.stop().await.unwrap();
    server.abort();
}

/// A release nobody serves (no peers, no web seed) fails after the stall
/// timeout with its reason, instead of holding the agent forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_nobody_serves_fails_after_the_stall_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let data = tmp.path().join("elsewhere/lost-1");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.bin"), bytes(40_000, 3)).unwrap();
    let m = metainfo::Metainfo::new(
        metainfo::create(&data, &metainfo::CreateOptions::default()).unwrap(),
    );
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("lost-1.torrent"), m.to_bytes()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    std::fs::write(
        site.join("feed.xml"),
        format!(
            "<rss version=\"2.0\"><channel><title>p</title><item><title>lost-1</title>\
             <enclosure url=\"http://{addr}/lost-1.torrent\" type=\"application/x-bittorrent\"/>\
             </item></channel></rss>"
        ),
    )
    .unwrap();
    let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(&site));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut c = config(
        &[&format!("http://{addr}/feed.xml")],
        &tmp.path().join("agent"),
    );
    c.stall_timeout_secs = 1.0;
    let a = Agent::start(c).await.unwrap();
    let mut rx = a.snapshot();
    let s = wait_for(&mut rx, "lost-1 failed", |s| state(s, "lost-1") == "failed").await;
    let reason = s.release("lost-1").unwrap().reason.clone().unwrap();
    assert!(reason.contains("no piece verified"), "{reason}");
    assert_eq!(s.current, None);
    a.stop().await.unwrap();
    server.abort();
}

/// Agents report to the hub they follow: the hub's `/api/agents` lists each
/// with the release `current` names, its state, full progress, the bytes it
/// received and the hook's exit code, and the report changes when a newer
/// release is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_report_their_releases_to_the_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub")).await;
    hub.publish("app-1", 4, 200_000).await;
    let mut agents = Vec::new();
    for n in ["web-01", "web-02"] {
        let mut c = config(&[&hub.feed], &tmp.path().join(n));
        c.trust = vec![hub.public_key()];
        c.name = Some(n.into());
        c.hook = Some("echo hello; exit 3".into());
        agents.push(Agent::start(c).await.unwrap());
    }
    let client = agent::http::Client::new(Duration::from_secs(10)).unwrap();
    let url = format!("{}/api/agents", hub.hub.url());
    let listed = |want: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            tokio::time::timeout(BOUND, async {
                loop {
                    let body = client.get_body(&url, 1 << 20).await.unwrap();
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let agents = v["agents"].as_array().cloned().unwrap_or_default();
                    let done = agents
                        .iter()
                        .filter(|a| a["current"] == want && a["releases"][0]["state"] == "active")
                        .count();
                    if done == 2 {
                        return agents;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("the hub never listed both agents with {want} active"))
        }
    };
    let got = listed("app-1").await;
    let mut names: Vec<&str> = got.iter().map(|a| a["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["web-01", "web-02"]);
    for a in &got {
        let r = &a["releases"][0];
        assert_eq!(r["name"], "app-1");
        assert_eq!(r["progress"], 1.0);
        assert_eq!(r["hook"]["exit_code"], 3, "{a}");
        assert!(r["hook"]["output_tail"].as_str().unwrap().contains("hello"));
        assert_eq!(a["stale"], false);
    }
    let received: u64 = got
        .iter()
        .map(|a| {
            let r = &a["releases"][0];
            r["from_peers"].as_u64().unwrap() + r["from_hub"].as_u64().unwrap()
        })
        .sum();
    assert!(received >= 2 * 200_000, "received {received} bytes in all");

    hub.publish("app-2", 5, 100_000).await;
    let got = listed("app-2").await;
    assert!(
        got.iter().all(|a| a["releases"][1]["state"] == "retired"),
        "{got:?}"
    );
    for a in agents {
        a.stop().await.unwrap();
    }
}

/// Issue 9: release 2 of a tree (a few files changed, a big file changed in
/// one region) costs about the changed bytes: the rest is copied from
/// release 1 on disk, which stays untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_release_downloads_only_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub")).await;
    let src = tmp.path().join("tree");
    let sizes = [300, 1_500, 5_000, 20_000, 70_000, 150_000, 333_333];
    for i in 0..40 {
        let p = src.join(format!("d{}/f{i:02}.bin", i % 4));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes(sizes[i % sizes.len()], i as u8)).unwrap();
    }
    let big_len = 8 << 20;
    std::fs::write(src.join("big.img"), bytes(big_len, 200)).unwrap();
    hub.publish_tree("app-1", &src).await;

    let mut c = config(&[&hub.feed], &tmp.path().join("a"));
    c.trust = vec![hub.public_key()];
    let a = Agent::start(c).await.unwrap();
    let mut rx = a.snapshot();
    let s = wait_for(&mut rx, "app-1 active", |s| active(s, "app-1")).await;
    let r1 = s.release("app-1").unwrap();
    assert_eq!(r1.reused_bytes, None, "nothing earlier to reuse from");
    let old = tmp.path().join("a/releases/app-1");
    let before = checksums(&old);

    // Release 2: three files rewritten, one new, the big file overwritten
    // in place in one 100 KB region.
    let mut changed = 0u64;
    for i in [3usize, 17, 30] {
        let p = src.join(format!("d{}/f{i:02}.bin", i % 4));
        let b = bytes(sizes[i % sizes.len()], 100 + i as u8);
        changed += b.len() as u64;
        std::fs::write(p, b).unwrap();
    }
    std::fs::write(src.join("d0/new.bin"), bytes(40_000, 250)).unwrap();
    changed += 40_000;
    let mut big = std::fs::read(src.join("big.img")).unwrap();
    let region = 3_000_000..3_100_000;
    for b in &mut big[region.clone()] {
        *b = !*b;
    }
    changed += (region.end - region.start) as u64;
    std::fs::write(src.join("big.img"), &big).unwrap();
    hub.publish_tree("app-2", &src).await;

    let s = wait_for(&mut rx, "app-2 active", |s| active(s, "app-2")).await;
    let r2 = s.release("app-2").unwrap();
    let client = agent::http::Client::new(Duration::from_secs(10)).unwrap();
    let api = client
        .get_body(&format!("{}/api/releases/app-2", hub.hub.url()), 1 << 20)
        .await
        .unwrap();
    let api: serde_json::Value = serde_json::from_slice(&api).unwrap();
    let piece = api["piece_length"].as_u64().unwrap();
    let downloaded = r2.downloaded_bytes.unwrap();
    let reused = r2.reused_bytes.unwrap();
    // Five changed regions (three files, one new file, one in the big file).
    let bound = changed + changed / 5 + 5 * piece;
    eprintln!("changed {changed} B, downloaded {downloaded} B, reused {reused} B, piece {piece} B");
    assert!(
        downloaded <= bound,
        "downloaded {downloaded} bytes for {changed} changed (bound {bound})"
    );
    assert!(reused > 0 && reused + changed >= big_len as u64);
    assert_eq!(checksums(&old), before, "the old release is untouched");
    assert_eq!(
        checksums(&tmp.path().join("a/releases/app-2")),
        checksums(&src),
        "the new release is the source tree"
    );
    // /status carries the numbers.
    let status = client
        .get_body(
            &format!("http://{}/status", a.status_addr().unwrap()),
            1 << 20,
        )
        .await
        .unwrap();
    let status = String::from_utf8_lossy(&status);
    assert!(status.contains("\"reused_bytes\""), "{status}");
    a.stop().await.unwrap();
    hub.hub.stop().await.unwrap();
}
