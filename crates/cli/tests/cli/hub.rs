//! `anthill hub`, `anthill publish` and `anthill keygen` as operators run
//! them: real processes, SIGTERM, and kill -9 in the middle of a publish.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Proc, anthill, bytes, tree};

/// Starts `anthill hub` on free loopback ports; returns it and its HTTP address.
fn start_hub(dir: &Path) -> (Proc, SocketAddr) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anthill"))
        .arg("hub")
        .arg("--dir")
        .arg(dir)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
            "--settle",
            "300ms",
        ])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the hub exited before it ran").unwrap();
        if let Some(rest) = line.split("hub running url=http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), addr)
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn release_tree(root: &Path, seed: u8) {
    tree(
        root,
        &[
            ("bin/app", &bytes(200_000, seed)),
            ("etc/conf", b"x=1\n"),
            ("empty", b""),
        ],
    );
}

fn sigterm(p: &Proc) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(p.0.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
}

#[test]
fn publish_hands_a_tree_over_and_prints_the_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub");
    // No hub yet: refused, and the tree stays where it is.
    let src = tmp.path().join("app-1.0");
    release_tree(&src, 1);
    let out = anthill(tmp.path(), ["publish", "app-1.0", "--hub", "hub"]).expect(1);
    assert!(out.stderr.contains("no hub is running"), "{}", out.stderr);
    assert!(src.exists());

    let (mut proc, addr) = start_hub(&hub);
    let out = anthill(tmp.path(), ["publish", "app-1.0", "--hub", "hub"]).expect(0);
    assert!(out.stdout.contains("published app-1.0"), "{}", out.stdout);
    assert!(out.stdout.contains("seq       1"));
    assert!(
        out.stdout
            .contains(&format!("feed      http://{addr}/feed.xml")),
        "{}",
        out.stdout
    );
    let ih = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("infohash  "))
        .unwrap()
        .to_string();
    assert!(!src.exists(), "moved, not copied");
    assert!(http_get(addr, "/api/releases").contains(&ih));

    // --copy keeps the original.
    let src2 = tmp.path().join("app-1.1");
    release_tree(&src2, 2);
    anthill(tmp.path(), ["publish", "app-1.1", "--hub", "hub", "--copy"]).expect(0);
    assert!(src2.join("bin/app").exists());

    // A name already published: refused before anything moves.
    let again = tmp.path().join("again");
    release_tree(&again, 3);
    let out = anthill(
        tmp.path(),
        ["publish", "again", "--name", "app-1.0", "--hub", "hub"],
    )
    .expect(1);
    assert!(
        out.stderr.contains("already published (seq 1)"),
        "{}",
        out.stderr
    );
    assert!(again.exists());
    // A tree the hub rejects: exit 1 with the hub's reason.
    let bad = tmp.path().join("bad-1");
    std::fs::create_dir(&bad).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", bad.join("link")).unwrap();
    let out = anthill(tmp.path(), ["publish", "bad-1", "--hub", "hub"]).expect(1);
    assert!(
        out.stderr.contains("rejected bad-1") && out.stderr.contains("symbolic link"),
        "{}",
        out.stderr
    );
    assert!(hub.join("rejected/bad-1.reason").exists());
    // An unusable name never reaches the hub.
    let out = anthill(
        tmp.path(),
        ["publish", "bad-1", "--name", "../x", "--hub", "hub"],
    )
    .expect(1);
    assert!(out.stderr.contains("contains '/'"), "{}", out.stderr);

    // SIGTERM: a clean stop.
    sigterm(&proc);
    let status = proc.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_hub_killed_during_publishes_loses_nothing_and_publishes_each_once() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub");
    let mut names = Vec::new();
    // Kill the hub at different instants of a publish of a tree big enough
    // to take a while to hash; every restart must finish or roll back.
    for (i, delay_ms) in [0u64, 40, 120, 300].into_iter().enumerate() {
        let (proc, _) = start_hub(&hub);
        let name = format!("big-{i}");
        let src = tmp.path().join(&name);
        tree(
            &src,
            &[("data", &bytes(48 << 20, i as u8)), ("small", b"s")],
        );
        std::fs::rename(&src, hub.join("incoming").join(&name)).unwrap();
        std::fs::write(hub.join("incoming").join(format!(".{name}.ready")), b"").unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        drop(proc); // SIGKILL
        names.push(name);
    }
    let (mut proc, addr) = start_hub(&hub);
    let deadline = Instant::now() + Duration::from_secs(120);
    let api = loop {
        let api = http_get(addr, "/api/releases");
        if names
            .iter()
            .all(|n| api.contains(&format!("\"name\":\"{n}\"")))
        {
            break api;
        }
        assert!(
            Instant::now() < deadline,
            "not all published after restarts:\n{api}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let body = &api[api.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut seqs: Vec<u64> = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3, 4], "each published exactly once");
    assert_eq!(v["rejected_total"], 0, "{body}");
    for n in &names {
        // Verified on disk, nothing left half-moved.
        let out = anthill(
            tmp.path(),
            [
                "torrent",
                "verify",
                &format!("hub/public/torrents/{n}.torrent"),
                "--path",
                "hub/releases",
            ],
        );
        out.expect(0);
        assert!(!hub.join("incoming").join(n).exists());
    }
    assert_eq!(std::fs::read_dir(hub.join("tmp")).unwrap().count(), 0);
    sigterm(&proc);
    assert!(proc.0.wait().unwrap().success());
}

#[test]
fn keygen_writes_a_private_key_and_prints_the_public_one() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = anthill(tmp.path(), ["keygen", "--out", "k.key"]).expect(0);
    let public = out.stdout.trim().to_string();
    let key = release::PublicKey::parse(&public).unwrap();
    let file = std::fs::read_to_string(tmp.path().join("k.key.pub")).unwrap();
    assert_eq!(release::PublicKey::parse(&file).unwrap(), key);
    let mode = std::fs::metadata(tmp.path().join("k.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let secret = release::SigningKey::from_file_text(
        &std::fs::read_to_string(tmp.path().join("k.key")).unwrap(),
    )
    .unwrap();
    assert_eq!(secret.key_id(), key.key_id());
    // Never overwritten.
    let out = anthill(tmp.path(), ["keygen", "--out", "k.key"]).expect(1);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("k.key.pub")).unwrap(),
        file
    );
}

