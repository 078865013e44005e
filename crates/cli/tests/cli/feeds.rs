//! Feeds served by a plain web server (python's `http.server`, also over
//! https with a private CA) and followed by `anthill agent` processes.
//!
//! A running hub publishes three small releases; copies of its `public/`
//! directory, some of them tampered with, are served statically. The
//! static server has no HTTP Range, so release data can only come from the
//! hub's seeder and tracker, whose URLs are inside its torrents. Refusals
//! are checked for their state and reason in `/status` and for leaving
//! nothing under the agent's `releases/` and no `current`.

use std::ffi::OsStr;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use metainfo::Infohash;
use release::{Feed, FeedItem, ReleaseIndex, SigningKey};
use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::util::{
    BOUND, Hub, Proc, anthill, bin, bytes, free_port, get, require, run_ok, start_hub, status,
    until,
};

/// Bytes of each release's one file.
const SIZE: usize = 300 * 1024;

impl Hub {
    /// Publishes `name` (one file of [`SIZE`] bytes) and waits until the
    /// feed lists `count` items, so that seqs follow the publishing order.
    fn publish(&self, tmp: &Path, name: &str, seed: u8, count: usize) -> Vec<u8> {
        let src = tmp.join("src").join(name);
        std::fs::create_dir_all(&src).unwrap();
        let data = bytes(SIZE, seed);
        std::fs::write(src.join("payload.bin"), &data).unwrap();
        anthill(
            tmp,
            [
                "publish".as_ref(),
                src.as_os_str(),
                "--hub".as_ref(),
                self.dir.as_os_str(),
            ],
        )
        .expect(0);
        until("the hub publishes", || {
            let (_, body) = get(self.addr, "/feed.xml")?;
            let feed = Feed::parse(&body).ok()?;
            let signed = self
                .dir
                .join(format!("public/manifests/{name}.json.minisig"));
            (feed.items.len() == count && signed.exists()).then_some(())
        });
        data
    }

    fn public(&self) -> PathBuf {
        self.dir.join("public")
    }

    /// The hub's feed as written into `public/`.
    fn feed(&self) -> Feed {
        Feed::parse(&std::fs::read(self.public().join("feed.xml")).unwrap()).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A mirror of the hub's `public/` in `root/name`, served at `base/name`:
/// the files copied, the feed's URLs pointed at the mirror and its items
/// chosen by `items`. Returns the feed URL.
fn mirror(
    hub: &Hub,
    root: &Path,
    name: &str,
    base: &str,
    items: impl FnOnce(Vec<FeedItem>) -> Vec<FeedItem>,
) -> String {
    let dir = root.join(name);
    copy_dir(&hub.public(), &dir);
    let mut feed = hub.feed();
    let from = format!("http://{}", hub.addr);
    let to = format!("{base}/{name}");
    let point = |u: &mut String| *u = u.replace(&from, &to);
    for i in &mut feed.items {
        point(&mut i.torrent_url);
        point(&mut i.link);
        for u in [i.manifest_url.as_mut(), i.signature_url.as_mut()]
            .into_iter()
            .flatten()
        {
            point(u);
        }
    }
    feed.items = items(feed.items);
    write_feed(&dir, &feed);
    format!("{to}/feed.xml")
}

/// Writes `dir/feed.xml`, its modification time after any earlier one's
/// (http.server answers If-Modified-Since to the second).
fn write_feed(dir: &Path, feed: &Feed) {
    let path = dir.join("feed.xml");
    let before = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    std::fs::write(&path, feed.to_xml()).unwrap();
    let after = before.map_or(SystemTime::now(), |b| b + Duration::from_secs(5));
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(after)
        .unwrap();
}

fn item<'a>(items: &'a [FeedItem], name: &str) -> &'a FeedItem {
    items.iter().find(|i| i.title == name).unwrap()
}

fn wait_port(addr: SocketAddr) {
    until("the web server listens", || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()
    });
}

/// `python3 -m http.server` on `dir`.
fn serve_http(dir: &Path) -> (Proc, SocketAddr) {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(dir);
    serve(cmd, port)
}

/// Runs a python static server `cmd` and waits until `port` answers.
fn serve(mut cmd: Command, port: u16) -> (Proc, SocketAddr) {
    require("python3");
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run python3");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let proc = Proc(child);
    wait_port(addr);
    (proc, addr)
}

