//! Interop of `anthill hub` with stock programs from Debian: qBittorrent's
//! RSS auto-downloader follows the feed and downloads a release,
//! python3-feedparser parses the feed, `minisign -V` checks manifests and the
//! index, `transmission-show` and python3-libtorrent read the torrents (and
//! libtorrent downloads one), aria2 downloads one over the HTTP tracker.
//!
//! Each test runs a real `anthill hub` process on a temporary directory with
//! `--listen 127.0.0.1:0` and reads its URL from the "hub running" log
//! line. qBittorrent binds its tracker connections to the external interface,
//! so that test runs the hub and `qbittorrent-nox` in a network namespace of
//! their own that has only `lo` (removed on drop); the others run on the
//! root namespace's loopback. A missing program is a failure, never a skip.
//! No timing is asserted: every wait is for a condition, with a generous
//! deadline.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::util::{PYTHON, Proc, anthill, bin, bytes, require, tree};

/// How long a client may take to finish a download.
const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A network namespace with only `lo` up; deleted on drop. Processes started
/// in it must be dropped (killed) before it: declare it first.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Self {
        require("ip");
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test needs root (ip netns add)"
        );
        let name = format!("ahhub{}{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Self(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// `program` run inside the namespace (`ip netns exec` execs it, so the
    /// child's pid is the program's).
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("cannot run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `anthill hub`: its process, directory, URL and log.
struct Hub {
    dir: PathBuf,
    url: String,
    log: Arc<Mutex<String>>,
    _proc: Proc,
}

impl Hub {
    /// Starts `anthill hub --dir DIR --listen 127.0.0.1:0` (inside `ns` if
    /// given) and waits for its "hub running url=…" line.
    fn start(dir: &Path, ns: Option<&Netns>) -> Self {
        let exe = env!("CARGO_BIN_EXE_anthill");
        let mut cmd = match ns {
            Some(ns) => ns.command(exe),
            None => bin(),
        };
        cmd.arg("hub")
            .arg("--dir")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"])
            .args(["--settle", "1s"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start anthill hub");
        let stderr = child.stderr.take().unwrap();
        let proc = Proc(child);
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("hub running") {
                        if let Some(url) =
                            line.split_whitespace().find_map(|w| w.strip_prefix("url="))
                        {
                            let _ = tx.send(url.to_string());
                        }
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| {
                panic!(
                    "the hub did not report its URL ({e})\n--- hub log\n{}",
                    log.lock().unwrap()
                )
            });
        Self {
            dir: dir.to_path_buf(),
            url,
            log,
            _proc: proc,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `anthill publish SRC --hub DIR --copy`; returns the infohash it prints.
    fn publish(&self, src: &Path) -> String {
        let out = anthill(
            src.parent().unwrap(),
            [
                "publish".as_ref(),
                src.as_os_str(),
                "--hub".as_ref(),
                self.dir.as_os_str(),
                "--copy".as_ref(),
                "--timeout".as_ref(),
                "2m".as_ref(),
            ],
        );
        assert_eq!(
            out.code,
            0,
            "publish failed\n--- stdout\n{}\n--- stderr\n{}\n--- hub log\n{}",
            out.stdout,
            out.stderr,
            self.log()
        );
        let ih = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("infohash"))
            .unwrap_or_else(|| panic!("no infohash in {:?}", out.stdout))
            .trim()
            .to_string();
        assert_eq!(ih.len(), 40, "{ih}");
        ih
    }
}

/// `curl -sSf` with the given arguments (inside `ns` if given); the body or
/// the error.
fn curl(ns: Option<&Netns>, args: &[&str]) -> Result<Vec<u8>, String> {
    require("curl");
    let mut c = match ns {
        Some(ns) => ns.command("curl"),
        None => Command::new("curl"),
    };
    let out = c
        .args(["-sSf", "--noproxy", "*", "--max-time", "20"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "curl {args:?}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// GETs `url` from the root namespace; panics on failure.
fn get(url: &str) -> Vec<u8> {
    curl(None, &[url]).unwrap_or_else(|e| panic!("{e}"))
}

fn get_json(url: &str) -> serde_json::Value {
    let body = get(url);
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {}", String::from_utf8_lossy(&body)))
}

/// Waits for `done`, failing with `what` and `context()` after `limit`.
fn wait_for(
    limit: Duration,
    what: &str,
    context: impl Fn() -> String,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A release directory `parent/name` of a few hundred KB: nested
/// directories, files on and off piece boundaries, a tiny file.
fn release_tree(parent: &Path, name: &str, seed: u8) -> PathBuf {
    let root = parent.join(name);
    tree(
        &root,
        &[
            ("bin/tool", &bytes(180_000, seed)),
            ("README.txt", format!("release {name}\n").as_bytes()),
            ("data/blob.bin", &bytes(131_072, seed.wrapping_add(1))),
            ("data/more/notes.txt", &bytes(2_345, seed.wrapping_add(2))),
            ("lib/libx.so", &bytes(70_001, seed.wrapping_add(3))),
        ],
    );
    root
}

/// Relative paths of the regular files below `root`, sorted.
fn files_below(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[track_caller]
fn assert_same_tree(original: &Path, copy: &Path) {
    for rel in files_below(original) {
        let a = std::fs::read(original.join(&rel)).unwrap();
        let b = std::fs::read(copy.join(&rel))
            .unwrap_or_else(|e| panic!("{}: {e}", copy.join(&rel).display()));
        assert!(a == b, "{} differs from the original", rel.display());
    }
}

/// Runs `/usr/bin/python3 -c script args…`; asserts success, returns stdout.
fn python(script: &str, args: &[&str]) -> String {
    require(PYTHON);
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("no_proxy", "*")
        .output()
        .expect("cannot run python3");
    assert!(
        out.status.success(),
        "python3 failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The release called `name` in the hub's `/api/releases`.
fn api_release(hub: &Hub, name: &str) -> serde_json::Value {
    let api = get_json(&format!("{}/api/releases", hub.url));
    api["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in /api/releases: {api}"))
        .clone()
}

/// Prints (not asserts: either source is fine) how much of `name` the hub's
/// seeder sent over BitTorrent; the rest came from the web seed.
fn report_sources(hub: &Hub, ns: Option<&Netns>, name: &str, client: &str) {
    let url = format!("{}/api/releases/{name}", hub.url);
    let r: serde_json::Value = curl(ns, &[&url])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    eprintln!(
        "{client}: {} of {} bytes of {name} came from the hub's BitTorrent seeder",
        r["seeding"]["uploaded"], r["total_size"]
    );
}

// ---------------------------------------------------------------------------
// 1. qBittorrent's RSS auto-downloader
// ---------------------------------------------------------------------------

const QBT_WEBUI_PORT: u16 = 18080;

/// The WebUI API of a `qbittorrent-nox` in `ns`.
struct Qbt<'a> {
    ns: &'a Netns,
    profile: PathBuf,
}

impl Qbt<'_> {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{QBT_WEBUI_PORT}/api/v2/{path}")
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        curl(Some(self.ns), &[&self.url(path)])
    }

    fn get_json(&self, path: &str) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.get(path).ok()?).ok()
    }

    /// POSTs a form (each value URL-encoded).
    #[track_caller]
    fn post(&self, path: &str, form: &[(&str, &str)]) {
        let mut args: Vec<String> = Vec::new();
        for (k, v) in form {
            args.push("--data-urlencode".into());
            args.push(format!("{k}={v}"));
        }
        args.push(self.url(path));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = curl(Some(self.ns), &args) {
            panic!("qBittorrent API {path}: {e}\n{}", self.log());
        }
    }

    fn log(&self) -> String {
        let log = self.profile.join("qBittorrent/data/logs/qbittorrent.log");
        format!(
            "--- qBittorrent log\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    }
}

/// The first-run config: legal notice accepted, WebUI on loopback without
/// login for local clients.
fn qbt_profile(profile: &Path) {
    let dir = profile.join("qBittorrent/config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("qBittorrent.conf"),
        format!(
            "[LegalNotice]\nAccepted=true\n\n[Preferences]\n\
             WebUI\\Address=127.0.0.1\nWebUI\\Port={QBT_WEBUI_PORT}\n\
             WebUI\\LocalHostAuth=false\nWebUI\\HostHeaderValidation=false\n\
             WebUI\\CSRFProtection=false\n"
        ),
    )
    .unwrap();
}

#[test]
fn qbittorrent_rss_auto_downloader_fetches_a_release_from_the_hub() {
    require("qbittorrent-nox");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // Declared first, dropped last: the processes in it are killed before.
    let ns = Netns::new("qb");
    let hub = Hub::start(&t.join("hub"), Some(&ns));
    let src = release_tree(&t.join("src"), "app-1.0", 7);
    let infohash = hub.publish(&src);
    let feed_url = format!("{}/feed.xml", hub.url);

    let profile = t.join("qbt");
    qbt_profile(&profile);
    let save = t.join("downloads");
    std::fs::create_dir_all(&save).unwrap();
    let qbt_out = std::fs::File::create(t.join("qbt.out")).unwrap();
    let _qbt_proc = Proc(
        ns.command("qbittorrent-nox")
            .arg(format!("--profile={}", profile.display()))
            .stdin(Stdio::null())
            .stdout(qbt_out.try_clone().unwrap())
            .stderr(qbt_out)
            .spawn()
            .expect("cannot start qbittorrent-nox"),
    );
    let qbt = Qbt { ns: &ns, profile };
    let context = || {
        format!(
            "--- torrents\n{}\n--- rss items\n{}\n{}\n--- stdout\n{}\n--- hub log\n{}",
            qbt.get_json("torrents/info").unwrap_or_default(),
            qbt.get_json("rss/items?withData=true").unwrap_or_default(),
            qbt.log(),
            std::fs::read_to_string(t.join("qbt.out")).unwrap_or_default(),
            hub.log()
        )
    };
    wait_for(
        Duration::from_secs(60),
        "qBittorrent's WebUI answering",
        context,
        || qbt.get("app/version").is_ok(),
    );
    let prefs = serde_json::json!({
        "rss_processing_enabled": true,
        "rss_auto_downloading_enabled": true,
        "rss_refresh_interval": 1,
        // Nothing but the hub to talk to.
        "dht": false,
        "pex": false,
        "lsd": false,
        "upnp": false,
        "save_path": save,
    });
    qbt.post("app/setPreferences", &[("json", &prefs.to_string())]);
    let rule = serde_json::json!({
        "enabled": true,
        "mustContain": "",
        "mustNotContain": "",
        "useRegex": false,
        "episodeFilter": "",
        "smartFilter": false,
        "affectedFeeds": [feed_url],
        "ignoreDays": 0,
        "addPaused": false,
        "assignedCategory": "",
        "savePath": save,
    });
    qbt.post(
        "rss/setRule",
        &[("ruleName", "anthill"), ("ruleDef", &rule.to_string())],
    );
    qbt.post("rss/addFeed", &[("url", &feed_url), ("path", "hub")]);

    // The article qBittorrent read from our feed points at our .torrent.
    let torrent_url = format!("{}/torrents/app-1.0.torrent", hub.url);
    let mut last_refresh = Instant::now();
    wait_for(
        DOWNLOAD_DEADLINE,
        "qBittorrent reading the release from the feed",
        context,
        || {
            let items = qbt.get_json("rss/items?withData=true");
            let found = items.as_ref().is_some_and(|i| {
                i["hub"]["articles"].as_array().is_some_and(|a| {
                    a.iter().any(|a| {
                        a["torrentURL"] == torrent_url.as_str()
                            && a["title"] == "app-1.0"
                            && a["id"] == format!("urn:btih:{infohash}").as_str()
                    })
                })
            });
            if !found && last_refresh.elapsed() > Duration::from_secs(5) {
                let _ = curl(
                    Some(&ns),
                    &[
                        "--data-urlencode",
                        "itemPath=hub",
                        &qbt.url("rss/refreshItem"),
                    ],
                );
                last_refresh = Instant::now();
            }
            found
        },
    );
    wait_for(
        DOWNLOAD_DEADLINE,
        "qBittorrent completing the release",
        context,
        || {
            qbt.get_json("torrents/info").is_some_and(|list| {
                list.as_array().is_some_and(|l| {
                    l.iter().any(|t| {
                        t["hash"] == infohash.as_str()
                            && t["progress"].as_f64() == Some(1.0)
                            && matches!(
                                t["state"].as_str(),
                                Some("uploading" | "stalledUP" | "queuedUP" | "forcedUP")
                            )
                    })
                })
            })
        },
    );
    assert_same_tree(&src, &save.join("app-1.0"));
    report_sources(&hub, Some(&ns), "app-1.0", "qBittorrent");
}

// ---------------------------------------------------------------------------
// 2. python3-feedparser
// ---------------------------------------------------------------------------

/// Parses the feed at argv[1] and prints what a feed reader sees, as JSON.
const FEEDPARSER: &str = r#"
import json, sys
import feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({
    "bozo": int(d.bozo),
    "bozo_exception": str(d.get("bozo_exception", "")),
    "version": d.version,
    "title": d.feed.get("title"),
    "entries": [{
        "title": e.get("title"),
        "id": e.get("id"),
        "link": e.get("link"),
        "published": e.get("published_parsed") is not None,
        "enclosures": [{"href": x.get("href"), "type": x.get("type"), "length": x.get("length")}
                       for x in e.get("enclosures", [])],
    } for e in d.entries],
}))
"#;

#[test]
fn feedparser_reads_the_hub_feed() {
    require("transmission-create");
    require("transmission-show");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let hub = Hub::start(&t.join("hub"), None);
    let ih1 = hub.publish(&release_tree(&t.join("src"), "app-1.0", 1));
    let ih2 = hub.publish(&release_tree(&t.join("src"), "app-1.1", 2));

    // A torrent made by another program, dropped into torrents/.
    let other = t.join("other");
    tree(&other, &[("payload.bin", &bytes(50_000, 9))]);
    let foreign = t.join("other-1.torrent");
    crate::util::run_ok(
        t,
        "transmission-create",
        &[
            "-o".as_ref(),
            foreign.as_os_str(),
            "-t".as_ref(),
            "http://127.0.0.1:1/announce".as_ref(),
            other.as_os_str(),
        ],
    );
    let show = crate::util::run_ok(t, "transmission-show", &[foreign.as_os_str()]);
    let ih3 = show
        .lines()
        .find_map(|l| l.trim().strip_prefix("Hash:"))
        .expect("transmission-show prints the hash")
        .trim()
        .to_lowercase();
    std::fs::copy(&foreign, hub.dir.join("torrents/other-1.torrent")).unwrap();
    wait_for(
        Duration::from_secs(60),
        "the foreign torrent appearing in /api/releases",
        || hub.log(),
        || {
            get_json(&format!("{}/api/releases", hub.url))["foreign"]
                .as_array()
                .is_some_and(|f| f.len() == 1)
        },
    );

    let out = python(FEEDPARSER, &[&format!("{}/feed.xml", hub.url)]);
    let feed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(feed["bozo"], 0, "feedparser: {feed}");
    assert_eq!(feed["version"], "rss20", "{feed}");
    assert_eq!(feed["title"], "anthill hub", "{feed}");
    let entries = feed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{feed}");
    let expect = [
        (
            "app-1.0",
            &ih1,
            format!("{}/torrents/app-1.0.torrent", hub.url),
        ),
        (
            "app-1.1",
            &ih2,
            format!("{}/torrents/app-1.1.torrent", hub.url),
        ),
        (
            "other",
            &ih3,
            format!("{}/foreign/other-1.torrent", hub.url),
        ),
    ];
    for (title, ih, href) in expect {
        let e = entries
            .iter()
            .find(|e| e["title"] == title)
            .unwrap_or_else(|| panic!("no entry titled {title}: {feed}"));
        assert_eq!(e["id"], format!("urn:btih:{ih}"), "{e}");
        assert_eq!(e["published"], true, "{e}");
        let enc = e["enclosures"].as_array().unwrap();
        assert_eq!(enc.len(), 1, "{e}");
        assert_eq!(enc[0]["href"], href.as_str(), "{e}");
        assert_eq!(enc[0]["type"], "application/x-bittorrent", "{e}");
        // The enclosure is there, and as long as the feed says.
        let torrent = get(&href);
        assert_eq!(enc[0]["length"], torrent.len().to_string(), "{e}");
    }
    // The foreign enclosure is the dropped file itself.
    assert_eq!(
        get(&format!("{}/foreign/other-1.torrent", hub.url)),
        std::fs::read(&foreign).unwrap()
    );
    // Newest first: app-1.1 before app-1.0.
    let pos = |name: &str| entries.iter().position(|e| e["title"] == name).unwrap();
    assert!(pos("app-1.1") < pos("app-1.0"), "{feed}");
}

// ---------------------------------------------------------------------------
// 3. minisign -V
// ---------------------------------------------------------------------------

/// `minisign -V -p PUB -m FILE -x SIG` in `dir`: (success, stdout+stderr).
fn minisign_verify(dir: &Path, file: &str, sig: &str) -> (bool, String) {
    require("minisign");
    let out = Command::new("minisign")
        .args(["-V", "-p", "hub.pub", "-m", file, "-x", sig])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run minisign");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Flips one byte of `dir/file` (a digit in the middle, or the middle byte).
fn change_one_byte(path: &Path) {
    let mut data = std::fs::read(path).unwrap();
    let mid = data.len() / 2;
    let at = (mid..data.len())
        .chain(0..mid)
        .find(|&i| data[i].is_ascii_digit())
        .unwrap_or(mid);
    data[at] = if data[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(path, data).unwrap();
}

#[test]
fn minisign_verifies_manifests_and_index() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let hub = Hub::start(&t.join("hub"), None);
    let ih = hub.publish(&release_tree(&t.join("src"), "app-2.0", 3));
    let dl = t.join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    for (url, file) in [
        ("/hub.pub", "hub.pub"),
        ("/manifests/app-2.0.json", "app-2.0.json"),
        ("/manifests/app-2.0.json.minisig", "app-2.0.json.minisig"),
        ("/index.json", "index.json"),
        ("/index.json.minisig", "index.json.minisig"),
    ] {
        std::fs::write(dl.join(file), get(&format!("{}{url}", hub.url))).unwrap();
    }

    let (ok, out) = minisign_verify(&dl, "app-2.0.json", "app-2.0.json.minisig");
    assert!(ok, "minisign rejected the manifest:\n{out}");
    let comment = out
        .lines()
        .find_map(|l| l.strip_prefix("Trusted comment: "))
        .unwrap_or_else(|| panic!("no trusted comment:\n{out}"));
    assert!(comment.contains("seq=1"), "{comment}");
    assert!(comment.contains(&format!("infohash={ih}")), "{comment}");

    let (ok, out) = minisign_verify(&dl, "index.json", "index.json.minisig");
    assert!(ok, "minisign rejected the index:\n{out}");
    let comment = out
        .lines()
        .find_map(|l| l.strip_prefix("Trusted comment: "))
        .unwrap_or_else(|| panic!("no trusted comment:\n{out}"));
    assert!(comment.contains("newest_seq=1"), "{comment}");
    assert!(comment.contains("releases=1"), "{comment}");

    for (file, sig) in [
        ("app-2.0.json", "app-2.0.json.minisig"),
        ("index.json", "index.json.minisig"),
    ] {
        change_one_byte(&dl.join(file));
        let (ok, out) = minisign_verify(&dl, file, sig);
        assert!(!ok, "minisign accepted a changed {file}:\n{out}");
    }
}

// ---------------------------------------------------------------------------
// 4. transmission-show and libtorrent
// ---------------------------------------------------------------------------

/// Prints what libtorrent reads from the torrent (JSON line), then downloads
/// it into argv[2] from the peers the torrent's trackers return, with the
/// web seed removed (on loopback libtorrent would take everything from it);
/// exits 0 once libtorrent has verified every piece.
const LT_DOWNLOAD: &str = r#"
import json, sys, time
import libtorrent as lt
torrent, save = sys.argv[1], sys.argv[2]
ti = lt.torrent_info(torrent)
fs = ti.files()
files = [[fs.file_path(i), fs.file_size(i)] for i in range(fs.num_files())
         if not fs.file_flags(i) & lt.file_storage.flag_pad_file]
print(json.dumps({
    "infohash": str(ti.info_hashes().v1),
    "info_hash": str(ti.info_hash()),
    "name": ti.name(),
    "files": files,
    "trackers": [t.url for t in ti.trackers()],
    "web_seeds": [w["url"] for w in ti.web_seeds()],
}), flush=True)
ti.set_web_seeds([])
s = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                "enable_upnp": False, "enable_natpmp": False,
                "alert_mask": lt.alert.category_t.error_notification})
h = s.add_torrent({"ti": ti, "save_path": save})
deadline = time.time() + 200
while time.time() < deadline:
    for a in s.pop_alerts():
        print("alert", a.message(), file=sys.stderr, flush=True)
    st = h.status()
    if st.is_seeding:
        print("complete", st.total_wanted_done, flush=True)
        sys.exit(0)
    time.sleep(0.2)
st = h.status()
sys.exit("timeout: state %s progress %s peers %s" % (st.state, st.progress, st.num_peers))
"#;

#[test]
fn transmission_and_libtorrent_read_hub_torrents_and_libtorrent_downloads() {
    require("transmission-show");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let hub = Hub::start(&t.join("hub"), None);
    let src = release_tree(&t.join("src"), "app-3.0", 5);
    let ih = hub.publish(&src);
    let api = api_release(&hub, "app-3.0");
    assert_eq!(api["infohash"], ih.as_str(), "{api}");
    let torrent = t.join("app-3.0.torrent");
    std::fs::write(&torrent, get(api["torrent_url"].as_str().unwrap())).unwrap();
    assert_eq!(
        api["torrent_url"],
        format!("{}/torrents/app-3.0.torrent", hub.url)
    );

    let show = crate::util::run_ok(t, "transmission-show", &[torrent.as_os_str()]);
    let hash = show
        .lines()
        .find_map(|l| l.trim().strip_prefix("Hash:"))
        .unwrap_or_else(|| panic!("no Hash in transmission-show:\n{show}"))
        .trim()
        .to_lowercase();
    assert_eq!(hash, ih, "transmission-show:\n{show}");
    for f in files_below(&src) {
        let shown = format!("app-3.0/{}", f.display());
        assert!(show.contains(&shown), "{shown} not in\n{show}");
    }
    assert!(show.contains(&format!("{}/announce", hub.url)), "{show}");

    let out = t.join("lt");
    std::fs::create_dir_all(&out).unwrap();
    let lt_err = t.join("lt.err");
    require(PYTHON);
    let mut lt = Proc(
        Command::new(PYTHON)
            .arg("-c")
            .arg(LT_DOWNLOAD)
            .arg(&torrent)
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&lt_err).unwrap())
            .spawn()
            .expect("cannot run python3"),
    );
    let mut lines = BufReader::new(lt.0.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_else(|| {
        panic!(
            "libtorrent printed nothing: {:?}",
            std::fs::read_to_string(&lt_err)
        )
    });
    let seen: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(seen["infohash"], ih.as_str(), "{seen}");
    assert_eq!(seen["info_hash"], ih.as_str(), "{seen}");
    assert_eq!(seen["name"], "app-3.0", "{seen}");
    let mut lt_files: Vec<(String, u64)> = seen["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap().to_string(), f[1].as_u64().unwrap()))
        .collect();
    lt_files.sort();
    let want: Vec<(String, u64)> = files_below(&src)
        .iter()
        .map(|f| {
            (
                format!("app-3.0/{}", f.display()),
                std::fs::metadata(src.join(f)).unwrap().len(),
            )
        })
        .collect();
    assert_eq!(lt_files, want, "{seen}");
    let trackers = seen["trackers"].as_array().unwrap();
    assert!(
        trackers
            .iter()
            .any(|u| u == &format!("{}/announce", hub.url)),
        "{seen}"
    );
    assert!(
        trackers.iter().any(|u| u
            .as_str()
            .is_some_and(|u| u.starts_with("udp://127.0.0.1:"))),
        "{seen}"
    );
    assert_eq!(
        seen["web_seeds"],
        serde_json::json!([format!("{}/webseed/", hub.url)]),
        "{seen}"
    );

    let deadline = Instant::now() + DOWNLOAD_DEADLINE;
    let status = loop {
        if let Some(s) = lt.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "libtorrent did not finish\n--- stderr\n{}\n--- hub log\n{}",
            std::fs::read_to_string(&lt_err).unwrap_or_default(),
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        status.success(),
        "libtorrent failed ({status}): {rest:?}\n--- stderr\n{}\n--- hub log\n{}",
        std::fs::read_to_string(&lt_err).unwrap_or_default(),
        hub.log()
    );
    assert!(rest.iter().any(|l| l.starts_with("complete")), "{rest:?}");
    assert_same_tree(&src, &out.join("app-3.0"));
    // It all came from the hub's seeder, found through the hub's tracker.
    let size = api["total_size"].as_u64().unwrap();
    wait_for(
        Duration::from_secs(60),
        "the hub counting what it uploaded",
        || format!("{}\n{}", api_release(&hub, "app-3.0"), hub.log()),
        || api_release(&hub, "app-3.0")["seeding"]["uploaded"].as_u64() >= Some(size),
    );
}

// ---------------------------------------------------------------------------
// 5. aria2
// ---------------------------------------------------------------------------

/// Runs `aria2c` on the hub's torrent URL until it exits (it stops after
/// the download: `--seed-time=0`); asserts success and the files, returns
/// its debug log.
fn aria2_download(hub: &Hub, t: &Path, src: &Path, name: &str, extra: &[&str]) -> String {
    require("aria2c");
    let out = t.join("aria");
    let aria_log = t.join("aria.log");
    let mut aria = Proc(
        Command::new("aria2c")
            .args([
                "--no-conf=true",
                // Without DHT aria2 has no UDP socket, so it announces over HTTP only.
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--seed-time=0",
                "--follow-torrent=mem",
                "--summary-interval=0",
                "--console-log-level=warn",
                "--file-allocation=none",
                "--bt-stop-timeout=200",
                "--all-proxy=",
                "--log-level=debug",
            ])
            .args(extra)
            .arg(format!("--log={}", aria_log.display()))
            .arg("-d")
            .arg(&out)
            .arg(format!("{}/torrents/{name}.torrent", hub.url))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("cannot run aria2c"),
    );
    let tail = || {
        let log = std::fs::read_to_string(&aria_log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- aria2 log (tail)\n{}\n--- hub log\n{}",
            lines[lines.len().saturating_sub(80)..].join("\n"),
            hub.log()
        )
    };
    let deadline = Instant::now() + DOWNLOAD_DEADLINE;
    let status = loop {
        if let Some(s) = aria.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "aria2c did not finish\n{}",
            tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "aria2c failed ({status})\n{}", tail());
    // aria2 1.36 does not know BEP 47: it also writes the pad files (under
    // `.pad/`), which the originals do not have; every original is checked.
    assert_same_tree(src, &out.join(name));
    let log = std::fs::read_to_string(&aria_log).unwrap();
    // Every web seed request was answered: aria2 fetches the pad files
    // from the web seed too, which the hub serves as zeros.
    assert!(
        !log.contains("Resource not found"),
        "the web seed refused a request of aria2\n{}",
        log.lines()
            .filter(|l| l.contains("Resource not found") || l.contains("GET /webseed"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    log
}

#[test]
fn aria2_downloads_a_release_from_the_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let hub = Hub::start(&t.join("hub"), None);
    let src = release_tree(&t.join("src"), "app-4.0", 11);
    hub.publish(&src);
    let log = aria2_download(&hub, t, &src, "app-4.0", &[]);
    // aria2 announced to the hub's HTTP tracker and was told of the hub's seeder.
    assert!(
        log.contains("GET /announce?info_hash="),
        "aria2 never announced to the HTTP tracker\n{log}"
    );
    assert!(
        log.contains("Adding peer 127.0.0.1:"),
        "no peer from the tracker\n{log}"
    );
}

#[test]
fn aria2_downloads_a_release_from_the_hub_web_seed_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let hub = Hub::start(&t.join("hub"), None);
    let src = release_tree(&t.join("src"), "app-4.1", 12);
    hub.publish(&src);
    // No tracker, no DHT: the BEP 19 web seed is the only source.
    let log = aria2_download(&hub, t, &src, "app-4.1", &["--bt-exclude-tracker=*"]);
    assert!(!log.contains("GET /announce"), "aria2 announced anyway");
    assert!(
        log.contains("GET /webseed/app-4.1/"),
        "no web seed request\n{log}"
    );
}
