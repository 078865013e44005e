//! Interop with real BitTorrent clients from Debian over loopback: aria2 and
//! libtorrent (python3-libtorrent) announce to an in-process tracker over
//! HTTP and over UDP, find each other through it and move a file.
//! (Transmission drops loopback peers; its test runs in network
//! namespaces, see `crates/cli/tests/tracker_transmission_netns.rs`.)
//!
//! A missing client is a test failure, never a skip.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tracker::{HumanDuration, TrackerConfig};
use tracker_proto::InfoHash;

const DEADLINE: Duration = Duration::from_secs(50);

fn require(program: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("interop test needs `{program}`; install it with scripts/setup"))
}

fn require_libtorrent() {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import libtorrent"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "interop test needs python3-libtorrent for /usr/bin/python3; install it with scripts/setup"
    );
}

/// Kills the child (by its pid, through the handle) when dropped.
struct ChildGuard(Child, &'static str, PathBuf);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self(child, name, log)
    }

    fn log(&self) -> String {
        format!(
            "--- {} log ---\n{}",
            self.1,
            std::fs::read_to_string(&self.2).unwrap_or_default()
        )
    }
}

fn payload(dir: &Path, len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(dir.join("payload.bin"), &data).unwrap();
    data
}

/// Makes a torrent of `seed_dir/payload.bin` with mktorrent; returns its path and infohash.
fn make_torrent(work: &Path, seed_dir: &Path, announce: &str) -> (PathBuf, InfoHash) {
    require("mktorrent");
    let t = work.join("payload.torrent");
    let st = Command::new("mktorrent")
        .args(["-a", announce, "-l", "16", "-o"])
        .arg(&t)
        .arg(seed_dir.join("payload.bin"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "mktorrent failed");
    let bytes = std::fs::read(&t).unwrap();
    let v = bencode::decode(&bytes).unwrap();
    let info = v.dict().unwrap().get(b"info").unwrap().raw();
    (t, InfoHash(sha1_digest(info)))
}

/// SHA-1 through /usr/bin/sha1sum, to keep the tracker crate free of a hashing dependency.
fn sha1_digest(data: &[u8]) -> [u8; 20] {
    use std::io::Write;
    let mut c = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha1sum");
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    InfoHash::from_hex(&hex[..40]).unwrap().0
}

fn test_config() -> TrackerConfig {
    let mut c = TrackerConfig::default();
    c.announce.interval = HumanDuration::secs(2);
    c.announce.min_interval = HumanDuration::secs(1);
    c
}

async fn wait_for_seeder(t: &TestTracker, ih: &InfoHash, seeder: &ChildGuard) {
    let tr = t.tracker.clone();
    let ih = *ih;
    let ok = eventually(Duration::from_secs(30), || {
        tr.torrent_stats(&ih, 10)
            .is_some_and(|s| s.summary.seeders >= 1)
    })
    .await;
    assert!(ok, "seeder never announced as a seeder\n{}", seeder.log());
}

/// aria2 over a tracker; `udp` turns DHT on, because aria2 1.36 sends UDP
/// tracker requests through its DHT socket ("udp is not supported yet"
/// otherwise). With no bootstrap nodes and no saved routing table, its DHT
/// stays empty.
fn aria2(dir: &Path, torrent: &Path, udp: bool, extra: &[&str]) -> Command {
    let mut c = Command::new(require("aria2c"));
    c.arg(format!("--dir={}", dir.display()))
        .arg(format!("--enable-dht={udp}"))
        .arg(format!("--dht-file-path={}", dir.join("dht.dat").display()))
        .args([
            "--dht-listen-port=52000-52999",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--listen-port=51000-51999",
            "--summary-interval=0",
            "--console-log-level=notice",
            "--file-allocation=none",
            "--bt-tracker-interval=1",
        ])
        .args(extra)
        .arg(torrent);
    c
}

fn lt_client(mode: &str, torrent: &Path, dir: &Path) -> Command {
    require_libtorrent();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_client.py");
    let mut c = Command::new("/usr/bin/python3");
    c.arg(script)
        .arg(mode)
        .arg(torrent)
        .arg(dir)
        .arg(DEADLINE.as_secs().to_string());
    c
}

fn wait_exit(child: &mut ChildGuard, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(s) = child.0.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_libtorrent_seeds_aria2_downloads() {
    let t = TestTracker::start(test_config()).await;
    let work = tempfile::tempdir().unwrap();
    let (seed_dir, leech_dir) = (work.path().join("seed"), work.path().join("leech"));
    std::fs::create_dir_all(&seed_dir).unwrap();
    std::fs::create_dir_all(&leech_dir).unwrap();
    let data = payload(&seed_dir, 3 << 20);
    let (torrent, ih) = make_torrent(
        work.path(),
        &seed_dir,
        &format!("http://{}/announce", t.http),
    );

    let seeder = ChildGuard::spawn(
        "libtorrent seeder",
        &mut lt_client("seed", &torrent, &seed_dir),
        work.path().join("lt.log"),
    );
    wait_for_seeder(&t, &ih, &seeder).await;
    let mut leecher = ChildGuard::spawn(
        "aria2 leecher",
        &mut aria2(&leech_dir, &torrent, false, &["--seed-time=0"]),
        work.path().join("aria2.log"),
    );
    let status = tokio::task::block_in_place(|| wait_exit(&mut leecher, DEADLINE));
    assert!(
        status.is_some_and(|s| s.success()),
        "aria2 did not finish: {status:?}\n{}\n{}",
        leecher.log(),
        seeder.log()
    );
    assert_eq!(std::fs::read(leech_dir.join("payload.bin")).unwrap(), data);
    // libtorrent's started, aria2's started and its final announce
    // (aria2 leaving at once after finishing sends `stopped`).
    let stats = t.tracker.stats(10);
    assert!(stats.requests.http_announces >= 3, "{stats:?}");
    assert_eq!(stats.requests.udp_announces, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_aria2_seeds_libtorrent_downloads() {
    let t = TestTracker::start(test_config()).await;
    let work = tempfile::tempdir().unwrap();
    let (seed_dir, leech_dir) = (work.path().join("seed"), work.path().join("leech"));
    std::fs::create_dir_all(&seed_dir).unwrap();
    std::fs::create_dir_all(&leech_dir).unwrap();
    let data = payload(&seed_dir, 2 << 20);
    let (torrent, ih) = make_torrent(work.path(), &seed_dir, &format!("udp://{}/announce", t.udp));

    let seeder = ChildGuard::spawn(
        "aria2 seeder",
        &mut aria2(
            &seed_dir,
            &torrent,
            true,
            &["--check-integrity=true", "--seed-ratio=0.0"],
        ),
        work.path().join("aria2.log"),
    );
    wait_for_seeder(&t, &ih, &seeder).await;
    let mut leecher = ChildGuard::spawn(
        "libtorrent leecher",
        &mut lt_client("leech", &torrent, &leech_dir),
        work.path().join("lt.log"),
    );
    let status = tokio::task::block_in_place(|| wait_exit(&mut leecher, DEADLINE));
    assert!(
        status.is_some_and(|s| s.success()),
        "libtorrent did not finish: {status:?}\n{}\n{}",
        leecher.log(),
        seeder.log()
    );
    assert_eq!(std::fs::read(leech_dir.join("payload.bin")).unwrap(), data);
    let stats = t.tracker.stats(10);
    assert!(stats.requests.udp_announces >= 2, "{stats:?}");
    assert_eq!(stats.requests.http_announces, 0);
    assert!(stats.requests.udp_connects >= 2);
    let tr = t.tracker.clone();
    assert!(
        eventually(Duration::from_secs(5), || tr
            .torrent_stats(&ih, 10)
            .is_some_and(|s| s.summary.completed >= 1))
        .await,
        "libtorrent's completed event was not counted: {:?}",
        t.tracker.torrent_stats(&ih, 10)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_libtorrent_seeds_aria2_and_libtorrent_download_together() {
    // Two leechers of different clients share one UDP swarm with a
    // libtorrent seeder; the tracker counts libtorrent's completion (aria2
    // leaving right after finishing announces `stopped` instead).
    let t = TestTracker::start(test_config()).await;
    let work = tempfile::tempdir().unwrap();
    let seed_dir = work.path().join("seed");
    let (a_dir, l_dir) = (work.path().join("a"), work.path().join("l"));
    for d in [&seed_dir, &a_dir, &l_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let data = payload(&seed_dir, 1 << 20);
    let (torrent, ih) = make_torrent(work.path(), &seed_dir, &format!("udp://{}/announce", t.udp));
    let seeder = ChildGuard::spawn(
        "libtorrent seeder",
        &mut lt_client("seed", &torrent, &seed_dir),
        work.path().join("lt-seed.log"),
    );
    wait_for_seeder(&t, &ih, &seeder).await;
    let mut a = ChildGuard::spawn(
        "aria2 leecher",
        &mut aria2(&a_dir, &torrent, true, &["--seed-time=0"]),
        work.path().join("aria2.log"),
    );
    let mut l = ChildGuard::spawn(
        "libtorrent leecher",
        &mut lt_client("leech", &torrent, &l_dir),
        work.path().join("lt-leech.log"),
    );
    for c in [&mut a, &mut l] {
        let status = tokio::task::block_in_place(|| wait_exit(c, DEADLINE));
        assert!(
            status.is_some_and(|s| s.success()),
            "{} failed: {status:?}\n{}\n{}",
            c.1,
            c.log(),
            seeder.log()
        );
    }
    assert_eq!(std::fs::read(a_dir.join("payload.bin")).unwrap(), data);
    assert_eq!(std::fs::read(l_dir.join("payload.bin")).unwrap(), data);
    let tr = t.tracker.clone();
    assert!(
        eventually(Duration::from_secs(5), || tr
            .torrent_stats(&ih, 10)
            .is_some_and(|s| s.summary.completed >= 1))
        .await,
        "{:?}",
        t.tracker.torrent_stats(&ih, 10)
    );
}

/// qBittorrent's config: legal notice accepted, no DHT/LSD/PeX/UPnP, Web UI
/// on a loopback port we never use.
fn qbittorrent_profile(dir: &Path, port: u16) {
    let conf = dir.join("qBittorrent/config");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("qBittorrent.conf"),
        format!(
            "[LegalNotice]\nAccepted=true\n\n\
             [BitTorrent]\nSession\\DHTEnabled=false\nSession\\LSDEnabled=false\n\
             Session\\PeXEnabled=false\nSession\\Port={port}\nSession\\AnnounceToAllTrackers=true\n\n\
             [Preferences]\nConnection\\UPnP=false\nWebUI\\Address=127.0.0.1\nWebUI\\Port={}\n",
            port + 1
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_libtorrent_seeds_qbittorrent_downloads() {
    let t = TestTracker::start(test_config()).await;
    let work = tempfile::tempdir().unwrap();
    let (seed_dir, leech_dir, profile) = (
        work.path().join("seed"),
        work.path().join("leech"),
        work.path().join("qbt"),
    );
    for d in [&seed_dir, &leech_dir, &profile] {
        std::fs::create_dir_all(d).unwrap();
    }
    let data = payload(&seed_dir, 2 << 20);
    let (torrent, ih) = make_torrent(work.path(), &seed_dir, &format!("udp://{}/announce", t.udp));
    let seeder = ChildGuard::spawn(
        "libtorrent seeder",
        &mut lt_client("seed", &torrent, &seed_dir),
        work.path().join("lt.log"),
    );
    wait_for_seeder(&t, &ih, &seeder).await;

    let port = 20_000 + u16::try_from(std::process::id() % 20_000).unwrap_or(0);
    qbittorrent_profile(&profile, port);
    let mut cmd = Command::new(require("qbittorrent-nox"));
    cmd.arg(format!("--profile={}", profile.display()))
        .arg(format!("--save-path={}", leech_dir.display()))
        .arg(format!("--webui-port={}", port + 1))
        .arg(format!("--torrenting-port={port}"))
        .arg(&torrent);
    let leecher = ChildGuard::spawn(
        "qbittorrent-nox leecher",
        &mut cmd,
        work.path().join("qbt.log"),
    );
    let target = leech_dir.join("payload.bin");
    let done = tokio::task::block_in_place(|| {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if std::fs::read(&target).is_ok_and(|d| d == data) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    });
    assert!(
        done,
        "qbittorrent did not download the file\n{}\n{}",
        leecher.log(),
        seeder.log()
    );
    let tr = t.tracker.clone();
    assert!(
        eventually(Duration::from_secs(10), || tr
            .torrent_stats(&ih, 10)
            .is_some_and(|s| s
                .peers
                .iter()
                .any(|p| p.client.starts_with("-qB"))))
        .await,
        "qbittorrent never announced: {:?}",
        t.tracker.torrent_stats(&ih, 10)
    );
}