const HTTPS_SERVER: &str = r#"
import functools, http.server, ssl, sys
port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

/// The same static server over https on `port` with `cert`/`key`.
fn serve_https(dir: &Path, port: u16, cert: &Path, key: &Path) -> (Proc, SocketAddr) {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", HTTPS_SERVER])
        .arg(port.to_string())
        .args([dir, cert, key]);
    serve(cmd, port)
}

fn os(v: &[&'static str]) -> Vec<&'static OsStr> {
    v.iter().map(|s| OsStr::new(*s)).collect()
}

/// A CA and a server certificate for IP 127.0.0.1 signed by it, made with
/// the openssl CLI: (ca.pem, server.pem, server.key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut a = os(&["req", "-x509", "-nodes", "-days", "2"]);
    a.extend(os(&ec));
    a.extend(os(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=anthill test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]));
    run_ok(dir, "openssl", &a);
    let mut a = os(&["req", "-new", "-nodes"]);
    a.extend(os(&ec));
    a.extend(os(&[
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]));
    run_ok(dir, "openssl", &a);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run_ok(
        dir,
        "openssl",
        &os(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]),
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A running `anthill agent` with its status listener and log.
struct Agent {
    _proc: Proc,
    status: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

/// Starts an agent following `feed` with settings `extra` (TOML lines) and
/// extra command-line `args`.
fn start_agent(tmp: &Path, name: &str, feed: &str, extra: &str, args: &[&OsStr]) -> Agent {
    let dir = tmp.join(format!("agent-{name}"));
    let status = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = tmp.join(format!("agent-{name}.toml"));
    let metadata = if extra.contains("metadata_timeout_secs") {
        ""
    } else {
        "metadata_timeout_secs = 1.0\n"
    };
    std::fs::write(
        &config,
        format!(
            "feeds = [{feed:?}]\ndir = {dir:?}\nlisten = \"{status}\"\n\
             peer_listen = [\"127.0.0.1:0\"]\npoll_interval_secs = 0.3\nmax_backoff_secs = 1.0\n\
             {metadata}report = false\n{extra}\n"
        ),
    )
    .unwrap();
    let log = tmp.join(format!("agent-{name}.log"));
    let proc = Proc(
        bin()
            .env("RUST_LOG", "info")
            .arg("agent")
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    Agent {
        _proc: proc,
        status,
        dir,
        log,
    }
}

fn trusting(hub: &Hub) -> String {
    format!("trust = [{:?}]", hub.key)
}

impl Agent {
    /// Waits (bounded) until `f` holds on `/status`; on timeout the panic
    /// shows the last status and the agent's log.
    fn wait<T>(&self, what: &str, mut f: impl FnMut(&Value) -> Option<T>) -> T {
        let start = Instant::now();
        let mut last = Value::Null;
        loop {
            if let Some(s) = status(self.status) {
                if let Some(v) = f(&s) {
                    return v;
                }
                last = s;
            }
            if start.elapsed() > BOUND {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("{what}: never happened\n--- last /status\n{last:#}\n--- log\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the release whose record is `ih` leaves the states a
    /// release passes through before a decision, and returns its record.
    fn decided(&self, ih: Infohash) -> Value {
        let ih = ih.to_hex();
        self.wait(&format!("a decision on {ih}"), |s| {
            let r = s["releases"]
                .as_array()?
                .iter()
                .find(|r| r["infohash"] == ih.as_str())?;
            let pending = ["seen", "downloading", "verified", "installed", "activating"];
            (!pending.contains(&r["state"].as_str()?)).then(|| r.clone())
        })
    }

    /// The release `ih` is refused with `reason` in its reason, and nothing
    /// of it was installed or left in staging.
    #[track_caller]
    fn assert_refused(&self, ih: Infohash, reason: &str) {
        let r = self.decided(ih);
        assert_eq!(r["state"], "refused", "{r:#}\n--- log\n{}", self.log());
        let got = r["reason"].as_str().unwrap_or_default();
        assert!(got.contains(reason), "reason {got:?} lacks {reason:?}");
        self.assert_nothing_installed();
        assert!(
            !self.dir.join("staging").join(ih.to_hex()).exists(),
            "staging of a refused release is left"
        );
    }

    #[track_caller]
    fn assert_nothing_installed(&self) {
        let releases: Vec<_> = std::fs::read_dir(self.dir.join("releases"))
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(releases.is_empty(), "installed: {releases:?}");
        assert!(
            std::fs::symlink_metadata(self.dir.join("current")).is_err(),
            "current exists"
        );
    }

    /// Waits until `name` is active and current, and checks its data.
    fn assert_installs(&self, name: &str, data: &[u8]) {
        self.wait(&format!("{name} is active and current"), |s| {
            let r = s["releases"]
                .as_array()?
                .iter()
                .find(|r| r["name"] == name)?;
            (r["state"] == "active" && s["current"] == name).then_some(())
        });
        assert_eq!(
            std::fs::read(self.dir.join("current/payload.bin")).unwrap(),
            data
        );
    }
}

/// A hub's `index.json` re-signed with its key, issued 8 days ago: it
/// expired a day ago.
fn expire_index(hub: &Hub, dir: &Path) {
    let key = std::fs::read_to_string(hub.dir.join("keys/hub.key")).unwrap();
    let key = SigningKey::from_file_text(&key).unwrap();
    let index = ReleaseIndex::from_json(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let old = ReleaseIndex::new(
        key.key_id(),
        release::unix_now() - 8 * 24 * 3600,
        index.releases,
    );
    assert!(old.is_expired(release::unix_now()));
    let json = old.to_json();
    let sig = key.sign(&json, &old.trusted_comment()).unwrap();
    std::fs::write(dir.join("index.json"), json).unwrap();
    std::fs::write(dir.join("index.json.minisig"), sig).unwrap();
}

/// Bencoded bytes of a byte string.
fn bstr(b: &[u8]) -> Vec<u8> {
    let mut v = format!("{}:", b.len()).into_bytes();
    v.extend_from_slice(b);
    v
}

/// A multi-file torrent `name` whose one file's path climbs out of the
/// download directory, crafted by hand (the metainfo crate refuses to make
/// one); returns it with its infohash.
fn escaping_torrent(name: &str, announce: &str) -> (Vec<u8>, Infohash) {
    let content = format!("escaped from {name}\n").into_bytes();
    let mut path = b"l".to_vec();
    for c in [
        "..",
        "..",
        "..",
        "..",
        "..",
        "..",
        &format!("escaped-{name}"),
    ] {
        path.extend(bstr(c.as_bytes()));
    }
    path.push(b'e');
    let mut info = b"d5:filesld6:lengthi".to_vec();
    info.extend(format!("{}e4:path", content.len()).as_bytes());
    info.extend(path);
    info.extend(b"ee4:name");
    info.extend(bstr(name.as_bytes()));
    info.extend(b"12:piece lengthi16384e6:pieces");
    info.extend(bstr(&Sha1::digest(&content)));
    info.push(b'e');
    let ih = Infohash(Sha1::digest(&info).into());
    let mut t = b"d8:announce".to_vec();
    t.extend(bstr(announce.as_bytes()));
    t.extend(b"4:info");
    t.extend(info);
    t.push(b'e');
    (t, ih)
}

/// Every file named `escaped-*` below `dir`.
fn escaped_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(escaped_files(&p));
        } else if e.file_name().to_string_lossy().starts_with("escaped-") {
            out.push(p);
        }
    }
    out
}

#[test]
fn static_feeds_install_and_tampered_ones_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let hub = start_hub(tmp, &[]);
    hub.publish(tmp, "rel-1", 1, 1);
    let data2 = hub.publish(tmp, "rel-2", 2, 2);
    let data3 = hub.publish(tmp, "rel-3", 3, 3);
    let feed = hub.feed();
    let ih = |n: &str| item(&feed.items, n).infohash.unwrap();
    let (ih1, ih3) = (ih("rel-1"), ih("rel-3"));

    let www = tmp.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let (_http, http) = serve_http(&www);
    let base = format!("http://{http}");
    let trust = trusting(&hub);

    // The hub's public/ as it is: the newest release is installed.
    let url = mirror(&hub, &www, "plain", &base, |all| all);
    let plain = start_agent(tmp, "plain", &url, &trust, &[]);

    // A feed item naming another release's infohash and magnet.
    let url = mirror(&hub, &www, "item", &base, |all| {
        let mut i = item(&all, "rel-3").clone();
        let other = item(&all, "rel-1");
        i.infohash = other.infohash;
        i.magnet.clone_from(&other.magnet);
        vec![i]
    });
    let tampered_item = start_agent(tmp, "item", &url, &trust, &[]);

    // The .torrent replaced by another release's (fetched: no wait for peers).
    let url = mirror(&hub, &www, "torrent", &base, |all| {
        vec![item(&all, "rel-3").clone()]
    });
    let t = www.join("torrent/torrents");
    std::fs::copy(t.join("rel-1.torrent"), t.join("rel-3.torrent")).unwrap();
    let tampered_torrent = start_agent(
        tmp,
        "torrent",
        &url,
        &format!("{trust}\nmetadata_timeout_secs = 0.0"),
        &[],
    );

    // The same in a plain RSS item (enclosure only): the infohash is learnt
    // from the tampered .torrent, and the manifest does not name it.
    let url = mirror(&hub, &www, "enclosure", &base, |all| {
        let mut i = item(&all, "rel-3").clone();
        i.infohash = None;
        i.magnet.clear();
        vec![i]
    });
    let t = www.join("enclosure/torrents");
    std::fs::copy(t.join("rel-1.torrent"), t.join("rel-3.torrent")).unwrap();
    let enclosure = start_agent(tmp, "enclosure", &url, &trust, &[]);

    // An index signed by the hub key that expired a day ago.
    let url = mirror(&hub, &www, "expired", &base, |all| {
        vec![item(&all, "rel-3").clone()]
    });
    expire_index(&hub, &www.join("expired"));
    let expired = start_agent(tmp, "expired", &url, &trust, &[]);

    // Replay: rel-2 first, then the older rel-1 under a new item.
    let url = mirror(&hub, &www, "replay", &base, |all| {
        vec![item(&all, "rel-2").clone()]
    });
    let replay = start_agent(tmp, "replay", &url, &trust, &[]);

    plain.assert_installs("rel-3", &data3);
    tampered_item.assert_refused(ih1, &format!("but the feed item has {ih1}"));
    assert!(
        tampered_item.decided(ih1)["name"] == "rel-3",
        "the record is the tampered item's"
    );
    tampered_torrent.assert_refused(ih3, &format!("has infohash {ih1}, not {ih3}"));
    enclosure.assert_refused(ih1, &format!("the manifest names infohash {ih3}"));
    expired.assert_refused(ih3, "the hub's index expired at");

    replay.assert_installs("rel-2", &data2);
    let mut f = Feed::parse(&std::fs::read(www.join("replay/feed.xml")).unwrap()).unwrap();
    let mut old = item(&hub.feed().items, "rel-1").clone();
    let from = format!("http://{}", hub.addr);
    for u in [
        Some(&mut old.torrent_url),
        old.manifest_url.as_mut(),
        old.signature_url.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        *u = u.replace(&from, &format!("{base}/replay"));
    }
    old.title = "rel-1 (again)".into();
    old.published = release::unix_now();
    old.seq = Some(4);
    f.items.insert(0, old);
    write_feed(&www.join("replay"), &f);
    let r = replay.decided(ih1);
    assert_eq!(r["state"], "refused", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("replay: seq 1 is not above seq 2"),
        "{reason}"
    );
    let s = status(replay.status).unwrap();
    assert_eq!(s["current"], "rel-2", "current changed");
    let installed: Vec<_> = std::fs::read_dir(replay.dir.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(installed, ["rel-2"], "the replayed release was downloaded");
}

#[test]
fn a_torrent_with_dot_dot_in_a_path_is_refused_before_any_download() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let www = tmp.join("www");
    std::fs::create_dir_all(www.join("torrents")).unwrap();
    let (_http, http) = serve_http(&www);
    let base = format!("http://{http}");
    // A tracker nobody answers: there is nothing to download from anyway.
    let announce = "http://127.0.0.1:9/announce";
    let (a, ih_a) = escaping_torrent("evil-a", announce);
    let (b, ih_b) = escaping_torrent("evil-b", announce);
    std::fs::write(www.join("torrents/evil-a.torrent"), &a).unwrap();
    std::fs::write(www.join("torrents/evil-b.torrent"), &b).unwrap();
    let now = release::unix_now();
    let item = |name: &str, len: usize, ih: Option<Infohash>, age: i64| FeedItem {
        title: name.into(),
        infohash: ih,
        published: now - age,
        torrent_url: format!("{base}/torrents/{name}.torrent"),
        torrent_length: len as u64,
        link: String::new(),
        description: String::new(),
        content_length: 30,
        magnet: String::new(),
        file_name: format!("{name}.torrent"),
        seq: None,
        manifest_url: None,
        signature_url: None,
    };
    let feed = Feed {
        title: "plain torrents".into(),
        link: base.clone(),
        self_url: format!("{base}/feed.xml"),
        description: String::new(),
        ttl_minutes: 1,
        last_build: now,
        // One item as a plain RSS enclosure (the infohash is learnt from
        // the .torrent), one naming its infohash.
        items: vec![
            item("evil-b", b.len(), Some(ih_b), 10),
            item("evil-a", a.len(), None, 20),
        ],
    };
    write_feed(&www, &feed);
    let agent = start_agent(
        tmp,
        "unsafe",
        &format!("{base}/feed.xml"),
        "backfill = true",
        &[],
    );
    let unsafe_path = "unsafe path component \"..\"";
    agent.assert_refused(ih_a, unsafe_path);
    agent.assert_refused(ih_b, unsafe_path);
    for ih in [ih_a, ih_b] {
        let r = agent.decided(ih);
        assert_eq!(r["attempts"], 0, "{r:#}");
    }
    assert!(
        agent.log().contains("WITHOUT any signature check"),
        "no warning about the missing --trust"
    );
    assert_eq!(escaped_files(tmp), Vec::<PathBuf>::new());
}

#[test]
fn https_feed_with_a_private_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    require("openssl");
    let (ca, cert, key) = certificates(&tmp.join("tls"));

    // Unusable --ca files stop the agent at start, naming the file.
    let feed = "https://127.0.0.1:9/feed.xml";
    let no_cert = tmp.join("not-a-cert.pem");
    std::fs::write(&no_cert, "just text\n").unwrap();
    let broken = tmp.join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (file, says) in [
        (tmp.join("missing.pem"), "cannot read CA file"),
        (key.clone(), "holds no PEM certificate"),
        (no_cert, "holds no PEM certificate"),
        (broken, "CA file"),
    ] {
        let dir = tmp.join("never");
        let out = anthill(
            tmp,
            [
                "agent".as_ref(),
                "--dir".as_ref(),
                dir.as_os_str(),
                "--feed".as_ref(),
                feed.as_ref(),
                "--ca".as_ref(),
                file.as_os_str(),
            ],
        )
        .expect(1);
        assert!(
            out.stderr.contains(says) && out.stderr.contains(&*file.to_string_lossy()),
            "{}: {}",
            file.display(),
            out.stderr
        );
        assert!(!dir.exists(), "the agent started with {}", file.display());
    }
    let out = anthill(
        tmp,
        [
            "agent".as_ref(),
            "--print-config".as_ref(),
            "--ca".as_ref(),
            ca.as_os_str(),
        ],
    )
    .expect(0);
    assert!(
        out.stdout
            .contains(&format!("ca = [{:?}]", ca.to_string_lossy())),
        "{}",
        out.stdout
    );

    // A hub behind https (this static server in front of its public/): its
    // torrents name an https tracker and web seed, which the engine cannot
    // use (a warning names them; the web seed is not in metadata from
    // peers), and its UDP tracker, which it can: data comes from its peers.
    let tls_port = free_port();
    let base = format!("https://127.0.0.1:{tls_port}/tls");
    let hub = start_hub(tmp, &["--public-url", &base]);
    let data = hub.publish(tmp, "rel-1", 7, 1);
    let www = tmp.join("www");
    copy_dir(&hub.public(), &www.join("tls"));
    let (_https, _) = serve_https(&www, tls_port, &cert, &key);
    let url = format!("{base}/feed.xml");
    let trust = trusting(&hub);
    let with_ca = start_agent(tmp, "ca", &url, &trust, &["--ca".as_ref(), ca.as_os_str()]);
    let without = start_agent(tmp, "no-ca", &url, &trust, &[]);
    with_ca.assert_installs("rel-1", &data);
    let log = with_ca.log();
    assert!(log.contains("trusting these CA certificates"), "{log}");
    assert!(
        log.contains("these URLs of the torrent are not used")
            && log.contains(&format!("{base}/announce")),
        "no warning about the https tracker:\n{log}"
    );
    let err = without.wait("a certificate error", |s| {
        s["feeds"][0]["last_error"].as_str().map(str::to_string)
    });
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let s = status(without.status).unwrap();
    assert_eq!(s["releases"].as_array().map(Vec::len), Some(0), "{s:#}");
    without.assert_nothing_installed();
}