#[test]
fn hub_config_prints_parses_and_names_its_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = anthill(tmp.path(), ["hub", "--print-config"]).expect(0);
    assert!(
        out.stdout.contains("keep = 10") && out.stdout.contains("# Number of newest releases kept"),
        "{}",
        out.stdout
    );
    std::fs::write(tmp.path().join("c.toml"), &out.stdout).unwrap();
    let again = anthill(tmp.path(), ["hub", "--config", "c.toml", "--print-config"]).expect(0);
    assert_eq!(again.stdout, out.stdout);
    std::fs::write(tmp.path().join("bad.toml"), "kep = 3\n").unwrap();
    let out = anthill(tmp.path(), ["hub", "--config", "bad.toml", "--dir", "h"]).expect(1);
    assert!(out.stderr.contains("kep"), "{}", out.stderr);
    let out = anthill(tmp.path(), ["hub"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--dir"), "{}", out.stderr);
    let out = anthill(
        tmp.path(),
        ["hub", "--dir", "h", "--public-url", "http://0.0.0.0:1"],
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unspecified address"), "{}", out.stderr);
}

/// The hub's directory on a small file system and `incoming/` on another:
/// a release is copied across (fsynced), and one that does not fit is
/// rejected without touching the first or leaving a partial copy. Runs in a
/// private mount namespace (root and util-linux's `unshare`, as CI has).
#[test]
fn a_full_disk_while_moving_rejects_the_entry_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tree(
        &src.join("small-1"),
        &[("a", &bytes(200_000, 1)), ("b/c", b"c")],
    );
    tree(&src.join("big-1"), &[("a", &bytes(20 << 20, 2))]);
    let script = r#"
set -u
H=$1; BIN=$2; SRC=$3
mkdir -p "$H"
mount -t tmpfs -o size=8m tmpfs "$H" || { echo "MOUNT FAILED"; exit 3; }
mkdir -p "$H/incoming"
mount -t tmpfs -o size=64m tmpfs "$H/incoming" || { echo "MOUNT FAILED"; exit 3; }
RUST_LOG=info "$BIN" hub --dir "$H" --listen 127.0.0.1:0 --peer-listen 127.0.0.1:0 --settle 300ms 2>"$SRC/hub.log" &
PID=$!
for i in $(seq 1 100); do grep -q "hub running" "$SRC/hub.log" && break; sleep 0.1; done
"$BIN" publish "$SRC/small-1" --hub "$H" --copy; echo "SMALL=$?"
"$BIN" publish "$SRC/big-1" --hub "$H" --copy; echo "BIG=$?"
"$BIN" torrent verify "$H/public/torrents/small-1.torrent" --path "$H/releases" >/dev/null; echo "VERIFY=$?"
echo "TMP=$(ls -A "$H/tmp" | wc -l)"
echo "RELEASES=$(ls "$H/releases" | tr '\n' ' ')"
test -e "$H/incoming/big-1/a" && echo "BIG_KEPT=yes"
kill -TERM $PID; wait $PID; echo "HUB=$?"
"#;
    let out = std::process::Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(tmp.path().join("hub"))
        .arg(env!("CARGO_BIN_EXE_anthill"))
        .arg(&src)
        .output()
        .expect("this test needs unshare(1) from util-linux (scripts/setup)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(src.join("hub.log")).unwrap_or_default();
    let all = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- hub log\n{log}");
    assert!(
        !stdout.contains("MOUNT FAILED"),
        "needs root to mount tmpfs\n{all}"
    );
    for want in [
        "SMALL=0",
        "BIG=1",
        "VERIFY=0",
        "TMP=0",
        "RELEASES=small-1 ",
        "BIG_KEPT=yes",
        "HUB=0",
    ] {
        assert!(stdout.contains(want), "wanted {want}\n{all}");
    }
    assert!(
        stderr.contains("No space left"),
        "the reason names the full disk\n{all}"
    );
    assert!(
        src.join("big-1/a").exists() && src.join("small-1/a").exists(),
        "--copy keeps the originals"
    );
}

/// CPU time (user + system, in clock ticks) a process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Regression: the hub's own scans of incoming/ (opening the directory)
/// woke its file watcher, which started the next scan: an idle hub used a
/// whole core. Idle, it must use next to nothing.
#[test]
fn an_idle_hub_does_not_spin() {
    let tmp = tempfile::tempdir().unwrap();
    let (proc, _) = start_hub(&tmp.path().join("hub"));
    let src = tmp.path().join("idle-1");
    release_tree(&src, 4);
    anthill(tmp.path(), ["publish", "idle-1", "--hub", "hub"]).expect(0);
    let before = cpu_ticks(proc.0.id());
    std::thread::sleep(Duration::from_secs(5));
    let used = cpu_ticks(proc.0.id()) - before;
    // A busy loop burns ~500 ticks in 5 s; an idle hub wakes a few times a second.
    assert!(used < 100, "an idle hub used {used} ticks of CPU in 5 s");
}
